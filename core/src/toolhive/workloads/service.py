"""The workload use cases — the one seam every front end calls.

``thv run/start/stop/rm/list/status/export`` and, next, the REST API are thin faces over
:class:`Workloads`: they turn flags or a JSON body into a :class:`RunRequest` (or a name), make
one call, and present the result. Everything else happens here, in this order for ``run``:

1. resolve the request into a RunConfig (registry name | image | package | URL | exported config);
2. refuse what no installed plugin enforces (:func:`toolhive.workloads.protection.require_enforceable`)
   and check every secret the workload references, once — before any state is written;
3. place it (group, name, ports, runtime, image) and save it as ``starting``;
4. spawn the detached supervisor with an explicit environment (what it needs to open the secrets
   store; ``TOOLHIVE_DEBUG`` for a debug workload) and wait until it reports ``running``.

``start`` repeats step 2 for the saved RunConfig (a plugin may have been uninstalled since). Each
step publishes a :class:`~toolhive.workloads.events.WorkloadEvent` on the bus it was given; client
config sync and, next, the REST API's event stream subscribe to it.
"""

from __future__ import annotations

import builtins
import contextlib
import logging
import os
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING

from toolhive.errors import (
    NotFoundError,
    RuntimeUnavailableError,
    ToolHiveError,
    WorkloadStateError,
)
from toolhive.models.runconfig import RunConfig
from toolhive.models.workload import Workload, WorkloadStatus
from toolhive.state import store
from toolhive.state.store import WorkloadRecord
from toolhive.workloads.events import EventType, WorkloadEvents
from toolhive.workloads.processes import (
    await_start,
    run_supervisor_attached,
    spawn_supervisor,
    supervisor_environment,
    terminate,
    wait_port_free,
    workload_lock,
)
from toolhive.workloads.status import ACTIVE, merged_status, workload_row

if TYPE_CHECKING:  # the plugins load only for the use cases that need them (not list/get)
    from toolhive.plugins import Hooks
    from toolhive.workloads.request import RunRequest

S = WorkloadStatus
log = logging.getLogger("toolhive.workloads")
Progress = Callable[[str], None]
#: Asks the user for a value (label, hidden?) — see :mod:`toolhive.registry.run`.
Prompt = Callable[[str, bool], str]


