"""Bridge one stdio MCP server to many streamable-HTTP client sessions (``POST/GET/DELETE /mcp``).

One server process is shared by every client session, so the bridge owns the JSON-RPC plumbing:

* **Sessions.** ``initialize`` creates a session (``Mcp-Session-Id``). The server is initialized
  once: the first client's ``initialize`` is forwarded and its result cached; later sessions get the
  cached result under their own request id, and only the first ``notifications/initialized`` is
  forwarded. Requests without a session header get 400, with an unknown one 404; ``DELETE`` ends a
  session; sessions idle for ``session_ttl`` seconds expire.
* **Ids.** Every forwarded request gets a fresh integer id, so answers reach the right session and
  clients may reuse ids freely (strings, ints, the same ``1`` in every session). Progress tokens are
  replaced by that id too and restored on the way back.
* **Responses.** A request's answer is JSON, or an SSE stream when the client accepts
  ``text/event-stream`` and something (progress, a server request) arrives before the answer. The
  choice is made when the first message arrives, so the common case costs one JSON body.
* **Server messages.** ``notifications/progress`` goes to the stream of the request that owns the
  token; everything else (``*/list_changed``, log messages, resource updates) to every session's
  ``GET`` stream. Server → client requests (sampling, elicitation, roots) go to the one session that
  can have caused them (the only one with requests in flight, or the only one, and that declared the
  capability); the client's answer (a POSTed JSON-RPC response) is relayed back. When no single
  session qualifies the server gets a JSON-RPC error at once. The server's own ``ping`` is answered
  by the bridge.
* **Failure.** When the server exits every waiting client gets a JSON-RPC error at once and later
  requests get 503. Requests time out after ``TOOLHIVE_PROXY_REQUEST_TIMEOUT`` (default 60 s) with a
  JSON-RPC error, and the server is told with ``notifications/cancelled``.

Timeouts and session expiry run in one sweeper task (no timer per request). The bridge never imports
the MCP SDK.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import os
import time
import uuid
from collections import deque
from collections.abc import Coroutine
from typing import Any, Final, TypeGuard

from toolhive.errors import InvalidInputError
from toolhive.mcp import methods
from toolhive.mcp.jsonrpc import (
    CONNECTION_CLOSED,
    INTERNAL_ERROR,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    REQUEST_TIMEOUT,
    JSONRPCError,
    Message,
    MessageKind,
    RequestId,
    encode,
    encode_line,
    error_bytes,
    error_response,
    parse_message,
    result_response,
)
from toolhive.proxy.asgi import (
    NO_CACHE,
    SSE_CONTENT_TYPE,
    ClientDisconnected,
    read_body,
    send_body,
    send_empty,
    send_jsonrpc_error,
    sse_event,
)
from toolhive.runtime import StdioChannel
from toolhive.transports.base import Receive, Scope, Send, TransportOptions

log = logging.getLogger("toolhive.transports.stdio")

DEFAULT_REQUEST_TIMEOUT: Final = 60.0
REQUEST_TIMEOUT_ENV: Final = "TOOLHIVE_PROXY_REQUEST_TIMEOUT"
#: An SSE comment on every GET stream this often keeps idle connections (and proxies) alive.
KEEPALIVE_INTERVAL: Final = 25.0

_KEEPALIVE: Final = b": keepalive\n\n"
_RESPONSE_PREFIX: Final = b'{"jsonrpc":"2.0","id":'
_PREFIX_LEN: Final = len(_RESPONSE_PREFIX)
_RESULT_OR_ERROR: Final = (b',"result":', b',"error":')
_ALLOW: Final = [(b"allow", b"GET, POST, DELETE")]


class ProxyModeNotSupportedError(InvalidInputError):
    """The requested proxy mode for stdio servers is not implemented yet."""


class ServerGoneError(ConnectionError):
    """The stdio server has exited (or the bridge was closed)."""


def parse_duration(text: str) -> float:
    """Seconds from ``"60"``, ``"1.5"``, ``"90s"``, ``"500ms"``, ``"2m"``, ``"1h30m"`` (Go durations)."""
    text = text.strip()
    try:
        return float(text)
    except ValueError:
        pass
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
    total, number, i = 0.0, "", 0
    while i < len(text):
        ch = text[i]
        if ch.isdigit() or ch == ".":
            number += ch
            i += 1
            continue
        unit = "ms" if text.startswith("ms", i) else ch
        if unit not in units or not number:
            raise ValueError(f"not a duration: {text!r}")
        total += float(number) * units[unit]
        number = ""
        i += len(unit)
    if number:
        raise ValueError(f"not a duration (missing unit): {text!r}")
    return total


def request_timeout_from_env(default: float = DEFAULT_REQUEST_TIMEOUT) -> float:
    raw = os.environ.get(REQUEST_TIMEOUT_ENV, "")
    if not raw:
        return default
    try:
        value = parse_duration(raw)
    except ValueError:
        log.warning("ignoring %s=%r: not a duration", REQUEST_TIMEOUT_ENV, raw)
        return default
    return value if value > 0 else default


def _is_id(value: object) -> TypeGuard[RequestId]:
    return type(value) is str or type(value) is int


def _strip(line: bytes) -> bytes:
    return line.rstrip(b"\r\n")


class _Mailbox:
    """A single-consumer queue of ``(data, final)`` items; no future unless the consumer waits."""

    __slots__ = ("_items", "_waiter")

    def __init__(self) -> None:
        self._items: deque[tuple[bytes, bool]] | None = None
        self._waiter: asyncio.Future[tuple[bytes, bool]] | None = None

    def put(self, data: bytes, final: bool = False) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result((data, final))
                return
        if self._items is None:
            self._items = deque()
        self._items.append((data, final))

    async def get(self) -> tuple[bytes, bool]:
        items = self._items
        if items:
            return items.popleft()
        waiter: asyncio.Future[tuple[bytes, bool]] = asyncio.get_running_loop().create_future()
        self._waiter = waiter
        return await waiter


class _Session:
    __slots__ = ("capabilities", "id", "inflight", "last_seen", "server_requests", "stream")

    def __init__(self, sid: bytes, capabilities: dict[str, Any]) -> None:
        self.id = sid
        self.capabilities = capabilities
        self.last_seen = time.monotonic()
        #: client request id → backend id, for requests in flight.
        self.inflight: dict[RequestId, int] = {}
        #: The session's standalone ``GET`` stream (pre-formatted SSE chunks).
        self.stream: _Mailbox | None = None
        #: Ids of server → client requests this session must answer.
        self.server_requests: set[RequestId] = set()


class _Pending(_Mailbox):
    """One forwarded client request: its answer (and, for SSE, messages before it)."""

    __slots__ = ("client_id", "deadline", "session", "sse", "token")

    def __init__(self, session: _Session, client_id: RequestId, sse: bool, deadline: float) -> None:
        super().__init__()
        self.session = session
        self.client_id = client_id
        #: The client accepts ``text/event-stream``: messages may precede the answer on this stream.
        self.sse = sse
        self.deadline = deadline
        #: The client's original progress token (replaced by the backend id on the wire).
        self.token: Any = None


class StdioBridge:
    """The ``stdio`` transport: many streamable-HTTP sessions over one stdio server."""

    def __init__(self, options: TransportOptions, *, request_timeout: float | None = None) -> None:
        if options.proxy_mode == "sse":
            raise ProxyModeNotSupportedError(
                "the legacy SSE proxy mode for stdio servers is not supported yet; "
                "use --proxy-mode streamable-http (the default)"
            )
        if options.proxy_mode != "streamable-http":
            raise InvalidInputError(
                f"unknown proxy mode {options.proxy_mode!r}; use streamable-http or sse"
            )
        if options.stdio is None:
            raise InvalidInputError(
                f"workload {options.workload!r}: the stdio transport needs the server's stdin/stdout"
            )
        self._channel: StdioChannel = options.stdio
        self._workload = options.workload
        self._ttl = options.session_ttl
        self._strict = options.strict_protocol_validation
        self._timeout = request_timeout if request_timeout else request_timeout_from_env()
        self._sessions: dict[bytes, _Session] = {}
        #: backend id → forwarded client request. Insertion order is deadline order.
        self._pending: dict[int, _Pending] = {}
        #: backend id → bridge-owned request (initialize, ping) waiting for its raw response.
        self._internal: dict[int, asyncio.Future[Message]] = {}
        #: server → client request id → the session asked to answer it.
        self._server_requests: dict[RequestId, _Session] = {}
        self._next_id = itertools.count(1).__next__
        self._init_result: Any = None
        self._init_future: asyncio.Future[Message] | None = None
        self._initialized_sent = False
        #: Why requests cannot be served (``None`` while running).
        self._gone: str | None = "the bridge has not been started"
        self._draining = False
        self._closed = False
        self._reader: asyncio.Task[None] | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[Any]] = set()

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Start reading the server's stdout (idempotent)."""
        if self._reader is not None or self._closed:
            return
        self._gone = None
        self._reader = asyncio.create_task(self._read_loop(), name=f"stdio-reader:{self._workload}")
        self._sweeper = asyncio.create_task(
            self._sweep_loop(), name=f"stdio-sweeper:{self._workload}"
        )

    async def drain(self) -> None:
        """Prepare for shutdown: end every ``GET`` stream so the HTTP server can finish."""
        self._draining = True
        for session in self._sessions.values():
            if session.stream is not None:
                session.stream.put(b"", True)
                session.stream = None

    async def aclose(self) -> None:
        """Stop relaying: waiting clients get an error; the server's stdin is closed (idempotent)."""
        if self._closed:
            return
        self._closed = True
        for task in (self._reader, self._sweeper):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._server_gone("the proxy is shutting down")
        for task in list(self._background):
            task.cancel()
        with contextlib.suppress(Exception):
            await self._channel.aclose()

    async def ping(self, timeout: float = 5.0) -> None:
        """Send an MCP ``ping`` with a bridge-owned id; any answer proves the server is alive."""
        if self._gone is not None:
            raise ServerGoneError(self._gone)
        bid = self._next_id()
        future: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._internal[bid] = future
        try:
            async with asyncio.timeout(timeout):
                await self._channel.send(b'{"jsonrpc":"2.0","id":%d,"method":"ping"}\n' % bid)
                await future
        finally:
            self._internal.pop(bid, None)

    # ------------------------------------------------------------------ HTTP side

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1003})
            return
        path = scope["path"]
        if path != "/mcp" and path != "/mcp/":
            await send_jsonrpc_error(
                send, 404, INVALID_REQUEST, "Not Found: the MCP endpoint is /mcp"
            )
            return
        sid = accept = version = None
        for key, value in scope["headers"]:
            if key == b"mcp-session-id":
                sid = value
            elif key == b"accept":
                accept = value
            elif key == b"mcp-protocol-version":
                version = value
        if (
            self._strict
            and version is not None
            and version.decode("latin-1") not in methods.HANDSHAKE_PROTOCOL_VERSIONS
        ):
            await send_jsonrpc_error(
                send,
                400,
                INVALID_REQUEST,
                f"Unsupported MCP-Protocol-Version: {version.decode()!r}",
            )
            return
        method = scope["method"]
        try:
            if method == "POST":
                await self._post(receive, send, sid, accept)
            elif method == "GET":
                await self._get(receive, send, sid, accept)
            elif method == "DELETE":
                await self._delete(send, sid)
            else:
                await send_jsonrpc_error(
                    send, 405, INVALID_REQUEST, "Method Not Allowed", extra=_ALLOW
                )
        except ClientDisconnected:
            return

    async def _session_or_error(self, send: Send, sid: bytes | None) -> _Session | None:
        if sid is None:
            await send_jsonrpc_error(send, 400, INVALID_REQUEST, "Bad Request: Missing session ID")
            return None
        session = self._sessions.get(sid)
        if session is None:
            await send_jsonrpc_error(
                send, 404, INVALID_REQUEST, "Not Found: Invalid or expired session ID"
            )
            return None
        session.last_seen = time.monotonic()
        return session

    async def _post(
        self, receive: Receive, send: Send, sid: bytes | None, accept: bytes | None
    ) -> None:
        body = await read_body(receive)
        try:
            msg, kind = parse_message(body)
        except JSONRPCError as exc:
            await send_body(send, 400, exc.to_bytes())
            return
        if kind is MessageKind.REQUEST:
            method = msg["method"]
            if method == methods.INITIALIZE:
                await self._initialize(msg, send, accept)
                return
            if sid is None and method == methods.SERVER_DISCOVER:
                # The bridge speaks the initialize-handshake era: answer the 2026 probe like a
                # legacy server, so clients fall back to ``initialize``.
                await _send_single(
                    send,
                    accept,
                    error_bytes(msg["id"], METHOD_NOT_FOUND, "Method not found", method),
                )
                return
            session = await self._session_or_error(send, sid)
            if session is not None:
                await self._forward_request(session, msg, send, accept)
            return
        session = await self._session_or_error(send, sid)
        if session is None:
            return
        if kind is MessageKind.NOTIFICATION:
            await self._client_notification(session, msg)
            await send_empty(send, 202)
        else:
            await self._client_response(session, msg, send)

    async def _get(
        self, receive: Receive, send: Send, sid: bytes | None, accept: bytes | None
    ) -> None:
        session = await self._session_or_error(send, sid)
        if session is None:
            return
        if accept is None or b"text/event-stream" not in accept:
            await send_jsonrpc_error(
                send, 406, INVALID_REQUEST, "Not Acceptable: Client must accept text/event-stream"
            )
            return
        if self._gone is not None or self._draining:
            reason = self._gone or "the proxy is shutting down"
            await send_jsonrpc_error(send, 503, CONNECTION_CLOSED, reason)
            return
        box = _Mailbox()
        previous, session.stream = session.stream, box
        if previous is not None:  # one GET stream per session: the newest wins
            previous.put(b"", True)
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [SSE_CONTENT_TYPE, NO_CACHE, (b"mcp-session-id", session.id)],
            }
        )
        watcher = asyncio.create_task(_watch_disconnect(receive, box))
        try:
            while True:
                data, final = await box.get()
                if final:
                    break
                await send({"type": "http.response.body", "body": data, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            watcher.cancel()
            if session.stream is box:
                session.stream = None

    async def _delete(self, send: Send, sid: bytes | None) -> None:
        session = await self._session_or_error(send, sid)
        if session is None:
            return
        self._end_session(session, "the session was deleted by the client")
        await send_empty(send, 200)

    # ------------------------------------------------------------------ client → server

    async def _initialize(self, msg: Message, send: Send, accept: bytes | None) -> None:
        cid: RequestId = msg["id"]
        if self._gone is not None:
            await send_jsonrpc_error(send, 503, CONNECTION_CLOSED, self._gone, cid)
            return
        params = msg.get("params")
        capabilities = params.get("capabilities") if type(params) is dict else None
        result = self._init_result
        if result is None:
            try:
                response = await self._initialize_server(msg)
            except TimeoutError:
                await _send_single(
                    send,
                    accept,
                    error_bytes(cid, REQUEST_TIMEOUT, "The MCP server did not answer initialize"),
                )
                return
            except ServerGoneError as exc:
                await send_jsonrpc_error(send, 503, CONNECTION_CLOSED, str(exc), cid)
                return
            if "result" not in response:
                error = response.get("error") or {"code": INTERNAL_ERROR, "message": "bad reply"}
                await _send_single(
                    send, accept, encode({"jsonrpc": "2.0", "id": cid, "error": error})
                )
                return
            result = response["result"]
        sid = uuid.uuid4().hex.encode()
        self._sessions[sid] = _Session(sid, capabilities if type(capabilities) is dict else {})
        await _send_single(
            send, accept, encode(result_response(cid, result)), [(b"mcp-session-id", sid)]
        )

    async def _initialize_server(self, msg: Message) -> Message:
        """Forward the first ``initialize``; concurrent first sessions share its answer."""
        future = self._init_future
        if future is None:
            future = self._init_future = asyncio.get_running_loop().create_future()
            bid = self._next_id()
            self._internal[bid] = future
            forward = dict(msg)
            forward["id"] = bid
            try:
                await self._channel.send(encode_line(forward))
            except Exception as exc:
                self._internal.pop(bid, None)
                self._init_future = None
                raise ServerGoneError(f"cannot write to the MCP server: {exc}") from exc
        # A timeout leaves the forwarded initialize in place: its late answer still counts.
        async with asyncio.timeout(self._timeout):
            response = await asyncio.shield(future)
        if "result" in response:
            self._init_result = response["result"]
        elif self._init_future is future:
            self._init_future = None  # the server refused: let the next initialize try again
        return response

    async def _forward_request(
        self, session: _Session, msg: Message, send: Send, accept: bytes | None
    ) -> None:
        cid: RequestId = msg["id"]
        if self._gone is not None:
            await send_jsonrpc_error(send, 503, CONNECTION_CLOSED, self._gone, cid)
            return
        bid = self._next_id()
        sse = accept is not None and b"text/event-stream" in accept
        pending = _Pending(session, cid, sse, time.monotonic() + self._timeout)
        params = msg.get("params")
        if type(params) is dict:
            meta = params.get("_meta")
            if type(meta) is dict and "progressToken" in meta:
                pending.token = meta["progressToken"]
                meta["progressToken"] = bid
        msg["id"] = bid
        line = encode_line(msg)
        self._pending[bid] = pending
        session.inflight[cid] = bid
        try:
            try:
                await self._channel.send(line)
            except Exception as exc:
                if self._pending.pop(bid, None) is not None:
                    pending.put(
                        error_bytes(
                            cid, CONNECTION_CLOSED, f"cannot write to the MCP server: {exc}"
                        ),
                        True,
                    )
            await _reply(pending, send, accept)
        finally:
            self._pending.pop(bid, None)
            if session.inflight.get(cid) == bid:
                del session.inflight[cid]

    async def _client_notification(self, session: _Session, msg: Message) -> None:
        method = msg["method"]
        if method == methods.INITIALIZED:
            if self._initialized_sent:
                return  # the server was initialized once, by the first session
            self._initialized_sent = True
        elif method == methods.CANCELLED:
            params = msg.get("params")
            rid = params.get("requestId") if type(params) is dict else None
            bid = session.inflight.get(rid) if _is_id(rid) else None
            if bid is None or type(params) is not dict:
                return  # already answered, or not this session's request
            params["requestId"] = bid
            pending = self._pending.pop(bid, None)
            if pending is not None:
                pending.put(
                    error_bytes(pending.client_id, INTERNAL_ERROR, "Request cancelled"), True
                )
        if self._gone is None:
            with contextlib.suppress(Exception):
                await self._channel.send(encode_line(msg))

    async def _client_response(self, session: _Session, msg: Message, send: Send) -> None:
        rid = msg["id"]
        owner = self._server_requests.get(rid) if _is_id(rid) else None
        if owner is None or owner is not session:
            await send_jsonrpc_error(
                send, 400, INVALID_REQUEST, "Bad Request: no server request with this id is pending"
            )
            return
        del self._server_requests[rid]
        session.server_requests.discard(rid)
        if self._gone is None:
            with contextlib.suppress(Exception):
                await self._channel.send(encode_line(msg))
        await send_empty(send, 202)

    # ------------------------------------------------------------------ server → client

    async def _read_loop(self) -> None:
        readline = self._channel.readline
        loads = json.loads
        relay = self._relay_response
        reason = "the MCP server exited"
        try:
            while True:
                line = await readline()
                if not line:
                    break
                if line.startswith(_RESPONSE_PREFIX) and relay(line):
                    continue
                if line == b"\n":
                    continue
                try:
                    msg = loads(line)
                except ValueError:
                    log.warning("ignoring non-JSON output from the MCP server: %.200r", line)
                    continue
                try:
                    self._dispatch(msg, line)
                except Exception:
                    log.exception("failed to relay a message from the MCP server")
        except Exception as exc:
            reason = f"reading from the MCP server failed: {exc}"
        log.info("%s: %s", self._workload, reason)
        self._server_gone(reason)

    def _relay_response(self, line: bytes) -> bool:
        """Fast path: relay a response without decoding it, splicing the client's id in.

        Taken only when the line starts ``{"jsonrpc":"2.0","id":<backend id>,"result":`` (or
        ``"error":``), the shape SDK servers write: that prefix is certainly the top-level id, so
        re-encoding (the costly part for large results) is unnecessary.
        """
        end = line.find(b",", _PREFIX_LEN, _PREFIX_LEN + 20)
        digits = line[_PREFIX_LEN:end]
        if end < 0 or not digits.isdigit() or not line.startswith(_RESULT_OR_ERROR, end):
            return False
        pending = self._pending.pop(int(digits), None)
        if pending is None:
            return False
        tail = line[end:]
        if tail.endswith(b"\n"):
            tail = tail[:-2] if tail.endswith(b"\r\n") else tail[:-1]
        pending.put(_RESPONSE_PREFIX + encode(pending.client_id) + tail, True)
        return True

    def _dispatch(self, msg: Any, line: bytes | None) -> None:
        if type(msg) is not dict:
            if type(msg) is list:  # a batch from the server: relay its parts
                for item in msg:
                    self._dispatch(item, None)
            return
        method = msg.get("method")
        if method is None:
            self._on_response(msg)
        elif "id" in msg:
            self._on_server_request(msg, method, line)
        else:
            self._on_server_notification(msg, method, line)

    def _on_response(self, msg: Message) -> None:
        mid: Any = msg.get("id")
        if type(mid) is not int:
            try:
                mid = int(mid) if type(mid) is str else None  # a server that stringifies ids
            except ValueError:
                mid = None
            if mid is None:
                log.debug("dropping a response with an id the bridge never sent: %r", msg.get("id"))
                return
        pending = self._pending.pop(mid, None)
        if pending is not None:
            msg["id"] = pending.client_id
            pending.put(encode(msg), True)
            return
        future = self._internal.pop(mid, None)
        if future is not None:
            if not future.done():
                future.set_result(msg)
            return
        log.debug("dropping a late response (id %r)", mid)

    def _on_server_notification(self, msg: Message, method: str, line: bytes | None) -> None:
        if method == methods.PROGRESS:
            params = msg.get("params")
            token = params.get("progressToken") if type(params) is dict else None
            pending = self._pending.get(token) if type(token) is int else None
            if pending is None or type(params) is not dict:
                return
            params["progressToken"] = pending.token
            data = encode(msg)
            if pending.sse:
                pending.put(data)
            elif pending.session.stream is not None:
                pending.session.stream.put(sse_event(data))
            return
        data = _strip(line) if line is not None else encode(msg)
        if method == methods.CANCELLED:  # the server gives up on one of its own requests
            params = msg.get("params")
            rid = params.get("requestId") if type(params) is dict else None
            owner = self._server_requests.pop(rid, None) if _is_id(rid) else None
            if owner is not None and _is_id(rid):
                owner.server_requests.discard(rid)
                if owner.stream is not None:
                    owner.stream.put(sse_event(data))
            return
        event = sse_event(data)
        for session in self._sessions.values():
            if session.stream is not None:
                session.stream.put(event)

    def _on_server_request(self, msg: Message, method: str, line: bytes | None) -> None:
        rid = msg["id"]
        if not _is_id(rid):
            return
        if method == methods.PING:  # answered here: the server cannot tell sessions apart anyway
            self._send_soon(encode_line(result_response(rid, {})))
            return
        session = self._route(method)
        if session is not None:
            data = _strip(line) if line is not None else encode(msg)
            target: _Pending | None = None
            for bid in reversed(session.inflight.values()):
                pending = self._pending.get(bid)
                if pending is not None and pending.sse:
                    target = pending
                    break
            if target is not None:
                target.put(data)
            elif session.stream is not None:
                session.stream.put(sse_event(data))
            else:
                session = None
        if session is None:
            self._send_soon(
                encode_line(
                    error_response(
                        rid,
                        METHOD_NOT_FOUND,
                        f"{method}: no single connected client session can answer this request",
                    )
                )
            )
            return
        self._server_requests[rid] = session
        session.server_requests.add(rid)

    def _route(self, method: str) -> _Session | None:
        """The one session that can have caused a server request, or ``None``."""
        sessions = list(self._sessions.values())
        busy = [s for s in sessions if s.inflight]
        candidates = busy or sessions
        capability = methods.CLIENT_CAPABILITY_FOR.get(method)
        if capability is not None:
            candidates = [s for s in candidates if capability in s.capabilities]
        return candidates[0] if len(candidates) == 1 else None

    # ------------------------------------------------------------------ housekeeping

    def _send_soon(self, line: bytes) -> None:
        """Write to the server from synchronous code (the reader must never block on stdin)."""
        if self._gone is not None:
            return
        self._spawn(self._send_quietly(line))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _send_quietly(self, line: bytes) -> None:
        try:
            await self._channel.send(line)
        except Exception as exc:
            log.debug("write to the MCP server failed: %s", exc)

    def _cancel_on_server(self, bid: int, reason: str) -> None:
        self._send_soon(
            encode_line(
                {
                    "jsonrpc": "2.0",
                    "method": methods.CANCELLED,
                    "params": {"requestId": bid, "reason": reason},
                }
            )
        )

    def _end_session(self, session: _Session, reason: str) -> None:
        self._sessions.pop(session.id, None)
        if session.stream is not None:
            session.stream.put(b"", True)
            session.stream = None
        for cid, bid in list(session.inflight.items()):
            pending = self._pending.pop(bid, None)
            if pending is not None:
                pending.put(error_bytes(cid, CONNECTION_CLOSED, reason), True)
                self._cancel_on_server(bid, reason)
        session.inflight.clear()
        for rid in session.server_requests:
            if self._server_requests.pop(rid, None) is not None:
                self._send_soon(encode_line(error_response(rid, INTERNAL_ERROR, reason)))
        session.server_requests.clear()

    def _server_gone(self, reason: str) -> None:
        """Fail everything that waits on the server (idempotent)."""
        if self._gone is None:
            self._gone = reason
        pending, self._pending = self._pending, {}
        for item in pending.values():
            item.put(error_bytes(item.client_id, CONNECTION_CLOSED, self._gone), True)
        internal, self._internal = self._internal, {}
        for future in internal.values():
            if not future.done():
                future.set_exception(ServerGoneError(self._gone))
                future.exception()  # retrieved: nobody may be waiting any more
        for session in self._sessions.values():
            if session.stream is not None:
                session.stream.put(b"", True)
                session.stream = None
            session.server_requests.clear()
        self._server_requests.clear()

    async def _sweep_loop(self) -> None:
        interval = min(1.0, max(0.01, self._timeout / 4))
        now = time.monotonic()
        next_sessions = now + min(5.0, self._ttl / 4)
        next_keepalive = now + KEEPALIVE_INTERVAL
        while True:
            await asyncio.sleep(interval)
            now = time.monotonic()
            if self._pending:
                self._expire_requests(now)
            if now >= next_sessions:
                next_sessions = now + min(5.0, self._ttl / 4)
                ttl = self._ttl
                for session in [
                    s for s in self._sessions.values() if not s.inflight and now - s.last_seen > ttl
                ]:
                    log.debug("session %s expired", session.id.decode())
                    self._end_session(session, "the session expired")
            if now >= next_keepalive:
                next_keepalive = now + KEEPALIVE_INTERVAL
                for session in self._sessions.values():
                    if session.stream is not None:
                        session.stream.put(_KEEPALIVE)

    def _expire_requests(self, now: float) -> None:
        expired: list[int] = []
        for bid, pending in self._pending.items():
            if pending.deadline > now:
                break
            expired.append(bid)
        message = f"Request timed out after {self._timeout:g}s"
        for bid in expired:
            pending = self._pending.pop(bid)
            pending.put(error_bytes(pending.client_id, REQUEST_TIMEOUT, message), True)
            self._cancel_on_server(bid, "timeout")


async def _reply(pending: _Pending, send: Send, accept: bytes | None) -> None:
    """Answer one request: a JSON body if its answer comes first, else an SSE stream."""
    data, final = await pending.get()
    if final:
        await _send_single(send, accept, data)
        return
    await send(
        {"type": "http.response.start", "status": 200, "headers": [SSE_CONTENT_TYPE, NO_CACHE]}
    )
    await send({"type": "http.response.body", "body": sse_event(data), "more_body": True})
    while not final:
        data, final = await pending.get()
        await send({"type": "http.response.body", "body": sse_event(data), "more_body": not final})


async def _send_single(
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


async def _watch_disconnect(receive: Receive, box: _Mailbox) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
    box.put(b"", True)
