"""ProcessRuntime with real processes in a real bubblewrap sandbox."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from process_helpers import (
    ECHO_SERVER,
    launch_elsewhere,
    profile,
    python_request,
    run_snippet,
)
from toolhive.contracts import (
    ImageNotFoundError,
    NotFoundError,
    PermissionProfileError,
    RuntimeUnavailableError,
    WorkloadStateError,
)
from toolhive.contracts.runtime import (
    DeployRequest,
    NetworkPermissions,
    OutboundNetwork,
    PermissionProfile,
)
from toolhive_runtime_process import procfs
from toolhive_runtime_process.config import ProcessRuntimeConfig
from toolhive_runtime_process.records import RecordStore
from toolhive_runtime_process.runtime import ProcessRuntime

pytestmark = pytest.mark.process_runtime

#: A server that idles until told to stop, and says goodbye on SIGTERM (to its stderr → log).
IDLE_SERVER = textwrap.dedent(
    """
    import signal, sys, time
    def bye(*_):
        print("bye", file=sys.stderr, flush=True)
        sys.exit(0)
    signal.signal(signal.SIGTERM, bye)
    print("hello", file=sys.stderr, flush=True)
    while True:
        time.sleep(1)
    """
)


def wait_until(predicate: object, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False


def gone(pgid: int) -> bool:
    return not procfs.group_members(pgid)


@pytest.fixture
def listener() -> Iterator[tuple[int, list[str]]]:
    """A TCP server on 127.0.0.1 that records every connection it accepts."""
    seen: list[str] = []
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    sock.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, addr = sock.accept()
            except TimeoutError:
                continue
            seen.append(addr[0])
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield sock.getsockname()[1], seen
    stop.set()
    thread.join()
    sock.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ------------------------------------------------------------------------------ isolation


CONNECT = "import socket, sys\nsys.exit(socket.socket().connect_ex(('127.0.0.1', {port})) and 3)"


def test_network_blocked_under_none(
    runtime: ProcessRuntime, listener: tuple[int, list[str]]
) -> None:
    port, seen = listener
    status, _ = run_snippet(runtime, "net-none", CONNECT.format(port=port), profile("none"))
    assert status == 3
    assert seen == []


def test_network_allowed_under_network(
    runtime: ProcessRuntime, listener: tuple[int, list[str]]
) -> None:
    port, seen = listener
    status, log = run_snippet(runtime, "net-all", CONNECT.format(port=port), profile("network"))
    assert status == 0, log
    assert seen == ["127.0.0.1"]


def test_root_is_read_only_and_tmp_private(runtime: ProcessRuntime) -> None:
    outside = Path(tempfile.mkdtemp(prefix="thv-sandbox-", dir="/var/tmp"))
    fd, host_tmp = tempfile.mkstemp(prefix="thv-host-", dir="/tmp")
    os.close(fd)
    sandbox_tmp = f"/tmp/thv-inside-{os.getpid()}"
    code = textwrap.dedent(
        f"""
        import errno, os, sys
        try:
            open({str(outside / "x")!r}, "w")
            sys.exit("wrote outside /tmp")
        except OSError as exc:
            assert exc.errno == errno.EROFS, exc
        assert not os.path.exists({host_tmp!r}), "host /tmp visible"
        open({sandbox_tmp!r}, "w").write("private")
        assert open({sandbox_tmp!r}).read() == "private"
        os.makedirs("/tmp/a/b")
        print("ok", file=sys.stderr)
        """
    )
    try:
        status, log = run_snippet(runtime, "ro-root", code)
        assert status == 0, log
        assert "ok" in log
        assert not (outside / "x").exists()
        assert not Path(sandbox_tmp).exists()
    finally:
        os.unlink(host_tmp)
        outside.rmdir()


def test_no_capabilities_even_as_root(runtime: ProcessRuntime) -> None:
    code = textwrap.dedent(
        """
        import sys
        caps = [l for l in open("/proc/self/status") if l.startswith("CapEff")][0].split()[1]
        sys.exit(0 if int(caps, 16) == 0 else 5)
        """
    )
    status, log = run_snippet(runtime, "caps", code)
    assert status == 0, log


def test_profile_paths(runtime: ProcessRuntime, tmp_path: Path) -> None:
    data, out = tmp_path / "data", tmp_path / "out"
    data.mkdir()
    out.mkdir()
    (data / "in.txt").write_text("from the host")
    prof = PermissionProfile(name="files", read=[f"{data}:/tmp/data"], write=[str(out)])
    code = textwrap.dedent(
        f"""
        import errno, sys
        text = open("/tmp/data/in.txt").read()
        open({str(out / "result.txt")!r}, "w").write(text.upper())
        try:
            open("/tmp/data/nope", "w")
            sys.exit("read entry is writable")
        except OSError as exc:
            assert exc.errno == errno.EROFS, exc
        """
    )
    status, log = run_snippet(runtime, "paths", code, prof)
    assert status == 0, log
    assert (out / "result.txt").read_text() == "FROM THE HOST"
    assert not (data / "nope").exists()


def test_toolhive_state_is_hidden(runtime: ProcessRuntime, monkeypatch: pytest.MonkeyPatch) -> None:
    """Secrets and run configs live in ToolHive's dirs: a server must not read them."""
    data_home = Path(tempfile.mkdtemp(prefix="thv-state-", dir="/var/tmp"))  # outside /tmp
    try:
        monkeypatch.setenv("XDG_DATA_HOME", str(data_home))
        secret = data_home / "toolhive" / "secrets_encrypted"
        secret.parent.mkdir()
        secret.write_text("s3cret")
        code = f"import os, sys; sys.exit(4 if os.path.exists({str(secret)!r}) else 0)"
        status, log = run_snippet(runtime, "hidden", code)
        assert status == 0, log
        runtime.remove("hidden")
    finally:
        shutil.rmtree(data_home)


