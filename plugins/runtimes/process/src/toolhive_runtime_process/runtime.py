"""ProcessRuntime: MCP servers as child processes, sandboxed with bubblewrap.

The server is a child of the process that calls :meth:`ProcessRuntime.deploy` (the workload
supervisor) and dies with it: ``bwrap --die-with-parent`` ties the server to bwrap, and
``PR_SET_PDEATHSIG`` ties bwrap (or an unsandboxed server) to the supervisor. Each server is the
leader of its own session and process group. A process record (:mod:`.records`) lets any other
``thv`` process inspect, stop or remove it.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from toolhive.contracts import (
    NotFoundError,
    RuntimeUnavailableError,
    WorkloadStateError,
    storage,
    thvignore,
)
from toolhive.contracts.pipes import PipeChannel
from toolhive.contracts.runtime import (
    ContainerInfo,
    Deployment,
    DeployRequest,
    ProgressCallback,
    StdioChannel,
)

from toolhive_runtime_process import network, procfs, sandbox
from toolhive_runtime_process.commands import (
    PackageRef,
    display,
    parse_image,
    resolve_executable,
)
from toolhive_runtime_process.config import ProcessRuntimeConfig
from toolhive_runtime_process.packages import PackageInstaller, hidden_state_dirs
from toolhive_runtime_process.records import ProcessRecord, RecordStore, check_name

log = logging.getLogger(__name__)

#: What a server inherits from the supervisor's environment; ``DeployRequest.env`` comes on top.
SERVER_ENV_NAMES = frozenset(
    {
        "PATH",
        "HOME",
        "USER",
        "LOGNAME",
        "LANG",
        "LANGUAGE",
        "TZ",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "REQUESTS_CA_BUNDLE",
        "NODE_EXTRA_CA_CERTS",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "NO_PROXY",
        "http_proxy",
        "https_proxy",
        "no_proxy",
    }
)

_POLL = 0.05
_PR_SET_PDEATHSIG = 1


# ------------------------------------------------------------------------------ spawning
#
# PR_SET_PDEATHSIG fires when the *thread* that forked the child ends, not the process. Callers
# deploy from worker threads that come and go, so every server is forked by one long-lived thread.

_spawner: ThreadPoolExecutor | None = None
_spawner_lock = threading.Lock()


def _spawn_thread() -> ThreadPoolExecutor:
    global _spawner
    with _spawner_lock:
        if _spawner is None:
            _spawner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="thv-process-spawner")
        return _spawner


def _die_with_parent() -> Callable[[], None]:
    """A ``preexec_fn`` that makes the child get SIGKILL when its parent goes away."""
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    parent = os.getpid()

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return preexec


def _spawn(
    argv: list[str], *, env: dict[str, str], stdin: int, stdout: int, stderr: int
) -> subprocess.Popen[bytes]:
    def start() -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            argv,
            env=env,
            stdin=stdin,
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,
            preexec_fn=_die_with_parent(),
        )

    return _spawn_thread().submit(start).result()


def _exit_status(code: int) -> int:
    """Popen's ``-N`` (killed by signal N) as a shell would report it: ``128 + N``."""
    return 128 - code if code < 0 else code


def _close_pipes(proc: subprocess.Popen[bytes]) -> None:
    """Close the stdin/stdout pipes nobody attached to (an attached channel holds duplicates)."""
    for stream in (proc.stdin, proc.stdout):
        if stream is not None:
            with contextlib.suppress(OSError):
                stream.close()


def _now() -> str:
    return datetime.now(UTC).isoformat()


