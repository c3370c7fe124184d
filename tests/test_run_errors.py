"""Bad `thv run` input: one clear line, a non-zero exit, and nothing half-created left behind."""

from __future__ import annotations

import json
import socket
import sys
from pathlib import Path

import pytest

from tests.conftest import ENGINE_SOCKETS, FIXTURES, Thv, engine_available, require_or_skip

ECHO = [sys.executable, "--transport", "stdio", "--", str(FIXTURES / "echo_server.py"), "stdio"]


def state_files(env: dict[str, str]) -> list[str]:
    found: list[str] = []
    for var in ("XDG_STATE_HOME", "XDG_DATA_HOME"):
        root = Path(env[var]) / "toolhive"
        for sub in ("runconfigs", "statuses", "pids"):
            folder = root / sub
            if folder.is_dir():
                found += [p.name for p in folder.iterdir()]
    return found


def one_line_error(proc, fragment: str) -> None:
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("Error: ")]
    # Progress lines (e.g. "pulling …") may come first; the error is one line, and the last.
    assert len(errors) == 1 and lines[-1] == errors[0], proc.stderr
    assert fragment in errors[0], errors[0]
    assert "Traceback" not in proc.stderr


def test_invalid_name(thv: Thv, thv_env):
    one_line_error(thv("run", "--name", "bad name!", *ECHO, check=False), "invalid workload name")
    assert state_files(thv_env) == []


def test_busy_explicit_port(thv: Thv, thv_env):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = thv("run", "--proxy-port", str(port), "--runtime", "process", *ECHO, check=False)
    one_line_error(proc, f"port {port}")
    assert state_files(thv_env) == []


def test_duplicate_name(thv: Thv, thv_env):
    if not Path("/usr/bin/bwrap").exists():
        require_or_skip("bubblewrap")
    thv("run", "--name", "dup", "--runtime", "process", *ECHO)
    before = sorted(state_files(thv_env))
    one_line_error(
        thv("run", "--name", "dup", "--runtime", "process", *ECHO, check=False), "already exists"
    )
    assert sorted(state_files(thv_env)) == before
    assert [w["name"] for w in json.loads(thv("list", "--format", "json").stdout)] == ["dup"]


def test_missing_engine(thv: Thv, thv_env, tmp_path):
    thv_env["TOOLHIVE_DOCKER_SOCKET"] = str(tmp_path / "no-such.sock")
    proc = thv("run", "--runtime", "docker", "localhost/x/y:1", check=False)
    one_line_error(proc, "not available")
    assert state_files(thv_env) == []


def test_unknown_runtime(thv: Thv, thv_env):
    one_line_error(thv("run", "--runtime", "nope", *ECHO, check=False), "unknown runtime 'nope'")


@pytest.mark.engine
@pytest.mark.parametrize("engine", ["podman", "docker"])
def test_missing_image(thv: Thv, thv_env, engine):
    if not engine_available(engine):
        require_or_skip(f"{engine} engine")
    thv_env["TOOLHIVE_PODMAN_SOCKET"] = ENGINE_SOCKETS["podman"]
    proc = thv(
        "run", "--runtime", engine, "--transport", "stdio", "localhost/no/such-image:1", check=False
    )
    one_line_error(proc, "localhost/no/such-image:1")
    assert state_files(thv_env) == []


def test_run_from_a_broken_config_file(thv: Thv, thv_env, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"name": "x", "port": "pigeon"}')
    one_line_error(thv("run", "--from-config", str(bad), check=False), "field port")
    bad.write_text('{"name": "x", "transport": "pigeon"}')
    one_line_error(thv("run", "--from-config", str(bad), check=False), "transport 'pigeon'")
    assert state_files(thv_env) == []
    one_line_error(
        thv("run", "--from-config", str(tmp_path / "missing.json"), check=False), "does not exist"
    )


@pytest.mark.parametrize(
    ("flags", "fragment"),
    [
        (["--tools", "wrong-tool"], "tool wrong-tool not found in registry"),
        (["--tools-override", "OVERRIDE"], "tool nope not found in registry"),
        (["--tools-override", "/nonexistent.json"], "no such file"),
        (["--tools-override", "BADJSON"], "failed to decode tools override file"),
    ],
)
def test_tools_the_registry_entry_does_not_have_are_refused_before_anything_runs(
    thv: Thv, thv_env, tmp_path: Path, flags: list[str], fragment: str
):
    """ToolHive's fetch e2e: `--tools wrong-tool` and an override of an unknown tool fail at
    `thv run` against the entry's tool list (the built-in catalog's fetch lists `fetch`)."""
    override = tmp_path / "override.json"
    override.write_text(json.dumps({"toolsOverride": {"nope": {"name": "x"}}}))
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    argv = [str(override) if f == "OVERRIDE" else str(bad) if f == "BADJSON" else f for f in flags]
    proc = thv("run", "fetch", *argv, check=False)
    one_line_error(proc, fragment)
    assert state_files(thv_env) == []