def test_configured_hidden_paths(bwrap: str) -> None:
    private = Path(tempfile.mkdtemp(prefix="thv-private-", dir="/var/tmp"))
    try:
        (private / "id_rsa").write_text("key")
        rt = ProcessRuntime(bwrap=bwrap, config=ProcessRuntimeConfig(hidden_paths=(str(private),)))
        code = f"import os, sys; sys.exit(4 if os.listdir({str(private)!r}) else 0)"
        status, log = run_snippet(rt, "private", code)
        assert status == 0, log
        rt.remove("private")
        plain = ProcessRuntime(bwrap=bwrap)
        status, _ = run_snippet(plain, "visible", code)
        plain.remove("visible")
        assert status == 4  # without the setting the host's files are readable
    finally:
        shutil.rmtree(private)


# ------------------------------------------------------------------------------ refusals


@pytest.mark.parametrize(
    "prof",
    [
        PermissionProfile(
            name="egress",
            network=NetworkPermissions(
                mode="host", outbound=OutboundNetwork(allow_host=["pypi.org"])
            ),
        ),
        PermissionProfile(name="priv", privileged=True),
        PermissionProfile(name="vol", write=["volume://data:/data"]),
    ],
)
def test_unenforceable_profile_refused_before_start(
    runtime: ProcessRuntime, prof: PermissionProfile
) -> None:
    req = python_request("refused", "print(1)", prof)
    with pytest.raises(PermissionProfileError):
        runtime.check_request(req)
    with pytest.raises(PermissionProfileError):
        runtime.deploy(req)
    assert runtime.inspect("refused") is None


# ------------------------------------------------------------------------------ HTTP


