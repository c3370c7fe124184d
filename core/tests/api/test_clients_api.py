"""The clients endpoints in-process: registration per group, bulk, discovery, and the 400s for
empty names and unknown client types (an isolated home and ``HOME``)."""

from __future__ import annotations

import json

import pytest
from api_in_process import InProcess

CLIENTS = "/api/v1beta/clients"


@pytest.fixture
def home(tmp_path, monkeypatch, thv_home):
    path = tmp_path / "user"
    path.mkdir()
    monkeypatch.setenv("HOME", str(path))
    return path


@pytest.fixture
def api(home, thv_hooks) -> InProcess:
    return InProcess(thv_hooks)


def test_no_client_is_registered_at_first(api):
    answer = api.get(CLIENTS)
    assert answer.status_code == 200 and answer.json() == []


def test_register_defaults_to_the_default_group(api):
    answer = api.post(CLIENTS, json={"name": "cursor"})
    assert answer.status_code == 200
    assert answer.json() == {"name": "cursor", "groups": ["default"]}
    assert api.get(CLIENTS).json() == [{"name": "cursor", "groups": ["default"]}]


def test_bulk_register_then_unregister_from_one_group(api):
    api.post("/api/v1beta/groups", json={"name": "team"})
    registered = api.post(
        f"{CLIENTS}/register", json={"names": ["codex", "cursor"], "groups": ["default", "team"]}
    )
    assert registered.status_code == 200
    assert registered.json() == [
        {"name": "codex", "groups": ["default", "team"]},
        {"name": "cursor", "groups": ["default", "team"]},
    ]
    gone = api.post(f"{CLIENTS}/unregister", json={"names": ["cursor"], "groups": ["team"]})
    assert gone.status_code == 204 and gone.content == b""
    assert api.get(CLIENTS).json() == [
        {"name": "codex", "groups": ["default", "team"]},
        {"name": "cursor", "groups": ["default"]},
    ]
    team = api.get("/api/v1beta/groups/team").json()
    assert team["registered_clients"] == ["codex"]


def test_delete_unregisters_from_every_group_or_one(api):
    api.post("/api/v1beta/groups", json={"name": "team"})
    api.post(f"{CLIENTS}/register", json={"names": ["kiro"], "groups": ["default", "team"]})
    assert api.delete(f"{CLIENTS}/kiro/groups/team").status_code == 204
    assert api.get(CLIENTS).json() == [{"name": "kiro", "groups": ["default"]}]
    assert api.delete(f"{CLIENTS}/kiro").status_code == 204
    assert api.get(CLIENTS).json() == []


@pytest.mark.parametrize("path", ["register", "unregister"])
def test_empty_names_are_a_400(api, path):
    answer = api.post(f"{CLIENTS}/{path}", json={"names": []})
    assert answer.status_code == 400
    assert "at least one client name" in answer.json()["message"]


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", CLIENTS, {"name": "notepad"}),
        ("POST", f"{CLIENTS}/register", {"names": ["cursor", "notepad"]}),
        ("POST", f"{CLIENTS}/unregister", {"names": ["notepad"]}),
        ("DELETE", f"{CLIENTS}/notepad", None),
        ("DELETE", f"{CLIENTS}/notepad/groups/default", None),
    ],
)
def test_an_unknown_client_type_is_a_400_and_changes_nothing(api, method, path, body):
    answer = api.request(method, path, json=body)
    assert answer.status_code == 400
    assert "unknown client 'notepad'" in answer.json()["message"]
    assert api.get(CLIENTS).json() == []


def test_an_unknown_group_in_the_body_is_a_400_and_in_the_path_a_404(api):
    answer = api.post(CLIENTS, json={"name": "cursor", "groups": ["nope"]})
    assert answer.status_code == 400 and "group 'nope' does not exist" in answer.json()["message"]
    assert api.delete(f"{CLIENTS}/cursor/groups/nope").status_code == 404


def test_an_unreadable_client_file_is_a_400_naming_it(api, home):
    (home / ".cursor").mkdir()
    (home / ".cursor" / "mcp.json").write_text('{"mcpServers": ')
    answer = api.post(CLIENTS, json={"name": "cursor"})
    assert answer.status_code == 400 and "mcp.json" in answer.json()["message"]
    assert api.get(CLIENTS).json() == []


def test_discovery_lists_every_client_with_installed_and_registered(api, home):
    (home / ".cursor").mkdir()
    api.post(CLIENTS, json={"name": "kiro"})
    answer = api.get("/api/v1beta/discovery/clients")
    assert answer.status_code == 200
    rows = {c["client_type"]: c for c in answer.json()["clients"]}
    assert rows["cursor"] == {
        "client_type": "cursor",
        "installed": True,
        "registered": False,
        "supports_skills": False,
        "supports_plugins": False,
    }
    assert rows["kiro"]["registered"] and not rows["kiro"]["installed"]
    assert not rows["vscode"]["installed"]
    assert json.dumps(answer.json())  # plain JSON, nothing else
