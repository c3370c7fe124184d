"""The proxy app: /health, routing to the transport, lifespan."""

from __future__ import annotations

import datetime

import httpx
import pytest
from harness import RAW_STDIO, bridged, serve, start_stdio
from toolhive.proxy.app import build_proxy_app
from toolhive.transports.base import TransportOptions
from toolhive.transports.stdio import StdioBridge

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]


def _is_timestamp(value: str) -> bool:
    return datetime.datetime.fromisoformat(value.replace("Z", "+00:00")).tzinfo is not None


async def test_health_document_when_healthy() -> None:
    async with bridged() as b, httpx.AsyncClient() as http:
        response = await http.get(f"{b.base}/health")
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        body = response.json()
        assert set(body) == {"status", "timestamp", "version", "transport", "mcp"}
        assert body["status"] == "healthy"
        assert body["transport"] == "stdio"
        assert _is_timestamp(body["timestamp"])
        mcp = body["mcp"]
        assert set(mcp) == {"available", "response_time_ms", "error", "last_checked"}
        assert mcp["available"] is True
        assert isinstance(mcp["response_time_ms"], int) and mcp["error"] is None
        assert _is_timestamp(mcp["last_checked"])

        head = await http.head(f"{b.base}/health")
        assert head.status_code == 200 and head.content == b""
        assert (await http.post(f"{b.base}/health")).status_code == 405


async def test_health_is_unhealthy_once_the_server_is_dead() -> None:
    async with bridged() as b, httpx.AsyncClient() as http:
        await b.server.kill()
        response = await http.get(f"{b.base}/health")
        assert response.status_code == 503
        body = response.json()
        assert body["status"] == "unhealthy"
        assert body["mcp"]["available"] is False
        assert "exited" in body["mcp"]["error"]


async def test_health_is_degraded_when_ping_times_out_and_results_are_cached() -> None:
    server = await start_stdio(*RAW_STDIO, "--no-ping")
    try:
        bridge = StdioBridge(TransportOptions(workload="t", stdio=server.channel))
        app = build_proxy_app(bridge, transport_name="stdio", ping_timeout=0.2, health_interval=30)
        async with serve(app) as base, httpx.AsyncClient() as http:
            first = await http.get(f"{base}/health")
            assert first.status_code == 200
            assert first.json()["status"] == "degraded"
            assert "timed out" in first.json()["mcp"]["error"]
            second = await http.get(f"{base}/health")
            # served from the cache: same check, fresh timestamp
            assert second.json()["mcp"] == first.json()["mcp"]
    finally:
        await server.kill()


async def test_lifespan_starts_and_closes_the_transport() -> None:
    server = await start_stdio(*RAW_STDIO)
    try:
        bridge = StdioBridge(TransportOptions(workload="t", stdio=server.channel))
        app = build_proxy_app(bridge, transport_name="stdio")
        async with serve(app) as base, httpx.AsyncClient() as http:
            response = await http.post(
                f"{base}/mcp",
                json={
                    "jsonrpc": "2.0",
                    "id": 1,
                    "method": "initialize",
                    "params": {"protocolVersion": "2025-06-18", "capabilities": {}},
                },
            )
            assert response.status_code == 200, "started by the lifespan"
        # aclose() closed the server's stdin: a stdio server exits on EOF
        assert await server.process.wait() == 0
    finally:
        await server.kill()


async def test_middleware_wraps_the_transport_but_not_health() -> None:
    seen: list[str] = []

    def tagging(name: str):  # type: ignore[no-untyped-def]
        def wrap(app):  # type: ignore[no-untyped-def]
            async def wrapped(scope, receive, send):  # type: ignore[no-untyped-def]
                seen.append(name)
                await app(scope, receive, send)

            return wrapped

        return wrap

    server = await start_stdio(*RAW_STDIO)
    try:
        bridge = StdioBridge(TransportOptions(workload="t", stdio=server.channel))
        app = build_proxy_app(
            bridge, transport_name="stdio", middleware=[tagging("outer"), tagging("inner")]
        )
        async with serve(app) as base, httpx.AsyncClient() as http:
            await http.get(f"{base}/health")
            assert seen == []
            await http.post(f"{base}/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
            assert seen == ["outer", "inner"]
    finally:
        await server.kill()


async def test_a_middleware_mounts_a_route_served_outside_the_chain() -> None:
    """`MiddlewareContext.mount` (Prometheus /metrics): served beside /health, never through the
    chain; /health and taken paths cannot be mounted over."""
    from toolhive.middleware.chain import mounter
    from toolhive.web.asgi import send_body

    routes: dict = {}
    mount = mounter(routes)
    chain_calls: list[str] = []

    async def metrics(scope, receive, send):  # type: ignore[no-untyped-def]
        await send_body(send, 200, b"up 1\n", content_type=(b"content-type", b"text/plain"))

    def mounting(app):  # type: ignore[no-untyped-def]
        mount("/metrics", metrics)  # what a factory does when the chain is built

        async def wrapped(scope, receive, send):  # type: ignore[no-untyped-def]
            chain_calls.append(scope["path"])
            await app(scope, receive, send)

        return wrapped

    with pytest.raises(ValueError, match="reserved or already taken"):
        mount("/health", metrics)
    server = await start_stdio(*RAW_STDIO)
    try:
        bridge = StdioBridge(TransportOptions(workload="t", stdio=server.channel))
        app = build_proxy_app(bridge, transport_name="stdio", middleware=[mounting], routes=routes)
        with pytest.raises(ValueError, match="reserved or already taken"):
            mount("/metrics", metrics)
        async with serve(app) as base, httpx.AsyncClient() as http:
            response = await http.get(f"{base}/metrics")
            assert response.status_code == 200 and response.text == "up 1\n"
            assert chain_calls == []
            await http.post(f"{base}/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
            assert chain_calls == ["/mcp"]
    finally:
        await server.kill()
