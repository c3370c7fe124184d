"""The clients endpoints through a real ``thv serve``: registering a client writes the running
workload (process runtime) into its real config file under the isolated home, unregistering
deletes it; discovery sees the client installed."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from toolhive.testing.api import ApiServer, api_server

from tests.conftest import FIXTURES, Thv, process_runtime_available, require_or_skip

CLIENTS = "/api/v1beta/clients"
ECHO = ["--transport", "stdio", sys.executable, "--", str(FIXTURES / "echo_server.py"), "stdio"]


@pytest.fixture
def home(thv_env: dict[str, str], tmp_path: Path) -> Path:
    path = tmp_path / "user"
    path.mkdir()
    thv_env["HOME"] = str(path)
    return path


@pytest.fixture
def api(thv_env: dict[str, str], home: Path) -> Iterator[ApiServer]:
    with api_server(thv_env) as server:
        yield server


def test_register_and_unregister_edit_the_clients_config_file(api: ApiServer, thv: Thv, home):
    if not process_runtime_available():
        require_or_skip("bubblewrap and uv for the process runtime")
    (home / ".cursor").mkdir()
    thv("run", "--name", "api-client-echo", "--runtime", "process", *ECHO)
    url = json.loads(thv("list", "--format", "json").stdout)[0]["url"]

    found = {
        c["client_type"]: c
        for c in api.client.get("/api/v1beta/discovery/clients").json()["clients"]
    }
    assert found["cursor"]["installed"] and not found["cursor"]["registered"]

    registered = api.client.post(f"{CLIENTS}/register", json={"names": ["cursor"]})
    assert registered.status_code == 200
    assert registered.json() == [{"name": "cursor", "groups": ["default"]}]
    config = home / ".cursor" / "mcp.json"
    servers = json.loads(config.read_text())["mcpServers"]
    assert servers == {"api-client-echo": {"url": url, "type": "http"}}
    assert api.client.get(CLIENTS).json() == [{"name": "cursor", "groups": ["default"]}]

    gone = api.client.post(f"{CLIENTS}/unregister", json={"names": ["cursor"]})
    assert gone.status_code == 204
    assert json.loads(config.read_text())["mcpServers"] == {}
    assert api.client.get(CLIENTS).json() == []


def test_an_unknown_client_type_is_a_400(api: ApiServer):
    answer = api.client.post(f"{CLIENTS}/register", json={"names": ["notepad"]})
    assert answer.status_code == 400 and "unknown client 'notepad'" in answer.json()["message"]
    assert api.client.post(f"{CLIENTS}/register", json={"names": []}).status_code == 400
