"""Assemble a workload's proxy: ``/health`` + the middleware chain + the transport, as raw ASGI."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from toolhive import __version__
from toolhive.proxy.edge import EdgeConfig, EdgeProtection
from toolhive.transports.base import Transport
from toolhive.web.asgi import ASGIApp, Receive, Scope, Send, send_body

log = logging.getLogger("toolhive.proxy")

#: Wraps an ASGI app in another (``factory(app) -> app``); the first in a chain is outermost.
Middleware = Callable[[ASGIApp], ASGIApp]


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat().replace("+00:00", "Z")


class ProxyApp:
    """The ASGI app a workload's proxy serves.

    Every HTTP request first passes edge protection (:mod:`toolhive.proxy.edge`: Origin/Host checks,
    body limit). ``GET /health`` is then answered here, outside the middleware chain (as ToolHive
    does); every other request goes through the chain to the transport. With ``manage_lifespan`` the
    ASGI lifespan starts and closes the transport (both are idempotent, so a caller may also do it
    itself).
    """

    def __init__(
        self,
        transport: Transport,
        *,
        transport_name: str,
        middleware: Sequence[Middleware] = (),
        health_interval: float = 2.0,
        ping_timeout: float = 5.0,
        manage_lifespan: bool = True,
        edge: EdgeConfig | None = None,
        routes: Mapping[str, ASGIApp] | None = None,
    ) -> None:
        self.transport = transport
        # Read per request: middleware factories (called below) may still add to it.
        self._routes: Mapping[str, ASGIApp] = routes if routes is not None else {}
        self.transport_name = transport_name
        app: ASGIApp = transport
        for wrap in reversed(middleware):
            app = wrap(app)
        self._app = app
        self._http = EdgeProtection(self._route, edge or EdgeConfig.for_bind("127.0.0.1"))
        self._health_interval = health_interval
        self._ping_timeout = ping_timeout
        self._manage_lifespan = manage_lifespan
        self._mcp_status: dict[str, Any] | None = None
        self._status = "healthy"
        self._checked_at = 0.0
        self._probe: asyncio.Task[None] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)
        else:
            await self._app(scope, receive, send)

    async def _route(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"]
        if path == "/health":
            await self._health(scope, send)
        elif path in self._routes:
            await self._routes[path](scope, receive, send)
        else:
            await self._app(scope, receive, send)

    async def drain(self) -> None:
        """End long-lived streams before the HTTP server waits for connections to close."""
        drain = getattr(self.transport, "drain", None)
        if drain is not None:
            with contextlib.suppress(Exception):
                await drain()

    # ------------------------------------------------------------------ lifespan

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    if self._manage_lifespan:
                        await self.transport.start()
                except Exception as exc:
                    log.exception("starting the transport failed")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._manage_lifespan:
                    try:
                        await self.transport.aclose()
                    except Exception:
                        log.exception("closing the transport failed")
                await send({"type": "lifespan.shutdown.complete"})
                return

    # ------------------------------------------------------------------ health

    async def check_health(self) -> dict[str, Any]:
        """ToolHive's health document; the MCP ping result is reused for ``health_interval`` s."""
        if self._mcp_status is None or time.monotonic() - self._checked_at >= self._health_interval:
            probe = self._probe
            if probe is None:
                probe = self._probe = asyncio.ensure_future(self._ping())
            await asyncio.shield(probe)
        return {
            "status": self._status,
            "timestamp": _now(),
            "version": {"version": __version__},
            "transport": self.transport_name,
            "mcp": self._mcp_status,
        }

    async def _ping(self) -> None:
        checked = _now()
        started = time.monotonic()
        response_time: int | None = None
        error: str | None = None
        try:
            async with asyncio.timeout(self._ping_timeout + 1.0):
                await self.transport.ping(self._ping_timeout)
        except TimeoutError:
            status, error = "degraded", f"MCP ping timed out after {self._ping_timeout:g}s"
        except Exception as exc:
            status, error = "unhealthy", str(exc) or type(exc).__name__
        else:
            status = "healthy"
            response_time = round((time.monotonic() - started) * 1000)
        self._status = status
        self._mcp_status = {
            "available": status == "healthy",
            "response_time_ms": response_time,
            "error": error,
            "last_checked": checked,
        }
        self._checked_at = time.monotonic()
        self._probe = None

    async def _health(self, scope: Scope, send: Send) -> None:
        if scope["method"] not in ("GET", "HEAD"):
            await send_body(
                send, 405, b'{"error":"Method not allowed"}', extra=[(b"allow", b"GET, HEAD")]
            )
            return
        report = await self.check_health()
        body = json.dumps(report).encode()
        status = 503 if report["status"] == "unhealthy" else 200
        await send_body(send, status, b"" if scope["method"] == "HEAD" else body)


def build_proxy_app(
    transport: Transport,
    *,
    transport_name: str,
    middleware: Sequence[Middleware] = (),
    health_interval: float = 2.0,
    ping_timeout: float = 5.0,
    manage_lifespan: bool = True,
    edge: EdgeConfig | None = None,
    routes: Mapping[str, ASGIApp] | None = None,
) -> ProxyApp:
    """The raw-ASGI app for one workload: ``/health`` + middleware (first = outermost) + transport.

    ``/health`` answers ``{status: healthy|degraded|unhealthy, timestamp, version, transport, mcp:
    {available, response_time_ms, error, last_checked}}``: ``degraded`` (HTTP 200) when the MCP ping
    times out, ``unhealthy`` (HTTP 503) when it fails (the server is gone or unreachable). The ping is
    repeated at most every ``health_interval`` seconds; callers in between get the cached result.

    ``edge`` configures the Origin/Host/body-limit layer in front of everything (default: a loopback
    bind with no extra origins and the body limit from ``TOOLHIVE_MAX_REQUEST_BODY``).
    ``routes`` are served beside ``/health``, outside the chain (``MiddlewareContext.mount``).
    """
    return ProxyApp(
        transport,
        transport_name=transport_name,
        middleware=middleware,
        health_interval=health_interval,
        ping_timeout=ping_timeout,
        manage_lifespan=manage_lifespan,
        edge=edge,
        routes=routes,
    )
