"""Remote workloads and the standalone `thv proxy`, end to end with the real CLI.

The upstream is the echo fixture's MCP server (official SDK, streamable HTTP) served in this test
process behind a thin recording layer, so the tests can see exactly what reached the upstream and
can make it fail (HTTP 503) and recover on demand.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import Thv
from tests.echo_upstream import EchoUpstream
from tests.mcp_client import call_tool, list_tools

PREFIX = "prx-remote"


class RecordingUpstream(EchoUpstream):
    """The echo MCP server recording each request's ``(method, path, query)``; ``failing = True``
    makes it answer 503 to everything."""

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[tuple[str, str, str]] = []
        self.failing = False

    def refuse(self, scope: dict[str, Any]) -> tuple[int, bytes] | None:
        self.requests.append((scope["method"], scope["path"], scope["query_string"].decode()))
        return (503, b"down for a test") if self.failing else None


@pytest.fixture
def upstream() -> Iterator[RecordingUpstream]:
    with RecordingUpstream() as server:
        yield server


def _status(thv: Thv, name: str) -> dict[str, Any]:
    return json.loads(thv("status", name, "--format", "json").stdout)


def _wait_status(thv: Thv, name: str, wanted: str, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        wl = _status(thv, name)
        if wl["status"] == wanted:
            return wl
        if time.monotonic() > deadline:
            raise AssertionError(f"{name} is {wl['status']} ({wl['status_context']}), not {wanted}")
        time.sleep(0.2)


# --------------------------------------------------------------------------- thv run URL


def test_remote_url_query_is_forwarded_but_not_in_the_client_url(
    thv: Thv, upstream: RecordingUpstream
) -> None:
    name = f"{PREFIX}-query"
    thv("run", f"http://127.0.0.1:{upstream.port}/mcp?token=s3cret&team=a", "--name", name)
    wl = _status(thv, name)
    assert wl["remote"] is True
    assert wl["url"].endswith("/mcp") and "token" not in wl["url"] and "?" not in wl["url"]
    # The exported RunConfig keeps the full URL.
    assert "token=s3cret" in thv("export", name, "-").stdout

    upstream.requests.clear()
    assert call_tool(wl["url"], "echo", {"text": "hi"}) == "hi"
    assert len(upstream.requests) >= 3  # initialize, initialized, tools/call (+ GET, DELETE)
    for method, path, query in upstream.requests:
        assert path == "/mcp", (method, path)
        assert "token=s3cret" in query and "team=a" in query, (method, query)


def test_remote_stateless_rejects_get_and_forwards_post(
    thv: Thv, upstream: RecordingUpstream
) -> None:
    name = f"{PREFIX}-stateless"
    thv("run", f"http://127.0.0.1:{upstream.port}/mcp", "--name", name, "--stateless")
    url = _status(thv, name)["url"]
    upstream.requests.clear()
    r = httpx.get(url, headers={"accept": "text/event-stream"}, timeout=30)
    assert r.status_code == 405 and r.headers["allow"] == "POST, OPTIONS"
    assert not upstream.requests  # never reached the upstream
    assert list_tools(url) == ["echo", "add"]
    assert {m for m, _p, _q in upstream.requests} <= {"POST", "OPTIONS"}


def test_remote_run_with_edge_flags(thv: Thv, upstream: RecordingUpstream) -> None:
    name = f"{PREFIX}-edge"
    thv(
        "run",
        f"http://127.0.0.1:{upstream.port}/mcp",
        "--name",
        name,
        "--allowed-origins",
        "https://app.example.com",
        "--session-ttl",
        "30m",
        "--endpoint-prefix",
        "/x",
        "--trust-proxy-headers",
        "--strict-protocol-validation",
    )
    exported = json.loads(thv("export", name, "-").stdout)
    assert exported["allowed_origins"] == ["https://app.example.com"]
    assert exported["session_ttl"] == "30m"
    assert exported["endpoint_prefix"] == "/x"
    assert exported["trust_proxy_headers"] is True
    assert exported["strict_protocol_validation"] is True
    url = _status(thv, name)["url"]
    body = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    ok = httpx.post(url, json=body, headers={"origin": "https://app.example.com"}, timeout=30)
    assert ok.status_code != 403
    local = httpx.post(url, json=body, headers={"origin": "http://localhost:3000"}, timeout=30)
    assert local.status_code != 403
    bad = httpx.post(url, json=body, headers={"origin": "https://evil.example.com"}, timeout=30)
    assert bad.status_code == 403 and bad.json()["error"]["code"] == -32600
    rebound = httpx.post(url, json=body, headers={"host": "evil.example.com"}, timeout=30)
    assert rebound.status_code == 421

    bad_ttl = thv(
        "run", "http://127.0.0.1:1/mcp", "--name", f"{name}2", "--session-ttl", "soon", check=False
    )
    assert bad_ttl.returncode != 0 and "--session-ttl" in bad_ttl.stderr
    bad_origin = thv(
        "run",
        "http://127.0.0.1:1/mcp",
        "--name",
        f"{name}3",
        "--allowed-origins",
        "nope",
        check=False,
    )
    assert bad_origin.returncode != 0 and "invalid origin" in bad_origin.stderr


# --------------------------------------------------------------------------- health loop


def test_health_loop_marks_unhealthy_and_recovers(
    thv: Thv, thv_env: dict[str, str], upstream: RecordingUpstream
) -> None:
    thv_env.update(
        {
            "TOOLHIVE_REMOTE_HEALTHCHECKS": "1",
            "TOOLHIVE_HEALTH_CHECK_INTERVAL": "200ms",
            "TOOLHIVE_HEALTH_CHECK_RETRY_DELAY": "100ms",
            "TOOLHIVE_HEALTH_CHECK_PING_TIMEOUT": "2s",
            "TOOLHIVE_HEALTH_CHECK_FAILURE_THRESHOLD": "3",
        }
    )
    name = f"{PREFIX}-health"
    thv("run", f"http://127.0.0.1:{upstream.port}/mcp", "--name", name)
    assert _status(thv, name)["status"] == "running"
    time.sleep(1.0)  # several successful pings: still running
    assert _status(thv, name)["status"] == "running"

    upstream.failing = True
    wl = _wait_status(thv, name, "unhealthy")
    assert "health check failed 3 times in a row" in wl["status_context"]
    assert "503" in wl["status_context"]
    # We keep serving: /health answers (unhealthy) instead of the proxy going away.
    health = httpx.get(wl["url"].rsplit("/", 1)[0] + "/health", timeout=30)
    assert health.status_code == 503 and health.json()["status"] == "unhealthy"

    upstream.failing = False
    wl = _wait_status(thv, name, "running")
    assert wl["status_context"] == ""
    assert call_tool(wl["url"], "add", {"a": 1, "b": 2}) == "3"


def test_remote_health_checks_are_opt_in(
    thv: Thv, thv_env: dict[str, str], upstream: RecordingUpstream
) -> None:
    thv_env.update(
        {"TOOLHIVE_HEALTH_CHECK_INTERVAL": "100ms", "TOOLHIVE_HEALTH_CHECK_FAILURE_THRESHOLD": "1"}
    )
    thv_env.pop("TOOLHIVE_REMOTE_HEALTHCHECKS", None)
    name = f"{PREFIX}-nohealth"
    thv("run", f"http://127.0.0.1:{upstream.port}/mcp", "--name", name)
    upstream.failing = True
    upstream.requests.clear()
    time.sleep(1.0)
    assert _status(thv, name)["status"] == "running"
    assert upstream.requests == []  # nobody pinged


# --------------------------------------------------------------------------- thv proxy


def _start_proxy(thv: Thv, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [thv.exe, "proxy", *args],
        env=thv.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_health(base: str, proc: subprocess.Popen[str], timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise AssertionError(f"thv proxy exited {proc.returncode}: {proc.stderr.read()}")  # type: ignore[union-attr]
        try:
            return httpx.get(f"{base}/health", timeout=5).json()
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def _stop(proc: subprocess.Popen[str]) -> str:
    proc.terminate()
    try:
        _out, err = proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        _out, err = proc.communicate()
        raise AssertionError("thv proxy did not stop on SIGTERM") from None
    assert proc.returncode == 0, err
    return err


def test_standalone_proxy_in_front_of_the_echo_server(
    thv: Thv, upstream: RecordingUpstream
) -> None:
    port = _free_port()
    proc = _start_proxy(
        thv,
        f"{PREFIX}-standalone",
        "--target-uri",
        f"http://127.0.0.1:{upstream.port}/mcp?key=abc",
        "--port",
        str(port),
        "--allowed-origins",
        "https://ui.example.com",
    )
    try:
        base = f"http://127.0.0.1:{port}"
        health = _wait_health(base, proc)
        assert health["status"] == "healthy" and health["transport"] == "streamable-http"
        assert set(health["mcp"]) == {"available", "response_time_ms", "error", "last_checked"}
        upstream.requests.clear()
        assert call_tool(f"{base}/mcp", "echo", {"text": "standalone"}) == "standalone"
        assert upstream.requests and all("key=abc" in q for _m, _p, q in upstream.requests)
        body = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
        evil = httpx.post(f"{base}/mcp", json=body, headers={"origin": "https://evil.io"})
        assert evil.status_code == 403
        ui = httpx.post(f"{base}/mcp", json=body, headers={"origin": "https://ui.example.com"})
        assert ui.status_code != 403
    finally:
        err = _stop(proc)
    assert f"http://127.0.0.1:{port}/mcp" in err and "key=abc" not in err


def test_standalone_proxy_504_and_502_with_a_slow_then_dead_upstream(thv: Thv) -> None:
    """A real TCP server that accepts and never answers, then goes away."""
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    slow_port = listener.getsockname()[1]
    thv.env["TOOLHIVE_PROXY_REQUEST_TIMEOUT"] = "1s"
    port = _free_port()
    proc = _start_proxy(
        thv,
        f"{PREFIX}-slow",
        "--target-uri",
        f"http://127.0.0.1:{slow_port}/mcp",
        "--port",
        str(port),
    )
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_health(base, proc)
        body = {"jsonrpc": "2.0", "id": 5, "method": "tools/list"}
        started = time.monotonic()
        r = httpx.post(f"{base}/mcp", json=body, timeout=30)
        assert r.status_code == 504 and r.json()["id"] == 5
        assert 0.9 < time.monotonic() - started < 10
        listener.close()
        r = httpx.post(f"{base}/mcp", json=body, timeout=30)
        assert r.status_code == 502 and "Bad Gateway" in r.json()["error"]["message"]
    finally:
        listener.close()
        _stop(proc)


def test_standalone_proxy_refuses_a_bad_target(thv: Thv) -> None:
    r = thv("proxy", f"{PREFIX}-bad", "--target-uri", "ftp://example.com/x", check=False)
    assert r.returncode != 0 and "not an http(s) URL" in r.stderr
    r = thv("proxy", f"{PREFIX}-bad", check=False)
    assert r.returncode != 0 and "--target-uri" in r.stderr


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_standalone_proxy_with_toolhives_protection_flags(
    thv: Thv, upstream: RecordingUpstream, tmp_path
) -> None:
    """`thv proxy` takes `thv run`'s protection flags and builds the same checked chain: OIDC
    (a real issuer), a tool filter and Prometheus metrics in front of a remote server."""
    from toolhive.testing.oidc import OIDCIssuer

    port = _free_port()
    with OIDCIssuer(audience="remote-mcp") as issuer:
        proc = _start_proxy(
            thv,
            f"{PREFIX}-guarded",
            "--target-uri",
            f"http://127.0.0.1:{upstream.port}/mcp",
            "--port",
            str(port),
            "--oidc-issuer",
            issuer.url,
            "--oidc-audience",
            "remote-mcp",
            "--oidc-insecure-allow-http",
            "--jwks-allow-private-ip",
            "--tools",
            "echo",
            "--otel-enable-prometheus-metrics-path",
        )
        try:
            base = f"http://127.0.0.1:{port}"
            _wait_health(base, proc)
            body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
            accept = {"accept": "application/json, text/event-stream"}
            refused = httpx.post(f"{base}/mcp", json=body, headers=accept, timeout=10)
            assert refused.status_code == 401
            assert "resource_metadata=" in refused.headers["www-authenticate"]
            token = issuer.token(sub="remote-user")
            auth = {**accept, "authorization": f"Bearer {token}"}
            init = {
                "jsonrpc": "2.0",
                "id": 0,
                "method": "initialize",
                "params": {
                    "protocolVersion": "2025-06-18",
                    "capabilities": {},
                    "clientInfo": {"name": "t", "version": "1"},
                },
            }
            started = httpx.post(f"{base}/mcp", json=init, headers=auth, timeout=10)
            assert started.status_code == 200, started.text
            if "mcp-session-id" in started.headers:
                auth["mcp-session-id"] = started.headers["mcp-session-id"]
            listed = httpx.post(f"{base}/mcp", json=body, headers=auth, timeout=10)
            text = listed.text
            payload = json.loads(
                next(line[5:] for line in text.splitlines() if line.startswith("data:"))
                if listed.headers["content-type"].startswith("text/event-stream")
                else text
            )
            assert [t["name"] for t in payload["result"]["tools"]] == ["echo"]
            metrics = httpx.get(f"{base}/metrics", timeout=10).text
            assert f'server="{PREFIX}-guarded"' in metrics
        finally:
            err = _stop(proc)
    assert token not in err


def test_standalone_proxy_refuses_protection_nobody_installed(thv: Thv, tmp_path) -> None:
    thv.env["TOOLHIVE_DISABLE_PLUGINS"] = "toolhive-middleware-auth"
    r = thv(
        "proxy",
        f"{PREFIX}-open",
        "--target-uri",
        "http://127.0.0.1:9/mcp",
        "--oidc-issuer",
        "https://idp.example",
        check=False,
    )
    assert r.returncode != 0
    assert "pip install toolhive-middleware-auth" in r.stderr
