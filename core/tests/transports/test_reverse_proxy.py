"""The reverse proxy in front of real HTTP MCP servers and real HTTP upstreams."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from typing import Any

import anyio
import httpx
import pytest
from harness import free_port, http_echo_server, proxied, serve
from mcp import Client
from mcp.client.sse import sse_client
from toolhive.errors import ToolHiveError
from toolhive.transports.base import TransportOptions
from toolhive.transports.reverse_proxy import ReverseProxy

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(90)]


def text_of(result: Any) -> str:
    assert not result.is_error, result
    return "".join(c.text for c in result.content if c.type == "text")


class Upstream:
    """A plain ASGI app served by uvicorn: reports what it received, streams SSE on ``/events``."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.disconnected = asyncio.Event()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                await send({"type": message["type"] + ".complete"})
                if message["type"] == "lifespan.shutdown":
                    return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        if scope["path"] == "/events":
            await self.events(receive, send)
            return
        payload = {
            "method": scope["method"],
            "path": scope["path"],
            "query": scope["query_string"].decode(),
            "headers": {k.decode(): v.decode() for k, v in scope["headers"]},
            "body_len": len(body),
        }
        data = json.dumps(payload).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 201,
                "headers": [(b"content-type", b"application/json"), (b"x-upstream", b"yes")],
            }
        )
        await send({"type": "http.response.body", "body": data})

    async def events(self, receive: Any, send: Any) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/event-stream")],
            }
        )
        await send({"type": "http.response.body", "body": b"data: one\n\n", "more_body": True})
        watcher = asyncio.ensure_future(receive())
        release = asyncio.ensure_future(self.release.wait())
        await asyncio.wait((watcher, release), return_when=asyncio.FIRST_COMPLETED)
        if watcher.done() and watcher.result()["type"] == "http.disconnect":
            self.disconnected.set()
            release.cancel()
            return
        await send({"type": "http.response.body", "body": b"data: two\n\n", "more_body": True})
        message = await watcher
        if message["type"] == "http.disconnect":
            self.disconnected.set()


# --------------------------------------------------------------------------- real MCP servers


async def test_streamable_http_server_through_the_proxy_with_the_official_client() -> None:
    async with (
        http_echo_server("streamable-http") as port,
        proxied(f"http://127.0.0.1:{port}/mcp") as (base, proxy),
    ):

        async def one(n: int, out: dict[int, str]) -> None:
            async with Client(f"{base}/mcp") as client:
                names = {t.name for t in (await client.list_tools()).tools}
                assert {"echo", "add"} <= names
                out[n] = text_of(await client.call_tool("echo", {"text": f"via proxy {n}"}))

        out: dict[int, str] = {}
        with anyio.fail_after(30):
            async with anyio.create_task_group() as tg:
                for n in range(3):
                    tg.start_soon(one, n, out)
        assert out == {n: f"via proxy {n}" for n in range(3)}
        await proxy.ping(5)
        async with httpx.AsyncClient() as http:
            health = (await http.get(f"{base}/health")).json()
        assert health["status"] == "healthy"
        assert health["mcp"]["available"] is True


async def test_sse_server_through_the_proxy_with_the_official_client() -> None:
    async with (
        http_echo_server("sse") as port,
        proxied(f"http://127.0.0.1:{port}/sse") as (base, proxy),
    ):
        with anyio.fail_after(30):
            async with Client(sse_client(f"{base}/sse")) as client:
                assert text_of(await client.call_tool("add", {"a": 20, "b": 22})) == "42"
                assert text_of(await client.call_tool("echo", {"text": "sse ok"})) == "sse ok"
        await proxy.ping(5)


# --------------------------------------------------------------------------- failures


async def test_upstream_down_is_502_and_unhealthy() -> None:
    port = free_port()  # nothing listens there
    async with (
        proxied(f"http://127.0.0.1:{port}/mcp") as (base, proxy),
        httpx.AsyncClient() as http,
    ):
        response = await http.post(
            f"{base}/mcp", json={"jsonrpc": "2.0", "id": 4, "method": "tools/list"}
        )
        assert response.status_code == 502
        body = response.json()
        assert body["jsonrpc"] == "2.0" and body["id"] == 4
        assert "Bad Gateway" in body["error"]["message"]
        with pytest.raises(ConnectionError):
            await proxy.ping(2)
        health = await http.get(f"{base}/health")
        assert health.status_code == 503
        assert health.json()["status"] == "unhealthy"
        assert health.json()["mcp"]["available"] is False


