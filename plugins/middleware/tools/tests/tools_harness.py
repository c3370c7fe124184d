"""A workload's proxy with the tool filters, in front of the SDK echo server (tools ``echo`` and
``add``) through core's stdio bridge, built the way the supervisor builds it: the chain planned
from a RunConfig's ``tools_filter`` / ``tools_override``, checked against the installed plugins,
wrapped around the bridge and served on a real port (``toolhive.testing.chains``); raw requests
use its ``raw_session``."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from toolhive.testing.chains import workload_proxy
from toolhive.testing.mcp_servers import STARTUP_TIMEOUT


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
    from toolhive.models.runconfig import RunConfig
    from toolhive.plugins import Hooks, build_plugin_manager

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
    async with workload_proxy(hooks, config, proxy_mode=proxy_mode, transport=transport) as proxy:
        assert proxy.chain[:2] == ["tool-filter", "tool-call-filter"], proxy.chain
        yield proxy.base


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
