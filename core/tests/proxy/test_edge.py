"""Edge protection (Origin, Host, body limit) on real proxies: the stdio bridge and the reverse proxy."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from harness import ECHO_STDIO, serve, start_stdio
from toolhive.errors import InvalidInputError
from toolhive.proxy.app import build_proxy_app
from toolhive.proxy.edge import EdgeConfig, normalize_origin, split_origins
from toolhive.transports.base import TransportOptions
from toolhive.transports.reverse_proxy import ReverseProxy
from toolhive.transports.stdio import StdioBridge
from toolhive.web.hosts import is_loopback_host
from toolhive.web.limits import max_body_from_env, parse_size

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]

INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "edge-test", "version": "1"},
    },
}
HEADERS = {"accept": "application/json, text/event-stream", "content-type": "application/json"}


class Recorder:
    """A real upstream (served by uvicorn) that records each request's body size and answers 200."""

    def __init__(self) -> None:
        self.bodies: list[int] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                await send({"type": message["type"] + ".complete"})
                if message["type"] == "lifespan.shutdown":
                    return
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return
            size += len(message.get("body", b""))
            if not message.get("more_body"):
                break
        self.bodies.append(size)
        body = b'{"jsonrpc":"2.0","id":1,"result":{}}'
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": body})


async def _bridge_base(edge: EdgeConfig) -> AsyncIterator[str]:
    server = await start_stdio(*ECHO_STDIO)
    try:
        bridge = StdioBridge(TransportOptions(workload="edge", stdio=server.channel))
        app = build_proxy_app(bridge, transport_name="stdio", edge=edge)
        async with serve(app) as base:
            yield base
    finally:
        await server.kill()


@pytest.fixture
async def bridge_base() -> AsyncIterator[str]:
    edge = EdgeConfig(allowed_origins=("https://app.example.com",), max_body=64 * 1024)
    async for base in _bridge_base(edge):
        yield base


# --------------------------------------------------------------------------- Origin


ORIGIN_CASES = [
    (None, True),
    ("http://localhost:5173", True),
    ("http://127.0.0.1", True),
    ("https://[::1]:8443", True),
    ("https://app.example.com", True),
    ("https://APP.example.com:443", True),
    ("https://evil.example.com", False),
    ("http://localhost.evil.example.com", False),
    ("null", False),
    ("file://", False),
    ("https://app.example.com:8443", False),
]


async def test_origin_on_a_loopback_bind(bridge_base: str) -> None:
    async with httpx.AsyncClient(timeout=30) as http:
        for origin, allowed in ORIGIN_CASES:
            headers = dict(HEADERS)
            if origin is not None:
                headers["origin"] = origin
            response = await http.post(f"{bridge_base}/mcp", json=INIT, headers=headers)
            if allowed:
                assert response.status_code == 200, (origin, response.text)
                assert "mcp-session-id" in response.headers
            else:
                assert response.status_code == 403, origin
                body = response.json()
                assert body["jsonrpc"] == "2.0" and body["id"] is None
                assert body["error"]["code"] == -32600
                message = body["error"]["message"]
                assert "Origin" in message and "--allowed-origins" in message


async def test_origin_is_checked_on_health_too_and_the_bridge_keeps_serving(
    bridge_base: str,
) -> None:
    async with httpx.AsyncClient(timeout=30) as http:
        # The server answers once initialized (its start-up may outlast a ping timeout on a busy box).
        assert (
            await http.post(f"{bridge_base}/mcp", json=INIT, headers=HEADERS)
        ).status_code == 200
        bad = await http.get(f"{bridge_base}/health", headers={"origin": "https://evil.example"})
        assert bad.status_code == 403
        good = await http.get(f"{bridge_base}/health")
        assert good.status_code == 200 and good.json()["status"] == "healthy"


def test_non_loopback_bind_checks_origin_only_when_configured() -> None:
    from toolhive.proxy.edge import EdgeProtection

    async def app(scope: Any, receive: Any, send: Any) -> None:
        raise AssertionError("not called")

    open_bind = EdgeProtection(app, EdgeConfig(bind_host="0.0.0.0"))
    assert open_bind.origin_allowed("https://anything.example")
    listed = EdgeProtection(
        app, EdgeConfig(bind_host="10.1.2.3", allowed_origins=("https://a.io",))
    )
    assert listed.origin_allowed("https://a.io")
    assert not listed.origin_allowed("http://localhost:3000")  # no loopback default off loopback
    star = EdgeProtection(app, EdgeConfig(bind_host="127.0.0.1", allowed_origins=("*",)))
    assert star.origin_allowed("https://evil.example")


# --------------------------------------------------------------------------- Host


HOST_CASES = [
    ("localhost:1234", 200),
    ("127.0.0.1", 200),
    ("127.5.6.7:80", 200),
    ("[::1]:9000", 200),
    ("app.example.com", 200),  # the host of an allowed origin
    ("evil.example.com", 421),
    ("evil.example.com:80", 421),
    ("10.0.0.5:8080", 421),
]


async def test_host_header_on_a_loopback_bind(bridge_base: str) -> None:
    async with httpx.AsyncClient(timeout=30) as http:
        for host, status in HOST_CASES:
            response = await http.post(
                f"{bridge_base}/mcp", json=INIT, headers={**HEADERS, "host": host}
            )
            assert response.status_code == status, (host, response.text)
            if status == 421:
                error = response.json()["error"]
                assert "Host" in error["message"] and "loopback" in error["message"]


