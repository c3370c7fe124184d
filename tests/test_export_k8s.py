"""``thv export --format k8s`` → ``thv rm`` → ``thv run --from-config mcpserver.yaml`` through the
real ``thv`` (detached supervisors on the process runtime): the workload comes back with the same
image, transport, port, args, env, permission profile and tools filter, and answers the official
MCP client. The REST API's ``from_config`` takes the same objects. ``thv --help`` and ``thv list``
never import the mapping."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from toolhive.testing.api import api_server
from toolhive.testing.workloads import ECHO_STDIO, ThvConsole, thv_console, workload_url

from tests.mcp_client import call_tool, list_tools

pytestmark = pytest.mark.process_runtime

WORKLOADS = "/api/v1beta/workloads"
KEPT = (
    "image",
    "transport",
    "proxy_mode",
    "port",
    "cmd_args",
    "env_vars",
    "permission_profile_name_or_path",
    "permission_profile",
    "tools_filter",
)


@pytest.fixture
def thv(thv_env: dict[str, str]) -> Iterator[ThvConsole]:
    with thv_console(thv_env) as runner:
        yield runner


def run_echo(thv: ThvConsole, name: str) -> dict[str, Any]:
    """The echo server with env, a profile and a tools filter; its RunConfig as exported."""
    thv(
        "run",
        "--name",
        name,
        "--runtime",
        "process",
        "-e",
        "GREETING=hello",
        "--permission-profile",
        "none",
        "--tools",
        "echo",
        *ECHO_STDIO,
    )
    exported: dict[str, Any] = json.loads(thv("export", name, "-"))
    return exported


def check_crd(documents: list[dict[str, Any]]) -> None:
    """The documents validate against the operator's CRD models (when that plugin is here)."""
    if importlib.util.find_spec("toolhive_runtime_kubernetes") is None:
        return
    from toolhive_runtime_kubernetes.crd.config_objects import MCPToolConfig
    from toolhive_runtime_kubernetes.crd.mcpserver import MCPServer

    models = {"MCPServer": MCPServer, "MCPToolConfig": MCPToolConfig}
    for doc in documents:
        if doc["kind"] in models:
            models[doc["kind"]].model_validate(doc)


def test_export_rm_and_run_from_the_mcpserver_yaml(thv: ThvConsole, tmp_path: Path) -> None:
    before = run_echo(thv, "echo-k8s")
    path = tmp_path / "out" / "echo-k8s.yaml"
    exported = thv.run("export", "echo-k8s", str(path), "--format", "k8s")
    assert exported.returncode == 0, exported.stderr
    assert "as a Kubernetes MCPServer" in exported.stdout
    assert "Warning: This workload runs on the process runtime" in exported.stderr
    documents = list(yaml.safe_load_all(path.read_text()))
    assert [d["kind"] for d in documents] == ["MCPToolConfig", "MCPServer"]
    server = documents[-1]
    assert server["apiVersion"] == "toolhive.stacklok.dev/v1beta1"
    assert server["metadata"] == {"name": "echo-k8s"}
    assert server["spec"]["permissionProfile"] == {"type": "builtin", "name": "none"}
    assert {"name": "GREETING", "value": "hello"} in server["spec"]["env"]
    check_crd(documents)

    thv("rm", "echo-k8s")
    proc = thv.run("run", "--from-config", str(path), "--runtime", "process")
    assert proc.returncode == 0, proc.stderr
    assert "echo-k8s is running" in proc.stdout
    after = json.loads(thv("export", "echo-k8s", "-"))
    for field in KEPT:
        assert after.get(field) == before.get(field), field
    url = workload_url(thv, "echo-k8s")
    assert list_tools(url) == ["echo"]  # the MCPToolConfig's filter, applied again
    assert call_tool(url, "echo", {"text": "round trip"}) == "round trip"


def test_remote_workloads_are_refused_and_the_json_default_is_unchanged(
    thv: ThvConsole, tmp_path: Path
) -> None:
    config = {"name": "far", "base_name": "far", "remote_url": "https://mcp.example.com/mcp"}
    # A remote workload's RunConfig where the store keeps it (nothing contacts the server).
    home_state = Path(thv.env["XDG_STATE_HOME"]) / "toolhive" / "runconfigs"
    home_state.mkdir(parents=True, exist_ok=True)
    (home_state / "far.json").write_text(json.dumps(config))
    proc = thv.run("export", "far", str(tmp_path / "far.yaml"), "--format", "k8s")
    assert proc.returncode != 0
    assert "remote MCP servers are not supported in Kubernetes" in proc.stderr
    assert not (tmp_path / "far.yaml").exists()
    proc = thv.run("export", "far", str(tmp_path / "far.json"))
    assert proc.returncode == 0, proc.stderr
    assert json.loads((tmp_path / "far.json").read_text())["remote_url"] == config["remote_url"]


def test_the_rest_api_runs_an_mcpserver_list(thv_env: dict[str, str], tmp_path: Path) -> None:
    with thv_console(thv_env) as thv:
        run_echo(thv, "echo-src")
        path = tmp_path / "echo.yaml"
        thv("export", "echo-src", str(path), "--format", "k8s")
        thv("rm", "echo-src")
    documents = list(yaml.safe_load_all(path.read_text()))
    thv_env["TOOLHIVE_RUNTIME"] = "process"  # what POST /workloads runs on
    with api_server(thv_env) as server:
        api = server.client
        body = {"apiVersion": "v1", "kind": "List", "items": documents}
        created = api.post(WORKLOADS, json={"name": "echo-api", "from_config": body})
        assert created.status_code == 201, created.text
        deadline = time.monotonic() + 120
        while api.get(f"{WORKLOADS}/echo-api/status").json().get("status") != "running":
            assert time.monotonic() < deadline, "echo-api is not running"
            time.sleep(0.25)
        config = api.get(f"{WORKLOADS}/echo-api/export").json()
    assert config["tools_filter"] == ["echo"]
    assert config["env_vars"]["GREETING"] == "hello"
    url = workload_url(ThvConsole(thv_env), "echo-api")
    assert call_tool(url, "echo", {"text": "via api"}) == "via api"


@pytest.mark.parametrize("args", [["--help"], ["list"]])
def test_help_and_list_do_not_import_the_mapping(
    thv_env: dict[str, str], tmp_path: Path, args: list[str]
) -> None:
    out = tmp_path / "modules.json"
    wrapper = (
        "import json, sys\nfrom toolhive.cli import main\n"
        "try:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
        f"json.dump(sorted(sys.modules), open({str(out)!r}, 'w'))\n"
    )
    subprocess.run(
        [sys.executable, "-c", wrapper, *args], env=thv_env, check=True, capture_output=True
    )
    assert "toolhive.workloads.export_k8s" not in json.loads(out.read_text())
