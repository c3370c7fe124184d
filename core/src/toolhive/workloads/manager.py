"""Workload lifecycle: run (detached or foreground), list, status, stop, start/restart, rm.

The detached model is ToolHive's: ``run`` validates everything it can, saves the RunConfig,
marks the workload ``starting`` and spawns ``thv start <name> --foreground`` (the supervisor) in a
new session with its output in the workload's proxy log. The supervisor owns the server and the
proxy; everything here talks to it through the state files and its PID.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from toolhive.builds import BaseImageUnavailableError
from toolhive.clients import sync as client_sync
from toolhive.errors import (
    AlreadyExistsError,
    NotFoundError,
    RuntimeUnavailableError,
    ToolHiveError,
)
from toolhive.groups.store import DEFAULT_GROUP, require_group
from toolhive.models.runconfig import RunConfig
from toolhive.models.workload import Workload, WorkloadStatus
from toolhive.plugins import Hooks
from toolhive.runtime import Runtime
from toolhive.specs import RuntimeDetection, RuntimeSpec
from toolhive.state import paths, store
from toolhive.state.atomic import locked
from toolhive.workloads.deploy import deploy_request
from toolhive.workloads.options import is_package_scheme
from toolhive.workloads.ports import pick_free_port, port_is_free, require_free
from toolhive.workloads.runtimes import detect_all, load_runtime, runtime_for, select_runtime
from toolhive.workloads.urls import client_url

S = WorkloadStatus
#: Statuses ``thv list`` shows without ``--all``.
ACTIVE = {S.RUNNING, S.STARTING, S.UNHEALTHY, S.AUTH_RETRYING, S.STOPPING}
#: How long a ``starting`` workload may lack a live supervisor (it is being spawned).
SPAWN_GRACE_S = 5.0

Progress = Callable[[str], None]


def workload_lock(base_name: str) -> contextlib.AbstractContextManager[None]:
    """Serialises run/start/stop/rm of one workload across processes."""
    return locked(paths.state_dir() / "locks" / base_name)


def _age_seconds(stamp: str) -> float:
    try:
        then = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return float("inf")
    return (datetime.now(UTC) - then).total_seconds()


def merged_status(base_name: str) -> tuple[WorkloadStatus, str]:
    """The status file corrected by whether the supervisor is alive (no engine call needed:
    the supervisor itself records a dead server as ``unhealthy``)."""
    record = store.read_status(base_name)
    if record is None:
        return S.STOPPED, ""
    status, context = record.status, record.status_context
    supervised = {S.RUNNING, S.UNHEALTHY, S.STARTING, S.STOPPING, S.AUTH_RETRYING}
    if status not in supervised or store.pid_alive(store.read_pid(base_name)):
        return status, context
    if status == S.STOPPING:
        return S.STOPPED, ""
    if status == S.STARTING:
        if _age_seconds(record.updated_at) < SPAWN_GRACE_S:
            return status, context
        return S.ERROR, "supervisor exited while starting; see `thv logs --proxy`"
    return S.UNHEALTHY, "proxy process not running"


class WorkloadManager:
    def __init__(self, hooks: Hooks, progress: Progress | None = None) -> None:
        self.hooks = hooks
        self.progress = progress or (lambda _msg: None)

    # --- queries ---------------------------------------------------------------------------

    def config(self, name: str) -> RunConfig:
        return store.load_runconfig(name)

    def workload(self, name: str) -> Workload:
        config = store.load_runconfig(name)
        status, context = merged_status(config.base_name)
        record = store.read_status(config.base_name)
        user_labels = {k: v for k, v in config.container_labels.items()}
        return Workload(
            name=config.name,
            package=config.remote_url or config.image,
            url=client_url(config),
            port=config.port,
            transport_type=config.transport,
            proxy_mode=config.effective_proxy_mode,
            status=status,
            status_context=context,
            created_at=record.created_at if record else "",
            started_at=record.updated_at if record and status == S.RUNNING else "",
            labels=user_labels,
            group=config.group or "default",
            tools=list(config.tools_filter),
            remote=config.is_remote,
            runtime=config.runtime,
        )

    def list(
        self,
        *,
        include_all: bool = False,
        labels: dict[str, str] | None = None,
        group: str | None = None,
    ) -> list[Workload]:
        out: list[Workload] = []
        for name in store.list_runconfig_names():
            try:
                wl = self.workload(name)
            except ToolHiveError:
                continue  # removed while listing, or unreadable: `thv status` reports it
            if not include_all and wl.status not in ACTIVE:
                continue
            if group and wl.group != group:
                continue
            if labels and any(wl.labels.get(k) != v for k, v in labels.items()):
                continue
            out.append(wl)
        return out

    def names(self, *, group: str | None = None) -> list[str]:
        return [w.name for w in self.list(include_all=True, group=group)]

    # --- run -------------------------------------------------------------------------------

    def prepare(self, config: RunConfig) -> tuple[RunConfig, Runtime | None]:
        """Check everything that can be checked before any state exists; fill in ports/runtime."""
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
        if config.is_remote:
            return config.model_copy(update=updates), None
        if config.transport != "stdio" and not config.target_port:
            updates["target_port"] = pick_free_port()
        config = config.model_copy(update=updates)
        chosen = config.runtime or os.environ.get("TOOLHIVE_RUNTIME") or None
        spec, detection = select_runtime(
            self.hooks, chosen, package_scheme=is_package_scheme(config.image)
        )
        try:
            return self._prepare_on(config, spec, detection)
        except BaseImageUnavailableError as exc:
            # Auto-detected engine that cannot build offline: a sandboxed process runs the
            # package under the same profile, so fall back (saying so) rather than fail.
            fallback = None if chosen else _process_fallback(self.hooks)
            if fallback is None:
                raise
            self.progress(f"{exc}\nFalling back to the {fallback[0].name} runtime.")
            return self._prepare_on(config, *fallback)

    def _prepare_on(
        self, config: RunConfig, spec: RuntimeSpec, detection: RuntimeDetection
    ) -> tuple[RunConfig, Runtime]:
        config = config.model_copy(update={"runtime": spec.name})
        runtime = load_runtime(spec, detection)
        runtime.ping()
        runtime.check_request(deploy_request(config, in_container=spec.is_container))
        if spec.is_container:
            # uvx://, npx://, go:// on an engine: build the image, or reuse the one built
            # from the same inputs (toolhive.builds.workload says what the RunConfig records).
            from toolhive.builds.workload import ensure_package_image

            config = ensure_package_image(config, runtime, self.progress)
        runtime.ensure_image(config.image, self.progress)
        return config, runtime

    def create(self, config: RunConfig) -> RunConfig:
        """Validate and save the workload as ``starting`` (no process yet)."""
        with workload_lock(config.base_name):
            config, _ = self.prepare(config)
            store.save_runconfig(config)
            store.delete_pid(config.base_name)
            store.set_status(config.base_name, S.STARTING, process_id=0)
        return config

    def run_detached(self, config: RunConfig, *, wait: float = 120.0) -> Workload:
        config = self.create(config)
        try:
            self._spawn(config.base_name)
            return self._await_start(config.base_name, wait)
        except ToolHiveError:
            # Nothing half-created: a run that failed to start leaves no workload behind.
            self.remove(config.base_name)
            raise

    def start(
        self, name: str, *, wait: float = 120.0, child_env: dict[str, str] | None = None
    ) -> Workload:
        """Start (or restart) a saved workload on the same proxy port.

        ``child_env`` goes to the new supervisor's environment only (e.g. what it needs to open
        the secrets store), never to a file."""
        config = store.load_runconfig(name)
        with workload_lock(config.base_name):
            self._stop(config)
            self._wait_port_free(config)
            config = self._ensure_package_image(config)
            store.set_status(config.base_name, S.STARTING, process_id=0)
            self._spawn(config.base_name, child_env)
        return self._await_start(config.base_name, wait)

    def _ensure_package_image(self, config: RunConfig) -> RunConfig:
        """A package workload's image is still there, else rebuilt (and the RunConfig updated)."""
        from toolhive.builds.workload import ensure_package_image, package_source

        if not package_source(config) or not config.runtime:
            return config
        spec, detection = select_runtime(self.hooks, config.runtime)
        if not spec.is_container:
            return config
        updated = ensure_package_image(config, load_runtime(spec, detection), self.progress)
        if updated.image != config.image:
            store.save_runconfig(updated)
        return updated

    def _wait_port_free(self, config: RunConfig, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while not port_is_free(config.host, config.port) and time.monotonic() < deadline:
            time.sleep(0.1)
        require_free(config.host, config.port)

    def _spawn(self, base_name: str, child_env: dict[str, str] | None = None) -> int:
        log_path = paths.proxy_log_path(base_name)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **(child_env or {}), "TOOLHIVE_DETACHED": "1"}
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "toolhive", "start", base_name, "--foreground"],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=env,
                close_fds=True,
            )
        store.write_pid(base_name, proc.pid)
        return proc.pid

    def _await_start(self, base_name: str, timeout: float) -> Workload:
        deadline = time.monotonic() + timeout
        while True:
            status, context = merged_status(base_name)
            if status == S.RUNNING:
                return self.workload(base_name)
            if status in {S.ERROR, S.UNHEALTHY, S.STOPPED}:
                detail = context or f"see `thv logs --proxy {base_name}`"
                msg = f"workload {base_name!r} failed to start: {detail}"
                raise ToolHiveError(msg)
            if time.monotonic() > deadline:
                return self.workload(base_name)  # still starting; the caller says so
            time.sleep(0.1)

    # --- stop / rm -------------------------------------------------------------------------

    def stop(self, name: str, *, timeout: float = 30.0) -> bool:
        """Stop a workload; ``False`` if it was already stopped. Idempotent."""
        config = store.load_runconfig(name)
        with workload_lock(config.base_name):
            return self._stop(config, timeout=timeout)

    def _stop(self, config: RunConfig, *, timeout: float = 30.0) -> bool:
        base = config.base_name
        pid = store.read_pid(base)
        record = store.read_status(base)
        was_active = store.pid_alive(pid) or (record is not None and record.status in ACTIVE)
        if store.pid_alive(pid):
            store.set_status(base, S.STOPPING)
            assert pid is not None
            _terminate(pid, timeout)
        if was_active and not config.is_remote:
            # The supervisor stops its server; if it was dead, do it here.
            with contextlib.suppress(RuntimeUnavailableError, NotFoundError):
                runtime_for(self.hooks, config.runtime).stop(config.container_name or base, timeout)
        store.delete_pid(base)
        if record is not None and (was_active or record.status != S.STOPPED):
            store.set_status(base, S.STOPPED, process_id=0)
        # Stopped or being removed (remove() comes through here): clients drop the entry.
        client_sync.workload_stopped(self.hooks, config)
        return was_active

    def remove(self, name: str) -> None:
        config = store.load_runconfig(name)
        base = config.base_name
        with workload_lock(base):
            store.set_status(base, S.REMOVING)
            self._stop(config)
            if not config.is_remote and config.runtime:
                try:
                    runtime_for(self.hooks, config.runtime).remove(config.container_name or base)
                except (RuntimeUnavailableError, NotFoundError) as exc:
                    store.set_status(base, S.ERROR, f"could not remove the container: {exc}")
                    msg = f"cannot remove workload {name!r}: {exc}"
                    raise ToolHiveError(msg) from None
            store.delete_runconfig(base)
            store.delete_status(base)
            store.delete_pid(base)

    def select(
        self, names: Iterable[str], *, all_: bool = False, group: str | None = None
    ) -> list[str]:
        chosen = list(names)
        if all_ or group:
            chosen = self.names(group=group)
        elif not chosen:
            msg = "name a workload, or use --all"
            raise ToolHiveError(msg)
        return chosen


def _process_fallback(hooks: Hooks) -> tuple[RuntimeSpec, RuntimeDetection] | None:
    """The first available non-container runtime that runs packages itself."""
    for spec, detection in detect_all(hooks):
        if not spec.is_container and spec.runs_package_schemes and detection.available:
            return spec, detection
    return None


def _terminate(pid: int, timeout: float) -> None:
    """SIGTERM the supervisor's session; SIGKILL after ``timeout``."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while store.pid_alive(pid) and time.monotonic() < deadline:
        _reap(pid)
        time.sleep(0.05)
    if store.pid_alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        while store.pid_alive(pid):
            _reap(pid)
            time.sleep(0.05)


def _reap(pid: int) -> None:
    """Collect our own child (a supervisor this process spawned) so it is not left a zombie."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)
