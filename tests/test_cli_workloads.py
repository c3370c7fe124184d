"""`thv list/status/stop/start/rm/logs/export` options, on the process runtime (fast, real)."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from tests.conftest import FIXTURES, Thv, process_runtime_available, require_or_skip

ECHO = ["--transport", "stdio", sys.executable, "--", str(FIXTURES / "echo_server.py"), "stdio"]


@pytest.fixture(autouse=True)
def _needs_process_runtime():
    if not process_runtime_available():
        require_or_skip("bubblewrap and uv for the process runtime")


def run(thv: Thv, name: str, *extra: str) -> None:
    thv("run", "--name", name, "--runtime", "process", *extra, *ECHO)


def names(thv: Thv, *args: str) -> list[str]:
    return sorted(w["name"] for w in json.loads(thv("list", "--format", "json", *args).stdout))


def test_filters_formats_and_bulk_operations(thv: Thv):
    run(thv, "a", "-l", "team=red", "-l", "tier=1")
    run(thv, "b", "-l", "team=blue")
    assert names(thv) == ["a", "b"]
    assert names(thv, "--label", "team=red") == ["a"]
    assert names(thv, "--label", "team=red", "--label", "tier=2") == []
    assert names(thv, "--group", "default") == ["a", "b"]
    assert names(thv, "--group", "other") == []

    servers = json.loads(thv("list", "--format", "mcpservers").stdout)["mcpServers"]
    assert set(servers) == {"a", "b"}
    assert servers["a"]["type"] == "streamable-http" and servers["a"]["url"].endswith("/mcp")
    text = thv("list").stdout.splitlines()
    assert text[0].split() == ["NAME", "PACKAGE", "STATUS", "URL", "PORT", "GROUP", "CREATED"]

    status = thv("status", "a").stdout
    assert "Status:" in status and "running" in status and "Runtime:    process" in status
    assert json.loads(thv("status", "a", "--format", "json").stdout)["labels"] == {
        "team": "red",
        "tier": "1",
    }

    thv("stop", "--all")
    assert names(thv) == [] and names(thv, "--all") == ["a", "b"]
    ports = {w["name"]: w["port"] for w in json.loads(thv("list", "-a", "--format", "json").stdout)}
    thv("restart", "--all")
    assert names(thv) == ["a", "b"]
    assert {
        w["name"]: w["port"] for w in json.loads(thv("list", "--format", "json").stdout)
    } == ports
    thv("rm", "--all")
    assert names(thv, "--all") == []


def test_unknown_workload_is_one_clear_error(thv: Thv):
    for args in (["status", "ghost"], ["stop", "ghost"], ["rm", "ghost"], ["logs", "ghost"]):
        proc = thv(*args, check=False)
        assert proc.returncode == 1
        assert proc.stderr.strip() == "Error: workload 'ghost' not found (see `thv list --all`)"
    proc = thv("stop", check=False)
    assert proc.returncode == 1 and "use --all" in proc.stderr


def test_logs_follow_streams_new_lines(thv: Thv):
    run(thv, "f")
    follower = subprocess.Popen(
        [thv.exe, "logs", "--proxy", "--follow", "f"],
        env=thv.env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        first = follower.stdout.readline()
        assert "deploying" in first
        thv("restart", "f")  # the supervisor logs again: the follower must see it
        deadline = time.monotonic() + 30
        seen = []
        while time.monotonic() < deadline:
            line = follower.stdout.readline()
            seen.append(line)
            if sum("is running at" in s for s in seen) >= 2:
                break
        assert sum("is running at" in s for s in seen) >= 2, seen
    finally:
        follower.kill()
        follower.wait()
        follower.stdout.close()


def test_export_to_stdout_and_from_config_with_new_name(thv: Thv, tmp_path):
    run(thv, "orig", "-e", "GREETING=hi")
    exported = json.loads(thv("export", "orig", "-").stdout)
    assert exported["env_vars"] == {"GREETING": "hi"} and exported["runtime"] == "process"
    path = tmp_path / "c.json"
    path.write_text(json.dumps({**exported, "port": 0}))
    thv("run", "--from-config", str(path), "--name", "copy")
    copy = json.loads(thv("status", "copy", "--format", "json").stdout)
    assert copy["status"] == "running" and copy["port"] not in (0, exported["port"])
