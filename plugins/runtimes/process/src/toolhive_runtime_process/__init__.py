"""toolhive-runtime-process: run MCP servers as local processes, sandboxed with bubblewrap.

The runtime used when no container engine is present. This module only declares it; the
implementation is imported when the runtime is detected or loaded.
"""

from __future__ import annotations

from collections.abc import Mapping

from toolhive.contracts import RuntimeDetection, RuntimeSpec, hookimpl
from toolhive.contracts.runtime import Runtime

from toolhive_runtime_process.config import ProcessRuntimeConfig

__all__ = ["ProcessRuntimeConfig", "detect", "load", "thv_runtimes"]


def detect(environ: Mapping[str, str]) -> RuntimeDetection:
    """bubblewrap on ``PATH`` that can start a sandbox; else unsandboxed only if allowed."""
    from toolhive_runtime_process import sandbox

    return sandbox.detect(environ)


def load(detection: RuntimeDetection, config: ProcessRuntimeConfig) -> Runtime:
    """Build the runtime: sandboxed with the detected ``bwrap``, or unsandboxed."""
    from toolhive_runtime_process.runtime import ProcessRuntime

    bwrap = detection.endpoint if detection.available else None
    return ProcessRuntime(bwrap=bwrap, config=config)


@hookimpl
def thv_runtimes() -> list[RuntimeSpec[ProcessRuntimeConfig]]:
    return [
        RuntimeSpec(
            name="process",
            description="Local processes in a bubblewrap sandbox (no container engine needed)",
            priority=1000,
            is_container=False,
            runs_package_schemes=True,
            config_model=ProcessRuntimeConfig,
            detect=detect,
            load=load,
        )
    ]