class ProcessRuntime:
    """Runs MCP servers as local processes in a bubblewrap sandbox."""

    name = "process"
    #: How long deploy() watches a new server for an immediate failure (a bwrap mount error, a
    #: bad argument) to report it as a failed start, with the end of its log.
    early_exit_window: float = 0.05

    def __init__(
        self,
        *,
        bwrap: str | None,
        config: ProcessRuntimeConfig | None = None,
        environ: Mapping[str, str] | None = None,
        records: RecordStore | None = None,
    ) -> None:
        self._bwrap = bwrap
        self._config = config or ProcessRuntimeConfig()
        self._environ: Mapping[str, str] = os.environ if environ is None else environ
        self._records = records or RecordStore()
        self._installer = PackageInstaller(bwrap=bwrap, environ=self._environ)
        self._children: dict[str, subprocess.Popen[bytes]] = {}
        self._networks: dict[str, network.IsolatedNetwork] = {}
        self._lock = threading.RLock()

    @property
    def sandboxed(self) -> bool:
        return self._bwrap is not None

    # ------------------------------------------------------------------ availability

    def ping(self) -> None:
        if self._bwrap is None and not sandbox.unsandboxed_allowed(self._environ):
            raise RuntimeUnavailableError(
                f"no sandbox for the process runtime: {sandbox.INSTALL_HINT}"
            )

    def ensure_image(self, image: str, progress: ProgressCallback | None = None) -> None:
        launch = parse_image(image)
        if isinstance(launch, PackageRef):
            self.ping()
            self._installer.ensure(launch, progress)
        else:
            found = resolve_executable(launch, self._environ.get("PATH"))
            if progress:
                progress(f"using {found}")

    def check_request(self, request: DeployRequest) -> None:
        check_name(request.name)
        parse_image(request.image)
        sandbox.check_request(request, sandboxed=self.sandboxed)

    # ------------------------------------------------------------------ lifecycle

    def deploy(self, request: DeployRequest) -> Deployment:
        self.ping()
        self.check_request(request)
        env = self._server_env(request)
        launch = parse_image(request.image)
        needs: list[Path] = []
        if isinstance(launch, PackageRef):
            installed = self._installer.ensure(launch)
            command = [str(installed.executable), *request.command]
            needs = [installed.root, *installed.needs]
        else:
            command = [resolve_executable(launch, env.get("PATH")), *request.command]
            needs = sandbox.named_tmp_paths(command)

        self._replace_leftover(request.name)
        stdio = request.stdio
        log_path = storage.server_log_path(request.name)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        log_start = os.fstat(log_fd).st_size
        net: network.IsolatedNetwork | None = None
        overlays: list[thvignore.Overlay] = []
        try:
            if self._bwrap is not None:
                overlays = sandbox.ignore_overlays(request, self._environ)
                _log_enforced(log_fd, request, overlays)
                extra: list[str] = []
                if network.needs_namespace(request):
                    net = network.IsolatedNetwork.start(request, spawn=_spawn, log_fd=log_fd)
                    extra += net.bwrap_args()
                    command_in_sandbox = net.wrap(command)
                    env |= net.env()
                    needs += [p for p in net.helper_paths() if p.is_relative_to("/tmp")]
                else:
                    command_in_sandbox = command
                if overlays:
                    extra += sandbox.overlay_args(overlays, self._empty_file())
                argv = sandbox.bwrap_argv(
                    self._bwrap,
                    command_in_sandbox,
                    network=network.shares_host_network(request),
                    binds=sandbox.request_binds(request),
                    read_only=needs,
                    hidden=[*hidden_state_dirs(), *self._hidden_paths()],
                    extra=extra,
                )
            else:
                argv = command
                log.warning(
                    "running %s UNSANDBOXED (%s=1): its permission profile is not enforced",
                    request.name,
                    sandbox.UNSANDBOXED_ENV,
                )
            proc = _spawn(
                argv,
                env=env,
                stdin=subprocess.PIPE if stdio else subprocess.DEVNULL,
                stdout=subprocess.PIPE if stdio else log_fd,
                stderr=log_fd,
            )
        except OSError as exc:
            if net is not None:
                net.close()
            msg = f"could not start {request.name} ({display(argv[:1])}): {exc}"
            raise WorkloadStateError(msg) from None
        except BaseException:
            if net is not None:
                net.close()
            raise
        finally:
            os.close(log_fd)
        if net is not None:
            try:
                net.await_ready(request.name)
            except WorkloadStateError:
                proc.kill()  # the bwrap monitor: the sandbox goes with it
                proc.wait()
                _close_pipes(proc)
                raise
            net.watch(proc.pid)

        st = procfs.stat(proc.pid)
        egress = procfs.stat(net.pid) if net is not None else None
        record = ProcessRecord(
            name=request.name,
            image=request.image,
            command=command,
            argv=argv,
            pid=proc.pid,
            pgid=st.pgid if st else proc.pid,
            start_ticks=st.start_ticks if st else 0,
            boot_id=procfs.boot_id(),
            sandboxed=self.sandboxed,
            transport=request.transport,
            target_port=request.target_port,
            labels=dict(request.labels),
            created_at=_now(),
            owner_pid=os.getpid(),
            network=network.describe(request) if self.sandboxed else "unsandboxed: not enforced",
            egress_pid=net.pid if net is not None else None,
            egress_start_ticks=egress.start_ticks if egress else 0,
            net_dir=str(net.directory) if net is not None else None,
            hidden=[str(o.target) for o in overlays],
        )
        with self._lock:
            self._children[request.name] = proc
            if net is not None:
                self._networks[request.name] = net
        self._records.write(record)

        try:
            code = _exit_status(proc.wait(timeout=self.early_exit_window))
        except subprocess.TimeoutExpired:
            code = None
        if code is not None:
            self._note_exit(record, code)
            if code != 0:
                _close_pipes(proc)
                why = self._log_tail(request.name, log_start) or f"exit status {code}"
                msg = f"server {request.name} exited as soon as it started: {why}"
                raise WorkloadStateError(msg)
        return Deployment(
            id=str(proc.pid),
            target_host="127.0.0.1",
            target_port=None if stdio else request.target_port,
        )

    async def attach_stdio(self, name: str) -> StdioChannel:
        with self._lock:
            proc = self._children.get(name)
            if proc is None:
                record = self._records.read(name)
                if record is None:
                    raise NotFoundError(f"no process workload named {name!r}")
                msg = (
                    f"{name} was started by process {record.owner_pid}; only that process holds "
                    "its stdin/stdout — restart the workload to attach again"
                )
                raise WorkloadStateError(msg)
            if proc.stdin is None or proc.stdout is None:
                msg = f"{name}: its stdio is already attached (or it is not a stdio server)"
                raise WorkloadStateError(msg)
            # The channel owns duplicates; Popen must not close the descriptors under it.
            stdin_fd, stdout_fd = os.dup(proc.stdin.fileno()), os.dup(proc.stdout.fileno())
            for stream in (proc.stdin, proc.stdout):
                with contextlib.suppress(OSError):
                    stream.close()
            proc.stdin = proc.stdout = None
        return await PipeChannel.from_fds(stdout_fd, stdin_fd)

    def wait(self, name: str) -> int:
        """The server's exit status; ``-1`` if it was not our child and nobody recorded it."""
        proc, record = self._child_and_record(name)
        if proc is not None:
            code = _exit_status(proc.wait())
            _close_pipes(proc)
            if record is not None:
                self._note_exit(record, code)
                self._stop_network(record)
            return code
        if record is None:
            raise NotFoundError(f"no process workload named {name!r}")
        while self._group_alive(record):
            time.sleep(_POLL * 4)
        # The owning supervisor records the status when it reaps the server; give it a moment.
        deadline = time.monotonic() + 1.0
        while True:
            latest = self._records.read(name)
            if latest is not None and latest.pid == record.pid and latest.exit_code is not None:
                return latest.exit_code
            if time.monotonic() > deadline or not procfs.stat(record.owner_pid):
                return -1
            time.sleep(_POLL)

    def stop(self, name: str, timeout: float = 30) -> None:
        proc, record = self._child_and_record(name)
        if record is None:
            return
        if self._leader_running(record, proc):
            self._signal_server(record, signal.SIGTERM)
            if not self._wait_gone(record, proc, timeout):
                self._kill_group(record)
                self._wait_gone(record, proc, 10)
        else:
            self._kill_group(record)  # stragglers of an unsandboxed server, if any
        if proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._note_exit(record, _exit_status(proc.wait(timeout=5)))
            _close_pipes(proc)
        self._stop_network(record)

    def remove(self, name: str) -> None:
        self.stop(name, timeout=self._config.stop_timeout)
        self._forget(name)
        self._records.delete(name)
        with contextlib.suppress(FileNotFoundError):
            storage.server_log_path(name).unlink()

    # ------------------------------------------------------------------ queries

    def inspect(self, name: str) -> ContainerInfo | None:
        proc, record = self._child_and_record(name)
        if record is None:
            return None
        running = self._leader_running(record, proc)
        if not running and proc is not None and proc.returncode is not None:
            record = self._note_exit(record, _exit_status(proc.returncode))
        return ContainerInfo(
            id=str(record.pid),
            name=record.name,
            image=record.image,
            state="running" if running else "exited",
            labels=record.labels,
            created_at=record.created_at,
            exit_code=None if running else record.exit_code,
        )

    def list_workloads(self) -> list[ContainerInfo]:
        found = (self.inspect(name) for name in self._records.names())
        return [info for info in found if info is not None]

    def logs(self, name: str, *, follow: bool = False, tail: int | None = None) -> Iterator[bytes]:
        check_name(name)
        path = storage.server_log_path(name)
        if not path.exists() and self._records.read(name) is None:
            raise NotFoundError(f"no process workload named {name!r}")
        return self._read_log(name, path, follow=follow, tail=tail)

    # ------------------------------------------------------------------ internals

    def _server_env(self, request: DeployRequest) -> dict[str, str]:
        base = {
            k: v for k, v in self._environ.items() if k in SERVER_ENV_NAMES or k.startswith("LC_")
        }
        return base | dict(request.env)

    def _stop_network(self, record: ProcessRecord) -> None:
        """Stop the sandbox's egress proxy (ours, or from the record) and remove its sockets."""
        with self._lock:
            net = self._networks.pop(record.name, None)
        if net is not None and net.pid == record.egress_pid:
            net.close()
        elif net is not None:
            self._networks[record.name] = net  # a newer deployment's
        network.cleanup(
            record.egress_pid, record.egress_start_ticks, record.boot_id, record.net_dir
        )

    def _empty_file(self) -> Path:
        """An empty read-only file to cover files that ``.thvignore`` hides."""
        path = self._records.root / ".empty"
        if not path.is_file() or path.stat().st_size:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.unlink(missing_ok=True)
            path.write_bytes(b"")
            path.chmod(0o444)
        return path

    def _hidden_paths(self) -> list[Path]:
        return [Path(p).expanduser() for p in self._config.hidden_paths]

    def _child_and_record(
        self, name: str
    ) -> tuple[subprocess.Popen[bytes] | None, ProcessRecord | None]:
        record = self._records.read(name)
        with self._lock:
            proc = self._children.get(name)
        if proc is not None and (record is None or record.pid != proc.pid):
            proc = None  # replaced or removed elsewhere
        return proc, record

    def _leader_running(self, record: ProcessRecord, proc: subprocess.Popen[bytes] | None) -> bool:
        if proc is not None:
            return proc.poll() is None
        return procfs.is_running(record.pid, record.start_ticks, record.boot_id)

    def _group_alive(
        self, record: ProcessRecord, proc: subprocess.Popen[bytes] | None = None
    ) -> bool:
        if self._leader_running(record, proc):
            return True
        return bool(self._orphans(record))

    def _orphans(self, record: ProcessRecord) -> list[procfs.ProcStat]:
        """Live members of the server's group after its leader is gone (never someone else's)."""
        leader = procfs.stat(record.pgid)
        if leader is not None and leader.start_ticks != record.start_ticks:
            return []  # the group id now belongs to an unrelated process
        if record.boot_id and record.boot_id != procfs.boot_id():
            return []
        return procfs.group_members(record.pgid)

    def _signal_server(self, record: ProcessRecord, sig: signal.Signals) -> None:
        """Signal the server gracefully: in a sandbox, everyone but the bwrap monitor.

        Signalling the monitor would make it exit and take the server down with SIGKILL.
        """
        if record.sandboxed:
            targets = [m.pid for m in procfs.group_members(record.pgid) if m.pid != record.pid]
            for pid in targets or [record.pid]:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)
        else:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(record.pgid, sig)

    def _kill_group(self, record: ProcessRecord) -> None:
        if self._orphans(record) or procfs.is_running(
            record.pid, record.start_ticks, record.boot_id
        ):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(record.pgid, signal.SIGKILL)

    def _wait_gone(
        self, record: ProcessRecord, proc: subprocess.Popen[bytes] | None, timeout: float
    ) -> bool:
        deadline = time.monotonic() + timeout
        while self._group_alive(record, proc):
            if time.monotonic() >= deadline:
                return False
            time.sleep(_POLL)
        return True

    def _note_exit(self, record: ProcessRecord, code: int) -> ProcessRecord:
        if record.exit_code is not None:
            return record
        updated = self._records.update(record.name, record.pid, exit_code=code, finished_at=_now())
        if updated is None or updated.pid != record.pid:
            return record.model_copy(update={"exit_code": code})
        return updated

    def _replace_leftover(self, name: str) -> None:
        _, record = self._child_and_record(name)
        if record is not None:
            self.stop(name, timeout=self._config.stop_timeout)
        self._forget(name)

    def _forget(self, name: str) -> None:
        """Drop our handle on a (stopped) child, closing pipes nobody attached to."""
        with self._lock:
            proc = self._children.pop(name, None)
        if proc is None:
            return
        _close_pipes(proc)
        if proc.returncode is None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)

    def _log_tail(self, name: str, start: int, lines: int = 5) -> str:
        """The last ``lines`` lines the server wrote to its log after offset ``start``."""
        try:
            with storage.server_log_path(name).open("rb") as fh:
                fh.seek(start)
                text = fh.read()[-4096:].decode(errors="replace")
        except OSError:
            return ""
        return " | ".join(line.strip() for line in text.strip().splitlines()[-lines:])

    def _read_log(
        self, name: str, path: Path, *, follow: bool, tail: int | None
    ) -> Iterator[bytes]:
        try:
            fh: IO[bytes] = path.open("rb")
        except FileNotFoundError:
            return
        with fh:
            if tail is not None:
                fh.seek(_tail_offset(fh, tail))
            pending = b""
            while True:
                chunk = fh.read(65536)
                if chunk:
                    pending += chunk
                    complete, _, pending = pending.rpartition(b"\n")
                    if complete:
                        yield complete + b"\n"
                    continue
                if not follow:
                    break
                proc, record = self._child_and_record(name)
                if record is None or not self._group_alive(record, proc):
                    rest = fh.read()  # drained after the server is gone
                    if rest:
                        pending += rest
                        continue
                    break
                time.sleep(_POLL * 2)
            if pending:
                yield pending


