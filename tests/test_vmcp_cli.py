"""``thv vmcp init | validate | serve``: the real ``thv`` in a subprocess with an isolated home.

``serve`` is exercised here only up to its argument and config checks (each refusal exits 1
before anything listens); serving itself is the gateway's tests' business.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import stat
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import Thv

# stacklok/toolhive examples/vmcp-config.yaml (verbatim).
GO_EXAMPLE = """\
# Virtual MCP Server Configuration Example
#
# This example demonstrates all available configuration options for the Virtual MCP Server.
# The Virtual MCP Server aggregates multiple MCP server workloads from a ToolHive group
# into a single unified MCP endpoint.
#
# References: https://github.com/stacklok/toolhive-rfcs/blob/main/rfcs/THV-0008-virtual-mcp-server.md
#
# Usage:
#   vmcp serve --config vmcp-config.yaml
#
# Prerequisites:
#   1. Create a ToolHive group: thv group create engineering-team
#   2. Run backend MCP servers: thv run github --group engineering-team
#   3. Start Virtual MCP: vmcp serve --config this-file.yaml

# Virtual MCP metadata
name: "engineering-vmcp"
groupRef: "engineering-team"  # Reference to ToolHive group

# ===== INCOMING AUTHENTICATION (Client → Virtual MCP) =====
incomingAuth:
  type: oidc  # Options: oidc | anonymous
  # OIDC configuration
  oidc:
    issuer: "https://keycloak.example.com/realms/myrealm"
    clientId: "vmcp-client"
    clientSecretEnv: "VMCP_CLIENT_SECRET"  # Read from environment variable
    audience: "vmcp"  # Token must have aud=vmcp
    resource: "http://localhost:4483/mcp"
    scopes: ["openid", "profile", "email"]

  # Optional: Authorization policies (Cedar)
  authz:
    type: cedar
    policies:
      - |
        permit(
          principal,
          action == Action::"tools/call",
          resource
        );

# ===== OUTGOING AUTHENTICATION (Virtual MCP → Backend APIs) =====
outgoingAuth:
  # Configuration source (CLI only supports 'inline')
  source: inline  # Options: inline | discovered

  # Default behavior for backends without explicit config
  default:
    type: unauthenticated  # unauthenticated | header_injection | token_exchange

  # Per-backend authentication configurations
  # IMPORTANT: These tokens are for backend APIs (e.g., github-api, jira-api),
  # NOT for authenticating Virtual MCP to backend MCP servers.
  # Backend MCP servers receive properly scoped tokens and use them to call upstream APIs.
  backends:
    # Example 1: API key from environment variable (recommended for secrets)
    github:
      type: header_injection
      headerInjection:
        headerName: "Authorization"
        headerValueEnv: "GITHUB_API_TOKEN"  # Read from environment variable

    # Example 2: Static header value (for non-secret values only)
    # api-service:
    #   type: header_injection
    #   headerInjection:
    #     headerName: "X-API-Version"
    #     headerValue: "v1"  # Literal value

    # Example: OAuth 2.0 Token Exchange (RFC 8693) for GitHub API access
    # github:
    #   type: token_exchange
    #   tokenExchange:
    #     # RFC 8693 token exchange for GitHub API access
    #     tokenUrl: "https://keycloak.example.com/realms/myrealm/protocol/openid-connect/token"
    #     clientId: "vmcp-github-exchange"
    #     clientSecretEnv: "GITHUB_EXCHANGE_SECRET"
    #     audience: "github-api"  # Token audience for GitHub API
    #     scopes: ["repo", "read:org"]  # GitHub API scopes
    #     subjectTokenType: "access_token"  # Optional: access_token | id_token | jwt

    # Example: Token Exchange for Jira API access
    # jira:
    #   type: token_exchange
    #   tokenExchange:
    #     tokenUrl: "https://keycloak.example.com/realms/myrealm/protocol/openid-connect/token"
    #     clientId: "vmcp-jira-exchange"
    #     clientSecretEnv: "JIRA_EXCHANGE_SECRET"
    #     audience: "jira-api"  # Token audience for Jira API
    #     scopes: ["read:jira-work", "write:jira-work"]