@pytest.mark.skipif(
    not ECHO_SERVER.exists(), reason="tests/fixtures/echo_server.py not written yet"
)
def test_streamable_http_server_reachable(runtime: ProcessRuntime) -> None:
    import anyio
    from mcp import Client

    port = free_port()
    deployment = runtime.deploy(
        DeployRequest(
            name="echo-http",
            image=sys.executable,
            command=[str(ECHO_SERVER), "streamable-http"],
            env={"MCP_HOST": "127.0.0.1", "MCP_PORT": str(port)},
            transport="streamable-http",
            target_port=port,
            permission_profile=profile("network"),
        )
    )
    assert (deployment.target_host, deployment.target_port) == ("127.0.0.1", port)

    def accepting() -> bool:
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", port)) == 0

    assert wait_until(accepting, 30), b"".join(runtime.logs("echo-http")).decode()

    async def call() -> str:
        with anyio.fail_after(30):
            async with Client(f"http://127.0.0.1:{port}/mcp") as client:
                result = await client.call_tool("echo", {"text": "sandboxed"})
                return "".join(c.text for c in result.content if c.type == "text")

    assert anyio.run(call) == "sandboxed"
    runtime.stop("echo-http", timeout=10)
    assert runtime.inspect("echo-http").state == "exited"  # type: ignore[union-attr]


# ------------------------------------------------------------------------------ lifecycle


def test_stop_is_graceful_then_idempotent(runtime: ProcessRuntime) -> None:
    runtime.deploy(python_request("idle", IDLE_SERVER))
    assert wait_until(lambda: b"hello" in b"".join(runtime.logs("idle")))
    info = runtime.inspect("idle")
    assert info is not None and info.state == "running"
    runtime.stop("idle", timeout=10)
    info = runtime.inspect("idle")
    assert info is not None and info.state == "exited" and info.exit_code == 0
    assert b"bye" in b"".join(runtime.logs("idle"))
    runtime.stop("idle")
    runtime.stop("never-existed")


def test_stop_kills_after_timeout(runtime: ProcessRuntime) -> None:
    stubborn = textwrap.dedent(
        """
        import signal, sys, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print("up", file=sys.stderr, flush=True)
        time.sleep(600)
        """
    )
    runtime.deploy(python_request("stubborn", stubborn))
    assert wait_until(lambda: b"up" in b"".join(runtime.logs("stubborn")))
    started = time.monotonic()
    runtime.stop("stubborn", timeout=0.5)
    assert time.monotonic() - started < 5
    info = runtime.inspect("stubborn")
    assert info is not None and info.state == "exited" and info.exit_code == 128 + signal.SIGKILL


def test_remove_is_idempotent(runtime: ProcessRuntime) -> None:
    runtime.deploy(python_request("gone", IDLE_SERVER))
    runtime.remove("gone")
    assert runtime.inspect("gone") is None
    assert runtime.list_workloads() == []
    runtime.remove("gone")
    runtime.remove("never-existed")
    with pytest.raises(NotFoundError):
        runtime.logs("gone")


def test_list_inspect_and_labels(runtime: ProcessRuntime) -> None:
    runtime.deploy(
        python_request("one", IDLE_SERVER, labels={"toolhive": "true", "toolhive-name": "one"})
    )
    runtime.deploy(python_request("two", "import sys, time; time.sleep(0.3); sys.exit(7)"))
    assert runtime.wait("two") == 7
    infos = {i.name: i for i in runtime.list_workloads()}
    assert infos["one"].state == "running"
    assert infos["one"].labels == {"toolhive": "true", "toolhive-name": "one"}
    assert infos["one"].image == sys.executable
    assert (infos["two"].state, infos["two"].exit_code) == ("exited", 7)


def test_logs_tail_and_follow(runtime: ProcessRuntime) -> None:
    code = textwrap.dedent(
        """
        import sys, time
        for i in range(5):
            print(f"line {i}", file=sys.stderr, flush=True)
            time.sleep(0.1)
        """
    )
    runtime.deploy(python_request("talk", code))
    followed = b"".join(runtime.logs("talk", follow=True))  # returns once the server is gone
    assert followed.decode().splitlines() == [f"line {i}" for i in range(5)]
    assert b"".join(runtime.logs("talk", tail=2)) == b"line 3\nline 4\n"
    assert b"".join(runtime.logs("talk", tail=0)) == b""


