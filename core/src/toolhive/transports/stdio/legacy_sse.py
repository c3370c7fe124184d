"""The legacy HTTP+SSE face (``--proxy-mode sse``, MCP 2024-11-05 transport).

``GET /sse`` opens a session: the stream's first event is ``endpoint`` with
``<prefix>/messages?session_id=<id>``, and every message for the session (answers included)
follows on it as ``message`` events, with keep-alive comments in between so idle connections
survive proxies and client read timeouts. ``POST /messages?session_id=<id>`` takes one JSON-RPC
message and answers ``202 Accepted`` at once. Closing the stream ends the session.

Sessions, id rewriting and routing are the relay's; this module only frames them.
"""

from __future__ import annotations

import asyncio
import time
from typing import Final
from urllib.parse import parse_qs

from toolhive.mcp import methods
from toolhive.mcp.jsonrpc import (
    CONNECTION_CLOSED,
    INVALID_REQUEST,
    JSONRPCError,
    Message,
    MessageKind,
    encode,
    error_bytes,
    parse_message,
    result_response,
)
from toolhive.transports.stdio.face import (
    NO_SUCH_SERVER_REQUEST,
    discover_refusal,
    refuse_content_type,
    refuse_protocol_version,
    send_jsonrpc_error,
)
from toolhive.transports.stdio.intercepted import INTERCEPTED
from toolhive.transports.stdio.relay import Relay
from toolhive.transports.stdio.sessions import Session, StreamPending, client_capabilities
from toolhive.transports.stdio.streams import Mailbox, watch_disconnect
from toolhive.web.asgi import (
    NO_CACHE,
    SSE_CONTENT_TYPE,
    ClientDisconnected,
    Receive,
    Scope,
    Send,
    header,
    read_body,
    send_body,
    send_empty,
    sse_event,
)

SSE_PATHS: Final = ("/sse", "/sse/")
MESSAGE_PATHS: Final = ("/messages", "/messages/")
_NO_BUFFERING: Final = (b"x-accel-buffering", b"no")


class LegacySseFace:
    """``GET /sse`` + ``POST /messages?session_id=``: one stream per session carries everything."""

    __slots__ = ("_endpoint_prefix", "_relay", "_strict", "_trust_proxy_headers")

    def __init__(
        self,
        relay: Relay,
        *,
        strict_protocol: bool,
        endpoint_prefix: str,
        trust_proxy_headers: bool,
    ) -> None:
        self._relay = relay
        self._strict = strict_protocol
        self._endpoint_prefix = endpoint_prefix
        self._trust_proxy_headers = trust_proxy_headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"]
        method = scope["method"]
        headers = scope["headers"]
        version = header(headers, b"mcp-protocol-version")
        if await refuse_protocol_version(send, version, self._strict):
            return
        try:
            if path in SSE_PATHS:
                if method != "GET":
                    await send_jsonrpc_error(
                        send, 405, INVALID_REQUEST, "Method Not Allowed", extra=[(b"allow", b"GET")]
                    )
                    return
                await self._stream(scope, receive, send)
            elif path in MESSAGE_PATHS:
                if method != "POST":
                    await send_jsonrpc_error(
                        send,
                        405,
                        INVALID_REQUEST,
                        "Method Not Allowed",
                        extra=[(b"allow", b"POST")],
                    )
                    return
                if await refuse_content_type(send, header(headers, b"content-type")):
                    return
                await self._message(scope, receive, send)
            else:
                await send_jsonrpc_error(
                    send,
                    404,
                    INVALID_REQUEST,
                    "Not Found: this proxy speaks legacy SSE: GET /sse, POST /messages?session_id=",
                )
        except ClientDisconnected:
            return

    def _prefix(self, scope: Scope) -> bytes:
        """Path prefix for the endpoint URL: ``--endpoint-prefix``, else a trusted
        ``X-Forwarded-Prefix``, else the ASGI root path."""
        prefix = self._endpoint_prefix
        if not prefix and self._trust_proxy_headers:
            forwarded = header(scope["headers"], b"x-forwarded-prefix")
            prefix = forwarded.decode("latin-1") if forwarded else ""
        if not prefix:
            prefix = scope.get("root_path", "") or ""
        return prefix.rstrip("/").encode()

    async def _stream(self, scope: Scope, receive: Receive, send: Send) -> None:
        relay = self._relay
        reason = relay.unavailable
        if reason is not None:
            await send_jsonrpc_error(send, 503, CONNECTION_CLOSED, reason)
            return
        session = relay.table.open({}, legacy=True)
        box = session.stream = Mailbox()
        endpoint = self._prefix(scope) + b"/messages?session_id=" + session.id
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [SSE_CONTENT_TYPE, NO_CACHE, _NO_BUFFERING],
            }
        )
        watcher = asyncio.create_task(watch_disconnect(receive, box))
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
            relay.close_session(session, "the SSE stream closed")

    async def _message(self, scope: Scope, receive: Receive, send: Send) -> None:
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        values = query.get("session_id") or query.get("sessionId")
        if not values:
            await send_jsonrpc_error(
                send, 400, INVALID_REQUEST, "Bad Request: session_id is required"
            )
            return
        session = self._session(values[0].encode())
        if session is None:
            await send_jsonrpc_error(
                send, 404, INVALID_REQUEST, "Not Found: Could not find session"
            )
            return
        body = await read_body(receive)
        try:
            msg, kind = parse_message(body)
        except JSONRPCError as exc:
            await send_body(send, 400, exc.to_bytes())
            return
        relay = self._relay
        if kind is MessageKind.RESPONSE:
            if await relay.client_response(session, msg):
                await send_empty(send, 202)
            else:
                await send_jsonrpc_error(send, 400, INVALID_REQUEST, NO_SUCH_SERVER_REQUEST)
            return
        await send_empty(send, 202)
        if kind is MessageKind.NOTIFICATION:
            await relay.client_notification(session, msg)
            return
        await self._request(session, msg)

    def _session(self, sid: bytes) -> Session | None:
        session = self._relay.table.sessions.get(sid)
        if session is None or not session.legacy:
            return None
        session.last_seen = time.monotonic()
        return session

    async def _request(self, session: Session, msg: Message) -> None:
        relay = self._relay
        method = msg["method"]
        answer: bytes | None = None
        if method == methods.INITIALIZE:
            session.capabilities = client_capabilities(msg)
            result, error, _status = await relay.handshake(msg)
            answer = error or encode(result_response(msg["id"], result))
        elif method == methods.SERVER_DISCOVER:
            answer = discover_refusal(msg["id"])
        elif method in INTERCEPTED:
            answer = await relay.intercepted.answer(session, msg, method)
        if answer is None:
            await self._forward(session, msg)
        elif session.stream is not None:
            session.stream.put(sse_event(answer))

    async def _forward(self, session: Session, msg: Message) -> None:
        """Forward a request: its answer goes to the session's stream."""
        relay = self._relay
        if relay.gone is not None:
            if session.stream is not None:
                session.stream.put(sse_event(error_bytes(msg["id"], CONNECTION_CLOSED, relay.gone)))
            return
        pending, line = relay.register(session, msg, StreamPending, True)
        await relay.send_request(pending, line)
