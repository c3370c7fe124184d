"""The contract suite of runtimes that speak the Docker Engine API, run against a real engine.

:class:`EngineRuntimeContract` is core's generic :class:`~toolhive.testing.RuntimeContract` (deploy,
attach, inspect, wait, logs, stop, remove, refusals: what every runtime promises) with container
images for its servers, plus what only a Docker-API engine shows: published ports bound to
loopback, the hardening visible in ``inspect``, dropped capabilities and no network, stdin across
re-attaches, foreign containers left alone, image builds. The Docker, Podman and Colima plugins
(and any third-party Docker-API runtime) subclass it in their ``tests/test_contract.py``, naming
the runtime and its entry point, and set the class attributes that describe the engine's
documented quirks. Needs ``pytest`` (test-only; importing this module from production code is a
bug).

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
import os
import re
import socket
import socketserver
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import pytest
from toolhive.contracts import (
    AlreadyExistsError,
    ImageNotFoundError,
    PermissionProfileError,
    PortInUseError,
    RuntimeUnavailableError,
    WorkloadStateError,
)
from toolhive.contracts.runtime import (
    LABEL_PORT,
    LABEL_TOOLHIVE,
    LABEL_TRANSPORT,
    DeployRequest,
    Mount,
    PermissionProfile,
)
from toolhive.contracts.specs import RuntimeDetection
from toolhive.testing.runtime_contract import (
    RuntimeContract,
    builtin,
    skip_or_fail,
    unique_name,
)

from toolhive_runtime_docker.runtime import DockerRuntime

__all__ = [
    "BUSYBOX",
    "ECHO_SERVER",
    "MCP_SERVERS",
    "EngineRuntimeContract",
    "PingServer",
    "open_engine",
    "require_images",
    "run_to_completion",
    "skip_or_fail",
    "unique_name",
]

BUSYBOX = "localhost/toolhive-test/busybox:latest"
MCP_SERVERS = "localhost/toolhive-test/mcp-servers:latest"
ECHO_SERVER = "/opt/fixtures/echo_server.py"
#: Seconds a containerised server gets to answer.
STARTUP_TIMEOUT = 60.0

R = TypeVar("R", bound=DockerRuntime)
Names = Callable[[], str]


def require_images(
    runtime: DockerRuntime, images: tuple[str, ...] = (BUSYBOX, MCP_SERVERS)
) -> None:
    """Skip (or fail) unless the engine answers and has the test ``images``."""
    try:
        runtime.ping()
    except RuntimeUnavailableError as exc:
        skip_or_fail(str(exc))
    for image in images:
        try:
            runtime.ensure_image(image)
        except ImageNotFoundError:
            skip_or_fail(
                f"test image {image} is missing in {runtime.name}: run scripts/build-test-images.sh"
            )


def open_engine(factory: Callable[[], R], images: tuple[str, ...] = (BUSYBOX, MCP_SERVERS)) -> R:
    """Build a runtime with ``factory``; skip (or fail) unless it answers and has ``images``."""
    runtime = factory()
    try:
        require_images(runtime, images)
    except BaseException:
        runtime.close()
        raise
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


class EngineRuntimeContract(RuntimeContract):
    """The generic runtime contract on test images, plus what a Docker-API engine must show.

    Subclasses set ``name`` and ``entry_point`` (and override ``detection`` or ``plugin_config``
    when the runtime needs help to find the engine here).
    """

    #: Whether a stdio server keeps its stdin (and so keeps running) after the proxy detaches.
    #: True on Docker (``StdinOnce=false``). Podman's conmon closes a non-TTY container's stdin
    #: when the attach connection ends, so a stdio server lives as long as its first attach.
    stdin_survives_detach: ClassVar[bool] = True

    # -- the servers, as images ---------------------------------------------------------------

    def shell(self, script: str) -> tuple[str, list[str]]:
        return BUSYBOX, ["sh", "-c", script]

    def stdio_server(self) -> tuple[str, list[str]]:
        return MCP_SERVERS, ["python", ECHO_SERVER, "stdio"]

    def http_server(self) -> tuple[str, list[str], int]:
        return MCP_SERVERS, ["python", ECHO_SERVER, "streamable-http"], 8080

    def missing_image(self) -> str:
        return f"localhost/toolhive-test/does-not-exist-{uuid.uuid4().hex[:6]}:1"

    @pytest.fixture
    def runtime(
        self, plugin_hooks: Any, plugin_config: dict[str, Any], detection: RuntimeDetection
    ) -> Iterator[DockerRuntime]:
        runtime = plugin_hooks.load("runtimes", self.name, plugin_config, detection=detection)
        assert isinstance(runtime, DockerRuntime), type(runtime)
        try:
            require_images(runtime)
            yield runtime
        finally:
            runtime.close()

    # -- stdio across attaches ----------------------------------------------------------------

    def test_stdio_stderr_and_eof(self, runtime: DockerRuntime, names: Names) -> None:
        name = names()
        script = 'read line; echo "err:$line" >&2; echo "out:$line"; printf tail'
        self.deploy(runtime, name, self.shell(script))
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

    def test_reattach(self, runtime: DockerRuntime, names: Names) -> None:
        name = names()
        self.deploy(runtime, name, self.shell('while read l; do echo "got:$l"; done'))

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

    def test_attaching_to_an_exited_container_is_refused(
        self, runtime: DockerRuntime, names: Names
    ) -> None:
        name = names()
        self.deploy(runtime, name, self.shell("true"))
        runtime.wait(name)
        with pytest.raises(WorkloadStateError, match="not running"):
            asyncio.run(runtime.attach_stdio(name))

    # -- ports --------------------------------------------------------------------------------

    def test_a_published_port_is_bound_to_loopback_only(
        self, runtime: DockerRuntime, names: Names
    ) -> None:
        name = names()
        deployment = self.deploy(
            runtime,
            name,
            self.shell("httpd -f -p 8080"),
            profile="network",
            transport="streamable-http",
            target_port=8080,
        )
        assert deployment.target_host == "127.0.0.1"
        info = runtime.inspect(name)
        assert info is not None
        assert info.labels[LABEL_PORT] == str(deployment.target_port)
        raw = runtime.inspect_raw(name)
        assert raw is not None
        bindings = raw["HostConfig"]["PortBindings"]["8080/tcp"]
        assert [(b["HostIp"], b["HostPort"]) for b in bindings] == [
            ("127.0.0.1", str(deployment.target_port))
        ]

    def test_explicit_host_port_and_port_in_use(self, runtime: DockerRuntime, names: Names) -> None:
        with socket.socket() as holder:
            holder.bind(("127.0.0.1", 0))
            holder.listen()
            taken = holder.getsockname()[1]
            image, command = self.shell("httpd -f -p 8080")
            request = DeployRequest(
                name=names(),
                image=image,
                command=command,
                transport="sse",
                target_port=8080,
                host_port=taken,
                permission_profile=builtin("network"),
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

    # -- labels, hardening --------------------------------------------------------------------

    def test_the_engine_labels_every_container_as_toolhives(
        self, runtime: DockerRuntime, names: Names
    ) -> None:
        name = names()
        self.deploy(runtime, name, self.shell("sleep 60"), labels={"team": "blue"})
        info = runtime.inspect(name)
        assert info is not None
        assert info.labels[LABEL_TOOLHIVE] == "true"
        assert info.labels[LABEL_TRANSPORT] == "stdio"
        assert info.labels["team"] == "blue"
        assert info.image == BUSYBOX

    def test_hardening_visible_in_inspect(
        self, runtime: DockerRuntime, names: Names, tmp_path: Path
    ) -> None:
        name = names()
        (tmp_path / "ro").mkdir()
        self.deploy(
            runtime,
            name,
            self.shell("sleep 60"),
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

    def test_no_capabilities_and_loopback_only_inside(
        self, runtime: DockerRuntime, names: Names
    ) -> None:
        name = names()
        script = "grep -E '^Cap(Prm|Eff|Bnd|Amb)' /proc/self/status >&2; ls /sys/class/net >&2"
        self.deploy(runtime, name, self.shell(script))
        assert runtime.wait(name) == 0
        output = b"".join(runtime.logs(name)).decode()
        assert output.split()[-1] == "lo"  # network "none": loopback only
        capabilities = dict(
            line.split(":") for line in output.splitlines() if line.startswith("Cap")
        )
        assert len(capabilities) == 4, output
        assert {int(v.strip(), 16) for v in capabilities.values()} == {0}, capabilities

    def test_engine_refusals_have_no_side_effects(
        self, runtime: DockerRuntime, names: Names
    ) -> None:
        name = names()
        request = DeployRequest(
            name=name,
            image=BUSYBOX,
            transport="streamable-http",
            target_port=8080,
            permission_profile=builtin("none"),
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

    # -- the engine's other containers --------------------------------------------------------

    def test_a_foreign_container_of_the_same_name_is_not_replaced(
        self, runtime: DockerRuntime, names: Names
    ) -> None:
        name = names()
        runtime.client.api.create_container(BUSYBOX, ["true"], name=name)
        with pytest.raises(AlreadyExistsError, match="not managed by ToolHive"):
            self.deploy(runtime, name, self.shell("sleep 60"))

    def test_foreign_containers_are_not_listed(self, runtime: DockerRuntime, names: Names) -> None:
        foreign = names()
        runtime.client.api.create_container(BUSYBOX, ["true"], name=foreign)
        assert foreign not in {info.name for info in runtime.list_workloads()}

    def test_wait_when_removed_is_not_a_clean_exit(
        self, runtime: DockerRuntime, names: Names
    ) -> None:
        name = names()
        self.deploy(runtime, name, self.shell("sleep 60"))
        result: list[int] = []
        waiter = threading.Thread(target=lambda: result.append(runtime.wait(name)))
        waiter.start()
        time.sleep(1)
        runtime.remove(name)
        waiter.join(30)
        assert result and result[0] != 0

    def test_http_server_logs_include_stdout(self, runtime: DockerRuntime, names: Names) -> None:
        name = names()
        self.deploy(
            runtime,
            name,
            self.shell("echo out; echo err >&2"),
            profile="network",
            transport="sse",
            target_port=8080,
        )
        runtime.wait(name)
        assert sorted(b"".join(runtime.logs(name)).split()) == [b"err", b"out"]

    # -- images -------------------------------------------------------------------------------

    def test_a_missing_image_says_what_to_do(self, runtime: DockerRuntime) -> None:
        image = self.missing_image()
        progress: list[str] = []
        with pytest.raises(ImageNotFoundError) as caught:
            runtime.ensure_image(image, progress.append)
        message = str(caught.value)
        assert message.startswith(f"image {image} is not available locally and could not be pulled")
        assert message.endswith("build or load it first")

    def test_present_image_is_not_pulled(self, runtime: DockerRuntime) -> None:
        progress: list[str] = []
        runtime.ensure_image(BUSYBOX, progress.append)
        assert progress == []

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
