"""The official MCP conformance suite (server mode, all 32 scenarios) on every proxy path.

    fixture-direct         the conformance fixture over streamable HTTP, no proxy (the reference)
    fixture-bridge         the fixture over stdio behind our bridge (`thv run --transport stdio`)
    fixture-reverse-proxy  the fixture over HTTP behind our reverse proxy
                           (`--transport streamable-http`; the fixture's own Host check is off, so
                           dns-rebinding-protection tests the proxy's edge)
    fixture-gateway        the fixture over stdio as the priority backend of a group (with the
                           echo server beside it) behind the vMCP gateway (`thv vmcp serve`)
    server-everything      stdio behind the bridge must pass every scenario it passes directly

Each path's outcome is compared with tests/conformance/expected_failures.toml: an unexpected
failure fails the test, and so does an unexpected pass (remove the entry). Needs the Node tools
from scripts/install-node.sh and the process runtime (bubblewrap, uv).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conformance import suite
from tests.conftest import Thv, process_runtime_available, require_or_skip

pytestmark = pytest.mark.conformance

PATHS = ["fixture-direct", "fixture-bridge", "fixture-reverse-proxy", "fixture-gateway"]
FIXTURE_STDIO = [sys.executable, "--", str(suite.FIXTURE), "stdio"]
FIXTURE_HTTP = [sys.executable, "--", str(suite.FIXTURE), "streamable-http"]
SCENARIO_COUNT = 32  # @modelcontextprotocol/conformance@0.1.16, --suite all


@pytest.fixture(scope="module")
def tools() -> suite.NodeTools:
    found = suite.find_node_tools()
    if found is None:
        require_or_skip("Node tools for the conformance suite: run scripts/install-node.sh")
    assert found is not None
    return found


@pytest.fixture
def process_runtime() -> None:
    if not process_runtime_available():
        require_or_skip("bubblewrap and uv for the process runtime")


def workload_url(thv: Thv, name: str) -> str:
    workloads = json.loads(thv("list", "--format", "json").stdout)
    (url,) = [w["url"] for w in workloads if w["name"] == name]
    return url


@pytest.fixture
def direct_fixture() -> Iterator[str]:
    port = suite.free_port()
    env = {**os.environ, "MCP_HOST": "127.0.0.1", "MCP_PORT": str(port)}
    proc = subprocess.Popen(
        [sys.executable, str(suite.FIXTURE), "streamable-http"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        suite.wait_for_port(port, proc)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


GATEWAY_CONFIG = """\
name: conformance-gateway
groupRef: conformance
incomingAuth: {type: anonymous}
outgoingAuth: {source: inline, default: {type: unauthenticated}}
aggregation:
  conflictResolution: priority
  conflictResolutionConfig:
    priorityOrder: [conf-fixture-gw, conf-echo-gw]
