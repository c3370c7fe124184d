"""The supervisor process seen from outside: ``thv start <name> --foreground``, spawned with an
explicit environment — detached (new session, output to the proxy log) or attached to this
terminal for ``thv run --foreground`` —, waited for through the status file, and terminated by
PID. Also the per-workload lock that serialises run, start, stop and rm across processes."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping

from toolhive.errors import ToolHiveError
from toolhive.models.runconfig import RunConfig
from toolhive.models.workload import WorkloadStatus
from toolhive.state import paths, store
from toolhive.state.atomic import locked
from toolhive.state.store import WorkloadRecord
from toolhive.workloads.ports import port_is_free, require_free
from toolhive.workloads.status import merged_status

S = WorkloadStatus


def workload_lock(base_name: str) -> contextlib.AbstractContextManager[None]:
    """Serialises run/start/stop/rm of one workload across processes."""
    return locked(paths.state_dir() / "locks" / base_name)


def supervisor_environment(
    base: Mapping[str, str], child_env: Mapping[str, str], *, debug: bool, detached: bool = True
) -> dict[str, str]:
    """The spawned supervisor's whole environment: ours, what it needs to open the secrets
    store, ``TOOLHIVE_DETACHED`` (it has no terminal to prompt on) and ``TOOLHIVE_DEBUG`` when
    the workload runs with debug logs."""
    env = {**base, **child_env}
    if detached:
        env["TOOLHIVE_DETACHED"] = "1"
    if debug:
        env["TOOLHIVE_DEBUG"] = "1"
    return env


def _supervisor_argv(base_name: str) -> list[str]:
    return [sys.executable, "-m", "toolhive", "start", base_name, "--foreground"]


def _record(base_name: str, pid: int) -> None:
    store.write_pid(base_name, pid)
    store.record_pid(base_name, pid)


def spawn_supervisor(base_name: str, env: Mapping[str, str]) -> int:
    """Start the detached supervisor; its PID goes to the status file (and ToolHive's PID file)."""
    log_path = paths.proxy_log_path(base_name)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            _supervisor_argv(base_name),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=dict(env),
            close_fds=True,
        )
    # Reaped when it exits, so a long-lived caller (the REST API) collects no zombies; the
    # waiting thread also holds the Popen, which would otherwise warn it is still running.
    threading.Thread(target=proc.wait, name=f"reap-{base_name}", daemon=True).start()
    _record(base_name, proc.pid)
    return proc.pid


def run_supervisor_attached(base_name: str, env: Mapping[str, str]) -> int:
    """Run the supervisor in this terminal until it stops (``thv run --foreground``); its exit
    code. It shares our process group, so Ctrl-C reaches it; SIGTERM to us is passed on."""
    proc = subprocess.Popen(
        _supervisor_argv(base_name), stdin=subprocess.DEVNULL, env=dict(env), close_fds=True
    )
    _record(base_name, proc.pid)
    previous = signal.signal(signal.SIGTERM, lambda *_: proc.terminate())
    try:
        while True:
            try:
                return proc.wait()
            except KeyboardInterrupt:
                continue  # the supervisor got the SIGINT too and is stopping
    finally:
        signal.signal(signal.SIGTERM, previous)


def await_start(config: RunConfig, timeout: float) -> WorkloadRecord:
    """Poll the status file (one read per poll) until the supervisor reports ``running`` (or
    that it serves a remote server whose credentials need a new sign-in or are being retried:
    ``unauthenticated``/``auth_retrying``); a failure is an error naming the reason; after
    ``timeout`` the record as it is."""
    deadline = time.monotonic() + timeout
    while True:
        record = WorkloadRecord(config, store.read_status(config.base_name))
        status, context = merged_status(record)
        if status in {S.RUNNING, S.UNAUTHENTICATED, S.AUTH_RETRYING}:
            return record
        if status in {S.ERROR, S.UNHEALTHY, S.STOPPED}:
            detail = context or f"see `thv logs --proxy {config.name}`"
            msg = f"workload {config.name!r} failed to start: {detail}"
            raise ToolHiveError(msg)
        if time.monotonic() > deadline:
            return record  # still starting; the caller says so
        time.sleep(0.1)


def wait_port_free(config: RunConfig, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not port_is_free(config.host, config.port) and time.monotonic() < deadline:
        time.sleep(0.1)
    require_free(config.host, config.port)


def terminate(pid: int, timeout: float) -> None:
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
