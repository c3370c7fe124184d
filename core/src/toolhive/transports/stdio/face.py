"""The face interface: how HTTP clients reach the relay, and what both faces share.

A face is the ASGI side of one proxy mode (:mod:`.streamable_http`, :mod:`.legacy_sse`): it frames
HTTP requests and responses and leaves sessions, ids and routing to the
:class:`~toolhive.transports.stdio.relay.Relay` it is given.
"""

from __future__ import annotations

from typing import Protocol

from toolhive.mcp import methods
from toolhive.mcp.jsonrpc import INVALID_REQUEST, METHOD_NOT_FOUND, RequestId, error_bytes
from toolhive.web.asgi import NO_CACHE, SSE_CONTENT_TYPE, Receive, Scope, Send, send_body, sse_event

NO_SUCH_SERVER_REQUEST = "Bad Request: no server request with this id is pending"


class Face(Protocol):
    """One HTTP face of the bridge (an ASGI app over the relay)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None: ...


async def send_jsonrpc_error(
    send: Send,
    status: int,
    code: int,
    message: str,
    id: RequestId | None = None,
    extra: list[tuple[bytes, bytes]] | None = None,
) -> None:
    await send_body(send, status, error_bytes(id, code, message), extra=extra)


def protocol_version_ok(version: bytes) -> bool:
    """``--strict-protocol-validation``: only handshake-era versions (the bridge's own era)."""
    return version.decode("latin-1") in methods.HANDSHAKE_PROTOCOL_VERSIONS


async def refuse_protocol_version(send: Send, version: bytes | None, strict: bool) -> bool:
    """With --strict-protocol-validation, answer 400 to an unknown MCP-Protocol-Version."""
    if not strict or version is None or protocol_version_ok(version):
        return False
    await send_jsonrpc_error(
        send,
        400,
        INVALID_REQUEST,
        f"Bad Request: Unsupported MCP-Protocol-Version: {version.decode('latin-1')!r}",
    )
    return True


def is_json_content_type(value: bytes) -> bool:
    return value.split(b";", 1)[0].strip().lower() == b"application/json"


async def refuse_content_type(send: Send, ctype: bytes | None) -> bool:
    """Answer 415 to a POST whose body is declared as something other than JSON."""
    if ctype is None or is_json_content_type(ctype):
        return False
    await send_jsonrpc_error(
        send,
        415,
        INVALID_REQUEST,
        "Unsupported Media Type: Content-Type must be application/json",
    )
    return True


def discover_refusal(rid: RequestId) -> bytes:
    """The answer to ``server/discover`` (2026-07-28 era). The bridge serves the handshake era for
    every stdio server, so it says "method not found" itself; ``mode="auto"`` clients then fall back
    to ``initialize``."""
    return error_bytes(rid, METHOD_NOT_FOUND, "Method not found", methods.SERVER_DISCOVER)


async def send_single(
    send: Send, accept: bytes | None, data: bytes, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    """One message as JSON, or as a one-event SSE body for a client that accepts only SSE."""
    if (
        accept is not None
        and b"text/event-stream" in accept
        and b"application/json" not in accept
        and b"*/*" not in accept
    ):
        await send_body(send, 200, sse_event(data), SSE_CONTENT_TYPE, [NO_CACHE, *(extra or ())])
    else:
        await send_body(send, 200, data, extra=extra)
