"""Placing a new workload before any state exists: its group, a free name, its ports, the runtime
that will run it (with the process fallback when an engine cannot build offline) and its image."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from toolhive.builds import BaseImageUnavailableError
from toolhive.contracts.runtime import Runtime
from toolhive.contracts.specs import RuntimeDetection, RuntimeSpec
from toolhive.errors import AlreadyExistsError
from toolhive.groups.store import DEFAULT_GROUP, require_group
from toolhive.models.runconfig import RunConfig
from toolhive.plugins import Hooks
from toolhive.state import store
from toolhive.workloads.deploy import deploy_request
from toolhive.workloads.ports import pick_free_port, require_free
from toolhive.workloads.runconfig_builder import is_package_scheme
from toolhive.workloads.runtimes import detect_all, select_runtime

Progress = Callable[[str], None]
#: Told the placed RunConfig (ports and runtime chosen, request checked) before its image is made
#: present: :class:`toolhive.workloads.preparing.PreparingStatus` lists the workload meanwhile.
BeforeImage = Callable[[RunConfig], None]


def prepare(
    hooks: Hooks,
    config: RunConfig,
    progress: Progress,
    *,
    before_image: BeforeImage | None = None,
) -> RunConfig:
    """``config`` with its proxy/target ports and runtime filled in and its image present;
    everything that can be refused is refused here (before ``before_image`` is called)."""
    require_group(config.group or DEFAULT_GROUP)
    if store.runconfig_exists(config.base_name):
        msg = (
            f"workload {config.name!r} already exists; remove it with `thv rm {config.name}` "
            "or choose another --name"
        )
        raise AlreadyExistsError(msg)
    updates: dict[str, object] = {}
    if config.port:
        require_free(config.host, config.port)
    else:
        updates["port"] = pick_free_port(config.host)
    if config.is_remote or config.is_vmcp:
        return config.model_copy(update=updates)
    if not hooks.transports()[config.transport].needs_stdio and not config.target_port:
        updates["target_port"] = pick_free_port()
    config = config.model_copy(update=updates)
    chosen = config.runtime or os.environ.get("TOOLHIVE_RUNTIME") or None
    spec, detection = select_runtime(hooks, chosen, package_scheme=is_package_scheme(config.image))
    try:
        return _prepare_on(hooks, config, spec, detection, progress, before_image)
    except BaseImageUnavailableError as exc:
        # Auto-detected engine that cannot build offline: a sandboxed process runs the
        # package under the same profile, so fall back (saying so) rather than fail.
        fallback = None if chosen else _process_fallback(hooks)
        if fallback is None:
            raise
        progress(f"{exc}\nFalling back to the {fallback[0].name} runtime.")
        return _prepare_on(hooks, config, *fallback, progress, before_image)


def _prepare_on(
    hooks: Hooks,
    config: RunConfig,
    spec: RuntimeSpec[Any],
    detection: RuntimeDetection,
    progress: Progress,
    before_image: BeforeImage | None = None,
) -> RunConfig:
    config = config.model_copy(update={"runtime": spec.name})
    runtime = hooks.load("runtimes", spec.name, detection=detection)
    runtime.ping()
    needs_stdio = hooks.transports()[config.transport].needs_stdio
    runtime.check_request(
        deploy_request(config, in_container=spec.is_container, needs_stdio=needs_stdio)
    )
    if before_image is not None:
        before_image(config)
    if spec.is_container:
        config = _package_image(config, runtime, progress)
    runtime.ensure_image(config.image, progress)
    return config


def _package_image(config: RunConfig, runtime: Runtime, progress: Progress) -> RunConfig:
    """uvx://, npx://, go:// on an engine: the image built from the same inputs, else a new
    build (toolhive.builds.workload says what the RunConfig records)."""
    from toolhive.builds.workload import ensure_package_image

    return ensure_package_image(config, runtime, progress)


def prepare_image(hooks: Hooks, config: RunConfig, progress: Progress) -> RunConfig:
    """A saved workload's (new) image made ready on the runtime it runs on, as :func:`prepare`
    does for a new one — the request checked, a package built (engines), the image pulled when
    absent — without touching ports, state or the running server (``thv upgrade``)."""
    spec, detection = select_runtime(hooks, config.runtime or None)
    return _prepare_on(hooks, config, spec, detection, progress)


def package_image_still_there(hooks: Hooks, config: RunConfig, progress: Progress) -> RunConfig:
    """Before a restart: a package workload's image is still there, else rebuilt (the caller
    saves the RunConfig when the image changed)."""
    from toolhive.builds.workload import package_source

    if not package_source(config) or not config.runtime:
        return config
    spec, detection = select_runtime(hooks, config.runtime)
    if not spec.is_container:
        return config
    return _package_image(config, hooks.load("runtimes", spec.name, detection=detection), progress)


def _process_fallback(hooks: Hooks) -> tuple[RuntimeSpec[Any], RuntimeDetection] | None:
    """The first available non-container runtime that runs packages itself."""
    for spec, detection in detect_all(hooks):
        if not spec.is_container and spec.runs_package_schemes and detection.available:
            return spec, detection
    return None
