"""Reverse-proxy options against real MCP servers: SSE endpoint rewriting, stateless mode, timeouts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx
import pytest
from harness import free_port, http_echo_server, serve
from mcp import Client
from mcp.client.sse import sse_client
from toolhive.proxy.app import build_proxy_app
from toolhive.transports.base import TransportOptions
from toolhive.transports.reverse_proxy import (
    EndpointRewrite,
    ReverseProxy,
    SSEEndpointRewriter,
    endpoint_rewrite,
)

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(90)]


async def _proxy(target: str, **options: Any) -> AsyncIterator[str]:
    timeout = options.pop("request_timeout", None)
    proxy = ReverseProxy(
        TransportOptions(workload="rp", target_url=target, **options), request_timeout=timeout
    )
    app = build_proxy_app(proxy, transport_name=options.get("transport", "sse"))
    async with serve(app) as base:
        yield base


async def _endpoint_event(url: str, headers: dict[str, str] | None = None) -> str:
    """The ``data`` of the first ``endpoint`` event of an SSE stream (the stream is then closed)."""
    async with (
        httpx.AsyncClient(timeout=30) as http,
        http.stream("GET", url, headers={"accept": "text/event-stream", **(headers or {})}) as r,
    ):
        assert r.status_code == 200
        event = ""
        async for line in r.aiter_lines():
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:") and event == "endpoint":
                return line[5:].strip()
    raise AssertionError("no endpoint event")


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
async def sse_port() -> AsyncIterator[int]:
    async with http_echo_server("sse") as port:
        yield port


async def test_sse_endpoint_is_untouched_without_options(sse_port: int) -> None:
    async for base in _proxy(f"http://127.0.0.1:{sse_port}/sse"):
        data = await _endpoint_event(f"{base}/sse", {"x-forwarded-prefix": "/ignored"})
        assert data.startswith("/messages/?session_id=")


async def test_endpoint_prefix_rewrites_the_endpoint_event(sse_port: int) -> None:
    async for base in _proxy(f"http://127.0.0.1:{sse_port}/sse", endpoint_prefix="/playwright/"):
        data = await _endpoint_event(f"{base}/sse")
        assert data.startswith("/playwright/messages/?session_id=")


async def test_trusted_forwarded_prefix_host_and_proto(sse_port: int) -> None:
    async for base in _proxy(f"http://127.0.0.1:{sse_port}/sse", trust_proxy_headers=True):
        data = await _endpoint_event(f"{base}/sse", {"x-forwarded-prefix": "/team-a"})
        assert data.startswith("/team-a/messages/?session_id=")
        data = await _endpoint_event(
            f"{base}/sse",
            {
                "x-forwarded-prefix": "/team-a",
                "x-forwarded-host": "mcp.example.com",
                "x-forwarded-proto": "https",
            },
        )
        assert data.startswith("https://mcp.example.com/team-a/messages/?session_id=")
        # No forwarded headers: nothing to rewrite.
        assert (await _endpoint_event(f"{base}/sse")).startswith("/messages/?session_id=")


async def test_endpoint_prefix_takes_precedence_over_the_forwarded_prefix(sse_port: int) -> None:
    async for base in _proxy(
        f"http://127.0.0.1:{sse_port}/sse", endpoint_prefix="/config", trust_proxy_headers=True
    ):
        data = await _endpoint_event(f"{base}/sse", {"x-forwarded-prefix": "/header"})
        assert data.startswith("/config/messages/?session_id=")


async def test_untrusted_forwarded_prefix_is_ignored(sse_port: int) -> None:
    async for base in _proxy(f"http://127.0.0.1:{sse_port}/sse", endpoint_prefix=""):
        data = await _endpoint_event(f"{base}/sse", {"x-forwarded-prefix": "/evil"})
        assert not data.startswith("/evil")


async def test_official_sse_client_works_when_the_rewrite_is_a_no_op(sse_port: int) -> None:
    # trust on but no headers: the rewriting code path runs over the whole stream.
    async for base in _proxy(f"http://127.0.0.1:{sse_port}/sse", trust_proxy_headers=True):
        with anyio.fail_after(60):
            async with Client(sse_client(f"{base}/sse")) as client:
                result = await client.call_tool("echo", {"text": "through the rewriter"})
        assert result.content[0].text == "through the rewriter"


def test_rewriter_handles_any_chunking_and_only_endpoint_events() -> None:
    stream = (
        b": keep-alive\r\n\r\n"
        b"event: endpoint\r\ndata: /messages/?session_id=abc\r\n\r\n"
        b"event: message\r\ndata: /messages/not-an-endpoint\r\n\r\n"
        b'data: {"jsonrpc":"2.0"}\n\n'
        b"event: endpoint\ndata: http://backend:8080/messages?x=1\n\n"
    )
    expected = stream.replace(
        b"data: /messages/?session_id", b"data: /p/messages/?session_id"
    ).replace(b"http://backend:8080/messages", b"http://backend:8080/p/messages")
    for size in (1, 2, 3, 7, 16, len(stream)):
        rewriter = SSEEndpointRewriter(EndpointRewrite("/p"))
        out = b"".join(rewriter.feed(stream[i : i + size]) for i in range(0, len(stream), size))
        assert out + rewriter.flush() == expected, size


def test_rewrite_precedence_rules() -> None:
    headers = [(b"x-forwarded-prefix", b"/hdr"), (b"x-forwarded-host", b"h.example")]
    assert endpoint_rewrite(headers, "/cfg", False).prefix == "/cfg"
    assert not endpoint_rewrite(headers, "", False)
    trusted = endpoint_rewrite(headers, "", True)
    assert (trusted.prefix, trusted.host) == ("/hdr", "h.example")
    assert trusted.apply("/m?s=1") == "http://h.example/hdr/m?s=1"
    assert endpoint_rewrite(headers, "/cfg", True).prefix == "/cfg"
    assert EndpointRewrite("/").apply("/m") == "/m"


# --------------------------------------------------------------------------- stateless


async def test_stateless_rejects_get_head_delete_and_forwards_post() -> None:
    async with http_echo_server("streamable-http") as port:
        async for base in _proxy(
            f"http://127.0.0.1:{port}/mcp", stateless=True, transport="streamable-http"
        ):
            async with httpx.AsyncClient(timeout=30) as http:
                for method in ("GET", "HEAD", "DELETE"):
                    r = await http.request(method, f"{base}/mcp")
                    assert r.status_code == 405, method
                    assert r.headers["allow"] == "POST, OPTIONS"
                r = await http.get(f"{base}/mcp")
                assert r.json()["error"]["message"].startswith("Method Not Allowed")
                r = await http.post(
                    f"{base}/mcp",
                    json={
                        "jsonrpc": "2.0",
                        "id": 1,
                        "method": "initialize",
                        "params": {
                            "protocolVersion": "2025-06-18",
                            "capabilities": {},
                            "clientInfo": {"name": "t", "version": "1"},
                        },
                    },
                    headers={"accept": "application/json, text/event-stream"},
                )
                assert r.status_code == 200
                assert "toolhive-test-echo" in r.text
            # The official client works (its GET stream is refused, as the spec allows).
            with anyio.fail_after(60):
                async with Client(f"{base}/mcp") as client:
                    result = await client.call_tool("add", {"a": 2, "b": 3})
            assert result.content[0].text == "5"


# --------------------------------------------------------------------------- 502 / 504


async def test_slow_upstream_is_504_and_a_dead_one_502(monkeypatch: pytest.MonkeyPatch) -> None:
    """A real TCP server that accepts and never answers; the timeout comes from the environment."""
    monkeypatch.setenv("TOOLHIVE_PROXY_REQUEST_TIMEOUT", "500ms")
    accepted: list[asyncio.StreamWriter] = []

    async def never_answer(_r: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)

    server = await asyncio.start_server(never_answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async for base in _proxy(f"http://127.0.0.1:{port}/mcp", transport="streamable-http"):
        async with httpx.AsyncClient(timeout=30) as http:
            started = asyncio.get_running_loop().time()
            r = await http.post(f"{base}/mcp", json={"jsonrpc": "2.0", "id": 7, "method": "ping"})
            elapsed = asyncio.get_running_loop().time() - started
            assert r.status_code == 504
            assert r.json()["id"] == 7 and "Gateway Timeout" in r.json()["error"]["message"]
            assert 0.4 < elapsed < 5
            server.close()
            for writer in accepted:
                writer.close()
            await server.wait_closed()
            r = await http.post(f"{base}/mcp", json={"jsonrpc": "2.0", "id": 8, "method": "ping"})
            assert r.status_code == 502
            assert r.json()["id"] == 8 and "Bad Gateway" in r.json()["error"]["message"]


async def test_unused_port_is_502() -> None:
    async for base in _proxy(f"http://127.0.0.1:{free_port()}/mcp", transport="streamable-http"):
        async with httpx.AsyncClient(timeout=30) as http:
            r = await http.post(f"{base}/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
        assert r.status_code == 502