# ===== TOOL AGGREGATION =====
aggregation:
  # Conflict resolution strategy
  conflictResolution: prefix  # prefix | priority | manual

  # Conflict resolution details
  conflictResolutionConfig:
    # For 'prefix' strategy: prefix format
    prefixFormat: "{workload}_"  # Options: {workload}, {workload}_, {workload}., custom-prefix-

    # For 'priority' strategy: explicit ordering (commented out)
    # priorityOrder: ["github", "jira", "slack"]

  # Tool filtering and overrides (per workload in the group)
  tools:
    - workload: "github"
      filter: ["create_pr", "merge_pr", "list_issues"]
      overrides:
        create_pr:
          name: "gh_create_pr"
          description: "Create a GitHub pull request"

    - workload: "jira"
      overrides:
        create_issue:
          name: "jira_create_issue"
          description: "Create a Jira issue"

# ===== OPERATIONAL SETTINGS =====
operational:
  timeouts:
    default: 30s
    perWorkload:
      github: 45s
      jira: 30s

  # Failure handling
  failureHandling:
    # Backend unavailability
    healthCheckInterval: 30s
    unhealthyThreshold: 3  # Mark unhealthy after N failures

    # Partial failures
    partialFailureMode: fail  # fail | bestEffort

    # Circuit breaker
    circuitBreaker:
      enabled: true
      failureThreshold: 5
      timeout: 60s

# ===== COMPOSITE TOOLS (Phase 2 - Future Feature) =====
# Composite tools enable multi-step workflows with elicitation support
# compositeTools:
#   - name: "deploy_and_notify"
#     description: "Deploy PR with user confirmation and notification"
#     # Parameters use standard JSON Schema format per MCP specification
#     parameters:
#       type: object
#       properties:
#         pr_number:
#           type: integer
#           description: "Pull request number to deploy"
#       required: ["pr_number"]
#     timeout: "30m"
#
#     # Optional: explicit MCP tool annotations advertised to clients.
#     # When omitted, annotations are derived from the step tools at advertise
#     # time (readOnlyHint = AND across steps, destructiveHint/openWorldHint = OR,
#     # idempotentHint = never derived). Explicit values are merged over the
#     # derived floor but must never contradict it (e.g. readOnlyHint: true when
#     # a step is not read-only) — a contradicting composite tool is dropped
#     # from tools/list with a warning at runtime.
#     annotations:
#       title: "Deploy and Notify"
#       destructiveHint: true
#       openWorldHint: true
#
#     steps:
#       - id: "merge"
#         tool: "github.merge_pr"
#         arguments: {pr: "{{.params.pr_number}}"}
#         onError:
#           action: "abort"  # abort | continue | retry
#
#       - id: "confirm_deploy"
#         type: "elicitation"
#         message: "PR {{.params.pr_number}} merged. Proceed with deployment?"
#         schema:
#           type: "object"
#           properties:
#             environment:
#               type: "string"
#               enum: ["staging", "production"]
#         dependsOn: ["merge"]
#         timeout: "5m"
#         onDecline:
#           action: "skip_remaining"
#         onCancel:
#           action: "abort"
#
#       - id: "deploy"
#         tool: "kubernetes.deploy"
#         arguments:
#           pr: "{{.params.pr_number}}"
#           environment: "{{.steps.confirm_deploy.content.environment}}"
#         dependsOn: ["confirm_deploy"]
#         condition: "{{.steps.confirm_deploy.action == 'accept'}}"

# ===== OBSERVABILITY =====
# OpenTelemetry-based metrics and tracing for backend operations and workflows
telemetry:
  endpoint: "localhost:4317"  # OTLP collector endpoint
  serviceName: "engineering-vmcp"
  tracingEnabled: true
  metricsEnabled: true
  samplingRate: "0.1"  # 10% sampling
  insecure: true  # Use HTTP instead of HTTPS
  enablePrometheusMetricsPath: true  # Expose /metrics endpoint

