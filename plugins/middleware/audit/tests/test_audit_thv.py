"""End to end through the real ``thv`` console script on the process runtime: an exported RunConfig
with ``audit_config`` run by ``thv run --from-config`` writes its events to the configured file,
and ``thv run --enable-audit`` writes them to the workload's proxy log (the supervisor's stdout)."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
import toolhive.testing.echo_server
from audit_harness import ACCEPT, INIT_PARAMS, read_events
from toolhive.testing.fixtures import ThvHome

pytestmark = pytest.mark.timeout(240)

ECHO = [
    "--runtime",
    "process",
    "--transport",
    "stdio",
    sys.executable,
    "--",
    toolhive.testing.echo_server.__file__,
    "stdio",
]


@pytest.fixture
def thv(thv_home: ThvHome):
    """Runs ``thv`` (this environment's console script) in a subprocess with ``thv_home``."""
    if importlib.util.find_spec("toolhive_runtime_process") is None:
        pytest.skip("the process runtime plugin is not installed in this environment")
    if not shutil.which("bwrap") or not shutil.which("uv"):
        pytest.skip("the process runtime needs bubblewrap and uv")
    exe = str(Path(sys.executable).with_name("thv"))
    names: list[str] = []

    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        if args[0] == "run" and "--name" in args:
            names.append(args[args.index("--name") + 1])
        proc = subprocess.run(
            [exe, *args], env=thv_home.env, capture_output=True, text=True, timeout=180
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"thv {' '.join(args)}: {proc.returncode}\n{proc.stderr}")
        return proc

    yield run
    for name in names:
        run("rm", "--force", name, check=False)


def session(url: str, token_like: str) -> None:
    """Initialize and call ``echo`` (with a secret-looking header that must never be logged)."""
    headers = {"accept": ACCEPT, "authorization": f"Bearer {token_like}", "user-agent": "e2e/1"}
    init = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": INIT_PARAMS}
    first = httpx.post(url, json=init, headers=headers, timeout=60)
    assert first.status_code == 200, first.text
    headers["mcp-session-id"] = first.headers["mcp-session-id"]
    done = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    assert httpx.post(url, json=done, headers=headers, timeout=60).status_code == 202
    call = {"jsonrpc": "2.0", "id": 2, "method": "tools/call"}
    call["params"] = {"name": "echo", "arguments": {"text": "audited"}}
    assert "audited" in httpx.post(url, json=call, headers=headers, timeout=60).text


def url_of(thv: Any, name: str) -> str:
    return json.loads(thv("status", name, "--format", "json").stdout)["url"]


def test_an_exported_runconfig_with_audit_config_logs_to_its_file(thv: Any, tmp_path: Path):
    thv("run", "--name", "audit-src", *ECHO)
    exported = json.loads(thv("export", "audit-src", "-").stdout)
    thv("rm", "audit-src")
    log = tmp_path / "events" / "audit.ndjson"
    log.parent.mkdir()
    exported.update(
        name="audit-e2e",
        base_name="audit-e2e",
        container_name="audit-e2e",
        port=0,
        audit_config={"component": "e2e", "logFile": str(log), "includeRequestData": True},
    )
    config = tmp_path / "audit-e2e.json"
    config.write_text(json.dumps(exported))
    thv("run", "--from-config", str(config))

    session(url_of(thv, "audit-e2e"), "e2e-secret-token-1234")
    events = read_events(log)
    assert [e["type"] for e in events] == ["mcp_initialize", "mcp_request", "mcp_tool_call"]
    assert {e["component"] for e in events} == {"e2e"}
    assert events[-1]["target"]["name"] == "echo"
    assert events[-1]["data"]["request"]["params"]["arguments"] == {"text": "audited"}
    assert events[-1]["subjects"]["client_name"] == "audit-tests"
    assert log.stat().st_mode & 0o777 == 0o600
    assert "e2e-secret-token-1234" not in log.read_text()
    assert "middleware: audit > mcp-parser > recovery" in thv("logs", "audit-e2e", "--proxy").stdout


def test_enable_audit_logs_to_the_proxy_log(thv: Any):
    thv("run", "--name", "audit-stdout", "--enable-audit", *ECHO)
    session(url_of(thv, "audit-stdout"), "stdout-secret-token-5678")
    proxy_log = thv("logs", "audit-stdout", "--proxy").stdout
    events = [json.loads(line) for line in proxy_log.splitlines() if '"msg":"audit_event"' in line]
    assert [e["type"] for e in events] == ["mcp_initialize", "mcp_request", "mcp_tool_call"]
    assert {e["component"] for e in events} == {"audit-stdout"}  # the server's name
    assert all("data" not in e for e in events)  # the default config logs no bodies
    assert "stdout-secret-token-5678" not in proxy_log


def test_audit_config_flag_reads_a_yaml_file_with_a_filter(thv: Any, tmp_path: Path):
    log = tmp_path / "calls.ndjson"
    config = tmp_path / "audit.yaml"
    config.write_text(f"component: flagged\nlogFile: {log}\neventTypes: [mcp_tool_call]\n")
    thv("run", "--name", "audit-flag", "--audit-config", str(config), *ECHO)
    session(url_of(thv, "audit-flag"), "flag-secret-token-9012")
    (event,) = read_events(log)
    assert (event["type"], event["component"], event["target"]["name"]) == (
        "mcp_tool_call",
        "flagged",
        "echo",
    )
