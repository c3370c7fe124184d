"""End to end through the real ``thv`` console script on the process runtime: an exported RunConfig
with ``audit_config`` run by ``thv run --from-config`` writes its events to the configured file,
and ``thv run --enable-audit`` writes them to the workload's proxy log (the supervisor's stdout)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from audit_harness import INIT_PARAMS, read_events
from toolhive.testing.chains import raw_session
from toolhive.testing.fixtures import ThvHome
from toolhive.testing.workloads import (
    ECHO_STDIO,
    ThvConsole,
    exported_echo,
    run_from_config,
    thv_console,
    workload_url,
)

pytestmark = pytest.mark.timeout(240)

ECHO = ["--runtime", "process", *ECHO_STDIO]


@pytest.fixture
def thv(thv_home: ThvHome) -> Iterator[ThvConsole]:
    """Runs ``thv`` (this environment's console script) in a subprocess with ``thv_home``."""
    with thv_console(thv_home.env) as runner:
        yield runner


def session(url: str, token_like: str) -> None:
    """Initialize and call ``echo`` (with a secret-looking header that must never be logged)."""

    async def go() -> None:
        headers = {"authorization": f"Bearer {token_like}", "user-agent": "e2e/1"}
        async with raw_session(url, headers, init_params=INIT_PARAMS) as mcp:
            call = await mcp.request(
                "tools/call", {"name": "echo", "arguments": {"text": "audited"}}
            )
        assert call.status_code == 200 and "audited" in call.text, call.text

    asyncio.run(go())


def test_an_exported_runconfig_with_audit_config_logs_to_its_file(thv: ThvConsole, tmp_path: Path):
    log = tmp_path / "events" / "audit.ndjson"
    log.parent.mkdir()
    config = exported_echo(thv, "audit-e2e")
    config["audit_config"] = {"component": "e2e", "logFile": str(log), "includeRequestData": True}
    url = run_from_config(thv, config, tmp_path)

    session(url, "e2e-secret-token-1234")
    events = read_events(log)
    assert [e["type"] for e in events] == ["mcp_initialize", "mcp_request", "mcp_tool_call"]
    assert {e["component"] for e in events} == {"e2e"}
    assert events[-1]["target"]["name"] == "echo"
    assert events[-1]["data"]["request"]["params"]["arguments"] == {"text": "audited"}
    assert events[-1]["subjects"]["client_name"] == "audit-tests"
    assert log.stat().st_mode & 0o777 == 0o600
    assert "e2e-secret-token-1234" not in log.read_text()
    assert "middleware: audit > mcp-parser > recovery" in thv("logs", "audit-e2e", "--proxy")


def test_enable_audit_logs_to_the_proxy_log(thv: ThvConsole):
    thv("run", "--name", "audit-stdout", "--enable-audit", *ECHO)
    session(workload_url(thv, "audit-stdout"), "stdout-secret-token-5678")
    proxy_log = thv("logs", "audit-stdout", "--proxy")
    events = [json.loads(line) for line in proxy_log.splitlines() if '"msg":"audit_event"' in line]
    assert [e["type"] for e in events] == ["mcp_initialize", "mcp_request", "mcp_tool_call"]
    assert {e["component"] for e in events} == {"audit-stdout"}  # the server's name
    assert all("data" not in e for e in events)  # the default config logs no bodies
    assert "stdout-secret-token-5678" not in proxy_log


def test_audit_config_flag_reads_a_yaml_file_with_a_filter(thv: ThvConsole, tmp_path: Path):
    log = tmp_path / "calls.ndjson"
    config = tmp_path / "audit.yaml"
    config.write_text(f"component: flagged\nlogFile: {log}\neventTypes: [mcp_tool_call]\n")
    thv("run", "--name", "audit-flag", "--audit-config", str(config), *ECHO)
    session(workload_url(thv, "audit-flag"), "flag-secret-token-9012")
    (event,) = read_events(log)
    assert (event["type"], event["component"], event["target"]["name"]) == (
        "mcp_tool_call",
        "flagged",
        "echo",
    )