# ===== AUDIT LOGGING =====
# Audit logging for MCP operations (optional)
# audit:
#   component: "vmcp-server"  # Component name in audit events
#   eventTypes:  # Specific event types to audit (empty = audit all)
#     - "mcp_initialize"
#     - "mcp_tool_call"
#   # excludeEventTypes:  # Event types to exclude (takes precedence over eventTypes)
#   #   - "mcp_ping"
#   includeRequestData: true  # Include request data in audit logs
#   includeResponseData: false  # Include response data in audit logs
#   maxDataSize: 10000  # Max size of request/response data (bytes)
#   logFile: "/var/log/vmcp/audit.log"  # Log file path (empty = stdout)
"""


@pytest.fixture
def team(thv: Thv) -> str:
    thv("group", "create", "team")
    return "team"


def write(tmp_path: Path, text: str, name: str = "vmcp.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_vmcp_help_lists_init_validate_and_serve(thv: Thv) -> None:
    out = thv("vmcp", "--help").stdout
    for command in ("init", "validate", "serve"):
        assert f"  {command} " in out
    assert "vmcp " in thv("--help").stdout


def test_init_prints_a_starter_config_for_the_group(thv: Thv, team: str) -> None:
    proc = thv("vmcp", "init", "--group", team)
    assert proc.stdout.startswith("# Generated by `thv vmcp init`")
    assert yaml.safe_load(proc.stdout) == {
        "name": "team-vmcp",
        "groupRef": "team",
        "incomingAuth": {"type": "anonymous"},
        "outgoingAuth": {"source": "inline", "default": {"type": "unauthenticated"}},
        "aggregation": {
            "conflictResolution": "prefix",
            "conflictResolutionConfig": {"prefixFormat": "{workload}_"},
        },
    }


def test_init_writes_a_private_file_that_validate_accepts(
    thv: Thv, team: str, tmp_path: Path
) -> None:
    target = tmp_path / "conf" / "vmcp.yaml"
    proc = thv("vmcp", "init", "-g", team, "-o", str(target), "--name", "gateway")
    assert proc.stdout == ""
    assert f"written to {target}" in proc.stderr
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert yaml.safe_load(target.read_text())["name"] == "gateway"
    out = thv("vmcp", "validate", "--config", str(target)).stdout
    assert out.splitlines()[:3] == [f"✓ {target} is valid", "  Name: gateway", "  Group: team"]


def test_init_accepts_config_as_an_alias_of_output(thv: Thv, team: str, tmp_path: Path) -> None:
    target = tmp_path / "vmcp.yaml"
    thv("vmcp", "init", "-g", team, "-c", str(target))
    assert yaml.safe_load(target.read_text())["groupRef"] == "team"


def test_init_for_a_group_that_does_not_exist_is_an_error(thv: Thv) -> None:
    proc = thv("vmcp", "init", "-g", "ghost", check=False)
    assert proc.returncode == 1
    assert "group 'ghost' does not exist" in proc.stderr


def test_init_needs_a_group(thv: Thv) -> None:
    proc = thv("vmcp", "init", check=False)
    assert proc.returncode == 2
    assert "--group" in proc.stderr


def test_validate_accepts_gos_example_once_its_secret_variable_is_set(
    thv: Thv, tmp_path: Path
) -> None:
    path = write(tmp_path, GO_EXAMPLE)
    missing = thv("vmcp", "validate", "-c", str(path), check=False)
    assert missing.returncode == 1
    assert missing.stderr.splitlines() == [
        f"✗ {path}: invalid vMCP configuration",
        "  - outgoingAuth.backends.github.headerInjection.headerValueEnv: environment variable "
        "GITHUB_API_TOKEN is not set or empty",
    ]
    thv.env["GITHUB_API_TOKEN"] = "ghp_not_printed"
    proc = thv("vmcp", "validate", "-c", str(path))
    assert proc.stdout.splitlines() == [
        f"✓ {path} is valid",
        "  Name: engineering-vmcp",
        "  Group: engineering-team",
        "  Incoming auth: oidc",
        "  Outgoing auth: 1 backends configured (source: inline)",
        "  Conflict resolution: prefix",
    ]
    assert "ghp_not_printed" not in proc.stdout + proc.stderr


def test_validate_lists_every_problem_with_its_key_path(thv: Thv, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "name: x\ngroupRef: g\nincomingAuth: {type: anonymous}\n"
        "outgoingAuth: {source: inline}\n"
        "aggregation: {conflictResolution: priority, conflictResolutionConfig: {}}\n"
        "compositeTools:\n"
        "  - name: t\n    description: d\n"
        "    steps: [{id: a, tool: w.t, dependsOn: [b]}]\n",
    )
    proc = thv("vmcp", "validate", "-c", str(path), check=False)
    assert proc.returncode == 1
    assert proc.stderr.splitlines() == [
        f"✗ {path}: invalid vMCP configuration",
        "  - aggregation.conflictResolutionConfig.priorityOrder: is required for priority strategy",
        "  - compositeTools[0].steps[0].dependsOn: references unknown step 'b'",
    ]


def test_validate_reports_unknown_keys_and_bad_values_before_anything_else(
    thv: Thv, tmp_path: Path
) -> None:
    path = write(tmp_path, "name: x\nagregation: {}\noperational: {timeouts: {default: 30}}\n")
    proc = thv("vmcp", "validate", "-c", str(path), check=False)
    assert proc.returncode == 1
    assert proc.stderr.splitlines()[1:] == [
        "  - operational.timeouts.default: must be a duration string such as '30s' "
        "(got 30: missing unit)",
        "  - agregation: unknown key",
    ]


def test_validate_says_what_this_gateway_does_not_support(thv: Thv, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "name: x\ngroupRef: g\nincomingAuth: {type: anonymous}\n"
        "outgoingAuth:\n  source: inline\n  default: {type: aws_sts, awsSts: {region: eu-west-1}}\n"
        "aggregation: {conflictResolution: prefix, conflictResolutionConfig: {prefixFormat: x_}}\n",
    )
    proc = thv("vmcp", "validate", "-c", str(path), check=False)
    assert proc.returncode == 1
    assert proc.stderr.splitlines()[1:] == [
        "  not supported by this gateway:",
        "  - outgoingAuth.default.type: 'aws_sts' is not supported by this gateway "
        "(supported: header_injection, token_exchange, unauthenticated)",
    ]


def test_validate_of_a_missing_file_is_an_error(thv: Thv, tmp_path: Path) -> None:
    proc = thv("vmcp", "validate", "-c", str(tmp_path / "nope.yaml"), check=False)
    assert proc.returncode == 1
    assert "file not found" in proc.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "Error: either --config or --group must be specified"),
        (("--config", "a.yaml", "--group", "team"), "give either --config or --group, not both"),
        (("--group", "team", "--host", "0.0.0.0"), "only binds loopback addresses"),
        (("--group", "ghost"), "group 'ghost' does not exist"),
        (("--group", "team", "--optimizer-embedding"), "embedding optimizer"),
        (("--group", "team", "--session-ttl", "30m"), "--session-ttl is not supported yet"),
        (("--group", "team", "--session-ttl", "soon"), "--session-ttl: invalid duration 'soon'"),
        (("--group", "team", "--session-ttl", "-1m"), "--session-ttl must be non-negative"),
    ],
)
def test_serve_refuses_bad_arguments_before_listening(
    thv: Thv, team: str, args: tuple[str, ...], message: str
) -> None:
    proc = thv("vmcp", "serve", *args, check=False, timeout=60)
    assert proc.returncode == 1, proc.stderr
    assert message in proc.stderr


def test_serve_refuses_a_port_out_of_range(thv: Thv) -> None:
    proc = thv("vmcp", "serve", "--group", "team", "--port", "70000", check=False)
    assert proc.returncode == 2
    assert "70000 is not in the range 0<=x<=65535" in proc.stderr


def test_serve_refuses_an_invalid_config_with_every_problem(thv: Thv, tmp_path: Path) -> None:
    path = write(tmp_path, "name: x\n")
    proc = thv("vmcp", "serve", "--config", str(path), check=False, timeout=60)
    assert proc.returncode == 1
    assert proc.stderr.strip() == (
        f"Error: {path}: invalid vMCP configuration: groupRef: is required; "
        "incomingAuth: is required (type: anonymous or oidc); "
        "outgoingAuth: is required (source: inline); "
        "aggregation: is required (conflictResolution and conflictResolutionConfig)"
    )


def test_serve_refuses_a_config_this_gateway_cannot_honour(thv: Thv, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "name: x\ngroupRef: g\nincomingAuth: {type: anonymous}\noutgoingAuth: {source: inline}\n"
        "aggregation: {conflictResolution: prefix, conflictResolutionConfig: {prefixFormat: x_}}\n"
        "codeMode: {enabled: true}\n",
    )
    proc = thv("vmcp", "serve", "-c", str(path), check=False, timeout=60)
    assert proc.returncode == 1
    assert "codeMode.enabled: code mode (execute_tool_script) is not supported" in proc.stderr


def test_vmcp_help_imports_neither_the_config_models_nor_yaml(thv: Thv) -> None:
    code = (
        "import sys\n"
        "from toolhive.cli import main\n"
        "try:\n"
        "    main(['vmcp', 'serve', '--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(sorted(m for m in sys.modules if m.startswith('toolhive.vmcp') or m == 'yaml'))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        env=thv.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert proc.stdout.splitlines()[-1] == "[]"


@contextlib.contextmanager
def serving(thv: Thv, *args: str) -> Iterator[str]:
    """``thv vmcp serve ARGS --port 0`` running; yields the URL it prints."""
    with subprocess.Popen(
        [thv.exe, "vmcp", "serve", *args, "--port", "0"],
        env=thv.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        try:
            assert proc.stderr is not None
            seen = []
            for line in proc.stderr:  # the gateway's log, up to the line saying where it serves
                seen.append(line)
                match = re.search(r"serving at (http://127\.0\.0\.1:\d+/mcp)", line)
                if match:
                    break
            else:
                raise AssertionError(f"thv vmcp serve ended: {''.join(seen)}")
            yield match.group(1)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
    assert proc.returncode in (0, -signal.SIGTERM)


def _post(url: str, body: dict[str, object], session: str = "") -> tuple[Any, str]:
    headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
    if session:
        headers |= {"Mcp-Session-Id": session, "Mcp-Protocol-Version": "2025-06-18"}
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers)
    with urllib.request.urlopen(request, timeout=30) as response:
        text = response.read()
        return (json.loads(text) if text else None), response.headers.get("Mcp-Session-Id", "")


INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "test", "version": "1"},
    },
}


def test_serve_group_answers_initialize_at_the_url_it_prints(thv: Thv, team: str) -> None:
    with serving(thv, "--group", team) as url:
        answer, session = _post(url, INITIALIZE)
    assert answer["result"]["serverInfo"]["name"] == "team"
    assert session


def test_serve_with_the_optimizer_flag_lists_only_find_tool_and_call_tool(
    thv: Thv, team: str
) -> None:
    with serving(thv, "--group", team, "--optimizer") as url:
        _answer, session = _post(url, INITIALIZE)
        _post(url, {"jsonrpc": "2.0", "method": "notifications/initialized"}, session)
        listed, _ = _post(url, {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}, session)
    assert sorted(t["name"] for t in listed["result"]["tools"]) == ["call_tool", "find_tool"]


@pytest.fixture
def echo_urls() -> Iterator[dict[str, str]]:
    """The echo server over streamable HTTP and over SSE (real SDK servers)."""
    import socket

    servers, urls = [], {}
    try:
        for mode, path in (("streamable-http", "/mcp"), ("sse", "/sse")):
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
            servers.append(
                subprocess.Popen(
                    [sys.executable, "-m", "toolhive.testing.echo_server", mode],
                    env={**os.environ, "MCP_HOST": "127.0.0.1", "MCP_PORT": str(port)},
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
            deadline = time.monotonic() + 30
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    assert time.monotonic() < deadline, f"echo server ({mode}) did not listen"
                    time.sleep(0.05)
            urls[mode] = f"http://127.0.0.1:{port}{path}"
        yield urls
    finally:
        for server in servers:
            server.terminate()
            server.wait(timeout=10)


def test_serve_config_aggregates_static_backends_as_the_file_says(
    thv: Thv, tmp_path: Path, echo_urls: dict[str, str]
) -> None:
    path = write(
        tmp_path,
        f"""