async def test_host_is_not_checked_on_a_non_loopback_bind() -> None:
    edge = EdgeConfig(bind_host="0.0.0.0")
    async for base in _bridge_base(edge):
        async with httpx.AsyncClient(timeout=30) as http:
            response = await http.post(
                f"{base}/mcp", json=INIT, headers={**HEADERS, "host": "mcp.example.com"}
            )
        assert response.status_code == 200


# --------------------------------------------------------------------------- body limit


def _chunks(total: int, size: int = 8192) -> Any:
    async def gen() -> AsyncIterator[bytes]:
        sent = 0
        while sent < total:
            n = min(size, total - sent)
            yield b" " * n
            sent += n

    return gen()


def _padded(message: dict[str, Any], total: int) -> bytes:
    raw = json.dumps(message).encode()
    return raw + b" " * (total - len(raw))  # trailing whitespace keeps it valid JSON


async def test_body_limit_with_content_length_on_the_bridge(bridge_base: str) -> None:
    limit = 64 * 1024
    async with httpx.AsyncClient(timeout=30) as http:
        ok = await http.post(f"{bridge_base}/mcp", content=_padded(INIT, limit), headers=HEADERS)
        assert ok.status_code == 200
        big = await http.post(
            f"{bridge_base}/mcp", content=_padded(INIT, limit + 1), headers=HEADERS
        )
        assert big.status_code == 413
        error = big.json()["error"]
        assert error["code"] == -32600 and str(limit) in error["message"]
        assert "TOOLHIVE_MAX_REQUEST_BODY" in error["message"]
        again = await http.post(f"{bridge_base}/mcp", json=INIT, headers=HEADERS)
        assert again.status_code == 200


async def test_chunked_body_is_cut_at_the_limit_on_the_bridge(bridge_base: str) -> None:
    async with httpx.AsyncClient(timeout=30) as http:
        response = await http.post(
            f"{bridge_base}/mcp", content=_chunks(200 * 1024), headers=HEADERS
        )
        assert response.status_code == 413
        assert response.json()["error"]["code"] == -32600
        after = await http.post(f"{bridge_base}/mcp", json=INIT, headers=HEADERS)
        assert after.status_code == 200


async def test_chunked_body_limit_in_front_of_the_reverse_proxy() -> None:
    recorder = Recorder()
    async with serve(recorder) as upstream:
        proxy = ReverseProxy(TransportOptions(workload="edge", target_url=f"{upstream}/mcp"))
        app = build_proxy_app(
            proxy, transport_name="streamable-http", edge=EdgeConfig(max_body=32 * 1024)
        )
        async with serve(app) as base, httpx.AsyncClient(timeout=30) as http:
            small = await http.post(f"{base}/mcp", content=_chunks(20 * 1024), headers=HEADERS)
            assert small.status_code == 200
            assert recorder.bodies == [20 * 1024]
            big = await http.post(f"{base}/mcp", content=_chunks(256 * 1024), headers=HEADERS)
            assert big.status_code == 413
            # The upstream never saw a complete oversized request.
            assert all(size <= 32 * 1024 + 8192 for size in recorder.bodies)
            declared = await http.post(f"{base}/mcp", content=b"x" * (33 * 1024), headers=HEADERS)
            assert declared.status_code == 413
            assert len(recorder.bodies) <= 2
            assert (await http.post(f"{base}/mcp", json=INIT, headers=HEADERS)).status_code == 200


# --------------------------------------------------------------------------- helpers


def test_size_and_origin_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    assert parse_size("4194304") == 4 * 1024 * 1024
    assert parse_size("512k") == parse_size("512KiB") == 512 * 1024
    assert parse_size("8MiB") == parse_size("8 mb") == 8 * 1024 * 1024
    with pytest.raises(InvalidInputError):
        parse_size("lots")
    monkeypatch.setenv("TOOLHIVE_MAX_REQUEST_BODY", "1m")
    assert max_body_from_env() == 1024 * 1024
    monkeypatch.setenv("TOOLHIVE_MAX_REQUEST_BODY", "huge")
    with pytest.raises(InvalidInputError, match="TOOLHIVE_MAX_REQUEST_BODY"):
        max_body_from_env()
    monkeypatch.delenv("TOOLHIVE_MAX_REQUEST_BODY")
    assert max_body_from_env() == 4 * 1024 * 1024

    assert normalize_origin("HTTPS://Example.com:443/") == "https://example.com"
    assert normalize_origin("http://[::1]:8080") == "http://[::1]:8080"
    assert normalize_origin("null") == ""
    assert split_origins(["https://a.io, http://b.io:81", "https://c.io"]) == [
        "https://a.io",
        "http://b.io:81",
        "https://c.io",
    ]
    with pytest.raises(InvalidInputError, match="invalid origin"):
        split_origins(["not-an-origin"])
    for host in ("localhost", "LOCALHOST", "api.localhost", "127.0.0.1", "127.9.9.9", "[::1]"):
        assert is_loopback_host(host), host
    for host in ("example.com", "10.0.0.1", "localhost.example.com", "0.0.0.0"):
        assert not is_loopback_host(host), host
