"""A workload's proxy with the tool filters, in front of the SDK echo server (tools ``echo`` and
``add``) through core's stdio bridge, built the way the supervisor builds it: the chain planned
from a RunConfig's ``tools_filter`` / ``tools_override``, checked against the installed plugins,
wrapped around the bridge and served on a real port."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
from toolhive.contracts import MiddlewareContext
from toolhive.testing.mcp_servers import (
    STARTUP_TIMEOUT,
    http_echo_server,
    served,
    stdio_echo_server,
)

INIT_PARAMS: dict[str, Any] = {
    "protocolVersion": "2025-06-18",
    "capabilities": {},
    "clientInfo": {"name": "tools-tests", "version": "1"},
}
ACCEPT = "application/json, text/event-stream"


@contextlib.asynccontextmanager
async def filtered_proxy(
    *,
    tools_filter: list[str] | None = None,
    tools_override: dict[str, Any] | None = None,
    proxy_mode: str = "streamable-http",
    transport: str = "stdio",
) -> AsyncIterator[str]:
    """Serve the echo server behind the chain the RunConfig asks for; yield the base URL.

    ``transport="sse"``: the server speaks legacy SSE itself, behind core's reverse proxy (a
    ``--transport sse`` workload; clients then speak SSE too)."""
    from toolhive.middleware.chain import checked_chain, wrappers
    from toolhive.models.runconfig import RunConfig
    from toolhive.plugins import Hooks, build_plugin_manager
    from toolhive.proxy.app import build_proxy_app
    from toolhive.transports.base import TransportOptions

    config = RunConfig(
        name="tools",
        transport=transport,  # type: ignore[arg-type]
        proxy_mode=proxy_mode,  # type: ignore[arg-type]
        port=0,
        target_port=0,
        tools_filter=tools_filter or [],
        tools_override=tools_override or {},
    )
    hooks = Hooks(build_plugin_manager(autoload=True))
    chain = checked_chain(config, hooks.middleware())
    types = [item.entry.type for item in chain]
    assert types[:2] == ["tool-filter", "tool-call-filter"], types
    context = MiddlewareContext(
        workload="tools",
        transport=transport,
        proxy_mode=config.effective_proxy_mode,
        url="http://127.0.0.1/mcp",
    )
    factory = hooks.load("transports", transport)
    async with contextlib.AsyncExitStack() as stack:
        if transport == "stdio":
            server = await stack.enter_async_context(stdio_echo_server())
            options = TransportOptions(
                workload="tools", stdio=server.channel, proxy_mode=proxy_mode
            )
        else:
            http = await stack.enter_async_context(http_echo_server(transport))
            options = TransportOptions(workload="tools", transport=transport, target_url=http.url)
        bridge = factory(options)
        await bridge.start()
        try:
            app = build_proxy_app(
                bridge,
                transport_name="stdio",
                middleware=wrappers(chain, context),
                health_interval=0.0,
                manage_lifespan=False,
            )
            async with served(app) as base:
                yield base
        finally:
            await bridge.aclose()


# --- the official SDK client -------------------------------------------------------------------


@dataclass
class Outcome:
    """A tool call as the client saw it: a result's text, or a JSON-RPC error."""

    text: str | None = None
    error_code: int | None = None
    error_message: str | None = None


class SdkSession:
    """The official client over streamable HTTP or legacy SSE."""

    def __init__(self, client: Any) -> None:
        self.client = client

    async def tools(self) -> dict[str, str | None]:
        async with asyncio.timeout(30):
            listed = await self.client.list_tools(cache_mode="refresh")
        return {tool.name: tool.description for tool in listed.tools}

    async def call(self, name: str, arguments: dict[str, Any]) -> Outcome:
        from mcp.shared.exceptions import MCPError

        try:
            async with asyncio.timeout(30):  # a lost answer fails the test, not hangs it
                result = await self.client.call_tool(name, arguments)
        except MCPError as exc:
            return Outcome(error_code=exc.error.code, error_message=exc.error.message)
        text = "".join(c.text for c in result.content if c.type == "text")
        if result.is_error:
            return Outcome(error_message=text)
        return Outcome(text=text)


@contextlib.asynccontextmanager
async def sdk_session(base: str, *, sse: bool = False) -> AsyncIterator[SdkSession]:
    import httpx2  # the SDK's HTTP client (a dependency of ``mcp``)
    from mcp import Client
    from mcp.client.sse import sse_client
    from mcp.client.streamable_http import streamable_http_client

    async with contextlib.AsyncExitStack() as stack:
        if sse:
            transport = sse_client(f"{base}/sse")
        else:
            http = await stack.enter_async_context(
                httpx2.AsyncClient(timeout=httpx2.Timeout(30, read=300))
            )
            transport = streamable_http_client(f"{base}/mcp", http_client=http)
        async with asyncio.timeout(STARTUP_TIMEOUT):
            client = await stack.enter_async_context(Client(transport))
        yield SdkSession(client)


# --- raw HTTP, for what the SDK client never sends ---------------------------------------------


class RawSession:
    """A streamable-HTTP session by hand: exact bodies in, raw responses out."""

    def __init__(self, http: httpx.AsyncClient, url: str) -> None:
        self.http = http
        self.url = url
        self.session_id = ""

    async def open(self) -> None:
        response = await self.post({"jsonrpc": "2.0", "id": 0, "method": "initialize",
                                    "params": INIT_PARAMS})  # fmt: skip
        assert response.status_code == 200, response.text
        self.session_id = response.headers["mcp-session-id"]
        await self.post({"jsonrpc": "2.0", "method": "notifications/initialized"})

    async def post(
        self, body: Any, *, raw: bytes | None = None, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        sent = {"accept": ACCEPT, "content-type": "application/json", **(headers or {})}
        if self.session_id:
            sent["mcp-session-id"] = self.session_id
        content = raw if raw is not None else json.dumps(body).encode()
        return await self.http.post(self.url, content=content, headers=sent)


def answers(response: httpx.Response) -> Any:
    """The JSON-RPC message(s) of a response, JSON or SSE."""
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        data = [line[5:].strip() for line in response.text.splitlines() if line.startswith("data:")]
        decoded = [json.loads(d) for d in data if d]
        return decoded[0] if len(decoded) == 1 else decoded
    return response.json()


@contextlib.asynccontextmanager
async def raw_session(base: str) -> AsyncIterator[RawSession]:
    async with httpx.AsyncClient(timeout=30) as http:
        session = RawSession(http, f"{base}/mcp")
        await session.open()
        yield session