name: static
groupRef: nowhere
backends:
  - {{name: http, url: "{echo_urls["streamable-http"]}", transport: streamable-http}}
  - {{name: legacy, url: "{echo_urls["sse"]}", transport: sse}}
incomingAuth: {{type: anonymous}}
outgoingAuth: {{source: inline, default: {{type: unauthenticated}}}}
aggregation:
  conflictResolution: prefix
  conflictResolutionConfig: {{prefixFormat: "{{workload}}."}}
  tools:
    - workload: http
      filter: [echo]
    - workload: legacy
      overrides:
        echo: {{name: say, description: Say it again}}
""",
    )
    thv("vmcp", "validate", "-c", str(path))
    with serving(thv, "-c", str(path)) as url:
        _answer, session = _post(url, INITIALIZE)
        _post(url, {"jsonrpc": "2.0", "method": "notifications/initialized"}, session)
        listed, _ = _post(url, {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}, session)
        call = {"name": "legacy.say", "arguments": {"text": "hi"}}
        called, _ = _post(
            url, {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": call}, session
        )
    tools = {t["name"]: t["description"] for t in listed["result"]["tools"]}
    assert sorted(tools) == ["http.echo", "legacy.add", "legacy.say"]
    assert tools["legacy.say"] == "Say it again"
    assert called["result"]["content"][0]["text"] == "hi"


def test_serve_detach_runs_the_gateway_as_a_listed_workload(thv: Thv, team: str) -> None:
    out = thv("vmcp", "serve", "--group", team, "--detach", "--port", "0", "--optimizer").stdout
    match = re.search(r"^team-vmcp is running\. Connect your MCP client to: (http://\S+/mcp)$", out)
    assert match, out
    _answer, session = _post(match.group(1), INITIALIZE)
    _post(match.group(1), {"jsonrpc": "2.0", "method": "notifications/initialized"}, session)
    listed, _ = _post(match.group(1), {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}, session)
    assert sorted(t["name"] for t in listed["result"]["tools"]) == ["call_tool", "find_tool"]
    rows = json.loads(thv("list", "--format", "json").stdout)
    assert [(r["name"], r["group"], r["status"]) for r in rows] == [
        ("team-vmcp", "team", "running")
    ]
    thv("rm", "team-vmcp")


def test_serve_detach_of_a_config_takes_the_workload_name_given(
    thv: Thv, team: str, tmp_path: Path
) -> None:
    path = tmp_path / "vmcp.yaml"
    thv("vmcp", "init", "-g", team, "-o", str(path))
    out = thv("vmcp", "serve", "-c", str(path), "-d", "--port", "0", "--name", "gw").stdout
    assert out.startswith("gw is running. Connect your MCP client to: http://127.0.0.1:")
    thv("rm", "gw")


def test_serve_name_without_detach_is_an_error(thv: Thv, team: str) -> None:
    proc = thv("vmcp", "serve", "--group", team, "--name", "x", check=False)
    assert proc.returncode == 1
    assert "--name names the workload of --detach" in proc.stderr
