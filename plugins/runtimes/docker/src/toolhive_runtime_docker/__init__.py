"""toolhive-runtime-docker: run MCP servers in Docker Engine containers.

This module is the plugin's entry point and stays light: it declares the ``docker`` runtime and
imports the Docker SDK only in :func:`load`, when the runtime is actually used. Detection
(:mod:`toolhive_runtime_docker.sockets`) is standard library only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from toolhive.contracts import RuntimeDetection, RuntimeSpec, hookimpl

from toolhive_runtime_docker.config import DockerConfig
from toolhive_runtime_docker.sockets import DOCKER_SEARCH

if TYPE_CHECKING:
    from toolhive_runtime_docker.runtime import DockerRuntime

__all__ = ["DockerConfig", "detect", "load", "thv_runtimes"]


def detect(environ: Mapping[str, str]) -> RuntimeDetection:
    """``TOOLHIVE_DOCKER_SOCKET``, else the first answering Docker socket."""
    return DOCKER_SEARCH.detect(environ)


def load(detection: RuntimeDetection, config: DockerConfig) -> DockerRuntime:
    """Build the runtime for the configured socket, or the detected one."""
    from toolhive_runtime_docker.runtime import DockerRuntime

    return DockerRuntime.from_detection(detection, config)


@hookimpl
def thv_runtimes() -> list[RuntimeSpec[DockerConfig]]:
    return [
        RuntimeSpec(
            name="docker",
            description="Containers on Docker Engine (Docker Desktop, Rancher Desktop, OrbStack)",
            priority=30,
            runs_package_schemes=True,  # by building an image (toolhive.builds)
            config_model=DockerConfig,
            detect=detect,
            load=load,
        )
    ]