def _log_enforced(log_fd: int, request: DeployRequest, overlays: list[thvignore.Overlay]) -> None:
    """Say in the server's log (``thv logs``) what the sandbox enforces beyond its defaults: an
    egress allow-list or ingress relay, hidden paths."""
    lines = []
    if network.needs_namespace(request) or (
        network.shares_host_network(request)
        and not sandbox.network_allowed(request.permission_profile)
    ):
        lines.append(f"[thv-sandbox] network: {network.describe(request)}")
    if overlays:
        hidden = ", ".join(f"{o.target}{'/' if o.is_dir else ''}" for o in overlays)
        lines.append(f"[thv-sandbox] .thvignore hides {len(overlays)} path(s): {hidden}")
    if lines:
        os.write(log_fd, "".join(f"{line}\n" for line in lines).encode())


def _tail_offset(fh: IO[bytes], lines: int) -> int:
    """Offset of the start of the last ``lines`` lines of ``fh``."""
    if lines <= 0:
        return fh.seek(0, os.SEEK_END)
    end = fh.seek(0, os.SEEK_END)
    pos, seen, block = end, 0, 8192
    # A trailing newline ends the last line; it does not start another one.
    if end:
        fh.seek(end - 1)
        if fh.read(1) == b"\n":
            seen = -1
    while pos > 0:
        step = min(block, pos)
        pos -= step
        fh.seek(pos)
        data = fh.read(step)
        for i in range(len(data) - 1, -1, -1):
            if data[i] == 0x0A:
                seen += 1
                if seen == lines:
                    return pos + i + 1
    return 0
