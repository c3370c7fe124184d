"""An isolated sandbox network: its own namespace, an allow-list proxy out, a relay in.

What a permission profile's network rules become on the process runtime:

- ``insecure_allow_all`` (the ``network`` profile): the sandbox shares the host's network; there
  is nothing to filter.
- nothing allowed (``none``, or no outbound rules) and a stdio server: ``--unshare-net`` alone —
  loopback only, no helper processes.
- ``allow_host`` / ``allow_port``, or any HTTP-transport server that must be reached: the
  sandbox gets its own network namespace. On the host, an egress proxy (:mod:`.egress`, a child
  of the supervisor) listens on a unix socket that is bind-mounted into the sandbox, and for HTTP
  transports an ingress relay listens on ``127.0.0.1:<target port>``. Inside,
  :mod:`.netns_relay` serves ``127.0.0.1:3128`` (``HTTP_PROXY``/``HTTPS_PROXY``) and the ingress
  socket, then runs the server. ``/etc/hosts`` inside shows only ``localhost`` and no resolver is
  reachable, so names resolve only through the proxy.

The egress proxy lives as long as the sandbox's ``bwrap`` monitor (it watches that PID), dies
with the supervisor (``PR_SET_PDEATHSIG``) and is stopped by :meth:`IsolatedNetwork.close` /
:func:`cleanup` on ``thv stop`` / ``thv rm``, which also remove its socket directory.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from toolhive.contracts import WorkloadStateError
from toolhive.contracts.runtime import DeployRequest, PermissionProfile

from toolhive_runtime_process import procfs, sandbox

#: Where the socket directory appears inside the sandbox (under its private /tmp).
SANDBOX_DIR = PurePosixPath("/tmp/.thv-net")
EGRESS_PORT = 3128
_READY_TIMEOUT = 10.0
_NO_PROXY = "localhost,127.0.0.1,::1"
_HOSTS = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"

Spawn = Callable[..., "subprocess.Popen[bytes]"]


def outbound_rules(profile: PermissionProfile) -> tuple[list[str], list[int]] | None:
    """``(allow_host, allow_port)`` when the profile allows only some destinations, else ``None``."""
    network = profile.network
    if network is None or profile.network_unrestricted or network.mode == "none":
        return None
    out = network.outbound
    if not out.allow_host and not out.allow_port:
        return None
    return list(out.allow_host), list(out.allow_port)


def shares_host_network(request: DeployRequest) -> bool:
    """Whether the sandbox shares the host's network: the profile allows every destination, or
    ``--isolate-network=false`` asked for allow-lists not to be enforced (as on containers)."""
    profile = request.permission_profile
    if sandbox.network_allowed(profile):
        return True
    mode = profile.network.mode if profile.network else ""
    return not request.isolate_network and profile.network_enabled and mode != "none"


def needs_namespace(request: DeployRequest) -> bool:
    """Whether the sandbox needs the proxy/relay pair (else: host network, or no network)."""
    if shares_host_network(request):
        return False
    return outbound_rules(request.permission_profile) is not None or not request.stdio


def describe(request: DeployRequest) -> str:
    """One line saying what the sandbox's network is (shown in logs and the process record)."""
    profile = request.permission_profile
    rules = outbound_rules(profile)
    if sandbox.network_allowed(profile):
        return "host network (insecure_allow_all)"
    if shares_host_network(request):
        return "host network: --isolate-network=false, so allow_host/allow_port are NOT enforced"
    if rules is not None:
        hosts, ports = rules
        host_text = ", ".join(hosts) if hosts else "any host"
        port_text = ", ".join(str(p) for p in ports) if ports else "any port"
        return (
            f"isolated: egress only via the proxy to {host_text} on {port_text} "
            "(never this host's own addresses)"
        )
    if request.stdio:
        return "no network (loopback only)"
    return "isolated: no egress; reachable only through the ingress relay"


def _runtime_base() -> Path:
    """A short directory for unix sockets (their paths are limited to 107 bytes)."""
    runtime = os.environ.get("XDG_RUNTIME_DIR", "")
    if runtime and len(runtime) < 40 and Path(runtime).is_dir():
        return Path(runtime)
    return Path(tempfile.gettempdir())


def _helper_paths() -> list[Path]:
    """Files the in-sandbox relay needs: the interpreter, its stdlib and the script."""
    return [
        Path(os.path.realpath(sys.executable)),
        Path(sys.base_prefix),
        Path(__file__).with_name("netns_relay.py"),
    ]


