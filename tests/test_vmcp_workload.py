"""The vMCP gateway as a workload: `thv run vmcp://GROUP` and `POST /api/v1beta/workloads`.

It is listed, stopped, started, exported and removed like a server; AI clients registered for
its group get its one URL instead of one entry per server, and their own entries come back when
it stops.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest
from toolhive.testing.api import api_server

from tests.conftest import FIXTURES, Thv, process_runtime_available, require_or_skip
from tests.mcp_client import call_tool, list_tools

ECHO = FIXTURES / "echo_server.py"


@pytest.fixture
def servers(thv: Thv) -> Thv:
    if not process_runtime_available():
        require_or_skip("bubblewrap and uv for the process runtime")
    thv("group", "create", "team")
    for name in ("alpha", "beta"):
        thv(
            "run", "--group", "team", "--runtime", "process", "--name", name,
            "--transport", "stdio", sys.executable, "--", str(ECHO), "stdio",
        )  # fmt: skip
    return thv


def listed(thv: Thv) -> dict[str, dict]:
    return {w["name"]: w for w in json.loads(thv("list", "--all", "--format", "json").stdout)}


def client_entries(home: Path) -> dict[str, str]:
    data = json.loads((home / ".cursor" / "mcp.json").read_text())
    return {name: entry["url"] for name, entry in data["mcpServers"].items()}


def test_a_gateway_workload_aggregates_its_group_and_stands_in_for_it_in_clients(
    servers: Thv, tmp_path: Path
):
    thv = servers
    home = tmp_path / "user"
    (home / ".cursor").mkdir(parents=True)
    thv.env["HOME"] = str(home)
    thv("client", "register", "cursor", "--group", "team")
    assert set(client_entries(home)) == {"alpha", "beta"}

    out = thv("run", "vmcp://team").stdout
    assert "team-vmcp" in out
    gateway = listed(thv)["team-vmcp"]
    assert gateway["status"] == "running"
    assert gateway["group"] == "team"
    assert gateway["package"] == "vmcp://team"
    url = gateway["url"]
    assert sorted(list_tools(url)) == ["alpha_add", "alpha_echo", "beta_add", "beta_echo"]
    assert call_tool(url, "beta_echo", {"text": "one url"}) == "one url"
    # The group's clients see the gateway instead of each server.
    assert client_entries(home) == {"team-vmcp": url}

    exported = tmp_path / "gateway.json"
    thv("export", "team-vmcp", str(exported))
    config = json.loads(exported.read_text())
    assert config["vmcp_config"]["groupRef"] == "team"
    assert config["image"] == "vmcp://team"

    thv("stop", "team-vmcp")
    assert set(client_entries(home)) == {"alpha", "beta"}
    thv("start", "team-vmcp")
    url = listed(thv)["team-vmcp"]["url"]
    assert call_tool(url, "alpha_echo", {"text": "restarted"}) == "restarted"
    assert set(client_entries(home)) == {"team-vmcp"}
    logs = thv("logs", "team-vmcp").stdout
    assert "backend alpha" in logs

    thv("rm", "team-vmcp")
    assert "team-vmcp" not in listed(thv)
    assert set(client_entries(home)) == {"alpha", "beta"}

    # The exported RunConfig runs the same gateway again.
    thv("run", "--from-config", str(exported))
    url = listed(thv)["team-vmcp"]["url"]
    assert call_tool(url, "beta_add", {"a": 2, "b": 3}) == "5"


def test_a_gateway_for_a_group_that_does_not_exist_is_refused(thv: Thv):
    result = thv("run", "vmcp://nowhere", check=False)
    assert result.returncode != 0
    assert "group 'nowhere' does not exist" in result.stderr
    assert "nowhere-vmcp" not in listed(thv)


def test_the_api_creates_and_lists_a_gateway_workload(servers: Thv):
    with api_server(servers.env) as api:
        created = api.client.post(
            "/api/v1beta/workloads", json={"name": "team-gw", "image": "vmcp://team"}
        )
        assert created.status_code == 201, created.text
        found = None
        for _ in range(100):
            workloads = api.client.get("/api/v1beta/workloads").json()["workloads"]
            found = next((w for w in workloads if w["name"] == "team-gw"), None)
            if found and found["status"] == "running":
                break
            time.sleep(0.2)
        assert found is not None and found["status"] == "running", found
        assert found["group"] == "team"
        assert sorted(list_tools(found["url"]))[:2] == ["alpha_add", "alpha_echo"]


def test_a_gateway_workload_keeps_its_session_ttl_and_refuses_a_bad_one() -> None:
    # `thv run vmcp://team --session-ttl 10m` / `thv vmcp serve --detach --session-ttl 10m`.
    import anyio
    from toolhive.errors import InvalidInputError
    from toolhive.plugins import Hooks, build_plugin_manager
    from toolhive.vmcp.workload import gateway_transport, vmcp_runconfig
    from toolhive.workloads.request import RunRequest

    config = vmcp_runconfig(RunRequest(image="vmcp://team", session_ttl="10m"))
    assert config.session_ttl == "10m"
    default = config.model_copy(update={"session_ttl": ""})

    async def ttls() -> list[float]:
        hooks = Hooks(build_plugin_manager())
        return [gateway_transport(hooks, c)[0].relay._ttl for c in (config, default)]

    assert anyio.run(ttls) == [600.0, 1800.0]
    for bad, message in (("soon", "invalid duration"), ("-1m", "must be non-negative")):
        with pytest.raises(InvalidInputError, match=message):
            vmcp_runconfig(RunRequest(image="vmcp://team", session_ttl=bad))
