"""A contract suite for runtimes that speak the Docker Engine API, run against a real engine.

The Docker, Podman and Colima plugins (and any third-party Docker-API runtime) run the same tests:
subclass :class:`EngineRuntimeContract`, provide a ``runtime`` fixture, and set the class
attributes that describe the engine's documented quirks. Needs ``pytest`` and ``httpx`` (test-only;
importing this module from production code is a bug).

Test images (built by ``scripts/build-test-images.sh`` into both engines):

* :data:`BUSYBOX` — a static busybox;
* :data:`MCP_SERVERS` — Python with the official ``mcp`` SDK, ``mcp-server-time`` on ``PATH``
  and ``/opt/fixtures/echo_server.py`` (argv ``stdio|sse|streamable-http``, env ``MCP_HOST``,
  ``MCP_PORT``).

When the engine or the images are missing the tests are skipped, unless
``TOOLHIVE_TEST_REQUIRE_ENGINES=1`` (CI) turns that into a failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.server
import json
import os
import re
import socket
import socketserver
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar, NoReturn, TypeVar

import httpx
import pytest
from toolhive.contracts import (
    AlreadyExistsError,
    ImageNotFoundError,
    NotFoundError,
    PermissionProfileError,
    PortInUseError,
    RuntimeUnavailableError,
    WorkloadStateError,
)
from toolhive.contracts.runtime import (
    LABEL_BASENAME,
    LABEL_GROUP,
    LABEL_NAME,
    LABEL_PORT,
    LABEL_TOOLHIVE,
    LABEL_TRANSPORT,
    DeployRequest,
    Mount,
    PermissionProfile,
    Runtime,
    builtin_profile,
)

from toolhive_runtime_docker.runtime import DockerRuntime

BUSYBOX = "localhost/toolhive-test/busybox:latest"
MCP_SERVERS = "localhost/toolhive-test/mcp-servers:latest"
ECHO_SERVER = "/opt/fixtures/echo_server.py"
REQUIRE_ENV = "TOOLHIVE_TEST_REQUIRE_ENGINES"
#: Seconds a containerised MCP server gets to answer its first request.
STARTUP_TIMEOUT = 60.0

R = TypeVar("R", bound=DockerRuntime)


def _builtin(name: str) -> PermissionProfile:
    profile = builtin_profile(name)
    assert profile is not None
    return profile


NONE = _builtin("none")
NETWORK = _builtin("network")


def engines_required() -> bool:
    return os.environ.get(REQUIRE_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def skip_or_fail(reason: str) -> NoReturn:
    """Skip, or fail when ``TOOLHIVE_TEST_REQUIRE_ENGINES=1``."""
    if engines_required():
        pytest.fail(f"{reason} ({REQUIRE_ENV}=1)", pytrace=False)
    pytest.skip(reason)


def open_engine(factory: Callable[[], R], images: tuple[str, ...] = (BUSYBOX, MCP_SERVERS)) -> R:
    """Build a runtime with ``factory``; skip (or fail) unless it answers and has ``images``."""
    try:
        runtime = factory()
        runtime.ping()
    except RuntimeUnavailableError as exc:
        skip_or_fail(str(exc))
    for image in images:
        try:
            runtime.ensure_image(image)
        except ImageNotFoundError:
            runtime.close()
            skip_or_fail(
                f"test image {image} is missing in {runtime.name}: run scripts/build-test-images.sh"
            )
    return runtime


class PingServer:
    """A real HTTP server on a unix socket answering ``GET /_ping`` like an engine would.

    For detection tests: it stands in for an engine's socket (what detection probes), not for the
    engine. ``status`` and ``server`` set the answer (``Libpod/4.3.1 (linux)`` mimics Podman).
    """

    def __init__(
        self, path: str, *, status: int = 200, server: str = "Docker/99.0 (linux)"
    ) -> None:
        self.path = path
        self.requests = 0
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.requests += 1
                body = b"OK" if status == 200 else b'{"message":"broken"}'
                self.send_response_only(status)
                self.send_header("Server", server)
                self.send_header("Api-Version", "1.41")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._server = socketserver.ThreadingUnixStreamServer(path, Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> PingServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)


def unique_name(prefix: str = "thv-test") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def jsonrpc(method: str, id: int | None = None, params: dict[str, Any] | None = None) -> bytes:
    message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
    if id is not None:
        message["id"] = id
    if params is not None:
        message["params"] = params
    return json.dumps(message).encode() + b"\n"


INITIALIZE_PARAMS: dict[str, Any] = {
    "protocolVersion": "2025-06-18",
    "capabilities": {},
    "clientInfo": {"name": "toolhive-runtime-tests", "version": "0"},
}


def read_sse_or_json(response: httpx.Response) -> dict[str, Any]:
    """The first JSON-RPC message of a streamable-HTTP response (JSON body or SSE stream)."""
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        for line in response.text.splitlines():
            if line.startswith("data:"):
                message: dict[str, Any] = json.loads(line[5:].strip())
                return message
        msg = f"no data event in SSE response: {response.text[:200]!r}"
        raise AssertionError(msg)
    body: dict[str, Any] = response.json()
    return body


def run_to_completion(client: Any, image: str, entrypoint: list[str], name: str) -> bytes:
    """Run a container to its end and return its output. Explicit create/start/wait/logs/remove:
    ``containers.run(remove=True)`` can hang on Podman when the container is gone before the
    log stream ends."""
    container = client.containers.create(image, entrypoint=entrypoint, name=name)
    try:
        container.start()
        container.wait(timeout=60)
        return bytes(container.logs(stdout=True, stderr=True))
    finally:
        container.remove(force=True)


class EngineRuntimeContract:
    """The behaviour every Docker-API runtime must show on a real engine.

    Subclasses provide the ``runtime`` fixture (usually wrapping :func:`open_engine`).
    """

    #: Whether a stdio server keeps its stdin (and so keeps running) after the proxy detaches.
    #: True on Docker (``StdinOnce=false``). Podman's conmon closes a non-TTY container's stdin
    #: when the attach connection ends, so a stdio server lives as long as its first attach.
    stdin_survives_detach: ClassVar[bool] = True

    # -- fixtures -----------------------------------------------------------------------------

    @pytest.fixture
    def runtime(self) -> Iterator[DockerRuntime]:
        raise NotImplementedError("subclasses provide the runtime fixture")

    @pytest.fixture
    def names(self, runtime: DockerRuntime) -> Iterator[Callable[[], str]]:
        """A factory of unique container names; every one is removed after the test."""
        made: list[str] = []

        def make() -> str:
            name = unique_name()
            made.append(name)
            return name

        yield make
        for name in made:
            runtime.remove(name)

    def deploy_stdio(
        self,
        runtime: DockerRuntime,
        name: str,
        command: list[str],
        image: str = BUSYBOX,
        profile: PermissionProfile = NONE,
        **kwargs: Any,
    ) -> str:
        request = DeployRequest(
            name=name,
            image=image,
            command=command,
            transport="stdio",
            permission_profile=profile,
            env={"MCP_TRANSPORT": "stdio"},
            **kwargs,
        )
        return runtime.deploy(request).id

    # -- the protocol -------------------------------------------------------------------------

    def test_is_a_runtime(self, runtime: DockerRuntime) -> None:
        assert isinstance(runtime, Runtime)
        runtime.ping()

    def test_stdio_mcp_round_trip(self, runtime: DockerRuntime, names: Callable[[], str]) -> None:
        name = names()
        self.deploy_stdio(runtime, name, ["mcp-server-time"], image=MCP_SERVERS)

        async def session() -> list[str]:
            channel = await runtime.attach_stdio(name)
            try:
                await channel.send(jsonrpc("initialize", 1, INITIALIZE_PARAMS))
                reply = json.loads(await asyncio.wait_for(channel.readline(), STARTUP_TIMEOUT))
                assert reply["id"] == 1, reply
                assert reply["result"]["serverInfo"]["name"] == "mcp-time"
                await channel.send(jsonrpc("notifications/initialized"))
                await channel.send(jsonrpc("tools/list", 2))
                reply = json.loads(await asyncio.wait_for(channel.readline(), STARTUP_TIMEOUT))
                assert reply["id"] == 2, reply
                return [tool["name"] for tool in reply["result"]["tools"]]
            finally:
                await channel.aclose()

        tools = asyncio.run(session())
        assert "get_current_time" in tools

    def test_stdio_stderr_and_eof(self, runtime: DockerRuntime, names: Callable[[], str]) -> None:
        name = names()
        script = 'read line; echo "err:$line" >&2; echo "out:$line"; printf tail'
        self.deploy_stdio(runtime, name, ["sh", "-c", script])
        errors: list[bytes] = []

        async def session() -> list[bytes]:
            channel = await runtime.attach_stdio(name, on_stderr=errors.append)
            try:
                await channel.send(b"hello\n")
                return [
                    await asyncio.wait_for(channel.readline(), STARTUP_TIMEOUT) for _ in range(3)
                ]
            finally:
                await channel.aclose()

        assert asyncio.run(session()) == [b"out:hello\n", b"tail", b""]
        assert b"".join(errors) == b"err:hello\n"
        assert runtime.wait(name) == 0

    def test_reattach(self, runtime: DockerRuntime, names: Callable[[], str]) -> None:
        name = names()
        self.deploy_stdio(runtime, name, ["sh", "-c", 'while read l; do echo "got:$l"; done'])

        async def exchange(text: bytes) -> bytes:
            channel = await runtime.attach_stdio(name)
            try:
                await channel.send(text + b"\n")
                return await asyncio.wait_for(channel.readline(), STARTUP_TIMEOUT)
            finally:
                await channel.aclose()

        assert asyncio.run(exchange(b"one")) == b"got:one\n"
        if self.stdin_survives_detach:
            assert asyncio.run(exchange(b"two")) == b"got:two\n"
        else:
            assert runtime.wait(name) == 0  # stdin closed on detach: the loop ended
            with pytest.raises(WorkloadStateError, match="not running"):
                asyncio.run(exchange(b"two"))

    def test_streamable_http(self, runtime: DockerRuntime, names: Callable[[], str]) -> None:
        name = names()
        deployment = runtime.deploy(
            DeployRequest(
                name=name,
                image=MCP_SERVERS,
                command=["python", ECHO_SERVER, "streamable-http"],
                transport="streamable-http",
                target_port=8080,
                env={"MCP_TRANSPORT": "streamable-http", "MCP_PORT": "8080", "MCP_HOST": "0.0.0.0"},
                permission_profile=NETWORK,
            )
        )
        assert deployment.target_host == "127.0.0.1"
        assert deployment.target_port is not None
        info = runtime.inspect(name)
        assert info is not None
        assert info.labels[LABEL_PORT] == str(deployment.target_port)
        raw = runtime.inspect_raw(name)
        assert raw is not None
        bindings = raw["HostConfig"]["PortBindings"]["8080/tcp"]
        assert [(b["HostIp"], b["HostPort"]) for b in bindings] == [
            ("127.0.0.1", str(deployment.target_port))
        ]
        url = f"http://127.0.0.1:{deployment.target_port}/mcp"
        headers = {"Accept": "application/json, text/event-stream"}
        deadline = time.monotonic() + STARTUP_TIMEOUT
        with httpx.Client(timeout=10) as client:
            while True:
                try:
                    response = client.post(
                        url,
                        content=jsonrpc("initialize", 1, INITIALIZE_PARAMS),
                        headers={**headers, "Content-Type": "application/json"},
                    )
                    break
                except httpx.TransportError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.3)
        assert response.status_code == 200, response.text
        message = read_sse_or_json(response)
        assert message["result"]["serverInfo"]["name"] == "toolhive-test-echo"

    def test_explicit_host_port_and_port_in_use(
        self, runtime: DockerRuntime, names: Callable[[], str]
    ) -> None:
        with socket.socket() as holder:
            holder.bind(("127.0.0.1", 0))
            holder.listen()
            taken = holder.getsockname()[1]
            request = DeployRequest(
                name=names(),
                image=BUSYBOX,
                command=["httpd", "-f", "-p", "8080"],
                transport="sse",
                target_port=8080,
                host_port=taken,
                permission_profile=NETWORK,
            )
            with pytest.raises(PortInUseError, match=str(taken)):
                runtime.deploy(request)
        free = taken  # released now
        deployment = runtime.deploy(request.model_copy(update={"host_port": free}))
        assert deployment.target_port == free
        # Redeploying the workload on its own port: the old container gives the port back first.
        again = runtime.deploy(request.model_copy(update={"host_port": free}))
        assert again.target_port == free
        assert again.id != deployment.id

    def test_labels(self, runtime: DockerRuntime, names: Callable[[], str]) -> None:
        name = names()
        self.deploy_stdio(
            runtime,
            name,
            ["sleep", "60"],
            labels={"team": "blue", LABEL_GROUP: "g1", LABEL_NAME: "wl", LABEL_BASENAME: "wl"},
        )
        info = runtime.inspect(name)
        assert info is not None
        assert info.labels[LABEL_TOOLHIVE] == "true"
        assert info.labels[LABEL_NAME] == "wl"
        assert info.labels[LABEL_BASENAME] == "wl"
        assert info.labels[LABEL_TRANSPORT] == "stdio"
        assert info.labels[LABEL_GROUP] == "g1"
        assert info.labels["team"] == "blue"
        assert info.state == "running"
        assert info.name == name
        assert info.image == BUSYBOX

    def test_hardening_visible_in_inspect(
        self, runtime: DockerRuntime, names: Callable[[], str], tmp_path: Path
    ) -> None:
        name = names()
        (tmp_path / "ro").mkdir()
        self.deploy_stdio(
            runtime,
            name,
            ["sleep", "60"],
            mounts=[Mount(source=str(tmp_path / "ro"), target="/data")],
        )
        raw = runtime.inspect_raw(name)
        assert raw is not None
        host = raw["HostConfig"]
        assert self.drops_all_capabilities(host["CapDrop"]), host["CapDrop"]
        assert not host.get("CapAdd")
        assert any(opt.startswith("no-new-privileges") for opt in host["SecurityOpt"])
        assert "label=disable" in host["SecurityOpt"] or "label:disable" in host["SecurityOpt"]
        assert host["Privileged"] is False
        assert host["NetworkMode"] == "none"
        (mount,) = [m for m in raw["Mounts"] if m["Destination"] == "/data"]
        assert mount["RW"] is False
        assert raw["Config"]["Tty"] is False
        assert raw["Config"]["OpenStdin"] is True

    @staticmethod
    def drops_all_capabilities(cap_drop: list[str]) -> bool:
        """Docker reports ``["ALL"]``; an engine that expands it must list every capability."""
        return [c.upper() for c in cap_drop] == ["ALL"]

    def test_mounts_enforced(
        self, runtime: DockerRuntime, names: Callable[[], str], tmp_path: Path
    ) -> None:
        (tmp_path / "ro").mkdir()
        (tmp_path / "rw").mkdir()
        (tmp_path / "ro" / "in.txt").write_text("from host")
        name = names()
        script = (
            "cat /ro/in.txt >&2; echo >&2; touch /ro/x 2>/dev/null; echo ro=$? >&2; "
            "touch /rw/y; echo rw=$? >&2; grep -E '^Cap(Prm|Eff|Bnd|Amb)' /proc/self/status >&2; "
            "ls /sys/class/net >&2"
        )
        profile = PermissionProfile(name="p", write=[f"{tmp_path / 'rw'}:/rw"])
        self.deploy_stdio(
            runtime,
            name,
            ["sh", "-c", script],
            profile=profile,
            mounts=[Mount(source=str(tmp_path / "ro"), target="/ro")],
        )
        assert runtime.wait(name) == 0
        output = b"".join(runtime.logs(name)).decode()
        assert "from host" in output
        assert "ro=1" in output
        assert "rw=0" in output
        assert output.split()[-1] == "lo"  # network "none": loopback only
        capabilities = dict(
            line.split(":") for line in output.splitlines() if line.startswith("Cap")
        )
        assert len(capabilities) == 4, output
        assert {int(v.strip(), 16) for v in capabilities.values()} == {0}, capabilities
        assert (tmp_path / "rw" / "y").exists()
        assert not (tmp_path / "ro" / "x").exists()

    def test_stop_is_idempotent_and_prompt(
        self, runtime: DockerRuntime, names: Callable[[], str]
    ) -> None:
        name = names()
        self.deploy_stdio(runtime, name, ["mcp-server-time"], image=MCP_SERVERS)
        started = time.monotonic()
        runtime.stop(name, timeout=20)
        assert time.monotonic() - started < 15, "SIGTERM did not reach the server"
        info = runtime.inspect(name)
        assert info is not None and info.state == "exited"
        runtime.stop(name)
        runtime.stop(unique_name("thv-missing"))

    def test_remove_is_idempotent(self, runtime: DockerRuntime, names: Callable[[], str]) -> None:
        name = names()
        self.deploy_stdio(runtime, name, ["sleep", "60"])
        runtime.remove(name)
        assert runtime.inspect(name) is None
        runtime.remove(name)

    def test_wait_returns_exit_code(self, runtime: DockerRuntime, names: Callable[[], str]) -> None:
        name = names()
        self.deploy_stdio(runtime, name, ["sh", "-c", "sleep 1; exit 3"])
        assert runtime.wait(name) == 3
        info = runtime.inspect(name)
        assert info is not None
        assert (info.state, info.exit_code) == ("exited", 3)
        with pytest.raises(NotFoundError):
            runtime.wait(unique_name("thv-missing"))

    def test_wait_when_removed_is_not_a_clean_exit(
        self, runtime: DockerRuntime, names: Callable[[], str]
    ) -> None:
        name = names()
        self.deploy_stdio(runtime, name, ["sleep", "60"])
        result: list[int] = []
        waiter = threading.Thread(target=lambda: result.append(runtime.wait(name)))
        waiter.start()
        time.sleep(1)
        runtime.remove(name)
        waiter.join(30)
        assert result and result[0] != 0

    def test_list_workloads(self, runtime: DockerRuntime, names: Callable[[], str]) -> None:
        running, exited = names(), names()
        self.deploy_stdio(runtime, running, ["sleep", "60"])
        self.deploy_stdio(runtime, exited, ["true"])
        runtime.wait(exited)
        foreign = names()
        runtime.client.api.create_container(BUSYBOX, ["true"], name=foreign)
        listed = {info.name: info for info in runtime.list_workloads()}
        assert listed[running].state == "running"
        assert listed[exited].state == "exited"
        assert listed[exited].exit_code == 0
        assert foreign not in listed

    def test_logs(self, runtime: DockerRuntime, names: Callable[[], str]) -> None:
        name = names()
        self.deploy_stdio(
            runtime, name, ["sh", "-c", "echo one >&2; echo stdout-is-rpc; sleep 1; echo two >&2"]
        )
        followed = b"".join(runtime.logs(name, follow=True))
        assert followed == b"one\ntwo\n"  # stdio server: stderr only
        assert b"".join(runtime.logs(name, tail=1)) == b"two\n"
        with pytest.raises(NotFoundError):
            list(runtime.logs(unique_name("thv-missing")))

    def test_http_server_logs_include_stdout(
        self, runtime: DockerRuntime, names: Callable[[], str]
    ) -> None:
        name = names()
        runtime.deploy(
            DeployRequest(
                name=name,
                image=BUSYBOX,
                command=["sh", "-c", "echo out; echo err >&2"],
                transport="sse",
                target_port=8080,
                permission_profile=NETWORK,
            )
        )
        runtime.wait(name)
        assert sorted(b"".join(runtime.logs(name)).split()) == [b"err", b"out"]

    def test_missing_image(self, runtime: DockerRuntime, names: Callable[[], str]) -> None:
        image = "localhost/toolhive-test/does-not-exist:1"
        progress: list[str] = []
        with pytest.raises(ImageNotFoundError) as caught:
            runtime.ensure_image(image, progress.append)
        message = str(caught.value)
        assert message.startswith(f"image {image} is not available locally and could not be pulled")
        assert message.endswith("build or load it first")
        assert "\n" not in message
        with pytest.raises(ImageNotFoundError, match="build or load it first"):
            self.deploy_stdio(runtime, names(), ["true"], image=image)

    def test_present_image_is_not_pulled(self, runtime: DockerRuntime) -> None:
        progress: list[str] = []
        runtime.ensure_image(BUSYBOX, progress.append)
        assert progress == []

    def test_deploy_replaces_own_container_only(
        self, runtime: DockerRuntime, names: Callable[[], str]
    ) -> None:
        name = names()
        first = self.deploy_stdio(runtime, name, ["sleep", "60"])
        second = self.deploy_stdio(runtime, name, ["sleep", "60"])
        assert first != second
        assert [i.id for i in runtime.list_workloads() if i.name == name] == [second]
        runtime.remove(name)
        runtime.client.api.create_container(BUSYBOX, ["true"], name=name)
        with pytest.raises(AlreadyExistsError, match="not managed by ToolHive"):
            self.deploy_stdio(runtime, name, ["sleep", "60"])

    def test_attach_errors(self, runtime: DockerRuntime, names: Callable[[], str]) -> None:
        with pytest.raises(NotFoundError):
            asyncio.run(runtime.attach_stdio(unique_name("thv-missing")))
        name = names()
        self.deploy_stdio(runtime, name, ["true"])
        runtime.wait(name)
        with pytest.raises(WorkloadStateError, match="not running"):
            asyncio.run(runtime.attach_stdio(name))

    def test_inspect_missing(self, runtime: DockerRuntime) -> None:
        assert runtime.inspect(unique_name("thv-missing")) is None

    def test_refusals_have_no_side_effects(
        self, runtime: DockerRuntime, names: Callable[[], str]
    ) -> None:
        name = names()
        request = DeployRequest(
            name=name,
            image=BUSYBOX,
            transport="streamable-http",
            target_port=8080,
            permission_profile=NONE,
        )
        with pytest.raises(PermissionProfileError, match="--transport stdio"):
            runtime.check_request(request)
        with pytest.raises(PermissionProfileError):
            runtime.deploy(request)
        assert runtime.inspect(name) is None
        privileged = PermissionProfile(name="root", privileged=True)
        with pytest.raises(PermissionProfileError, match="privileged"):
            runtime.deploy(DeployRequest(name=name, image=BUSYBOX, permission_profile=privileged))
        socket_mount = Mount(source=runtime.socket_path, target="/var/run/docker.sock")
        with pytest.raises(PermissionProfileError, match="engine socket"):
            runtime.check_request(DeployRequest(name=name, image=BUSYBOX, mounts=[socket_mount]))
        assert runtime.inspect(name) is None

    # -- image builds (ImageBuilder) ----------------------------------------------------------

    def test_build_find_and_clean_up(self, runtime: DockerRuntime, tmp_path: Path) -> None:
        """A two-stage build: tagged, labelled, found by label; the builder stage (which held a
        secret) is not left behind as an untagged image; the secret is not in the result."""
        from toolhive.contracts.runtime import ImageBuilder

        assert isinstance(runtime, ImageBuilder)
        key = uuid.uuid4().hex
        tag = f"localhost/thv-buildtest/{key[:10]}:1"
        (tmp_path / "secret.txt").write_text(f"secret-{key}\n")
        (tmp_path / "Dockerfile").write_text(
            f"FROM {BUSYBOX} AS builder\n"
            "COPY secret.txt /root/.netrc\n"
            "RUN cat /root/.netrc > /dev/null && echo built > /result\n"
            f"FROM {BUSYBOX}\n"
            "COPY --from=builder /result /result\n"
            'ENTRYPOINT ["/bin/cat", "/result"]\n'
        )
        labels = {"toolhive-build-hash": key}
        progress: list[str] = []
        try:
            assert runtime.find_image(labels) is None
            image_id = runtime.build_image(
                str(tmp_path), tag, labels=labels, progress=progress.append
            )
            assert image_id, progress
            assert any("FROM" in line for line in progress), progress
            assert runtime.find_image(labels) == tag
            assert runtime.find_image({"toolhive-build-hash": "not-" + key}) is None
            inspected = runtime.client.api.inspect_image(tag)
            assert inspected["Config"]["Labels"]["toolhive-build-hash"] == key
            # Every step image the build reported is gone, tagged, or a parent of another image
            # (the result's own layers): the builder stage, which saw the secret, is gone.
            everything = runtime.client.api.images(all=True)
            parents = {i.get("ParentId") for i in everything}
            ids = {i["Id"].removeprefix("sha256:")[:12]: i for i in everything}
            steps = {
                m.group(1)[:12]
                for line in progress
                if (m := re.match(r"^\s*-+>\s*([0-9a-f]{10,64})\s*$", line))
            }
            assert steps
            leftovers = [
                step
                for step in steps
                if step in ids
                and not [t for t in ids[step].get("RepoTags") or [] if t != "<none>:<none>"]
                and ids[step]["Id"] not in parents
            ]
            assert leftovers == [], leftovers
            name = unique_name("thv-buildtest")
            out = run_to_completion(
                runtime.client, tag, ["/bin/sh", "-c", "cat /result; ls -a /root"], name
            )
            assert b"built" in out and b".netrc" not in out
        finally:
            runtime.remove_image(tag)
        assert runtime.find_image(labels) is None

    def test_build_failure_is_a_clear_error(self, runtime: DockerRuntime, tmp_path: Path) -> None:
        from toolhive.contracts.runtime import BuildError

        (tmp_path / "Dockerfile").write_text(f"FROM {BUSYBOX}\nRUN echo about-to-fail && exit 3\n")
        tag = f"localhost/thv-buildtest/{uuid.uuid4().hex[:10]}:1"
        with pytest.raises(BuildError, match=r"about-to-fail|exit|3") as info:
            runtime.build_image(str(tmp_path), tag)
        assert tag in str(info.value)
        assert runtime.find_image({"toolhive-build-hash": tag}) is None
