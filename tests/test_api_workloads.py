"""The workloads endpoints end to end: a real ``thv serve`` (over TCP and over its unix socket)
creating, listing, stopping, restarting, editing, exporting and deleting real workloads on Podman,
Docker and the process runtime, each reached through its proxy with the official ``mcp`` client."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from toolhive.testing.api import ApiServer, api_server

from tests.conftest import (
    ENGINE_SOCKETS,
    FIXTURES,
    MCP_IMAGE,
    Thv,
    engine_available,
    process_runtime_available,
    require_or_skip,
)
from tests.mcp_client import call_tool

pytestmark = pytest.mark.engine

WORKLOADS = "/api/v1beta/workloads"


@dataclass
class Case:
    runtime: str
    socket: bool
    stdio: dict[str, Any]  # createRequest fields for mcp-server-time (stdio)
    http: dict[str, Any]  # createRequest fields for the echo fixture (streamable HTTP)


def make_case(runtime: str, socket: bool) -> Case:
    if runtime in ENGINE_SOCKETS:
        if not engine_available(runtime):
            require_or_skip(f"{runtime} engine with {MCP_IMAGE}")
        return Case(
            runtime,
            socket,
            stdio={"image": MCP_IMAGE, "transport": "stdio", "cmd_arguments": ["mcp-server-time"]},
            http={
                "image": MCP_IMAGE,
                "transport": "streamable-http",
                "cmd_arguments": ["python", "/opt/fixtures/echo_server.py", "streamable-http"],
            },
        )
    if not process_runtime_available():
        require_or_skip("bubblewrap and uv for the process runtime")
    return Case(
        runtime,
        socket,
        stdio={"image": "uvx://mcp-server-time"},
        http={
            "image": sys.executable,
            "transport": "streamable-http",
            "cmd_arguments": [str(FIXTURES / "echo_server.py"), "streamable-http"],
        },
    )


@pytest.fixture(
    params=[("process", False), ("process", True), ("podman", True), ("docker", False)],
    ids=["process-tcp", "process-socket", "podman-socket", "docker-tcp"],
)
def case(request: pytest.FixtureRequest, thv_env: dict[str, str]) -> Case:
    runtime, socket = request.param
    c = make_case(runtime, socket)
    thv_env["TOOLHIVE_RUNTIME"] = runtime  # what the server's creations run on
    if runtime == "podman":
        thv_env["TOOLHIVE_PODMAN_SOCKET"] = ENGINE_SOCKETS["podman"]
    return c


@pytest.fixture
def api(case: Case, thv_env: dict[str, str]) -> Iterator[httpx.Client]:
    with api_server(thv_env, socket=case.socket) as server:
        assert (server.socket_path is not None) == case.socket
        yield server.client


def wait_status(api: httpx.Client, name: str, wanted: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while True:
        answer = api.get(f"{WORKLOADS}/{name}/status")
        status = answer.json().get("status") if answer.status_code == 200 else answer.status_code
        if status == wanted:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{name} is {status}, not {wanted}")
        time.sleep(0.25)


def wait_gone(api: httpx.Client, name: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while api.get(f"{WORKLOADS}/{name}/status").status_code != 404:
        assert time.monotonic() < deadline, f"{name} was not deleted"
        time.sleep(0.25)


def listed(api: httpx.Client, **params: str) -> dict[str, dict[str, Any]]:
    answer = api.get(WORKLOADS, params=params)
    assert answer.status_code == 200, answer.text
    return {w["name"]: w for w in answer.json()["workloads"]}


def create(api: httpx.Client, body: dict[str, Any]) -> dict[str, Any]:
    answer = api.post(WORKLOADS, json=body)
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


def utc_time(url: str) -> None:
    assert '"timezone": "UTC"' in call_tool(url, "get_current_time", {"timezone": "UTC"})


def test_a_stdio_server_through_the_api_lifecycle(case: Case, api: httpx.Client, thv: Thv):
    name = f"time-{case.runtime}"
    created = create(api, {"name": name, **case.stdio})
    assert created["name"] == name and created["port"] > 0
    port = created["port"]
    wait_status(api, name, "running")

    row = listed(api)[name]
    assert row["status"] == "running" and row["port"] == port and row["transport_type"] == "stdio"
    assert row["url"] == f"http://127.0.0.1:{port}/mcp" and row["group"] == "default"
    utc_time(row["url"])
    # The CLI sees what the API made (one home, one state).
    assert name in thv("list", "--format", "json").stdout

    assert api.get(f"{WORKLOADS}/{name}/logs").status_code == 200
    proxy_logs = api.get(f"{WORKLOADS}/{name}/proxy-logs")
    assert proxy_logs.status_code == 200 and proxy_logs.text
    config = api.get(f"{WORKLOADS}/{name}").json()
    assert config["name"] == name and config["proxy_port"] == port

    # Conflicts: the name is taken.
    assert api.post(WORKLOADS, json={"name": name, **case.stdio}).status_code == 409

    # stop is asynchronous and idempotent.
    assert api.post(f"{WORKLOADS}/{name}/stop").status_code == 202
    wait_status(api, name, "stopped")
    assert api.post(f"{WORKLOADS}/{name}/stop").status_code == 202
    assert name not in listed(api) and listed(api, all="true")[name]["status"] == "stopped"

    # restart comes back on the same port.
    assert api.post(f"{WORKLOADS}/{name}/restart").status_code == 202
    wait_status(api, name, "running")
    assert listed(api)[name]["port"] == port
    utc_time(row["url"])

    # edit: the configuration GET answered, changed, recreated on the same port.
    config["env_vars"] = {**(config["env_vars"] or {}), "EDITED": "yes"}
    edited = api.post(f"{WORKLOADS}/{name}/edit", json=config)
    assert edited.status_code == 200, edited.text
    assert edited.json() == {"name": name, "port": port}
    wait_status(api, name, "running")
    assert api.get(f"{WORKLOADS}/{name}").json()["env_vars"]["EDITED"] == "yes"
    utc_time(row["url"])

    # export → delete → create from the export: the same workload on the same port.
    exported = api.get(f"{WORKLOADS}/{name}/export").json()
    assert exported["name"] == name and exported["port"] == port
    assert api.delete(f"{WORKLOADS}/{name}").status_code == 202
    wait_gone(api, name)
    assert create(api, {"from_config": exported}) == {"name": name, "port": port}
    wait_status(api, name, "running")
    utc_time(row["url"])

    assert api.post(f"{WORKLOADS}/delete", json={"names": [name]}).status_code == 202
    wait_gone(api, name)
    assert listed(api, all="true") == {}


def test_an_http_server_from_an_image_or_command_answers_through_its_url(
    case: Case, api: httpx.Client
):
    name = f"echo-{case.runtime}"
    # Something that cannot be an image (or a command) is the client's mistake, never a 500.
    bad = api.post(WORKLOADS, json={"name": name, "image": "Not An/Image!"})
    assert bad.status_code == (404 if case.runtime == "process" else 400), bad.text
    created = create(api, {"name": name, **case.http})
    wait_status(api, name, "running")
    url = listed(api)[name]["url"]
    assert call_tool(url, "echo", {"text": "héllo through the API"}) == "héllo through the API"

    # Bulk by group: stop, restart, delete the default group's workloads.
    assert api.post(f"{WORKLOADS}/stop", json={"group": "default"}).status_code == 202
    wait_status(api, name, "stopped")
    assert api.post(f"{WORKLOADS}/restart", json={"group": "default"}).status_code == 202
    wait_status(api, name, "running")
    assert listed(api)[name]["port"] == created["port"]
    assert call_tool(url, "add", {"a": 2, "b": 40}) == "42"
    assert api.post(f"{WORKLOADS}/delete", json={"group": "default"}).status_code == 202
    wait_gone(api, name)


def test_the_server_stops_with_no_process_left_after_deleting(thv_env: dict[str, str]):
    """A server stopped right after a delete it accepted finishes that delete first."""
    if not process_runtime_available():
        require_or_skip("bubblewrap and uv for the process runtime")
    thv_env["TOOLHIVE_RUNTIME"] = "process"
    server = ApiServer(thv_env, stop_timeout=60)
    with server:
        body = {
            "name": "brief",
            "image": sys.executable,
            "transport": "streamable-http",
            "cmd_arguments": [str(FIXTURES / "echo_server.py"), "streamable-http"],
        }
        create(server.client, body)
        wait_status(server.client, "brief", "running")
        assert server.client.delete(f"{WORKLOADS}/brief").status_code == 202
    assert server.process is not None and server.process.returncode == 0
    thv = Thv(thv_env)
    assert "brief" not in thv("list", "--all", "--format", "json").stdout


@pytest.mark.parametrize("engine", ["podman", "docker"])
def test_a_registry_server_is_created_with_the_entrys_settings(
    engine: str, thv: Thv, thv_env: dict[str, str], tmp_path
):
    from tests.test_registry_run import NO_NETWORK, entry

    if not engine_available(engine):
        require_or_skip(f"{engine} engine with {MCP_IMAGE}")
    thv_env["TOOLHIVE_RUNTIME"] = engine
    thv_env["TOOLHIVE_PODMAN_SOCKET"] = ENGINE_SOCKETS["podman"]
    registry = tmp_path / "test-registry.json"
    server = "io.github.rega-test/rega-time"
    servers = [entry(server, {"type": "stdio"}, ["mcp-server-time"], permissions=NO_NETWORK)]
    registry.write_text(json.dumps({"version": "1.0.0", "meta": {}, "data": {"servers": servers}}))
    thv("config", "set-registry", str(registry))
    with api_server(thv_env) as api:
        unknown = {"registry": "default", "server": "io.github.rega-test/none"}
        assert api.client.post(WORKLOADS, json=unknown).status_code == 404
        created = create(api.client, {"registry": "default", "server": server})
        name = created["name"]
        wait_status(api.client, name, "running")
        utc_time(listed(api.client)[name]["url"])
        exported = api.client.get(f"{WORKLOADS}/{name}/export").json()
        assert exported["registry_server_name"] == server
        assert exported["transport"] == "stdio" and exported["cmd_args"] == ["mcp-server-time"]
        assert exported["permission_profile"]["network"]["outbound"]["insecure_allow_all"] is False
        assert api.client.delete(f"{WORKLOADS}/{name}").status_code == 202
        wait_gone(api.client, name)
