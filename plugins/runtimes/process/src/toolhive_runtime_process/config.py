"""The process runtime's settings (``runtimes.process`` in ToolHive's config)."""

from __future__ import annotations

from pydantic import Field
from toolhive.contracts import PluginConfig


class ProcessRuntimeConfig(PluginConfig):
    """Settings for the process runtime; every field is optional."""

    hidden_paths: tuple[str, ...] = Field(
        default=(),
        description=(
            "Host directories to hide from every sandbox (covered by an empty tmpfs), e.g. "
            "'~/.ssh'. ToolHive's own config, data and state directories are always hidden."
        ),
    )
    stop_timeout: float = Field(
        default=30.0,
        gt=0,
        description="Seconds between SIGTERM and SIGKILL when replacing a leftover server.",
    )
