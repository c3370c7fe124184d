"""Configuration of the ``colima`` runtime (``runtimes.colima`` in ToolHive's settings)."""

from __future__ import annotations

from pydantic import Field
from toolhive_runtime_docker.config import EngineConfig

#: What Colima shares into its VM when ``mounts`` in ``colima.yaml`` is empty (its default).
DEFAULT_SHARED_PATHS = ("~", "/tmp/colima")


class ColimaConfig(EngineConfig):
    """Settings of the ``colima`` runtime."""

    shared_paths: list[str] | None = Field(
        default=None,
        description=(
            "Host directories Colima shares into its VM (the `mounts` of colima.yaml). Bind "
            "mounts outside them would be silently empty, so they are refused. "
            "Default: your home directory and /tmp/colima, Colima's own default."
        ),
    )