def test_deploy_replaces_leftover_and_appends_log(runtime: ProcessRuntime) -> None:
    first = runtime.deploy(python_request("again", IDLE_SERVER))
    assert wait_until(lambda: b"hello" in b"".join(runtime.logs("again")))
    second = runtime.deploy(python_request("again", IDLE_SERVER))
    assert first.id != second.id
    assert not procfs.group_members(int(first.id))
    assert wait_until(lambda: b"".join(runtime.logs("again")).count(b"hello") == 2)
    assert b"bye" in b"".join(runtime.logs("again"))


def test_missing_command(runtime: ProcessRuntime) -> None:
    with pytest.raises(ImageNotFoundError, match="not found on PATH"):
        runtime.ensure_image("no-such-mcp-server-xyz")
    with pytest.raises(ImageNotFoundError, match="not found on PATH"):
        runtime.deploy(DeployRequest(name="missing", image="no-such-mcp-server-xyz"))
    runtime.ensure_image(sys.executable)


def test_immediate_failure_is_reported(runtime: ProcessRuntime) -> None:
    runtime.early_exit_window = 10.0  # deterministic on a loaded machine; returns at exit
    code = "import sys; print('config file missing', file=sys.stderr); sys.exit(2)"
    with pytest.raises(WorkloadStateError, match="config file missing"):
        runtime.deploy(python_request("broken", code))
    info = runtime.inspect("broken")
    assert info is not None and (info.state, info.exit_code) == ("exited", 2)
    with pytest.raises(WorkloadStateError, match=r"exited as soon as it started: second run$"):
        runtime.deploy(python_request("broken", "import sys; sys.exit('second run')"))


def test_stdio_attach(runtime: ProcessRuntime) -> None:
    import asyncio

    code = textwrap.dedent(
        """
        import sys
        for line in sys.stdin:
            sys.stdout.write(line.upper())
            sys.stdout.flush()
        """
    )
    runtime.deploy(python_request("upper", code))

    async def talk() -> bytes:
        channel = await runtime.attach_stdio("upper")
        await channel.send(b'{"hello": "world"}\n')
        line = await asyncio.wait_for(channel.readline(), 10)
        await channel.aclose()  # closes the server's stdin: it ends
        # PipeChannel.aclose() closes only the write side; the read side closes at EOF.
        assert await asyncio.wait_for(channel.readline(), 10) == b""
        return line

    assert asyncio.run(talk()) == b'{"HELLO": "WORLD"}\n'
    assert runtime.wait("upper") == 0
    with pytest.raises(WorkloadStateError, match="already attached"):
        asyncio.run(runtime.attach_stdio("upper"))


# ------------------------------------------------------------------------------ other processes


@pytest.fixture
def child_env() -> dict[str, str]:
    return dict(os.environ)


def test_another_process_can_inspect_and_stop(
    runtime: ProcessRuntime, child_env: dict[str, str]
) -> None:
    launcher = launch_elsewhere(child_env, {"name": "elsewhere", "code": IDLE_SERVER})
    try:
        record = RecordStore().read("elsewhere")
        assert record is not None and record.owner_pid == launcher.pid
        info = runtime.inspect("elsewhere")
        assert info is not None and info.state == "running"
        assert wait_until(lambda: b"hello" in b"".join(runtime.logs("elsewhere")))
        with pytest.raises(WorkloadStateError, match="started by process"):
            import asyncio

            asyncio.run(runtime.attach_stdio("elsewhere"))
        runtime.stop("elsewhere", timeout=10)
        assert gone(record.pgid)
        info = runtime.inspect("elsewhere")
        assert info is not None and info.state == "exited"
        assert b"bye" in b"".join(runtime.logs("elsewhere"))
        assert runtime.wait("elsewhere") in (0, -1)  # not our child: known only if reaped
        runtime.remove("elsewhere")
        assert runtime.inspect("elsewhere") is None
    finally:
        launcher.kill()
        launcher.communicate()


