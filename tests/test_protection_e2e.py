"""The whole protection chain, end to end, on the process runtime, Podman and Docker: `thv run` with
ToolHive's own flags (OIDC auth against a real issuer, Cedar authorization, audit to a file,
Prometheus metrics, a tool filter) in front of the echo server, driven over HTTP as a client would.

Real components only: the issuer signs real tokens and serves discovery + JWKS over HTTP
(:mod:`toolhive.testing.oidc`); the middleware are the workspace's installed distributions, found
through their entry points by the `thv` CLI and the detached supervisor.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import httpx
import pytest
from toolhive.testing.oidc import OIDCIssuer

from tests.conftest import (
    ENGINE_SOCKETS,
    FIXTURES,
    MCP_IMAGE,
    Thv,
    engine_available,
    process_runtime_available,
    require_or_skip,
)

pytestmark = [pytest.mark.engine, pytest.mark.timeout(240)]

AUTHZ = {
    "version": "1.0",
    "type": "cedarv1",
    "cedar": {
        "policies": [
            'permit(principal, action == Action::"call_tool", resource == Tool::"echo");',
        ],
        "entities_json": "[]",
    },
}

#: The chain ToolHive builds for these flags (core adds the parser and recovery).
CHAIN = (
    "middleware: audit > auth > tool-filter > tool-call-filter > mcp-parser > telemetry "
    "> authorization > recovery"
)


def server_args(runtime: str) -> list[str]:
    """`thv run` arguments for the echo server over stdio (tools: echo, add)."""
    if runtime in ENGINE_SOCKETS:
        if not engine_available(runtime):
            require_or_skip(f"{runtime} engine with {MCP_IMAGE}")
        return [MCP_IMAGE, "--transport", "stdio", "--", "python", "/opt/fixtures/echo_server.py"]
    if not process_runtime_available():
        require_or_skip("bubblewrap and uv for the process runtime")
    return [sys.executable, "--transport", "stdio", "--", str(FIXTURES / "echo_server.py")]


class Client:
    """A streamable-HTTP MCP client with a bearer token, raw enough to see statuses."""

    def __init__(self, url: str, token: str | None) -> None:
        self.url = url
        self.headers = {"accept": "application/json, text/event-stream"}
        if token:
            self.headers["authorization"] = f"Bearer {token}"
        self.next_id = 0

    def post(self, body: dict) -> httpx.Response:
        return httpx.post(self.url, json=body, headers=self.headers, timeout=30)

    def rpc(self, method: str, params: dict | None = None) -> httpx.Response:
        self.next_id += 1
        body = {"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params or {}}
        return self.post(body)

    def initialize(self) -> None:
        response = self.rpc(
            "initialize",
            {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "e2e-client", "version": "1.2"},
            },
        )
        assert response.status_code == 200, response.text
        self.headers["mcp-session-id"] = response.headers["mcp-session-id"]
        self.headers["mcp-protocol-version"] = "2025-06-18"
        self.post({"jsonrpc": "2.0", "method": "notifications/initialized"})


def result_of(response: httpx.Response) -> dict:
    """The JSON-RPC message of a JSON or SSE answer."""
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        for line in response.text.splitlines():
            if line.startswith("data:"):
                return json.loads(line[5:])
        raise AssertionError(f"no data in {response.text!r}")
    return response.json()


@pytest.mark.parametrize("runtime", ["process", "podman", "docker"])
def test_the_whole_chain_protects_a_workload(
    runtime: str, thv: Thv, thv_env: dict[str, str], tmp_path: Path
):
    args = server_args(runtime)
    if runtime == "podman":
        thv_env["TOOLHIVE_PODMAN_SOCKET"] = ENGINE_SOCKETS["podman"]
    authz = tmp_path / "authz.json"
    authz.write_text(json.dumps(AUTHZ))
    audit_log = tmp_path / "audit.log"
    audit = tmp_path / "audit.json"
    audit.write_text(json.dumps({"logFile": str(audit_log), "component": "e2e"}))
    name = f"guarded-{runtime}"
    with OIDCIssuer(audience="mcp-e2e") as issuer:
        thv(
            "run",
            "--name",
            name,
            "--runtime",
            runtime,
            "--oidc-issuer",
            issuer.url,
            "--oidc-audience",
            "mcp-e2e",
            "--oidc-insecure-allow-http",
            "--jwks-allow-private-ip",
            "--authz-config",
            str(authz),
            "--audit-config",
            str(audit),
            "--otel-enable-prometheus-metrics-path",
            "--tools",
            "echo,add",
            *args,
        )
        url = json.loads(thv("status", name, "--format", "json").stdout)["url"]
        base = url.rsplit("/", 1)[0]
        token = issuer.token(sub="alice", claims={"name": "Alice"})

        # No token: 401 pointing at the RFC 9728 metadata, which is served without one.
        anonymous = Client(url, None).rpc("tools/list")
        assert anonymous.status_code == 401
        assert "resource_metadata=" in anonymous.headers["www-authenticate"]
        metadata = httpx.get(f"{base}/.well-known/oauth-protected-resource", timeout=10).json()
        assert metadata["authorization_servers"] == [issuer.url]
        # A token for another audience, or signed by a key nobody published: 401 too.
        for bad in (issuer.token(sub="alice", aud="other"), issuer.foreign_token(sub="alice")):
            assert Client(url, bad).rpc("tools/list").status_code == 401

        client = Client(url, token)
        client.initialize()
        listed = result_of(client.rpc("tools/list"))
        assert [t["name"] for t in listed["result"]["tools"]] == ["echo"]  # authz hid `add`
        called = result_of(client.rpc("tools/call", {"name": "echo", "arguments": {"text": "hi"}}))
        assert called["result"]["content"][0]["text"] == "hi"
        denied = client.rpc("tools/call", {"name": "add", "arguments": {"a": 1, "b": 2}})
        assert denied.status_code == 403
        assert "error" in denied.json()

        # Metrics are scraped without a token, with the workload's labels filled in.
        metrics = httpx.get(f"{base}/metrics", timeout=10).text
        assert f'server="{name}"' in metrics
        assert 'transport="stdio"' in metrics
        assert "toolhive_mcp_requests" in metrics

        # The audit trail: every outcome, the denials as denied, and never the token.
        events = [json.loads(line) for line in audit_log.read_text().splitlines() if line]
        assert oct(audit_log.stat().st_mode & 0o777) == "0o600"
        outcomes = {(e["type"], e["outcome"]) for e in events}
        assert ("mcp_tool_call", "success") in outcomes
        assert ("mcp_tool_call", "denied") in outcomes
        assert any(e["outcome"] == "denied" and e["type"] != "mcp_tool_call" for e in events)
        assert any(e["subjects"].get("user_id") == "alice" for e in events)
        assert token not in audit_log.read_text()

        proxy_log = thv("logs", name, "--proxy").stdout
        assert CHAIN in proxy_log
        assert token not in proxy_log
        thv("rm", name)


def test_protection_nobody_installed_is_refused_before_anything_runs(
    thv: Thv, thv_env: dict[str, str], tmp_path: Path
):
    args = server_args("process")
    thv_env["TOOLHIVE_DISABLE_PLUGINS"] = "toolhive-middleware-authz"
    authz = tmp_path / "authz.json"
    authz.write_text(json.dumps(AUTHZ))
    proc = thv("run", "--name", "open", "--authz-config", str(authz), *args, check=False)
    assert proc.returncode != 0
    assert "pip install toolhive-middleware-authz" in proc.stderr
    listed = json.loads(thv("list", "--all", "--format", "json").stdout)
    assert [w["name"] for w in listed] == []
