"""The groups endpoints through a real ``thv serve`` sharing a home with the CLI: 409 for a
duplicate, 400 for an invalid name, and deleting a group moving its running workload (process
runtime) to ``default`` — its registered client's config file following."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from toolhive.testing.api import ApiServer, api_server

from tests.conftest import FIXTURES, Thv, process_runtime_available, require_or_skip

GROUPS = "/api/v1beta/groups"
ECHO = ["--transport", "stdio", sys.executable, "--", str(FIXTURES / "echo_server.py"), "stdio"]


@pytest.fixture
def home(thv_env: dict[str, str], tmp_path: Path) -> Path:
    path = tmp_path / "user"
    path.mkdir()
    thv_env["HOME"] = str(path)  # client config files land here (CLI and server alike)
    return path


@pytest.fixture
def api(thv_env: dict[str, str], home: Path) -> Iterator[ApiServer]:
    with api_server(thv_env) as server:
        yield server


def listed(thv: Thv) -> dict[str, dict]:
    return {w["name"]: w for w in json.loads(thv("list", "--all", "--format", "json").stdout)}


@pytest.mark.parametrize("socket", [False, True], ids=["tcp", "unix-socket"])
def test_duplicate_and_invalid_group_names(thv_env: dict[str, str], socket: bool):
    with api_server(thv_env, socket=socket) as api:
        check_duplicate_and_invalid_names(api)


def check_duplicate_and_invalid_names(api: ApiServer) -> None:
    assert api.client.post(GROUPS, json={"name": "team"}).status_code == 201
    duplicate = api.client.post(GROUPS, json={"name": "team"})
    assert duplicate.status_code == 409 and "already exists" in duplicate.json()["message"]
    invalid = api.client.post(GROUPS, json={"name": "Not Valid!"})
    assert invalid.status_code == 400 and "invalid group name" in invalid.json()["message"]
    names = [g["name"] for g in api.client.get(GROUPS).json()["groups"]]
    assert names == ["default", "team"]


def test_deleting_a_group_moves_its_running_workload_to_default(
    api: ApiServer, thv: Thv, home: Path
):
    if not process_runtime_available():
        require_or_skip("bubblewrap and uv for the process runtime")
    claude = home / ".claude.json"
    claude.write_text('{"theme": "dark"}\n')
    assert api.client.post(GROUPS, json={"name": "movers"}).status_code == 201
    registered = api.client.post(
        "/api/v1beta/clients", json={"name": "claude-code", "groups": ["movers"]}
    )
    assert registered.status_code == 200
    thv("run", "--name", "api-mover", "--group", "movers", "--runtime", "process", *ECHO)
    assert list(json.loads(claude.read_text())["mcpServers"]) == ["api-mover"]

    assert api.client.delete(f"{GROUPS}/movers").status_code == 204
    row = listed(thv)["api-mover"]
    assert row["group"] == "default" and row["status"] == "running"
    # claude-code was registered with movers only: the moved workload left its file.
    assert json.loads(claude.read_text()) == {"theme": "dark", "mcpServers": {}}
    assert api.client.get(f"{GROUPS}/movers").status_code == 404


def test_deleting_a_group_with_workloads_removes_them(api: ApiServer, thv: Thv):
    if not process_runtime_available():
        require_or_skip("bubblewrap and uv for the process runtime")
    assert api.client.post(GROUPS, json={"name": "doomed"}).status_code == 201
    thv("run", "--name", "api-doomed", "--group", "doomed", "--runtime", "process", *ECHO)
    answer = api.client.delete(f"{GROUPS}/doomed", params={"with-workloads": "true"})
    assert answer.status_code == 204
    assert "api-doomed" not in listed(thv)
