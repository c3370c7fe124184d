"""The vMCP gateway in front of a group of real servers (issue: the virtual MCP gateway).

One group, started once for the module with real `thv run` workloads on the process runtime:

    fixture      the conformance fixture over stdio (behind the bridge)
    time         mcp-server-time (uvx://, stdio)
    ev-sse       @modelcontextprotocol/server-everything over legacy SSE (reverse proxy)
    ev-http      server-everything over streamable HTTP (reverse proxy)
    dynamic      tests/fixtures/dynamic_server.py over streamable HTTP (slow calls, run-time tools)
    remote       a remote URL: dynamic_server.py started here, run as `thv run http://…`

and `thv vmcp serve --config` (ToolHive's YAML) in front, driven with the official MCP client.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.types import ElicitResult, TextContent

from tests.conformance import suite
from tests.conftest import FIXTURES, Thv, process_runtime_available, require_or_skip

GROUP = "gwtest"
DYNAMIC = FIXTURES / "dynamic_server.py"
FIXTURE = suite.FIXTURE


def _text(result: Any) -> str:
    return "".join(c.text for c in result.content if isinstance(c, TextContent))


class Group:
    """The module's group of workloads and a way to put gateways in front of it."""

    def __init__(self, thv: Thv, workdir: Path) -> None:
        self.thv = thv
        self.workdir = workdir
        self.gateways: list[subprocess.Popen[bytes]] = []
        self._logs: list[Any] = []

    def url(self, name: str) -> str:
        workloads = json.loads(self.thv("list", "--all", "--format", "json").stdout)
        (url,) = [w["url"] for w in workloads if w["name"] == name]
        return str(url)

    def gateway(self, config: str, name: str = "gw") -> str:
        """`thv vmcp serve --config` with ``config`` (YAML); its MCP URL once it answers."""
        path = self.workdir / f"{name}-{len(self.gateways)}.yaml"
        path.write_text(config)
        port = suite.free_port()
        log = open(self.workdir / f"{path.stem}.log", "wb")  # noqa: SIM115 - closed in close()
        self._logs.append(log)
        proc = subprocess.Popen(
            [self.thv.exe, "vmcp", "serve", "--config", str(path), "--port", str(port)],
            env=self.thv.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.gateways.append(proc)
        suite.wait_for_port(port, proc)
        return f"http://127.0.0.1:{port}/mcp"

    def close(self) -> None:
        for proc in self.gateways:
            proc.terminate()
        for proc in self.gateways:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
        for log in self._logs:
            log.close()


def config(
    aggregation: str = "conflictResolution: prefix\n  conflictResolutionConfig:\n"
    '    prefixFormat: "{workload}_"',
    extra: str = "",
) -> str:
    return f"""\
name: gwtest-gateway
groupRef: {GROUP}
incomingAuth: {{type: anonymous}}
outgoingAuth:
  source: inline
  default: {{type: unauthenticated}}
aggregation:
  {aggregation}
operational:
  failureHandling:
    healthCheckInterval: 1s
    unhealthyThreshold: 1
    partialFailureMode: best_effort
{extra}"""


@pytest.fixture(scope="module")
def group(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Group]:
    if not process_runtime_available():
        require_or_skip("bubblewrap and uv for the process runtime")
    tools = suite.find_node_tools()
    if tools is None:
        require_or_skip("Node tools (server-everything): run scripts/install-node.sh")
    assert tools is not None
    home = tmp_path_factory.mktemp("vmcp-home")
    env = {
        **os.environ,
        "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_DATA_HOME": str(home / "data"),
        "XDG_STATE_HOME": str(home / "state"),
        "TOOLHIVE_STRICT_PLUGINS": "1",
    }
    env.pop("XDG_CACHE_HOME", None)
    thv = Thv(env)
    remote_port = suite.free_port()
    remote = subprocess.Popen(
        [sys.executable, str(DYNAMIC), "streamable-http"],
        env={**env, "MCP_PORT": str(remote_port), "SERVER_LABEL": "remote"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    grp = Group(thv, home)
    try:
        thv("group", "create", GROUP)
        run = ["run", "--group", GROUP, "--runtime", "process"]
        thv(
            *run,
            "--name",
            "fixture",
            "--transport",
            "stdio",
            sys.executable,
            "--",
            str(FIXTURE),
            "stdio",
        )
        thv(*run, "--name", "time", "uvx://mcp-server-time")
        for name, mode, transport in (
            ("ev-sse", "sse", "sse"),
            ("ev-http", "streamableHttp", "streamable-http"),
        ):
            port = suite.free_port()
            thv(
                *run, "--name", name, "--transport", transport, "--target-port", str(port),
                "-e", f"PORT={port}", str(tools.node), "--", str(tools.everything), mode,
            )  # fmt: skip
        thv(
            *run, "--name", "dynamic", "--transport", "streamable-http",
            "-e", "SERVER_LABEL=dynamic", sys.executable, "--", str(DYNAMIC), "streamable-http",
        )  # fmt: skip
        suite.wait_for_port(remote_port, remote)
        thv("run", "--group", GROUP, "--name", "remote", f"http://127.0.0.1:{remote_port}/mcp")
        yield grp
    finally:
        grp.close()
        thv("rm", "--all", check=False)
        remote.terminate()
        remote.wait(timeout=10)


def session(url: str, action: Callable[[Client], Any], **options: Any) -> Any:
    async def main() -> Any:
        with anyio.fail_after(120):
            async with Client(url, **options) as client:
                return await action(client)

    return anyio.run(main)


def test_prefixed_names_route_every_call_and_read_to_its_own_backend(group: Group):
    url = group.gateway(config())

    async def check(client: Client) -> dict[str, Any]:
        tools = {t.name for t in (await client.list_tools()).tools}
        out: dict[str, Any] = {"tools": tools}
        out["fixture"] = _text(await client.call_tool("fixture_test_simple_text", {}))
        out["time"] = _text(
            await client.call_tool("time_get_current_time", {"timezone": "Europe/Paris"})
        )
        out["sse"] = _text(await client.call_tool("ev-sse_echo", {"message": "via sse"}))
        out["http"] = _text(await client.call_tool("ev-http_echo", {"message": "via http"}))
        out["remote"] = _text(await client.call_tool("remote_whoami", {}))
        out["dynamic"] = _text(await client.call_tool("dynamic_whoami", {}))
        read = await client.read_resource("test://static-text")
        out["read"] = read.contents[0].text  # type: ignore[union-attr]
        everything = await client.read_resource("demo://resource/static/document/architecture.md")
        out["read_everything"] = everything.contents[0].text  # type: ignore[union-attr]
        prompts = {p.name for p in (await client.list_prompts()).prompts}
        out["prompts"] = prompts
        prompt = await client.get_prompt("fixture_test_simple_prompt", {})
        out["prompt"] = prompt.messages[0].content.text  # type: ignore[union-attr]
        return out

    out = session(url, check)
    expected = {
        "fixture_test_simple_text",
        "time_get_current_time",
        "ev-sse_echo",
        "ev-http_echo",
        "dynamic_sleep",
        "remote_whoami",
        "ev-http_get-sum",
    }
    assert expected <= out["tools"], sorted(out["tools"])
    assert out["fixture"] == "This is a simple text response for testing."
    assert "Europe/Paris" in out["time"]
    assert out["sse"] == "Echo: via sse"
    assert out["http"] == "Echo: via http"
    assert out["remote"] == "remote"
    assert out["dynamic"] == "dynamic"
    assert out["read"] == "This is the content of the static text resource."
    assert out["read_everything"]
    assert {"fixture_test_simple_prompt", "ev-sse_simple-prompt"} <= out["prompts"]
    assert out["prompt"] == "This is a simple prompt for testing."


def test_priority_filter_rename_and_manual_resolution_translate_names_back(group: Group):
    priority = group.gateway(
        config(
            aggregation="conflictResolution: priority\n  conflictResolutionConfig:\n"
            "    priorityOrder: [ev-http, ev-sse, fixture]\n"
            "  tools:\n"
            "    - workload: ev-http\n"
            "      filter: [shout, get-sum]\n"
            "      overrides:\n"
            "        echo: {name: shout, description: Echo it loudly}\n"
            "    - workload: time\n"
            "      excludeAll: true\n"
        )
    )

    async def check_priority(client: Client) -> dict[str, Any]:
        listed = {t.name: t for t in (await client.list_tools()).tools}
        return {
            "listed": listed,
            "shout": _text(await client.call_tool("shout", {"message": "loud"})),
            # ev-sse's echo is not shadowed (ev-http's is renamed), so it keeps its bare name.
            "echo": _text(await client.call_tool("echo", {"message": "plain"})),
            "sum": _text(await client.call_tool("get-sum", {"a": 2, "b": 3})),
        }

    out = session(priority, check_priority)
    listed = out["listed"]
    assert listed["shout"].description == "Echo it loudly"
    assert "test_simple_text" in listed  # unique names stay bare under priority
    assert not any(name.startswith("time") or name == "get_current_time" for name in listed)
    assert "get-tiny-image" not in listed or listed["get-tiny-image"]  # ev-sse still offers it
    assert out["shout"] == "Echo: loud"
    assert out["echo"] == "Echo: plain"
    assert "5" in out["sum"]

    manual = group.gateway(
        config(
            aggregation="conflictResolution: manual\n  conflictResolutionConfig: {}\n"
            "  tools:\n"
            "    - workload: ev-sse\n"
            "      overrides: {echo: {name: sse_echo}}\n"
        )
    )

    async def check_manual(client: Client) -> str:
        try:
            await client.list_tools()
        except Exception as exc:  # ev-http and ev-sse still share every other tool name
            return str(exc)
        return "listed"

    assert "unresolved tool name conflicts" in session(manual, check_manual)


def test_a_backend_that_dies_leaves_the_others_answering_and_its_tools_come_back(group: Group):
    url = group.gateway(config())
    changes: list[str] = []

    async def on_message(message: Any) -> None:
        method = getattr(message, "method", None) or getattr(
            getattr(message, "root", None), "method", ""
        )
        if method:
            changes.append(str(method))

    async def tools(client: Client) -> set[str]:
        return {t.name for t in (await client.list_tools()).tools}

    async def until(client: Client, present: bool, deadline: float = 30.0) -> set[str]:
        with anyio.fail_after(deadline):
            while True:
                names = await tools(client)
                if ("dynamic_whoami" in names) == present:
                    return names
                await anyio.sleep(0.3)

    async def scenario(client: Client) -> dict[str, Any]:
        before = await tools(client)
        await anyio.to_thread.run_sync(lambda: group.thv("stop", "dynamic"))
        gone = await until(client, present=False)
        still = _text(await client.call_tool("ev-http_echo", {"message": "still here"}))
        try:
            await client.call_tool("dynamic_whoami", {})
            dead_call = "answered"
        except Exception as exc:
            dead_call = str(exc)
        await anyio.to_thread.run_sync(lambda: group.thv("start", "dynamic"))
        back = await until(client, present=True)
        again = _text(await client.call_tool("dynamic_whoami", {}))
        return {
            "before": before,
            "gone": gone,
            "still": still,
            "dead": dead_call,
            "back": back,
            "again": again,
        }

    out = session(url, scenario, message_handler=on_message)
    assert "dynamic_whoami" in out["before"]
    assert "dynamic_whoami" not in out["gone"] and "ev-http_echo" in out["gone"]
    assert out["still"] == "Echo: still here"
    assert out["dead"] != "answered"
    assert "dynamic_whoami" in out["back"]
    assert out["again"] == "dynamic"
    assert "notifications/tools/list_changed" in changes


def test_per_backend_timeouts_are_honoured_beyond_the_default(group: Group):
    # The "a backend with a 60 s timeout answers at 45 s" scaled down: a per-workload
    # timeout 8x the default lets a call run 5x the default, while the default still ends
    # another backend's slow call. That nothing caps deadlines at 30 s (ToolHive's #6410) is
    # checked without waiting by test_no_layer_caps_a_long_backend_timeout below.
    url = group.gateway(
        # ``extra`` follows the operational block: these lines belong to it.
        config(extra="  timeouts:\n    default: 1s\n    perWorkload:\n      dynamic: 8s\n")
    )

    async def scenario(client: Client) -> dict[str, Any]:
        out: dict[str, Any] = {}

        async def slow() -> None:
            started = time.monotonic()
            result = await client.call_tool("dynamic_sleep", {"seconds": 5})
            out["slow"] = (_text(result), time.monotonic() - started)

        async with anyio.create_task_group() as tg:
            tg.start_soon(slow)
            started = time.monotonic()
            try:
                await client.call_tool("remote_sleep", {"seconds": 4})
                out["short"] = ("answered", 0.0)
            except Exception as exc:
                out["short"] = (str(exc), time.monotonic() - started)
        return out

    out = session(url, scenario, read_timeout_seconds=30)
    text, took = out["slow"]
    assert text == "slept 5s" and took >= 4.9
    message, took = out["short"]
    assert "did not answer within 1s" in message and took < 3.5, out


@pytest.mark.slow
def test_a_backend_with_a_60s_timeout_answers_at_45s(group: Group):
    # The check as written (ToolHive's users hit a hard 30 s, stacklok/toolhive#6410):
    # Go's 30 s default, 60 s for one workload, a 45 s call through the gateway and the
    # workload's own proxy is answered.
    url = group.gateway(
        config(extra="  timeouts:\n    default: 30s\n    perWorkload:\n      dynamic: 60s\n")
    )

    async def scenario(client: Client) -> tuple[str, float]:
        started = time.monotonic()
        result = await client.call_tool("dynamic_sleep", {"seconds": 45})
        return _text(result), time.monotonic() - started

    text, took = session(url, scenario, read_timeout_seconds=90)
    assert text == "slept 45s" and took >= 44.9, (text, took)


def test_no_layer_caps_a_long_backend_timeout() -> None:
    # Every deadline a forwarded call meets follows the config: the backend's own (60 s), the
    # relay's above the longest, the composite tool's; none is a fixed 30 s.
    import yaml
    from toolhive.vmcp.config import parse_config
    from toolhive.vmcp.gateway import Gateway, GatewayTransport, target_for

    raw = yaml.safe_load(
        config(extra="  timeouts:\n    default: 3s\n    perWorkload:\n      dynamic: 60s\n")
    )
    gateway = Gateway(parse_config(raw, "test"))
    backend = gateway._backend("dynamic", target_for("http://127.0.0.1:1/mcp"))
    other = gateway._backend("remote", target_for("http://127.0.0.1:1/mcp"))
    assert (backend.spec.timeout, other.spec.timeout) == (60.0, 3.0)
    assert gateway.max_timeout == 60.0

    async def relay_timeout() -> float:
        return GatewayTransport(gateway).relay.timeout

    assert anyio.run(relay_timeout) > 60.0


def test_group_members_appear_and_disappear_without_a_restart(group: Group):
    url = group.gateway(config())

    async def names(client: Client) -> set[str]:
        return {t.name for t in (await client.list_tools()).tools}

    async def wait_for(client: Client, name: str, present: bool) -> None:
        with anyio.fail_after(30):
            while (name in await names(client)) != present:
                await anyio.sleep(0.3)

    async def scenario(client: Client) -> str:
        assert "late_whoami" not in await names(client)
        await anyio.to_thread.run_sync(
            lambda: group.thv(
                "run",
                "--group",
                GROUP,
                "--runtime",
                "process",
                "--name",
                "late",
                "--transport",
                "stdio",
                "-e",
                "SERVER_LABEL=late",
                sys.executable,
                "--",
                str(DYNAMIC),
                "stdio",
            )
        )
        await wait_for(client, "late_whoami", True)
        answer = _text(await client.call_tool("late_whoami", {}))
        await anyio.to_thread.run_sync(lambda: group.thv("rm", "late"))
        await wait_for(client, "late_whoami", False)
        return answer

    assert session(url, scenario) == "late"


def test_a_backend_list_change_reaches_the_client_and_the_new_tool_is_callable(group: Group):
    url = group.gateway(config())
    seen: list[str] = []

    async def on_message(message: Any) -> None:
        method = getattr(message, "method", None)
        if method:
            seen.append(str(method))

    async def scenario(client: Client) -> str:
        await client.call_tool("dynamic_grow", {"name": "sprout"})
        with anyio.fail_after(20):
            while "dynamic_sprout" not in {t.name for t in (await client.list_tools()).tools}:
                await anyio.sleep(0.2)
        return _text(await client.call_tool("dynamic_sprout", {}))

    assert session(url, scenario, message_handler=on_message) == "sprout"
    assert "notifications/tools/list_changed" in seen


def test_composite_tool_runs_its_steps_and_asks_the_client(group: Group):
    composite = """\
compositeTools:
  - name: greet_and_confirm
    description: Ask who answers, confirm, then echo it
    parameters:
      type: object
      properties:
        greeting: {type: string}
      required: [greeting]
    steps:
      - id: who
        tool: remote.whoami
      - id: confirm
        type: elicitation
        # The SDK server's structured output: {"result": "..."}.
        message: "Send {{.params.greeting}} to {{.steps.who.output.result}}?"
        schema:
          type: object
          properties:
            ok: {type: boolean}
        dependsOn: [who]
      - id: say
        tool: ev-http.echo
        arguments:
          message: "{{.params.greeting}} {{.steps.who.output.result}} {{.steps.confirm.output.content.ok}}"
        dependsOn: [confirm]
        condition: '{{eq .steps.confirm.output.action "accept"}}'
"""
    url = group.gateway(config(extra=composite))
    asked: list[str] = []

    async def elicit(context: Any, params: Any) -> ElicitResult:
        asked.append(params.message)
        return ElicitResult(action="accept", content={"ok": True})

    async def scenario(client: Client) -> tuple[set[str], Any]:
        listed = {t.name for t in (await client.list_tools()).tools}
        result = await client.call_tool("greet_and_confirm", {"greeting": "hello"})
        return listed, result

    listed, result = session(url, scenario, elicitation_callback=elicit)
    assert "greet_and_confirm" in listed
    assert asked == ["Send hello to remote?"]
    assert not result.is_error, result
    assert "Echo: hello remote true" in json.dumps(result.structured_content or {}) + _text(result)


def test_optimizer_advertises_find_and_call_tool_only(group: Group):
    url = group.gateway(config(extra="optimizer: {maxToolsToReturn: 3}\n"))

    async def scenario(client: Client) -> tuple[list[str], Any, str]:
        listed = [t.name for t in (await client.list_tools()).tools]
        found = await client.call_tool(
            "find_tool",
            {"tool_description": "current time in a timezone", "tool_keywords": ["time"]},
        )
        called = await client.call_tool(
            "call_tool", {"tool_name": "ev-http_echo", "parameters": {"message": "optimized"}}
        )
        return listed, found, _text(called)

    listed, found, called = session(url, scenario)
    assert sorted(listed) == ["call_tool", "find_tool"]
    assert not found.is_error, found
    names = [t["name"] for t in (found.structured_content or {}).get("tools", [])]
    assert names and names[0] == "time_get_current_time", names
    assert len(names) <= 3
    assert called == "Echo: optimized"


def test_a_client_that_goes_away_cancels_its_call_on_the_backend(group: Group):
    url = group.gateway(config())

    async def count(client: Client) -> int:
        return int(_text(await client.call_tool("remote_cancellations", {})))

    before = session(url, count)
    # A raw client: initialize, start a 30 s call, hang up after a second (no DELETE, no
    # notifications/cancelled: the connection just goes).
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    headers = {"content-type": "application/json", "accept": "application/json"}
    init = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "leaver", "version": "1"},
        },
    }
    conn.request("POST", parts.path, json.dumps(init), headers)
    answer = conn.getresponse()
    sid = answer.getheader("mcp-session-id")
    answer.read()
    assert sid
    headers = {**headers, "mcp-session-id": sid, "mcp-protocol-version": "2025-06-18"}
    note = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    conn.request("POST", parts.path, json.dumps(note), headers)
    conn.getresponse().read()
    call = {
        "jsonrpc": "2.0",
        "id": 2,
        "method": "tools/call",
        "params": {"name": "remote_sleep", "arguments": {"seconds": 30}},
    }
    conn.request("POST", parts.path, json.dumps(call), headers)
    time.sleep(1.0)
    conn.sock.close()  # type: ignore[union-attr]
    deadline = time.monotonic() + 10
    after = before
    while time.monotonic() < deadline and after == before:
        time.sleep(0.5)
        after = session(url, count)
    assert after == before + 1
