"""Configuration of the ``podman`` runtime (``runtimes.podman`` in ToolHive's settings)."""

from __future__ import annotations

from toolhive_runtime_docker.config import EngineConfig


class PodmanConfig(EngineConfig):
    """Settings of the ``podman`` runtime (the same as the Docker runtime's)."""
