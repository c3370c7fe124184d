"""`thv group` and the group options of run/list/stop/start/rm (ToolHive's group e2e cases).

Workloads use the process runtime (fast, real). HOME points into the test's folder, so the
client registered here writes a throw-away ``~/.claude.json``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import FIXTURES, Thv, process_runtime_available, require_or_skip

ECHO = ["--transport", "stdio", sys.executable, "--", str(FIXTURES / "echo_server.py"), "stdio"]


@pytest.fixture
def home(thv_env: dict[str, str], tmp_path: Path) -> Path:
    path = tmp_path / "user"
    path.mkdir()
    thv_env["HOME"] = str(path)  # the dict the `thv` fixture runs with
    return path


def group_names(thv: Thv) -> list[str]:
    return [g["name"] for g in json.loads(thv("group", "list", "--format", "json").stdout)]


def names(thv: Thv, *args: str) -> list[str]:
    return sorted(w["name"] for w in json.loads(thv("list", "--format", "json", *args).stdout))


def run(thv: Thv, name: str, *extra: str) -> None:
    thv("run", "--name", name, "--runtime", "process", *extra, *ECHO)


def test_create_list_validate_and_remove(thv_cli, thv_home):
    """In-process (no engine needed): the group store and its commands."""

    def listed() -> list[str]:
        result = thv_cli("group", "list", "--format", "json")
        assert result.exit_code == 0, result.output
        return [g["name"] for g in json.loads(result.stdout)]

    def fails(*args: str) -> str:
        result = thv_cli(*args)
        assert result.exit_code == 1, (args, result.output)
        return str(result.exception)

    assert listed() == ["default"]  # created on first use
    assert thv_cli("group", "create", "zeta").exit_code == 0
    assert thv_cli("group", "create", "alpha team").exit_code == 0
    assert fails("group", "create", "zeta") == "group 'zeta' already exists"
    for bad in ("Upper", "a/b", "", " lead", "two  spaces", "x" * 101):
        assert "invalid group name" in fails("group", "create", bad), bad
    assert listed() == ["alpha team", "default", "zeta"]  # sorted
    stored = thv_home.state / "toolhive" / "groups" / "zeta.json"
    assert json.loads(stored.read_text()) == {
        "name": "zeta",
        "registered_clients": [],
        "skills": [],
        "plugins": [],
    }
    text = thv_cli("group", "list").stdout.splitlines()
    assert text[0].split() == ["NAME", "REGISTERED", "CLIENTS"]
    assert thv_cli("group", "rm", "zeta").exit_code == 0  # empty: no question asked
    assert listed() == ["alpha team", "default"]
    assert fails("group", "rm", "zeta").startswith("group 'zeta' does not exist")
    assert fails("group", "rm", "default") == "the default group cannot be removed"


def test_run_in_groups_and_clients_follow_them(thv: Thv, home: Path):
    if not process_runtime_available():
        require_or_skip("bubblewrap and uv for the process runtime")
    proc = thv(
        "run", "--name", "grp-lost", "--group", "nope", "--runtime", "process", *ECHO, check=False
    )
    assert proc.returncode == 1 and "group 'nope' does not exist" in proc.stderr
    assert names(thv, "--all") == []  # nothing half-created

    claude = home / ".claude.json"
    claude.write_text('{\n  "theme": "dark"\n}\n')
    thv("group", "create", "grp-a")
    thv("client", "register", "claude-code", "--group", "grp-a")
    run(thv, "grp-one", "--group", "grp-a")
    run(thv, "grp-two")
    assert names(thv, "--group", "grp-a") == ["grp-one"]
    assert names(thv, "--group", "default") == ["grp-two"]
    servers = json.loads(claude.read_text())["mcpServers"]
    assert list(servers) == ["grp-one"]  # only its group's workloads

    thv("stop", "-g", "grp-a")
    assert names(thv) == ["grp-two"]
    assert json.loads(claude.read_text())["mcpServers"] == {}
    thv("start", "-g", "grp-a")
    assert names(thv) == ["grp-one", "grp-two"]
    assert list(json.loads(claude.read_text())["mcpServers"]) == ["grp-one"]

    # Removing the group moves its workloads to default; claude-code was only in grp-a.
    out = thv("group", "rm", "grp-a", "--yes").stdout
    assert "Moved grp-one to 'default'" in out
    assert names(thv, "--group", "default") == ["grp-one", "grp-two"]
    assert group_names(thv) == ["default"]
    assert json.loads(claude.read_text()) == {"theme": "dark", "mcpServers": {}}
    assert json.loads(thv("status", "grp-one", "--format", "json").stdout)["status"] == "running"


def test_rm_with_workloads_and_rm_by_group(thv: Thv, home: Path):
    if not process_runtime_available():
        require_or_skip("bubblewrap and uv for the process runtime")
    thv("group", "create", "grp-b")
    thv("group", "create", "grp-c")
    run(thv, "grp-three", "--group", "grp-b")
    run(thv, "grp-four", "--group", "grp-c")
    run(thv, "grp-five")

    # Declining the question changes nothing.
    proc = subprocess.run(
        [thv.exe, "group", "rm", "grp-b", "--with-workloads"],
        env=thv.env,
        input="n\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode != 0 and "grp-three" in proc.stdout
    assert "grp-b" in group_names(thv) and names(thv, "--group", "grp-b") == ["grp-three"]

    thv("group", "rm", "grp-b", "--with-workloads", "--yes")
    assert names(thv, "--all") == ["grp-five", "grp-four"]
    assert "grp-b" not in group_names(thv)

    thv("rm", "--group", "grp-c")
    assert names(thv, "--all") == ["grp-five"]
    assert "grp-c" in group_names(thv)  # rm -g removes workloads, not the group
