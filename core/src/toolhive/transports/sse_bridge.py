"""The legacy HTTP+SSE face of the stdio bridge (``--proxy-mode sse``, MCP 2024-11-05 transport).

``GET /sse`` opens a session: the stream's first event is ``endpoint`` with
``<prefix>/messages?session_id=<id>``, and every message for the session (answers included)
follows on it as ``message`` events, with keep-alive comments in between so idle connections
survive proxies and client read timeouts. ``POST /messages?session_id=<id>`` takes one JSON-RPC
message and answers ``202 Accepted`` at once. Closing the stream ends the session.

Sessions, id rewriting and routing are the bridge's (:class:`~toolhive.transports.stdio_bridge.
StdioBridge`); this module only frames them.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Final
from urllib.parse import parse_qs

from toolhive.mcp import methods
from toolhive.mcp.jsonrpc import CONNECTION_CLOSED, INVALID_REQUEST, JSONRPCError, MessageKind
from toolhive.mcp.jsonrpc import parse_message as parse
from toolhive.proxy.asgi import (
    NO_CACHE,
    SSE_CONTENT_TYPE,
    ClientDisconnected,
    header,
    read_body,
    send_body,
    send_empty,
    send_jsonrpc_error,
    sse_event,
)
from toolhive.transports.base import Receive, Scope, Send

if TYPE_CHECKING:
    from toolhive.transports.stdio_bridge import StdioBridge, _Session

SSE_PATHS: Final = ("/sse", "/sse/")
MESSAGE_PATHS: Final = ("/messages", "/messages/")
_NO_BUFFERING: Final = (b"x-accel-buffering", b"no")


async def handle(bridge: StdioBridge, scope: Scope, receive: Receive, send: Send) -> None:
    path = scope["path"]
    method = scope["method"]
    headers = scope["headers"]
    version = header(headers, b"mcp-protocol-version")
    if await bridge.refuse_protocol_version(send, version):
        return
    try:
        if path in SSE_PATHS:
            if method != "GET":
                await send_jsonrpc_error(
                    send, 405, INVALID_REQUEST, "Method Not Allowed", extra=[(b"allow", b"GET")]
                )
                return
            await _stream(bridge, scope, receive, send)
        elif path in MESSAGE_PATHS:
            if method != "POST":
                await send_jsonrpc_error(
                    send, 405, INVALID_REQUEST, "Method Not Allowed", extra=[(b"allow", b"POST")]
                )
                return
            if await bridge.refuse_content_type(send, header(headers, b"content-type")):
                return
            await _message(bridge, scope, receive, send)
        else:
            await send_jsonrpc_error(
                send,
                404,
                INVALID_REQUEST,
                "Not Found: this proxy speaks legacy SSE: GET /sse, POST /messages?session_id=",
            )
    except ClientDisconnected:
        return


def _prefix(bridge: StdioBridge, scope: Scope) -> bytes:
    """Path prefix for the endpoint URL: ``--endpoint-prefix``, else a trusted
    ``X-Forwarded-Prefix``, else the ASGI root path."""
    prefix = bridge._endpoint_prefix
    if not prefix and bridge._trust_proxy_headers:
        forwarded = header(scope["headers"], b"x-forwarded-prefix")
        prefix = forwarded.decode("latin-1") if forwarded else ""
    if not prefix:
        prefix = scope.get("root_path", "") or ""
    return prefix.rstrip("/").encode()


async def _stream(bridge: StdioBridge, scope: Scope, receive: Receive, send: Send) -> None:
    from toolhive.transports.stdio_bridge import _watch_disconnect

    reason = bridge.unavailable
    if reason is not None:
        await send_jsonrpc_error(send, 503, CONNECTION_CLOSED, reason)
        return
    session = bridge.open_legacy_session()
    box = session.stream
    assert box is not None
    endpoint = _prefix(bridge, scope) + b"/messages?session_id=" + session.id
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [SSE_CONTENT_TYPE, NO_CACHE, _NO_BUFFERING],
        }
    )
    watcher = asyncio.create_task(_watch_disconnect(receive, box))
    try:
        await send(
            {
                "type": "http.response.body",
                "body": b"event: endpoint\ndata: " + endpoint + b"\n\n",
                "more_body": True,
            }
        )
        while True:
            data, final = await box.get()
            if final:
                break
            await send({"type": "http.response.body", "body": data, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    finally:
        watcher.cancel()
        bridge.close_session(session, "the SSE stream closed")


async def _message(bridge: StdioBridge, scope: Scope, receive: Receive, send: Send) -> None:
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    values = query.get("session_id") or query.get("sessionId")
    if not values:
        await send_jsonrpc_error(send, 400, INVALID_REQUEST, "Bad Request: session_id is required")
        return
    session = bridge.legacy_session(values[0].encode())
    if session is None:
        await send_jsonrpc_error(send, 404, INVALID_REQUEST, "Not Found: Could not find session")
        return
    body = await read_body(receive)
    try:
        msg, kind = parse(body)
    except JSONRPCError as exc:
        await send_body(send, 400, exc.to_bytes())
        return
    if kind is MessageKind.RESPONSE:
        if await bridge.client_response(session, msg):
            await send_empty(send, 202)
        else:
            from toolhive.transports.stdio_bridge import NO_SUCH_SERVER_REQUEST

            await send_jsonrpc_error(send, 400, INVALID_REQUEST, NO_SUCH_SERVER_REQUEST)
        return
    await send_empty(send, 202)
    if kind is MessageKind.NOTIFICATION:
        await bridge.client_notification(session, msg)
        return
    await _request(bridge, session, msg)


async def _request(bridge: StdioBridge, session: _Session, msg: dict) -> None:  # type: ignore[type-arg]
    from toolhive.transports.stdio_bridge import (
        _INTERCEPTED,
        client_capabilities,
        discover_refusal,
    )

    method = msg["method"]
    answer: bytes | None = None
    if method == methods.INITIALIZE:
        session.capabilities = client_capabilities(msg)
        result, error, _status = await bridge.handshake(msg)
        if error:
            answer = error
        else:
            from toolhive.mcp.jsonrpc import encode, result_response

            answer = encode(result_response(msg["id"], result))
    elif method == methods.SERVER_DISCOVER:
        answer = discover_refusal(msg["id"])
    elif method in _INTERCEPTED:
        answer = await bridge.intercept(session, msg, method)
    if answer is None:
        await bridge.forward_to_stream(session, msg)
    elif session.stream is not None:
        session.stream.put(sse_event(answer))