@dataclass
class IsolatedNetwork:
    """The host-side half of one sandbox's network (the egress proxy process and its sockets)."""

    directory: Path
    proc: subprocess.Popen[bytes]
    ingress_port: int | None
    egress_port: int

    @property
    def pid(self) -> int:
        return self.proc.pid

    @classmethod
    def start(cls, request: DeployRequest, *, spawn: Spawn, log_fd: int) -> IsolatedNetwork:
        """Start the host-side proxy (not waiting for it: see :meth:`await_ready`)."""
        rules = outbound_rules(request.permission_profile) or ([], [])
        ingress_port = None if request.stdio else request.target_port
        directory = Path(tempfile.mkdtemp(prefix="thv-net-", dir=_runtime_base()))
        try:
            (directory / "in").mkdir()
            (directory / "hosts").write_text(_HOSTS)
            config = {
                "allow_host": rules[0],
                "allow_port": rules[1],
                "egress_socket": str(directory / "egress.sock"),
                "ingress_socket": str(directory / "in" / "ingress.sock"),
                "ingress_port": ingress_port,
            }
            (directory / "egress.json").write_text(json.dumps(config))
            argv = [
                sys.executable,
                "-I",
                "-S",
                str(Path(__file__).with_name("egress.py")),
                "--config",
                str(directory / "egress.json"),
            ]
            proc = spawn(
                argv,
                env={"PATH": os.environ.get("PATH", os.defpath)},
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log_fd,
            )
        except BaseException:
            shutil.rmtree(directory, ignore_errors=True)
            raise
        egress_port = EGRESS_PORT if request.target_port != EGRESS_PORT else EGRESS_PORT + 1
        return cls(
            directory=directory, proc=proc, ingress_port=ingress_port, egress_port=egress_port
        )

    def await_ready(self, name: str) -> None:
        """Wait until the proxy listens (it starts while the sandbox does); if it cannot, stop
        it and raise :class:`WorkloadStateError` saying why."""
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        ready, _, _ = select.select([fd], [], [], _READY_TIMEOUT)
        line = os.read(fd, 64) if ready else b""
        if line.startswith(b"ready"):
            return
        self.close()
        if not ready:
            why = "it did not start in time"
        else:
            why = "it exited (see `thv logs`)"
            if self.ingress_port is not None:
                why += f"; is 127.0.0.1:{self.ingress_port} already in use?"
        msg = f"cannot start the network proxy of {name}: {why}"
        raise WorkloadStateError(msg)

    def bwrap_args(self) -> list[str]:
        """Mounts for the sandbox: the sockets (egress read-only), and an /etc/hosts of its own."""
        args = ["--ro-bind", str(self.directory), str(SANDBOX_DIR)]
        args += ["--bind", str(self.directory / "in"), str(SANDBOX_DIR / "in")]
        hosts = Path("/etc/hosts")
        if hosts.is_file() and not hosts.is_symlink():
            args += ["--ro-bind", str(self.directory / "hosts"), "/etc/hosts"]
        return args

    def wrap(self, command: list[str]) -> list[str]:
        """The server's command run by the in-sandbox relay."""
        relay = [
            os.path.realpath(sys.executable),
            "-I",
            "-S",
            str(Path(__file__).with_name("netns_relay.py")),
            "--egress-port",
            str(self.egress_port),
            "--egress-socket",
            str(SANDBOX_DIR / "egress.sock"),
        ]
        if self.ingress_port is not None:
            relay += [
                "--ingress-socket",
                str(SANDBOX_DIR / "in" / "ingress.sock"),
                "--ingress-port",
                str(self.ingress_port),
            ]
        return [*relay, "--", *command]

    def env(self) -> dict[str, str]:
        proxy = f"http://127.0.0.1:{self.egress_port}"
        return {
            "HTTP_PROXY": proxy,
            "HTTPS_PROXY": proxy,
            "http_proxy": proxy,
            "https_proxy": proxy,
            "NO_PROXY": _NO_PROXY,
            "no_proxy": _NO_PROXY,
            # Node 24+ honours the variables above only when asked to.
            "NODE_USE_ENV_PROXY": "1",
        }

    @staticmethod
    def helper_paths() -> list[Path]:
        return _helper_paths()

    def watch(self, pid: int) -> None:
        """Tell the proxy which process is the sandbox: it exits when that process does."""
        if self.proc.stdin is None:
            return
        with contextlib.suppress(OSError):
            self.proc.stdin.write(f"{pid}\n".encode())
            self.proc.stdin.flush()

    def close(self) -> None:
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=3)
        shutil.rmtree(self.directory, ignore_errors=True)


def cleanup(pid: int | None, start_ticks: int, boot: str, directory: str | None) -> None:
    """Stop an egress proxy another process started (from its record), and remove its sockets."""
    if pid and procfs.is_running(pid, start_ticks, boot):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 3
        while procfs.is_running(pid, start_ticks, boot) and time.monotonic() < deadline:
            time.sleep(0.05)
        if procfs.is_running(pid, start_ticks, boot):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    if directory and Path(directory).name.startswith("thv-net-"):
        shutil.rmtree(directory, ignore_errors=True)
