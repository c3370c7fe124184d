"""Choosing a runtime plugin (``Hooks.load`` builds it)."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import Any

from toolhive.contracts.runtime import Runtime
from toolhive.contracts.specs import RuntimeDetection, RuntimeSpec
from toolhive.errors import NotFoundError, RuntimeUnavailableError
from toolhive.plugins import Hooks
from toolhive.state import paths
from toolhive.state.atomic import write_atomic


def detect_all(
    hooks: Hooks, environ: Mapping[str, str] | None = None
) -> list[tuple[RuntimeSpec[Any], RuntimeDetection]]:
    """Probe every runtime, in detection order (ascending priority)."""
    env = os.environ if environ is None else environ
    specs = sorted(hooks.runtimes().values(), key=lambda s: (s.priority, s.name))
    return [(spec, spec.detect(env)) for spec in specs]


def _get_spec(hooks: Hooks, name: str) -> RuntimeSpec[Any]:
    specs = hooks.runtimes()
    if name not in specs:
        known = ", ".join(sorted(specs)) or "none installed"
        msg = f"unknown runtime {name!r} (available: {known}); see `thv plugins`"
        raise NotFoundError(msg)
    return specs[name]


def select_runtime(
    hooks: Hooks,
    requested: str | None = None,
    environ: Mapping[str, str] | None = None,
    *,
    package_scheme: bool = False,
) -> tuple[RuntimeSpec[Any], RuntimeDetection]:
    """The runtime to use: ``requested``, else ``TOOLHIVE_RUNTIME``, else the first detected
    (that can run ``uvx://``-style packages when ``package_scheme``)."""
    env = os.environ if environ is None else environ
    name = requested or env.get("TOOLHIVE_RUNTIME") or None
    if name:
        spec = _get_spec(hooks, name)
        if package_scheme and not spec.runs_package_schemes:
            able = [s.name for s in hooks.runtimes().values() if s.runs_package_schemes]
            hint = (
                f"use --runtime {' or '.join(able)}"
                if able
                else "no installed runtime can (install toolhive-runtime-process)"
            )
            msg = f"the {name} runtime cannot run uvx://, npx:// or go:// packages yet; {hint}"
            raise RuntimeUnavailableError(msg)
        detection = spec.detect(env)
        if not detection.available:
            msg = f"runtime {name!r} is not available: {detection.detail}"
            raise RuntimeUnavailableError(msg)
        return spec, detection
    for spec, detection in detect_all(hooks, env):
        if package_scheme and not spec.runs_package_schemes:
            continue
        if detection.available:
            if not spec.is_container:
                _notice_once(spec.name, detection, "no container engine was found")
            return spec, detection
    msg = (
        "no container engine or process sandbox found: start Podman or Docker, or install "
        "bubblewrap for the process runtime (`thv runtime check` shows what was probed)"
    )
    raise RuntimeUnavailableError(msg)


def runtime_for(hooks: Hooks, name: str) -> Runtime:
    """Load the runtime a workload was started with, by name."""
    spec, detection = select_runtime(hooks, name)
    return hooks.load("runtimes", spec.name, detection=detection)


def _notice_once(name: str, detection: RuntimeDetection, reason: str) -> None:
    marker = paths.state_dir() / "notices" / f"runtime-{name}"
    if marker.exists():
        return
    print(
        f"Using the {name} runtime ({detection.detail}): {reason}. This notice is shown once.",
        file=sys.stderr,
    )
    write_atomic(marker, "shown\n")
