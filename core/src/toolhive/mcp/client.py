"""One MCP session with a server through the official SDK client: ``thv mcp list|call`` and the
API's playground (``toolhive.workloads.playground``) both talk to servers this way.

The SDK is imported inside the functions: importing it costs most of a second, and the proxy and
the CLI's other commands never need it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

from toolhive.errors import ToolHiveError

if TYPE_CHECKING:
    from mcp import Client

    from toolhive.models.runconfig import RunConfig

T = TypeVar("T")

#: ``action(client)``: what to do in the session (list, call …); its result is returned.
Action = Callable[["Client"], Awaitable[T]]


class McpServerError(ToolHiveError):
    """The server did not answer, or answered an MCP error: a bad gateway for the API."""

    http_status = 502


def endpoint(url: str, transport: str = "auto") -> tuple[str, str]:
    """``url`` without its fragment, and the transport to speak (``auto``: ``sse`` for a URL
    ending in ``/sse``, else streamable HTTP)."""
    url, _, _fragment = url.partition("#")
    if transport == "auto":
        transport = "sse" if url.rstrip("/").endswith("/sse") else "streamable-http"
    return url, transport


def workload_endpoint(config: RunConfig) -> tuple[str, str]:
    """Where clients reach the workload: its proxy's URL (what ``thv list`` shows)."""
    from toolhive.workloads.urls import client_url

    return endpoint(client_url(config))


def describe(exc: BaseException) -> str:
    """One line for what went wrong (the first of an exception group, which anyio's task groups
    wrap a transport's failure in)."""
    if isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        return describe(exc.exceptions[0])
    from mcp.shared.exceptions import MCPError

    if isinstance(exc, MCPError):
        return f"the server answered MCP error {exc.error.code}: {exc.error.message}"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


async def session(url: str, transport: str, timeout: float, action: Action[T]) -> T:
    """``action(client)`` in one session with the server at ``url``, all within ``timeout``
    seconds; a server that does not answer or fails is a :class:`McpServerError`."""
    import anyio
    from mcp import Client
    from mcp.client.sse import sse_client
    from mcp.client.streamable_http import streamable_http_client

    target = sse_client(url) if transport == "sse" else streamable_http_client(url)
    try:
        with anyio.fail_after(timeout):
            async with Client(target, read_timeout_seconds=timeout) as client:
                return await action(client)
    except TimeoutError:
        msg = f"no answer from {url} within {timeout:.0f}s"
        raise McpServerError(msg) from None
    except ToolHiveError:
        raise
    except Exception as exc:
        msg = f"talking to {url} failed: {describe(exc)}"
        raise McpServerError(msg) from None


def run(url: str, transport: str, timeout: float, action: Action[T]) -> T:
    """:func:`session` from synchronous code (the CLI)."""
    import anyio

    return anyio.run(session, url, transport, timeout, action)