@pytest.mark.parametrize("sandboxed", [True, False], ids=["bwrap", "unsandboxed"])
def test_server_dies_with_its_parent(
    bwrap: str, child_env: dict[str, str], sandboxed: bool
) -> None:
    if not sandboxed:
        child_env["TOOLHIVE_PROCESS_UNSANDBOXED"] = "1"
    spec = {"name": "orphan", "code": IDLE_SERVER, "unsandboxed": not sandboxed}
    launcher = launch_elsewhere(child_env, spec)
    record = RecordStore().read("orphan")
    assert record is not None
    expected = 3 if sandboxed else 1  # bwrap, its init, the server
    assert wait_until(lambda: len(procfs.group_members(record.pgid)) >= expected)
    launcher.send_signal(signal.SIGKILL)
    launcher.communicate()
    assert wait_until(lambda: gone(record.pgid), 10), procfs.group_members(record.pgid)
    rt = ProcessRuntime(bwrap=bwrap)
    info = rt.inspect("orphan")
    assert info is not None and info.state == "exited"
    rt.remove("orphan")


def test_server_survives_the_thread_that_deployed_it(runtime: ProcessRuntime) -> None:
    """PR_SET_PDEATHSIG follows the forking *thread*: deploying from a short-lived one is safe."""
    thread = threading.Thread(
        target=runtime.deploy, args=(python_request("threaded", IDLE_SERVER),)
    )
    thread.start()
    thread.join()
    time.sleep(0.3)
    info = runtime.inspect("threaded")
    assert info is not None and info.state == "running"


# ------------------------------------------------------------------------------ unsandboxed


def test_unsandboxed_needs_consent(monkeypatch: pytest.MonkeyPatch) -> None:
    rt = ProcessRuntime(bwrap=None)
    with pytest.raises(RuntimeUnavailableError, match="apt-get install bubblewrap"):
        rt.ping()
    with pytest.raises(RuntimeUnavailableError):
        rt.deploy(python_request("nope", "print(1)"))


def test_unsandboxed_runs_without_isolation(
    unsandboxed: ProcessRuntime, listener: tuple[int, list[str]]
) -> None:
    port, seen = listener
    unsandboxed.deploy(python_request("plain", CONNECT.format(port=port)))
    assert unsandboxed.wait("plain") == 0
    assert seen == ["127.0.0.1"]
    unsandboxed.deploy(python_request("plain-idle", IDLE_SERVER))
    assert wait_until(lambda: b"hello" in b"".join(unsandboxed.logs("plain-idle")))
    unsandboxed.stop("plain-idle", timeout=10)
    assert b"bye" in b"".join(unsandboxed.logs("plain-idle"))


def test_invalid_names_are_refused(runtime: ProcessRuntime) -> None:
    from toolhive.contracts import InvalidInputError

    for name in ("../escape", "a/b", "", "x" * 101):
        with pytest.raises(InvalidInputError):
            runtime.deploy(python_request(name, "print(1)"))


def test_subprocess_is_not_leaked(runtime: ProcessRuntime) -> None:
    """A stopped server leaves no process behind, in its group or as a zombie of ours."""
    runtime.deploy(python_request("leak", IDLE_SERVER))
    record = RecordStore().read("leak")
    assert record is not None
    runtime.stop("leak", timeout=10)
    assert gone(record.pgid)
    assert procfs.stat(record.pid) is None  # reaped
    out = subprocess.run(
        ["ps", "-o", "stat=", "--ppid", str(os.getpid())],
        capture_output=True,
        text=True,
        check=False,
    )
    assert "Z" not in out.stdout