"""


def start_gateway(thv: Thv, request: pytest.FixtureRequest) -> str:
    """The fixture and the echo server in a group, the gateway in front (priority: fixture)."""
    thv("group", "create", "conformance")
    run = ["run", "--group", "conformance", "--runtime", "process", "--transport", "stdio"]
    thv(*run, "--name", "conf-fixture-gw", *FIXTURE_STDIO)
    echo = str(suite.FIXTURE.parents[1] / "fixtures" / "echo_server.py")
    thv(*run, "--name", "conf-echo-gw", sys.executable, "--", echo, "stdio")
    tmp = request.getfixturevalue("tmp_path")
    config = tmp / "gateway.yaml"
    config.write_text(GATEWAY_CONFIG)
    port = suite.free_port()
    proc = subprocess.Popen(
        [thv.exe, "vmcp", "serve", "--config", str(config), "--port", str(port)],
        env=thv.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def stop() -> None:
        proc.terminate()
        proc.wait(timeout=15)

    request.addfinalizer(stop)
    suite.wait_for_port(port, proc)
    return f"http://127.0.0.1:{port}/mcp"


def start_path(path: str, thv: Thv, request: pytest.FixtureRequest) -> str:
    if path == "fixture-direct":
        return request.getfixturevalue("direct_fixture")
    request.getfixturevalue("process_runtime")
    if path == "fixture-gateway":
        return start_gateway(thv, request)
    if path == "fixture-bridge":
        name = "conf-fixture-stdio"
        thv("run", "--runtime", "process", "--name", name, "--transport", "stdio", *FIXTURE_STDIO)
        return workload_url(thv, name)
    name = "conf-fixture-http"
    run = ["--runtime", "process", "--name", name, "--transport", "streamable-http"]
    thv("run", *run, "-e", "MCP_ALLOW_ANY_HOST=1", *FIXTURE_HTTP)
    return workload_url(thv, name)


@pytest.mark.parametrize("path", PATHS)
def test_conformance_suite(
    path: str, tools: suite.NodeTools, thv: Thv, tmp_path: Path, request: pytest.FixtureRequest
):
    url = start_path(path, thv, request)
    expected = suite.expected_failures(path)
    run = suite.run_suite(tools, url, tmp_path / "results")
    report = run.report(path)
    print(report)

    assert len(run.results) == SCENARIO_COUNT, run.output[-3000:]
    assert not set(expected) - set(run.results), "expected_failures.toml names unknown scenarios"
    unexpected_failures = run.failed - set(expected)
    unexpected_passes = set(expected) & run.passed
    assert not unexpected_failures, f"unexpected failures {sorted(unexpected_failures)}\n{report}"
    assert not unexpected_passes, (
        f"now passing, remove from expected_failures.toml [{path}]: {sorted(unexpected_passes)}"
    )


def test_server_everything_bridge_passes_what_direct_passes(
    tools: suite.NodeTools, thv: Thv, tmp_path: Path, process_runtime: None
):
    port = suite.free_port()
    direct = subprocess.Popen(
        [
            str(tools.node),
            "--require",
            str(suite.LOOPBACK_JS),
            str(tools.everything),
            "streamableHttp",
        ],
        env={**os.environ, "PORT": str(port)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        suite.wait_for_port(port, direct)
        direct_run = suite.run_suite(tools, f"http://127.0.0.1:{port}/mcp", tmp_path / "direct")
    finally:
        direct.terminate()
        direct.wait(timeout=10)

    name = "conf-everything-stdio"
    everything = [str(tools.node), "--", str(tools.everything), "stdio"]
    thv("run", "--runtime", "process", "--name", name, "--transport", "stdio", *everything)
    bridged_run = suite.run_suite(tools, workload_url(thv, name), tmp_path / "bridge")
    report = "\n".join(
        [direct_run.report("server-everything direct"), bridged_run.report("behind the bridge")]
    )
    print(report)
    # server-everything passes 12 of 32 directly (its tools are not the suite's fixture tools); a
    # collapse of that count means the direct run broke, which would make the comparison empty.
    assert len(direct_run.passed) >= 10, report
    missing = direct_run.passed - bridged_run.passed
    assert not missing, f"pass directly but fail behind the bridge: {sorted(missing)}\n{report}"


def test_verdicts_from_checks_files(tmp_path: Path):
    """How checks.json becomes a verdict: a scenario that verified nothing does not pass."""
    checks = {
        "ping": [{"id": "ping", "status": "SUCCESS"}],
        "server-sse-polling": [{"id": "server-sse-content-type", "status": "INFO"}],
        "tools-list": [
            {"id": "tools-list", "status": "SUCCESS"},
            {"id": "x", "status": "FAILURE", "errorMessage": "broken"},
        ],
        "logging-set-level": [
            {"id": "a", "status": "SUCCESS"},
            {"id": "b", "status": "WARNING", "errorMessage": "should"},
        ],
    }
    for name, items in checks.items():
        folder = tmp_path / f"server-{name}-2026-11-21T12-44-57-186Z"
        folder.mkdir()
        (folder / "checks.json").write_text(json.dumps(items))
    results = suite.read_results(tmp_path, [*checks, "prompts-list"])
    verdicts = {name: r.passed for name, r in results.items()}
    assert verdicts == {
        "ping": True,
        "server-sse-polling": False,
        "tools-list": False,
        "logging-set-level": True,
        "prompts-list": False,  # no checks.json: did not run
    }
    assert results["logging-set-level"].warnings == ["b: should"]
    assert results["prompts-list"].failures == ["scenario did not run (no checks.json)"]
    for path in PATHS:
        suite.expected_failures(path)  # every entry has a reason
