"""toolhive-runtime-podman: run MCP servers in Podman containers (its Docker-compatible API).

The entry point stays light: detection is standard library only, and the Docker SDK (through
:mod:`toolhive_runtime_podman.runtime`) is imported only when the runtime is loaded.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from toolhive.contracts import RuntimeDetection, RuntimeSpec, hookimpl

from toolhive_runtime_podman.config import PodmanConfig
from toolhive_runtime_podman.sockets import PODMAN_SEARCH

if TYPE_CHECKING:
    from toolhive_runtime_podman.runtime import PodmanRuntime

__all__ = ["PodmanConfig", "detect", "load", "thv_runtimes"]


def detect(environ: Mapping[str, str]) -> RuntimeDetection:
    """``TOOLHIVE_PODMAN_SOCKET``, else the first answering Podman socket."""
    return PODMAN_SEARCH.detect(environ)


def load(detection: RuntimeDetection, config: PodmanConfig) -> PodmanRuntime:
    """Build the runtime for the configured socket, or the detected one."""
    from toolhive_runtime_podman.runtime import PodmanRuntime

    return PodmanRuntime.from_detection(detection, config)


@hookimpl
def thv_runtimes() -> list[RuntimeSpec[PodmanConfig]]:
    return [
        RuntimeSpec(
            name="podman",
            description="Containers on Podman (its Docker-compatible API service)",
            priority=10,
            runs_package_schemes=True,  # by building an image (toolhive.builds)
            config_model=PodmanConfig,
            detect=detect,
            load=load,
        )
    ]
