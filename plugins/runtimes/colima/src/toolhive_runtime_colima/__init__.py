"""toolhive-runtime-colima: run MCP servers in the Docker engine of a Colima VM (macOS, Linux).

The entry point stays light: detection is standard library only, and the Docker SDK (through
:mod:`toolhive_runtime_colima.runtime`) is imported only when the runtime is loaded.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from toolhive.contracts import RuntimeDetection, RuntimeSpec, hookimpl

from toolhive_runtime_colima.config import ColimaConfig
from toolhive_runtime_colima.sockets import COLIMA_SEARCH

if TYPE_CHECKING:
    from toolhive_runtime_colima.runtime import ColimaRuntime

__all__ = ["ColimaConfig", "detect", "load", "thv_runtimes"]


def detect(environ: Mapping[str, str]) -> RuntimeDetection:
    """``TOOLHIVE_COLIMA_SOCKET``, else the socket of ``$COLIMA_PROFILE`` (default ``default``)."""
    return COLIMA_SEARCH.detect(environ)


def load(detection: RuntimeDetection, config: ColimaConfig) -> ColimaRuntime:
    """Build the runtime for the configured socket, or the detected one."""
    from toolhive_runtime_colima.runtime import ColimaRuntime

    return ColimaRuntime.from_detection(detection, config)


@hookimpl
def thv_runtimes() -> list[RuntimeSpec[ColimaConfig]]:
    return [
        RuntimeSpec(
            name="colima",
            description="Containers on the Docker engine of a Colima VM",
            priority=20,
            runs_package_schemes=True,  # by building an image (toolhive.builds)
            config_model=ColimaConfig,
            detect=detect,
            load=load,
        )
    ]