class Workloads:
    """Run, start, stop, remove, list and export workloads.

    ``events``: the bus to publish on (subscribers are the caller's business). ``progress``:
    where pulls and builds report. ``environ``: the environment spawned supervisors start from
    (default: this process's), never modified.
    """

    def __init__(
        self,
        hooks: Hooks,
        *,
        events: WorkloadEvents | None = None,
        progress: Progress | None = None,
        environ: Mapping[str, str] | None = None,
        open_browser: bool = True,
    ) -> None:
        self.hooks = hooks
        #: A remote server's sign-in may open a browser here (not under ``thv serve``, whose
        #: clients get the authorization URL instead).
        self.open_browser = open_browser
        self.events = events if events is not None else WorkloadEvents()
        self.progress: Progress = progress or (lambda _msg: None)
        self.environ: Mapping[str, str] = os.environ if environ is None else environ

    # --- queries (state files only: no engine, no plugin) --------------------------------------

    def get(self, name: str) -> Workload:
        return workload_row(store.read_workload(name))

    def list(
        self,
        *,
        include_all: bool = False,
        labels: Mapping[str, str] | None = None,
        group: str | None = None,
    ) -> builtins.list[Workload]:
        out: builtins.list[Workload] = []
        for record in store.read_workloads():
            row = workload_row(record)
            if not include_all and row.status not in ACTIVE:
                continue
            if group and row.group != group:
                continue
            if labels and any(row.labels.get(k) != v for k, v in labels.items()):
                continue
            out.append(row)
        return out

    def select(
        self, names: Iterable[str], *, all_: bool = False, group: str | None = None
    ) -> builtins.list[str]:
        """The workloads a bulk command acts on: ``names``, or every one (of ``group``)."""
        chosen = list(names)
        if all_ or group:
            return [w.name for w in self.list(include_all=True, group=group)]
        if not chosen:
            msg = "name a workload, or use --all"
            raise ToolHiveError(msg)
        return chosen

    def export(self, name: str) -> RunConfig:
        """The RunConfig as saved (ToolHive's JSON via ``to_json``), for ``run --from-config``."""
        return store.load_runconfig(name)

    # --- run ---------------------------------------------------------------------------------

    def resolve(self, request: RunRequest, *, prompt: Prompt | None = None) -> RunConfig:
        """The RunConfig ``request`` asks for, before ports and runtime are chosen."""
        from toolhive.workloads.resolve import resolve

        return resolve(self.hooks, request, prompt=prompt)

    def run(
        self, request: RunRequest, *, prompt: Prompt | None = None, wait: float = 300.0
    ) -> Workload:
        """Run detached; returns once it is running, or still starting after ``wait`` seconds.
        A run that fails to start leaves nothing behind."""
        config, child_env = self._admit(self.resolve(request, prompt=prompt))
        config = self._create(config)
        if wait <= 0 and config.is_remote and not self.open_browser:
            # The REST API: answer now; a sign-in the server asks for waits for the user in
            # the background, its URL offered as a pending login.
            thread = threading.Thread(
                target=self._sign_in_and_launch,
                args=(config, child_env),
                name=f"thv-sign-in-{config.base_name}",
                daemon=True,
            )
            thread.start()
            return workload_row(store.read_workload(config.base_name))
        try:
            config, auth_env = self._sign_in(config)
            child_env = {**child_env, **auth_env}
            # Spawned and its PID recorded under the lock: a concurrent remove (the REST API
            # accepts one as soon as the workload is saved) then finds the supervisor and stops
            # it, instead of deleting the state under a supervisor it cannot see, which would
            # recreate the status file and run on.
            with workload_lock(config.base_name):
                if not store.runconfig_exists(config.base_name):
                    msg = f"workload {config.name!r} was removed while it was being created"
                    raise WorkloadStateError(msg)
                self._launch(config, child_env, debug=config.debug)
            record = await_start(config, wait)
        except ToolHiveError:
            with contextlib.suppress(NotFoundError):  # removed meanwhile: nothing left to undo
                self.remove(config.base_name)
            raise
        return workload_row(record)

    def _sign_in_and_launch(self, config: RunConfig, child_env: Mapping[str, str]) -> None:
        """:meth:`run`'s second half for the REST API, in a thread: a failure is kept as the
        workload's ``error`` status (the client that created it is gone), not raised."""
        try:
            config, auth_env = self._sign_in(config)
            with workload_lock(config.base_name):
                if not store.runconfig_exists(config.base_name):
                    return  # removed while the user was signing in
                self._launch(config, {**child_env, **auth_env}, debug=config.debug)
        except ToolHiveError as exc:
            if store.runconfig_exists(config.base_name):
                store.set_status(config.base_name, S.ERROR, str(exc)[:500], process_id=0)
        except Exception:  # a bug: keep the workload, say so
            log.exception("signing in to %s failed", config.remote_url)
            if store.runconfig_exists(config.base_name):
                store.set_status(config.base_name, S.ERROR, "internal error while signing in")

    def run_foreground(self, request: RunRequest, *, prompt: Prompt | None = None) -> int:
        """Run with the supervisor attached to this terminal until it is stopped (Ctrl-C, or
        ``thv stop``); its exit code. The supervisor is a child process like a detached one, so
        it too gets the secrets environment explicitly."""
        config, child_env = self._admit(self.resolve(request, prompt=prompt))
        config = self._create(config)
        try:
            config, auth_env = self._sign_in(config)
        except ToolHiveError:
            with contextlib.suppress(NotFoundError):
                self.remove(config.base_name)
            raise
        child_env = {**child_env, **auth_env}
        self.events.emit(EventType.STARTING, config)
        env = supervisor_environment(self.environ, child_env, debug=config.debug, detached=False)
        return run_supervisor_attached(config.base_name, env)

    def _admit(self, config: RunConfig) -> tuple[RunConfig, dict[str, str]]:
        """Refuse what cannot be enforced, check the secrets; the supervisor's extra env."""
        from toolhive.workloads.protection import require_enforceable
        from toolhive.workloads.secrets_check import check_secrets, stash_literal_secrets

        require_enforceable(self.hooks, config)
        config = stash_literal_secrets(self.hooks, config, self.environ)
        if config.is_remote and config.remote_auth_config is not None:
            from toolhive.workloads.remote_login import stash_remote_secrets

            config = stash_remote_secrets(self.hooks, config, self.environ)
        return config, check_secrets(self.hooks, config, self.environ)

    def _sign_in(self, config: RunConfig) -> tuple[RunConfig, dict[str, str]]:
        """A remote server's sign-in (:mod:`toolhive.workloads.remote_login`) before its
        supervisor starts: the workload is listed as ``starting`` meanwhile, the status context
        saying that it waits for the user. The config with the login's references, saved, and
        the supervisor's extra environment."""
        if not config.is_remote:
            return config, {}
        from toolhive.workloads.preparing import PreparingStatus
        from toolhive.workloads.remote_login import sign_in

        with PreparingStatus(config.base_name, self.progress, keep_on_failure=True) as waiting:
            waiting.show(config)

            def announce(line: str) -> None:
                self.progress(line)
                if line.startswith("Sign in to "):
                    waiting.context(f"waiting for sign-in to {config.remote_url}")

            config, env = sign_in(
                self.hooks,
                config,
                environ=self.environ,
                announce=announce,
                open_browser=self.open_browser,
            )
            store.save_runconfig(config)
        # The wait is over: no longer "waiting for sign-in" until the supervisor reports.
        store.set_status(config.base_name, S.STARTING, process_id=0)
        return config, env

    def _create(self, config: RunConfig) -> RunConfig:
        """Place the workload and save it as ``starting`` (no process yet). While its image is
        pulled, built or installed it is already listed, the progress as its status context."""
        from toolhive.workloads.prepare import prepare
        from toolhive.workloads.preparing import PreparingStatus

        with workload_lock(config.base_name):
            with PreparingStatus(config.base_name, self.progress) as preparing:
                config = prepare(
                    self.hooks, config, preparing.progress, before_image=preparing.show
                )
            store.save_runconfig(config)
            store.delete_pid(config.base_name)
            store.set_status(config.base_name, S.STARTING, process_id=0)
        self.events.emit(EventType.CREATED, config)
        return config

    def _launch(self, config: RunConfig, child_env: Mapping[str, str], *, debug: bool) -> None:
        self.events.emit(EventType.STARTING, config)
        env = supervisor_environment(self.environ, child_env, debug=debug)
        spawn_supervisor(config.base_name, env)

    # --- start / supervise ---------------------------------------------------------------------

    def start(self, name: str, *, wait: float = 120.0, debug: bool = False) -> Workload:
        """Start (or restart) a saved workload on the same proxy port."""
        from toolhive.workloads.prepare import package_image_still_there

        config, child_env = self._admit(store.load_runconfig(name))
        with workload_lock(config.base_name):
            self._stop(config)
            wait_port_free(config)
            updated = package_image_still_there(self.hooks, config, self.progress)
            if updated.image != config.image:
                store.save_runconfig(updated)
                config = updated
            try:
                config, auth_env = self._sign_in(config)
            except ToolHiveError as exc:
                reason = f"{exc}; sign in again with `thv restart {config.name}`"
                store.set_status(config.base_name, S.UNAUTHENTICATED, reason[:500], process_id=0)
                raise
            child_env = {**child_env, **auth_env}
            store.set_status(config.base_name, S.STARTING, process_id=0)
            self._launch(config, child_env, debug=debug or config.debug)
        return workload_row(await_start(config, wait))

    def supervise(self, name: str, *, debug: bool = False) -> int:
        """``thv start NAME --foreground``: be the supervisor (what :meth:`run` spawns), in
        this process, publishing on this bus."""
        from toolhive.workloads.supervisor import run_supervisor

        return run_supervisor(
            self.hooks, name, events=self.events, environ=self.environ, debug=debug
        )

    # --- stop / rm / move ----------------------------------------------------------------------

    def stop(self, name: str, *, timeout: float = 30.0) -> bool:
        """Stop a workload; ``False`` if it was already stopped. Idempotent."""
        config = store.load_runconfig(name)
        with workload_lock(config.base_name):
            return self._stop(config, timeout=timeout)

    def _stop(self, config: RunConfig, *, timeout: float = 30.0) -> bool:
        base = config.base_name
        record = WorkloadRecord(config, store.read_status(base))
        alive = store.pid_alive(record.pid)
        was_active = alive or (record.status is not None and record.status.status in ACTIVE)
        if alive:
            store.set_status(base, S.STOPPING)
            terminate(record.pid, timeout)
        if was_active and not config.is_remote and not config.is_vmcp:
            # The supervisor stops its server; if it was dead, do it here.
            from toolhive.workloads.runtimes import runtime_for

            with contextlib.suppress(RuntimeUnavailableError, NotFoundError):
                runtime_for(self.hooks, config.runtime).stop(config.container_name or base, timeout)
        store.delete_pid(base)
        if record.status is not None and (was_active or record.status.status != S.STOPPED):
            store.set_status(base, S.STOPPED, process_id=0)
        if was_active:
            self.events.emit(EventType.STOPPED, config)
        return was_active

    def remove(self, name: str) -> None:
        """Stop the workload and remove its server, state files and client entries."""
        config = store.load_runconfig(name)
        base = config.base_name
        with workload_lock(base):
            store.set_status(base, S.REMOVING)
            self._stop(config)
            if not config.is_remote and config.runtime:
                from toolhive.workloads.runtimes import runtime_for

                try:
                    runtime_for(self.hooks, config.runtime).remove(config.container_name or base)
                except (RuntimeUnavailableError, NotFoundError) as exc:
                    store.set_status(base, S.ERROR, f"could not remove the container: {exc}")
                    msg = f"cannot remove workload {name!r}: {exc}"
                    raise ToolHiveError(msg) from None
            store.delete_runconfig(base)
            store.delete_status(base)
            store.delete_pid(base)
        self._forget_stashed_secrets(config)
        self.events.emit(EventType.REMOVED, config)

    def _forget_stashed_secrets(self, config: RunConfig) -> None:
        """Delete the system secrets :func:`stash_literal_secrets` made for this workload."""
        from toolhive.workloads.secrets_check import (
            OIDC_SECRET_KEY,
            oidc_secret_name,
            token_exchange_secret_name,
        )

        exchange = config.token_exchange_config
        for reference, name in (
            (str((config.oidc_config or {}).get(OIDC_SECRET_KEY, "")), oidc_secret_name(config)),
            (exchange.client_secret if exchange else "", token_exchange_secret_name(config)),
        ):
            if not reference.startswith(f"{name},"):
                continue
            from toolhive.secrets.selection import open_secrets

            try:
                open_secrets(self.hooks, environ=self.environ).delete(name)
            except ToolHiveError as exc:  # the workload is gone either way; say what is left
                log.warning("could not delete the secret %s: %s", name, exc)

    def move(self, name: str, group: str) -> None:
        """Put a workload in another group (its clients follow: see ``updated`` events)."""
        from toolhive.groups.store import require_group

        require_group(group)
        config = store.load_runconfig(name)
        with workload_lock(config.base_name):
            moved = config.model_copy(update={"group": group})
            store.save_runconfig(moved)
            status, _ = merged_status(WorkloadRecord(moved, store.read_status(moved.base_name)))
        self.events.emit(EventType.UPDATED, moved, previous=config, status=status)
