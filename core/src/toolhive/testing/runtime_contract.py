"""The runtime contract suite: deploy, attach, inspect, wait, log, stop and remove real servers.

What the supervisor and the workload manager rely on (:mod:`toolhive.workloads.supervisor`,
:mod:`toolhive.workloads.service`): ``deploy`` starts a server (replacing a leftover of the same
name) and says where an HTTP server can be reached; ``attach_stdio`` gives a stdio server's
stdin/stdout; ``inspect``/``list_workloads`` report it with its labels; ``wait`` returns its exit
code; ``logs`` hold its stderr; ``stop``/``remove`` are prompt and idempotent; ``check_request``
refuses what the runtime cannot enforce, before anything runs.

The runtime is built the way ToolHive builds it: ``detect`` (skipped when the runtime is not
available here, failed instead with ``TOOLHIVE_TEST_REQUIRE_ENGINES=1``), then
``Hooks.load("runtimes", name, settings, detection=…)``. The servers are described by a few
methods a subclass overrides for its kind of runtime (a container runtime names images): the
defaults run host executables, as a process runtime does.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, NoReturn

import pytest

from toolhive.testing.mcp_servers import (
    ECHO_SERVER_NAME,
    STARTUP_TIMEOUT,
    echo_session,
    free_port,
    stdio_initialize,
)
from toolhive.testing.plugin_contract import SettingsContract

if TYPE_CHECKING:
    from toolhive.contracts.runtime import Deployment, PermissionProfile, Runtime
    from toolhive.contracts.specs import RuntimeDetection
    from toolhive.plugins import Hooks

REQUIRE_ENV = "TOOLHIVE_TEST_REQUIRE_ENGINES"

Names = Callable[[], str]


def engines_required() -> bool:
    return os.environ.get(REQUIRE_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def skip_or_fail(reason: str) -> NoReturn:
    """Skip, or fail when ``TOOLHIVE_TEST_REQUIRE_ENGINES=1`` (CI: every runtime must be here)."""
    if engines_required():
        pytest.fail(f"{reason} ({REQUIRE_ENV}=1)", pytrace=False)
    pytest.skip(reason)


def unique_name(prefix: str = "thv-test") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def builtin(name: str) -> PermissionProfile:
    from toolhive.contracts.runtime import builtin_profile

    profile = builtin_profile(name)
    assert profile is not None, name
    return profile


class RuntimeContract(SettingsContract):
    """Subclass it, set ``name`` (and ``entry_point``), and override what differs:

    ``detection`` (fixture)
        How the runtime is found (default: its spec's ``detect`` on this environment).
    ``shell(script)``
        ``(image, command)`` running a POSIX shell script (default: ``/bin/sh -c``).
    ``stdio_server()``
        ``(image, command)`` of the SDK echo server on stdio (default: this interpreter with
        ``-m toolhive.testing.echo_server stdio``).
    ``http_server()``
        ``(image, command, target_port)`` of the echo server on streamable HTTP; it listens on
        ``$MCP_HOST:$MCP_PORT`` as ToolHive sets them.
    ``missing_image()``
        An image (or command) that does not exist.
    """

    kind = "runtimes"

    # -- what the servers are -----------------------------------------------------------------

    def shell(self, script: str) -> tuple[str, list[str]]:
        return "/bin/sh", ["-c", script]

    def stdio_server(self) -> tuple[str, list[str]]:
        return sys.executable, ["-m", "toolhive.testing.echo_server", "stdio"]

    def http_server(self) -> tuple[str, list[str], int]:
        return (
            sys.executable,
            ["-m", "toolhive.testing.echo_server", "streamable-http"],
            free_port(),
        )

    def missing_image(self) -> str:
        return f"/nonexistent/thv-contract/{uuid.uuid4().hex[:8]}/server"

    # -- fixtures -----------------------------------------------------------------------------

    @pytest.fixture
    def detection(self, plugin_spec: Any) -> RuntimeDetection:
        detection: RuntimeDetection = plugin_spec.detect(os.environ)
        if not detection.available:
            skip_or_fail(f"the {self.name} runtime is not available here: {detection.detail}")
        return detection

    @pytest.fixture
    def runtime(
        self, plugin_hooks: Hooks, plugin_config: dict[str, Any], detection: RuntimeDetection
    ) -> Iterator[Runtime]:
        runtime = plugin_hooks.load("runtimes", self.name, plugin_config, detection=detection)
        yield runtime
        close = getattr(runtime, "close", None)
        if callable(close):
            close()

    @pytest.fixture
    def names(self, runtime: Runtime) -> Iterator[Names]:
        """A factory of unique workload names; every one is removed after the test."""
        made: list[str] = []

        def make() -> str:
            made.append(unique_name())
            return made[-1]

        yield make
        for name in made:
            runtime.remove(name)

    def deploy(
        self,
        runtime: Runtime,
        name: str,
        image_and_command: tuple[str, list[str]],
        *,
        profile: str | PermissionProfile = "none",
        **fields: Any,
    ) -> Deployment:
        """Deploy a stdio server (unless ``fields`` say otherwise), as ToolHive's request would."""
        from toolhive.contracts.runtime import DeployRequest

        image, command = image_and_command
        fields.setdefault("transport", "stdio")
        env = {"MCP_TRANSPORT": fields["transport"], **fields.pop("env", {})}
        return runtime.deploy(
            DeployRequest(
                name=name,
                image=image,
                command=command,
                env=env,
                permission_profile=builtin(profile) if isinstance(profile, str) else profile,
                **fields,
            )
        )

    def load_with(self, hooks: Hooks, config: dict[str, Any]) -> object:
        from toolhive.contracts.specs import RuntimeDetection

        unprobed = RuntimeDetection(name=self.name, available=False, detail="not probed")
        return hooks.load("runtimes", self.name, config, detection=unprobed)

    # -- the protocol -------------------------------------------------------------------------

    def test_it_loads_as_a_usable_runtime(self, runtime: Runtime) -> None:
        from toolhive.contracts.runtime import Runtime

        assert isinstance(runtime, Runtime)
        assert runtime.name == self.name
        assert inspect.iscoroutinefunction(runtime.attach_stdio)
        runtime.ping()

    def test_a_stdio_server_speaks_mcp_over_the_attached_channel(
        self, runtime: Runtime, names: Names
    ) -> None:
        name = names()
        deployment = self.deploy(runtime, name, self.stdio_server())
        assert deployment.id

        async def session() -> list[str]:
            channel = await runtime.attach_stdio(name)
            try:
                return await stdio_initialize(channel)
            finally:
                await channel.aclose()

        assert {"echo", "add"} <= set(asyncio.run(session()))

    def test_an_http_server_is_reachable_where_the_deployment_says(
        self, runtime: Runtime, names: Names, plugin_spec: Any
    ) -> None:
        image, command, port = self.http_server()
        host = "0.0.0.0" if plugin_spec.is_container else "127.0.0.1"
        deployment = self.deploy(
            runtime,
            names(),
            (image, command),
            profile="network",
            transport="streamable-http",
            target_port=port,
            env={"MCP_PORT": str(port), "MCP_HOST": host},
        )
        assert deployment.target_port is not None
        url = f"http://{deployment.target_host}:{deployment.target_port}/mcp"

        async def session() -> str:
            deadline = time.monotonic() + STARTUP_TIMEOUT
            while True:
                try:
                    return (await echo_session(url)).server_name
                except Exception:
                    if time.monotonic() > deadline:
                        raise
                    await asyncio.sleep(0.5)

        assert asyncio.run(session()) == ECHO_SERVER_NAME

    def test_inspect_and_list_report_it_with_its_labels(
        self, runtime: Runtime, names: Names
    ) -> None:
        from toolhive.contracts.runtime import LABEL_NAME, LABEL_TOOLHIVE

        name = names()
        labels = {LABEL_TOOLHIVE: "true", LABEL_NAME: name, "team": "blue"}
        deployment = self.deploy(runtime, name, self.shell("sleep 60"), labels=labels)
        info = runtime.inspect(name)
        assert info is not None
        assert (info.name, info.state) == (name, "running")
        assert info.id == deployment.id
        assert labels.items() <= info.labels.items(), info.labels
        listed = {i.name: i for i in runtime.list_workloads()}
        assert name in listed and listed[name].state == "running"
        assert runtime.inspect(unique_name("thv-missing")) is None

    def test_the_servers_environment_is_set(self, runtime: Runtime, names: Names) -> None:
        name = names()
        value = "a value ✓ with = and spaces"
        self.deploy(
            runtime,
            name,
            self.shell('sleep 1; echo "got:$THV_CONTRACT" >&2'),
            env={"THV_CONTRACT": value},
        )
        assert runtime.wait(name) == 0
        assert f"got:{value}\n".encode() in b"".join(runtime.logs(name))

    def test_wait_returns_the_exit_code(self, runtime: Runtime, names: Names) -> None:
        from toolhive.contracts import NotFoundError

        name = names()
        self.deploy(runtime, name, self.shell("sleep 1; exit 3"))
        assert runtime.wait(name) == 3
        info = runtime.inspect(name)
        assert info is not None
        assert (info.state, info.exit_code) == ("exited", 3)
        assert name in {i.name for i in runtime.list_workloads()}, "an exited server is listed"
        with pytest.raises(NotFoundError):
            runtime.wait(unique_name("thv-missing"))

    def test_logs_hold_the_servers_stderr(self, runtime: Runtime, names: Names) -> None:
        from toolhive.contracts import NotFoundError

        name = names()
        script = "echo one >&2; echo stdout-is-rpc; sleep 1; echo two >&2"
        self.deploy(runtime, name, self.shell(script))
        assert b"".join(runtime.logs(name, follow=True)) == b"one\ntwo\n"
        assert b"".join(runtime.logs(name, tail=1)) == b"two\n"
        with pytest.raises(NotFoundError):
            list(runtime.logs(unique_name("thv-missing")))

    def test_stop_is_prompt_and_idempotent(self, runtime: Runtime, names: Names) -> None:
        name = names()
        self.deploy(runtime, name, self.stdio_server())
        started = time.monotonic()
        runtime.stop(name, timeout=20)
        assert time.monotonic() - started < 15, "SIGTERM did not stop the server"
        info = runtime.inspect(name)
        assert info is not None and info.state == "exited"
        runtime.stop(name)
        runtime.stop(unique_name("thv-missing"))

    def test_remove_is_idempotent(self, runtime: Runtime, names: Names) -> None:
        name = names()
        self.deploy(runtime, name, self.shell("sleep 60"))
        runtime.remove(name)
        assert runtime.inspect(name) is None
        assert name not in {i.name for i in runtime.list_workloads()}
        runtime.remove(name)

    def test_deploy_replaces_a_leftover_of_the_same_name(
        self, runtime: Runtime, names: Names
    ) -> None:
        name = names()
        first = self.deploy(runtime, name, self.shell("sleep 60"))
        second = self.deploy(runtime, name, self.shell("sleep 60"))
        assert first.id != second.id
        assert [i.id for i in runtime.list_workloads() if i.name == name] == [second.id]

    def test_attaching_to_a_missing_server_is_not_found(self, runtime: Runtime) -> None:
        from toolhive.contracts import NotFoundError

        with pytest.raises(NotFoundError):
            asyncio.run(runtime.attach_stdio(unique_name("thv-missing")))

    def test_a_missing_image_is_a_clear_error(self, runtime: Runtime, names: Names) -> None:
        from toolhive.contracts import ImageNotFoundError

        image = self.missing_image()
        with pytest.raises(ImageNotFoundError) as caught:
            runtime.ensure_image(image)
        assert "\n" not in str(caught.value), "one line for the user"
        name = names()
        with pytest.raises(ImageNotFoundError):
            self.deploy(runtime, name, (image, []))
        assert runtime.inspect(name) is None

    def test_read_only_mounts_are_enforced(
        self, runtime: Runtime, names: Names, tmp_path: Any
    ) -> None:
        from toolhive.contracts.runtime import Mount, PermissionProfile

        (tmp_path / "ro").mkdir()
        (tmp_path / "rw").mkdir()
        (tmp_path / "ro" / "in.txt").write_text("from host")
        script = (
            "sleep 0.5; cat /tmp/thv-ro/in.txt >&2; echo >&2; touch /tmp/thv-ro/x 2>/dev/null; "
            "echo ro=$? >&2; touch /tmp/thv-rw/y; echo rw=$? >&2"
        )
        profile = PermissionProfile(name="contract", write=[f"{tmp_path / 'rw'}:/tmp/thv-rw"])
        name = names()
        self.deploy(
            runtime,
            name,
            self.shell(script),
            profile=profile,
            mounts=[Mount(source=str(tmp_path / "ro"), target="/tmp/thv-ro")],
        )
        assert runtime.wait(name) == 0
        output = b"".join(runtime.logs(name)).decode()
        assert "from host" in output and "ro=1" in output and "rw=0" in output, output
        assert (tmp_path / "rw" / "y").exists()
        assert not (tmp_path / "ro" / "x").exists()

    def test_an_unenforceable_request_is_refused_before_anything_runs(
        self, runtime: Runtime, names: Names
    ) -> None:
        from toolhive.contracts import PermissionProfileError
        from toolhive.contracts.runtime import DeployRequest, PermissionProfile

        name = names()
        image, command = self.shell("sleep 60")
        request = DeployRequest(
            name=name,
            image=image,
            command=command,
            permission_profile=PermissionProfile(name="root", privileged=True),
        )
        with pytest.raises(PermissionProfileError):
            runtime.check_request(request)
        with contextlib.suppress(PermissionProfileError):
            runtime.deploy(request)
            pytest.fail("deploy ran a request check_request refused")
        assert runtime.inspect(name) is None
