"""The workload lifecycle end to end, on real Podman, real Docker and the process runtime.

Every scenario runs the real `thv` CLI (detached supervisors included) against a real MCP server
and reaches it through the proxy with the official `mcp` client.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import (
    ENGINE_SOCKETS,
    FIXTURES,
    MCP_IMAGE,
    Thv,
    engine_available,
    process_runtime_available,
    require_or_skip,
)
from tests.mcp_client import call_tool, concurrent_calls, list_tools

pytestmark = pytest.mark.engine


@dataclass
class Case:
    runtime: str
    stdio: list[str]  # `thv run` arguments for a stdio server (mcp-server-time)
    http: list[str]  # `thv run` arguments for a streamable-HTTP server (the echo fixture)


def make_case(runtime: str) -> Case:
    if runtime in ENGINE_SOCKETS:
        if not engine_available(runtime):
            require_or_skip(f"{runtime} engine with {MCP_IMAGE}")
        return Case(
            runtime,
            stdio=[MCP_IMAGE, "--transport", "stdio", "--", "mcp-server-time"],
            http=[
                MCP_IMAGE,
                "--transport",
                "streamable-http",
                "--",
                "python",
                "/opt/fixtures/echo_server.py",
                "streamable-http",
            ],
        )
    if not process_runtime_available():
        require_or_skip("bubblewrap and uv for the process runtime")
    return Case(
        runtime,
        stdio=["uvx://mcp-server-time"],
        http=[
            sys.executable,
            "--transport",
            "streamable-http",
            "--",
            str(FIXTURES / "echo_server.py"),
            "streamable-http",
        ],
    )


@pytest.fixture(params=["podman", "docker", "process"])
def case(request: pytest.FixtureRequest, thv_env: dict[str, str]) -> Case:
    c = make_case(request.param)
    if c.runtime == "podman":
        thv_env["TOOLHIVE_PODMAN_SOCKET"] = ENGINE_SOCKETS["podman"]
    return c


def listing(thv: Thv, *extra: str) -> dict[str, dict]:
    return {
        w["name"]: w for w in json.loads(thv("list", "--all", "--format", "json", *extra).stdout)
    }


def wait_status(thv: Thv, name: str, wanted: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        wl = json.loads(thv("status", name, "--format", "json").stdout)
        if wl["status"] == wanted:
            return wl
        if time.monotonic() > deadline:
            raise AssertionError(f"{name} is {wl['status']} ({wl['status_context']}), not {wanted}")
        time.sleep(0.5)


def utc_time(url: str) -> str:
    text = call_tool(url, "get_current_time", {"timezone": "UTC"})
    assert json.loads(text)["timezone"] == "UTC"
    return text


def test_stdio_server_lifecycle(
    case: Case, thv: Thv, thv_env: dict[str, str], tmp_path: Path, runtime_api
):
    name = f"time-{case.runtime}"
    out = thv("run", "--name", name, "--runtime", case.runtime, *case.stdio).stdout
    wl = listing(thv)[name]
    assert wl["status"] == "running", wl
    assert wl["transport_type"] == "stdio" and wl["runtime"] == case.runtime
    url, port = wl["url"], wl["port"]
    assert url == f"http://127.0.0.1:{port}/mcp" and url in out

    # The official client through the proxy: initialize, tools/list, tools/call.
    assert "get_current_time" in list_tools(url)
    utc_time(url)
    # `thv mcp` does the same for users.
    cli_call = thv(
        "mcp", "call", "get_current_time", "--server", name, "--args", '{"timezone":"UTC"}'
    )
    assert '"timezone": "UTC"' in cli_call.stdout
    assert "get_current_time" in thv("mcp", "list", "tools", "--server", name).stdout

    # Two clients at once on one stdio server, each getting its own answers.
    zones = ["Europe/Paris", "Asia/Tokyo"]
    answers = concurrent_calls(url, [("get_current_time", {"timezone": z}) for z in zones])
    assert [json.loads(a)["timezone"] for a in answers] == zones

    assert thv("logs", "--proxy", name).stdout  # the supervisor logged its start
    thv("logs", name)

    # stop is idempotent; start comes back on the same port.
    thv("stop", name)
    assert listing(thv)[name]["status"] == "stopped"
    assert name not in json.loads(thv("list", "--format", "json").stdout)
    assert "was not running" in thv("stop", name).stdout
    thv("start", name)
    assert listing(thv)[name]["port"] == port
    utc_time(url)
    thv("restart", name)
    utc_time(url)

    # Supervisor killed → unhealthy → restart recovers.
    pid = int(
        (Path(thv_env["XDG_DATA_HOME"]) / "toolhive/pids" / f"toolhive-{name}.pid").read_text()
    )
    os.kill(pid, signal.SIGKILL)
    wl = wait_status(thv, name, "unhealthy")
    assert "proxy process not running" in wl["status_context"]
    thv("restart", name)
    wait_status(thv, name, "running")
    utc_time(url)

    # Server killed under a live supervisor → unhealthy → restart recovers.
    runtime_api.stop(name, timeout=5)  # the server dies behind the supervisor's back
    wait_status(thv, name, "unhealthy")
    thv("restart", name)
    utc_time(url)

    # export → rm → run --from-config round trip.
    exported = tmp_path / "export.json"
    thv("export", name, str(exported))
    config = json.loads(exported.read_text())
    assert config["schema_version"] == "v0.1.0" and config["name"] == name
    assert config["transport"] == "stdio" and config["port"] == port
    thv("rm", name)
    assert name not in listing(thv)
    thv("run", "--from-config", str(exported))
    assert listing(thv)[name]["port"] == port
    utc_time(url)
    thv("rm", name)
    assert listing(thv) == {}
    assert runtime_api.inspect(name) is None


def test_http_server(case: Case, thv: Thv, runtime_api):
    name = f"echo-{case.runtime}"
    thv("run", "--name", name, "--runtime", case.runtime, *case.http)
    wl = listing(thv)[name]
    assert wl["status"] == "running" and wl["transport_type"] == "streamable-http"
    assert (
        call_tool(wl["url"], "echo", {"text": "héllo through the proxy"})
        == "héllo through the proxy"
    )
    assert call_tool(wl["url"], "add", {"a": 2, "b": 40}) == "42"
    thv("stop", name)
    thv("start", name)
    assert call_tool(wl["url"], "add", {"a": 1, "b": 1}) == "2"
    thv("rm", name)
    assert runtime_api.inspect(name) is None


@pytest.fixture
def runtime_api(case: Case, thv_env: dict[str, str], monkeypatch: pytest.MonkeyPatch):
    """The runtime plugin as the supervisor sees it (to crash and inspect servers)."""
    from toolhive.plugins import Hooks, build_plugin_manager
    from toolhive.workloads.runtimes import runtime_for

    for key, value in thv_env.items():
        if key.startswith(("XDG_", "TOOLHIVE_")):
            monkeypatch.setenv(key, value)
    return runtime_for(Hooks(build_plugin_manager()), case.runtime)
