"""`thv client` in-process, without workloads: setup, status, list-registered, remove."""

from __future__ import annotations

import json

import pytest


@pytest.fixture
def home(tmp_path, monkeypatch, thv_home):
    path = tmp_path / "user"
    path.mkdir()
    monkeypatch.setenv("HOME", str(path))
    return path


def test_setup_registers_picked_installed_clients(thv_cli, home):
    assert thv_cli("client", "setup").stdout.strip() == "No new clients found."
    (home / ".cursor").mkdir()
    (home / ".codex").mkdir()
    thv_cli("group", "create", "team")
    result = thv_cli("client", "setup", input="1, cursor, 2\nteam,default\n")
    assert result.exit_code == 0, result.output
    assert "1. codex" in result.stdout and "2. cursor" in result.stdout
    listed = json.loads(thv_cli("client", "list-registered", "--format", "json").stdout)
    assert listed == [
        {"name": "codex", "groups": ["default", "team"]},
        {"name": "cursor", "groups": ["default", "team"]},
    ]
    result = thv_cli("client", "setup", input="9\n")
    assert "No new clients found." in result.stdout  # both registered now

    status = {
        r["name"]: r for r in json.loads(thv_cli("client", "status", "--format", "json").stdout)
    }
    assert status["cursor"]["installed"] and status["cursor"]["registered"]
    assert not status["vscode"]["installed"] and not status["vscode"]["registered"]

    assert thv_cli("client", "remove", "cursor", "--group", "team").exit_code == 0
    assert json.loads(thv_cli("client", "list-registered", "--format", "json").stdout)[1] == {
        "name": "cursor",
        "groups": ["default"],
    }
    assert thv_cli("client", "remove", "cursor").exit_code == 0
    assert "cursor" not in thv_cli("client", "list-registered").stdout


def test_default_group_inherits_globally_registered_clients(thv_cli, home, thv_home):
    """ToolHive's migration: config.yaml's clients.registered_clients seed the default group."""
    config = thv_home.config / "toolhive" / "config.yaml"
    config.parent.mkdir(parents=True)
    config.write_text(
        "clients:\n  registered_clients:\n  - kiro\nsecrets:\n  provider_type: environment\n"
    )
    groups = json.loads(thv_cli("group", "list", "--format", "json").stdout)
    assert groups[0]["registered_clients"] == ["kiro"]
    assert thv_cli("client", "remove", "kiro").exit_code == 0
    assert "kiro" not in config.read_text() and "provider_type: environment" in config.read_text()


def test_unreadable_client_file_blocks_registration(thv_cli, home):
    (home / ".cursor").mkdir()
    (home / ".cursor" / "mcp.json").write_text('{"mcpServers": ')
    result = thv_cli("client", "register", "cursor")
    assert result.exit_code == 1
    assert "mcp.json" in str(result.exception) and "unexpected end of file" in str(result.exception)
    assert "cursor" not in thv_cli("client", "list-registered").stdout
