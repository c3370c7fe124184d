"""Real components for transport and proxy tests: server processes, apps served by uvicorn, and the
raw MCP-over-HTTP helpers the bridge tests share."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx
from mcp.client.session import ClientRequestContext
from mcp_types import CreateMessageRequestParams, CreateMessageResult, TextContent
from toolhive.proxy.app import build_proxy_app
from toolhive.testing.mcp_servers import StdioServer, free_port, wait_listening
from toolhive.testing.mcp_servers import served as serve
from toolhive.transports.base import TransportOptions
from toolhive.transports.pipes import LINE_LIMIT, PipeChannel
from toolhive.transports.reverse_proxy import ReverseProxy
from toolhive.transports.stdio import StdioBridge

REPO = Path(__file__).resolve().parents[3]
ECHO_SERVER = REPO / "tests" / "fixtures" / "echo_server.py"
RAW_SERVER = Path(__file__).with_name("raw_server.py")

ECHO_STDIO = (sys.executable, str(ECHO_SERVER), "stdio")
RAW_STDIO = (sys.executable, str(RAW_SERVER))


async def start_stdio(*command: str) -> StdioServer:
    proc = await asyncio.create_subprocess_exec(
        *command,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        limit=LINE_LIMIT,
    )
    assert proc.stdout is not None and proc.stdin is not None
    return StdioServer(proc, PipeChannel(proc.stdout, proc.stdin))


@dataclass
class Bridged:
    url: str  # the MCP endpoint, .../mcp
    base: str
    bridge: StdioBridge
    server: StdioServer


@contextlib.asynccontextmanager
async def bridged(
    command: tuple[str, ...] = ECHO_STDIO,
    *,
    request_timeout: float | None = None,
    keepalive_interval: float | None = None,
    **options: Any,
) -> AsyncIterator[Bridged]:
    """A stdio server behind a :class:`StdioBridge` behind the proxy app, on a real port.

    With ``proxy_mode="sse"`` the bridge speaks legacy SSE: ``url`` is then ``…/sse``.
    """
    server = await start_stdio(*command)
    try:
        bridge = StdioBridge(
            TransportOptions(workload="test", stdio=server.channel, **options),
            request_timeout=request_timeout,
            keepalive_interval=keepalive_interval,
        )
        app = build_proxy_app(bridge, transport_name="stdio", health_interval=0.0)
        async with serve(app) as base:
            path = "/sse" if options.get("proxy_mode") == "sse" else "/mcp"
            yield Bridged(f"{base}{path}", base, bridge, server)
    finally:
        await server.kill()


@contextlib.asynccontextmanager
async def http_echo_server(mode: str) -> AsyncIterator[int]:
    """``tests/fixtures/echo_server.py`` speaking ``sse`` or ``streamable-http``; yield its port."""
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ECHO_SERVER),
        mode,
        env={**os.environ, "MCP_PORT": str(port), "MCP_HOST": "127.0.0.1"},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        await wait_listening(port, proc)
        yield port
    finally:
        if proc.returncode is None:
            proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), 10)
        except TimeoutError:
            proc.kill()
            await proc.wait()


@contextlib.asynccontextmanager
async def proxied(target_url: str, **kwargs: Any) -> AsyncIterator[tuple[str, ReverseProxy]]:
    """A :class:`ReverseProxy` to ``target_url`` behind the proxy app; yield (base URL, proxy)."""
    remote = kwargs.pop("remote", False)
    ping_timeout = kwargs.pop("ping_timeout", 5.0)
    proxy = ReverseProxy(
        TransportOptions(workload="test", target_url=target_url, remote=remote), **kwargs
    )
    app = build_proxy_app(
        proxy, transport_name="streamable-http", health_interval=0.0, ping_timeout=ping_timeout
    )
    async with serve(app) as base:
        yield base, proxy


def sampler_for(tag: str) -> Any:
    """A sampling callback for the official client that answers ``<tag>:<prompt text>``."""

    async def sampler(
        ctx: ClientRequestContext, params: CreateMessageRequestParams
    ) -> CreateMessageResult:
        prompt = params.messages[0].content
        assert isinstance(prompt, TextContent)
        return CreateMessageResult(
            role="assistant",
            content=TextContent(type="text", text=f"{tag}:{prompt.text}"),
            model="test-model",
        )

    return sampler


# --------------------------------------------------------------------------- raw MCP over HTTP

BOTH = "application/json, text/event-stream"
INIT_PARAMS = {
    "protocolVersion": "2025-06-18",
    "capabilities": {},
    "clientInfo": {"name": "raw", "version": "1"},
}


def text_of(result: Any) -> str:
    assert not result.is_error, result
    return "".join(c.text for c in result.content if c.type == "text")


async def raw_session(
    http: httpx.AsyncClient, url: str, capabilities: dict[str, Any] | None = None
) -> str:
    params = {**INIT_PARAMS, "capabilities": capabilities or {}}
    response = await http.post(
        url,
        json={"jsonrpc": "2.0", "id": "init", "method": "initialize", "params": params},
        headers={"accept": BOTH},
    )
    assert response.status_code == 200, response.text
    assert response.json()["id"] == "init"
    sid = response.headers["mcp-session-id"]
    note = await http.post(
        url,
        json={"jsonrpc": "2.0", "method": "notifications/initialized"},
        headers={"accept": BOTH, "mcp-session-id": sid},
    )
    assert note.status_code == 202
    return sid


async def rpc(
    http: httpx.AsyncClient,
    url: str,
    sid: str | None,
    id: Any,
    method: str,
    params: dict[str, Any] | None = None,
    accept: str = BOTH,
) -> httpx.Response:
    headers = {"accept": accept}
    if sid is not None:
        headers["mcp-session-id"] = sid
    body: dict[str, Any] = {"jsonrpc": "2.0", "id": id, "method": method}
    if params is not None:
        body["params"] = params
    return await http.post(url, json=body, headers=headers)


async def wait_get_streams(b: Bridged, count: int) -> None:
    """The official client opens its GET stream in the background: wait until the bridge has it."""
    with anyio.fail_after(10):
        while sum(s.stream is not None for s in b.bridge.relay.table.sessions.values()) < count:
            await asyncio.sleep(0.02)