async def test_upstream_that_never_answers_is_504_and_degraded() -> None:
    with socket.socket() as blackhole:  # accepts connections (backlog) but never answers
        blackhole.bind(("127.0.0.1", 0))
        blackhole.listen(16)
        port = blackhole.getsockname()[1]
        async with (
            proxied(f"http://127.0.0.1:{port}/mcp", request_timeout=0.5, ping_timeout=0.3) as (
                base,
                _,
            ),
            httpx.AsyncClient(timeout=10) as http,
        ):
            started = time.monotonic()
            response = await http.post(
                f"{base}/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "ping"}
            )
            assert response.status_code == 504
            assert time.monotonic() - started < 3
            assert response.json()["error"]["message"].startswith("Gateway Timeout")
            health = await http.get(f"{base}/health")
            assert health.status_code == 200
            assert health.json()["status"] == "degraded"
            assert "timed out" in health.json()["mcp"]["error"]


# --------------------------------------------------------------------------- HTTP fidelity


async def test_request_is_forwarded_faithfully_and_hop_by_hop_headers_dropped() -> None:
    upstream = Upstream()
    async with (
        serve(upstream) as up,
        proxied(f"{up}/mcp") as (base, _),
        httpx.AsyncClient() as http,
    ):
        proxy_host = base.removeprefix("http://")
        response = await http.post(
            f"{base}/some/path%20x?a=1&b=two",
            content=b"x" * 300_000,
            headers={
                "connection": "keep-alive, x-private",
                "x-private": "secret",
                "te": "trailers",
                "proxy-authorization": "Basic Zm9v",
                "x-keep": "kept",
                "authorization": "Bearer abc",
            },
        )
        assert response.status_code == 201
        assert response.headers["x-upstream"] == "yes"
        seen = response.json()
        assert seen["method"] == "POST"
        assert seen["path"] == "/some/path x"
        assert seen["query"] == "a=1&b=two"
        assert seen["body_len"] == 300_000
        headers = seen["headers"]
        assert headers["host"] == proxy_host
        assert headers["x-keep"] == "kept" and headers["authorization"] == "Bearer abc"
        for gone in ("x-private", "te", "proxy-authorization"):
            assert gone not in headers
        assert headers["accept-encoding"] == "gzip, deflate"  # the client's, unchanged
        del http.headers["accept-encoding"]
        seen = (await http.get(f"{base}/mcp")).json()
        assert seen["headers"]["accept-encoding"] == "identity"  # not httpx's gzip default


async def test_remote_rewrites_host_and_appends_the_remote_query() -> None:
    upstream = Upstream()
    async with (
        serve(upstream) as up,
        proxied(f"{up}/mcp?token=abc&x=1", remote=True) as (base, _),
        httpx.AsyncClient() as http,
    ):
        seen = (await http.get(f"{base}/mcp?mine=2")).json()
        assert seen["path"] == "/mcp"
        assert seen["query"] == "mine=2&token=abc&x=1"
        assert seen["headers"]["host"] == up.removeprefix("http://")
        bare = (await http.get(f"{base}/mcp")).json()
        assert bare["query"] == "token=abc&x=1"


async def test_sse_flows_event_by_event_and_client_disconnect_reaches_upstream() -> None:
    upstream = Upstream()
    async with (
        serve(upstream) as up,
        proxied(f"{up}/mcp") as (base, _),
        httpx.AsyncClient(timeout=10) as http,
    ):
        with anyio.fail_after(10):
            async with http.stream("GET", f"{base}/events") as response:
                assert response.headers["content-type"] == "text/event-stream"
                lines = response.aiter_lines()
                assert await anext(lines) == "data: one"  # before the upstream sends "two"
                upstream.release.set()
                assert await anext(lines) == ""
                assert await anext(lines) == "data: two"
            await upstream.disconnected.wait()


def test_the_builtin_plugin_loads_the_proxy_and_checks_the_url() -> None:
    from toolhive.builtin.transports import thv_transports

    spec = next(s for s in thv_transports() if s.name == "streamable-http")
    proxy = spec.load()(TransportOptions(workload="w", target_url="http://127.0.0.1:1/mcp"))
    assert isinstance(proxy, ReverseProxy)
    with pytest.raises(ToolHiveError):
        spec.load()(TransportOptions(workload="w"))
    with pytest.raises(ToolHiveError):
        spec.load()(TransportOptions(workload="w", target_url="ftp://example.com/"))
