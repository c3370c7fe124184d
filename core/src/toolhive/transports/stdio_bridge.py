"""Bridge one stdio MCP server to many HTTP client sessions.

Two HTTP faces share one core: streamable HTTP (``POST/GET/DELETE /mcp``, the default) and the
legacy HTTP+SSE transport (``GET /sse`` + ``POST /messages?session_id=``, ``--proxy-mode sse``, in
:mod:`toolhive.transports.sse_bridge`). One server process serves every client session, so the
bridge owns the JSON-RPC plumbing (docs/proxy.md has the user-facing rules):

* **Sessions.** ``initialize`` creates a session (``Mcp-Session-Id``; in SSE mode the ``GET /sse``
  stream is the session). The server is initialized once: the first client's ``initialize`` is
  forwarded, advertising every client capability the bridge can relay (sampling, elicitation,
  roots), and its result cached; later sessions get the cached result under their own request id,
  and only the first ``notifications/initialized`` is forwarded. Requests without a session header
  get 400, with an unknown one 404; ``DELETE`` ends a session; sessions idle for ``session_ttl``
  seconds expire. ``server/discover`` (the 2026-07-28 probe) is answered -32601 by the bridge, so
  ``mode="auto"`` clients fall back to ``initialize``.
* **Ids.** Every forwarded request gets a fresh integer id, so answers reach the right session and
  clients may reuse ids freely. Progress tokens are replaced by that id too and restored on the way
  back.
* **Responses.** A request's answer is JSON, or an SSE stream when the client accepts
  ``text/event-stream`` and something (progress, a server request) arrives before the answer. The
  choice is made when the first message arrives, so the common case costs one JSON body.
* **Resumable streams** (sessions on protocol ``2025-11-25`` or later, SEP-1699). A request still
  unanswered after ``TOOLHIVE_PROXY_SSE_PRIMING_DELAY`` (default 100 ms) turns into an SSE stream
  that opens with a priming event (an id, empty data, ``retry``); every event on it and on the
  session's ``GET`` stream carries an id ``<stream>.<n>`` and is kept (bounded) per session. A
  client whose connection drops reconnects with ``GET`` + ``Last-Event-ID`` and gets what it
  missed, then the rest of that stream: the request keeps running while nobody listens.
* **Server notifications.** ``notifications/progress`` goes to the stream of the request that owns
  the token; ``notifications/resources/updated`` only to sessions subscribed to that URI
  (``resources/subscribe``/``unsubscribe`` are ref-counted per URI: the server sees the first
  subscribe and the last unsubscribe); ``notifications/message`` to sessions whose
  ``logging/setLevel`` admits it (answered per session; the server gets the lowest level any
  session asked for); everything else (``*/list_changed``) to every session's ``GET`` stream.
* **Server → client requests** (sampling, elicitation, roots) go to the session that caused them,
  found by :meth:`StdioBridge._route`: the request whose progress token (or related-request id) the
  server put in ``params._meta``; else the one session with requests in flight that could call back
  and that declared the capability; else, with nothing in flight, the one session that declared it.
  When no single session qualifies the server gets a JSON-RPC error at once (never a guess: the
  wrong session would see another user's prompt). The client's answer is relayed back. The
  server's own ``ping`` is answered by the bridge.
* **Failure.** When the server exits every waiting client gets a JSON-RPC error at once and later
  requests get 503. Requests time out after ``TOOLHIVE_PROXY_REQUEST_TIMEOUT`` (default 60 s) with a
  JSON-RPC error, and the server is told with ``notifications/cancelled``.

Timeouts, session expiry and SSE keep-alive comments run in one sweeper task (no timer per request).
The bridge never imports the MCP SDK.
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

from toolhive.contracts.runtime import StdioChannel
from toolhive.errors import InvalidInputError
from toolhive.mcp import methods
from toolhive.mcp.jsonrpc import (
    CONNECTION_CLOSED,
    INTERNAL_ERROR,
    INVALID_PARAMS,
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
    splice_id,
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
from toolhive.proxy.durations import env_seconds, parse_duration
from toolhive.transports.base import Receive, Scope, Send, TransportOptions

log = logging.getLogger("toolhive.transports.stdio")

DEFAULT_REQUEST_TIMEOUT: Final = 60.0
REQUEST_TIMEOUT_ENV: Final = "TOOLHIVE_PROXY_REQUEST_TIMEOUT"
#: An SSE comment on every GET stream this often keeps idle connections (and proxies) alive.
KEEPALIVE_INTERVAL: Final = 25.0
KEEPALIVE_ENV: Final = "TOOLHIVE_PROXY_SSE_KEEPALIVE"
#: Client capabilities the bridge advertises to the server on the one ``initialize`` it forwards
#: (merged into the first client's): it can relay these requests to whichever session declared them.
RELAYED_CAPABILITIES: Final[dict[str, Any]] = {
    "sampling": {},
    "elicitation": {},
    "roots": {"listChanged": True},
}

#: A request unanswered this long becomes a resumable SSE stream (sessions on 2025-11-25+).
PRIMING_DELAY: Final = 0.1
PRIMING_DELAY_ENV: Final = "TOOLHIVE_PROXY_SSE_PRIMING_DELAY"
#: The ``retry`` (ms) a priming event tells clients to wait before reconnecting.
RETRY_MS: Final = 500
#: Events kept per stream for ``Last-Event-ID`` replay, and finished request streams per session.
REPLAY_EVENTS: Final = 256
REPLAY_STREAMS: Final = 16
#: The first protocol version whose clients expect priming events (empty data) on SSE streams.
RESUMABLE_SINCE: Final = "2025-11-25"

_KEEPALIVE: Final = b": keepalive\n\n"
#: Mailbox markers (compared by identity): "send the priming event now", "the client went away".
_PRIME: Final = bytes(bytearray(b"prime"))
_GONE: Final = bytes(bytearray(b"gone"))
_RESPONSE_PREFIX: Final = b'{"jsonrpc":"2.0","id":'
#: ``json.dumps``'s spacing of the same opening (servers written without an SDK).
_SPACED_PREFIX: Final = b'{"jsonrpc": "2.0", "id": '
#: What must follow the id in each shape.
_COMPACT_FOLLOWS: Final = (b',"result":', b',"error":')
_SPACED_FOLLOWS: Final = (b', "result": ', b', "error": ')
_ALLOW: Final = [(b"allow", b"GET, POST, DELETE")]
#: Requests the bridge answers itself (per session), telling the server only what changes.
_INTERCEPTED: Final = frozenset(
    {methods.LOGGING_SET_LEVEL, methods.RESOURCES_SUBSCRIBE, methods.RESOURCES_UNSUBSCRIBE}
)
NO_SUCH_SERVER_REQUEST: Final = "Bad Request: no server request with this id is pending"


class ProxyModeNotSupportedError(InvalidInputError):
    """The requested proxy mode for stdio servers does not exist."""


class ServerGoneError(ConnectionError):
    """The stdio server has exited (or the bridge was closed)."""


def duration_from_env(name: str, default: float) -> float:
    """A positive duration from ``$name`` (Go syntax or seconds), else ``default``."""
    return env_seconds(name, default)


def request_timeout_from_env(default: float = DEFAULT_REQUEST_TIMEOUT) -> float:
    return duration_from_env(REQUEST_TIMEOUT_ENV, default)


def priming_delay_from_env() -> float:
    """``$TOOLHIVE_PROXY_SSE_PRIMING_DELAY`` (``0`` streams every request), else 100 ms."""
    value = parse_duration(os.environ.get(PRIMING_DELAY_ENV, ""), PRIMING_DELAY)
    return value if value >= 0 else PRIMING_DELAY


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


class _EventLog:
    """One resumable SSE stream: its events (ids ``<key>.<n>``), kept for ``Last-Event-ID``.

    ``key`` is 0 for a session's ``GET`` stream and the backend id for a request's stream. Events
    go to ``consumer`` (the HTTP response currently streaming them) if there is one.
    """

    __slots__ = ("consumer", "done", "events", "key", "seq")

    def __init__(self, key: int, consumer: _Mailbox | None) -> None:
        self.key = key
        self.seq = 0
        self.events: deque[tuple[int, bytes]] = deque(maxlen=REPLAY_EVENTS)
        self.done = False
        self.consumer = consumer

    def priming(self) -> bytes:
        """The event that gives a client an id to resume from before anything else is sent."""
        self.seq += 1
        return b"id: %d.%d\nretry: %d\ndata: \n\n" % (self.key, self.seq, RETRY_MS)

    def add(self, event: bytes, final: bool = False) -> None:
        self.seq += 1
        chunk = b"id: %d.%d\n%s" % (self.key, self.seq, event)
        self.events.append((self.seq, chunk))
        if final:
            self.done = True
        if self.consumer is not None:
            self.consumer.put(chunk, final)

    def after(self, seq: int) -> list[bytes]:
        return [chunk for n, chunk in self.events if n > seq]

    def attach(self, consumer: _Mailbox) -> None:
        """Stream to ``consumer`` from now on; a previous consumer's response ends."""
        previous, self.consumer = self.consumer, consumer
        if previous is not None:
            previous.put(b"", True)


class _Session:
    __slots__ = (
        "capabilities",
        "events",
        "id",
        "inflight",
        "last_seen",
        "legacy",
        "level",
        "replay",
        "resumable",
        "server_requests",
        "stream",
        "subscriptions",
    )

    def __init__(
        self,
        sid: bytes,
        capabilities: dict[str, Any],
        legacy: bool = False,
        resumable: bool = False,
    ) -> None:
        self.id = sid
        self.capabilities = capabilities
        #: A legacy SSE session: its ``GET /sse`` stream carries every message, answers included.
        self.legacy = legacy
        #: Streams get event ids and priming events (the session speaks 2025-11-25 or later).
        self.resumable = resumable
        #: The ``GET`` stream's event log (resumable sessions, from their first ``GET``).
        self.events: _EventLog | None = None
        #: Request streams that can be resumed: backend id → log (bounded, oldest finished first).
        self.replay: dict[int, _EventLog] = {}
        self.last_seen = time.monotonic()
        #: client request id → backend id, for requests in flight.
        self.inflight: dict[RequestId, int] = {}
        #: The session's standalone ``GET`` stream (pre-formatted SSE chunks).
        self.stream: _Mailbox | None = None
        #: Ids of server → client requests this session must answer.
        self.server_requests: set[RequestId] = set()
        #: Resource URIs this session subscribed to.
        self.subscriptions: set[str] = set()
        #: Rank of the session's ``logging/setLevel`` (``None``: never set, gets every message).
        self.level: int | None = None

    def push(self, event: bytes) -> bool:
        """An SSE event for the ``GET`` stream; ``False`` when it can reach nobody.

        With an event log the event is kept even while no stream is open (a reconnect with
        ``Last-Event-ID`` gets it).
        """
        log = self.events
        if log is not None:
            log.add(event)
            return True
        if self.stream is None:
            return False
        self.stream.put(event)
        return True

    def keep(self, log: _EventLog) -> None:
        """Remember a request stream for resumption, forgetting the oldest finished ones."""
        replay = self.replay
        replay[log.key] = log
        if len(replay) > REPLAY_STREAMS:
            for key in [k for k, v in replay.items() if v.done][: len(replay) - REPLAY_STREAMS]:
                del replay[key]


class _Pending(_Mailbox):
    """One forwarded client request: its answer (and, for SSE, messages before it).

    Once its response is a resumable stream, messages go to the stream's event log instead (and
    from there to whichever HTTP response streams it now, if any).
    """

    __slots__ = ("bid", "client_id", "deadline", "log", "method", "session", "sse", "token")

    def __init__(
        self,
        session: _Session,
        client_id: RequestId,
        sse: bool,
        deadline: float,
        bid: int,
        method: str,
    ) -> None:
        super().__init__()
        self.session = session
        self.client_id = client_id
        #: The client accepts ``text/event-stream``: messages may precede the answer on this stream.
        self.sse = sse
        self.deadline = deadline
        self.bid = bid
        self.method = method
        #: The client's original progress token (replaced by the backend id on the wire).
        self.token: Any = None
        self.log: _EventLog | None = None

    def put(self, data: bytes, final: bool = False) -> None:
        log = self.log
        if log is None:
            super().put(data, final)
            return
        if final:
            session = self.session
            if session.inflight.get(self.client_id) == self.bid:
                del session.inflight[self.client_id]
        log.add(sse_event(data), final)

    def open_log(self, first: bytes, consumer: _Mailbox) -> bytes:
        """Turn the response into a resumable stream; its priming event, to be sent first.

        ``first`` (the message already taken, unless it is the priming marker) and anything
        queued behind it go to the log, hence to ``consumer``.
        """
        log = _EventLog(self.bid, consumer)
        priming = log.priming()
        queued, self._items = self._items, None
        self.log = log
        self.session.keep(log)
        if first is not _PRIME:
            log.add(sse_event(first))
        for data, final in queued or ():
            if data is not _PRIME:
                self.put(data, final)
        return priming


class _StreamPending(_Pending):
    """A request of a legacy SSE session: everything, the answer included, goes to its stream."""

    __slots__ = ()

    def put(self, data: bytes, final: bool = False) -> None:
        session = self.session
        if final and session.inflight.get(self.client_id) == self.bid:
            del session.inflight[self.client_id]
        if session.stream is not None:
            session.stream.put(sse_event(data))


class StdioBridge:
    """The ``stdio`` transport: many streamable-HTTP sessions over one stdio server."""

    def __init__(
        self,
        options: TransportOptions,
        *,
        request_timeout: float | None = None,
        keepalive_interval: float | None = None,
    ) -> None:
        if options.proxy_mode not in ("streamable-http", "sse"):
            raise ProxyModeNotSupportedError(
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
        self._endpoint_prefix = options.endpoint_prefix
        self._trust_proxy_headers = options.trust_proxy_headers
        self._timeout = request_timeout if request_timeout else request_timeout_from_env()
        self._keepalive = keepalive_interval or duration_from_env(KEEPALIVE_ENV, KEEPALIVE_INTERVAL)
        self._priming_delay = priming_delay_from_env()
        self._legacy_sse = options.proxy_mode == "sse"
        self._sessions: dict[bytes, _Session] = {}
        #: backend id → forwarded client request. Insertion order is deadline order.
        self._pending: dict[int, _Pending] = {}
        #: backend id → bridge-owned request (initialize, ping) waiting for its raw response.
        self._internal: dict[int, asyncio.Future[Message]] = {}
        #: server → client request id → the session asked to answer it.
        self._server_requests: dict[RequestId, _Session] = {}
        self._next_id = itertools.count(1).__next__
        #: URI → number of sessions subscribed to it (the server holds one subscription per URI).
        self._subscribed: dict[str, int] = {}
        #: The ``logging/setLevel`` rank last sent to the server.
        self._server_level: int | None = None
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
        if self._legacy_sse:
            from toolhive.transports.sse_bridge import handle

            await handle(self, scope, receive, send)
            return
        path = scope["path"]
        if path != "/mcp" and path != "/mcp/":
            await send_jsonrpc_error(
                send, 404, INVALID_REQUEST, "Not Found: the MCP endpoint is /mcp"
            )
            return
        sid = accept = version = ctype = last_event_id = None
        for key, value in scope["headers"]:
            if key == b"mcp-session-id":
                sid = value
            elif key == b"accept":
                accept = value
            elif key == b"content-type":
                ctype = value
            elif key == b"mcp-protocol-version":
                version = value
            elif key == b"last-event-id":
                last_event_id = value
        if await self.refuse_protocol_version(send, version):
            return
        method = scope["method"]
        try:
            if method == "POST":
                if await self.refuse_content_type(send, ctype):
                    return
                await self._post(receive, send, sid, accept)
            elif method == "GET":
                await self._get(receive, send, sid, accept, last_event_id)
            elif method == "DELETE":
                await self._delete(send, sid)
            else:
                await send_jsonrpc_error(
                    send, 405, INVALID_REQUEST, "Method Not Allowed", extra=_ALLOW
                )
        except ClientDisconnected:
            return

    def protocol_version_ok(self, version: bytes) -> bool:
        """``--strict-protocol-validation``: only handshake-era versions (the bridge's own era)."""
        return version.decode("latin-1") in methods.HANDSHAKE_PROTOCOL_VERSIONS

    async def refuse_protocol_version(self, send: Send, version: bytes | None) -> bool:
        """With --strict-protocol-validation, answer 400 to an unknown MCP-Protocol-Version."""
        if not self._strict or version is None or self.protocol_version_ok(version):
            return False
        await send_jsonrpc_error(
            send,
            400,
            INVALID_REQUEST,
            f"Bad Request: Unsupported MCP-Protocol-Version: {version.decode('latin-1')!r}",
        )
        return True

    async def refuse_content_type(self, send: Send, ctype: bytes | None) -> bool:
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
            if method == methods.SERVER_DISCOVER:
                await _send_single(send, accept, discover_refusal(msg["id"]))
                return
            session = await self._session_or_error(send, sid)
            if session is None:
                return
            if method in _INTERCEPTED:
                answer = await self.intercept(session, msg, method)
                if answer is not None:
                    await _send_single(send, accept, answer)
                    return
            await self._forward_request(session, msg, body, receive, send, accept)
            return
        session = await self._session_or_error(send, sid)
        if session is None:
            return
        if kind is MessageKind.NOTIFICATION:
            await self.client_notification(session, msg)
            await send_empty(send, 202)
        elif await self.client_response(session, msg):
            await send_empty(send, 202)
        else:
            await send_jsonrpc_error(send, 400, INVALID_REQUEST, NO_SUCH_SERVER_REQUEST)

    async def _get(
        self,
        receive: Receive,
        send: Send,
        sid: bytes | None,
        accept: bytes | None,
        last_event_id: bytes | None,
    ) -> None:
        session = await self._session_or_error(send, sid)
        if session is None:
            return
        if accept is None or b"text/event-stream" not in accept:
            await send_jsonrpc_error(
                send, 406, INVALID_REQUEST, "Not Acceptable: Client must accept text/event-stream"
            )
            return
        resume = None
        if last_event_id is not None and session.resumable:
            resume = _parse_event_id(last_event_id)
            if resume is None:
                await send_jsonrpc_error(
                    send,
                    400,
                    INVALID_REQUEST,
                    "Bad Request: Last-Event-ID must be an event id this proxy sent (<stream>.<n>)",
                )
                return
            if resume[0]:
                await self._resume_request(session, resume, receive, send)
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
        if session.resumable:
            log = session.events
            if log is None:
                log = session.events = _EventLog(0, None)
            first = log.priming()
            if resume is not None:
                first += b"".join(log.after(resume[1]))
            log.consumer = box
            await send({"type": "http.response.body", "body": first, "more_body": True})
        try:
            await _stream(box, receive, send)
        finally:
            if session.stream is box:
                session.stream = None
                if session.events is not None:
                    session.events.consumer = None

    async def _resume_request(
        self, session: _Session, resume: tuple[int, int], receive: Receive, send: Send
    ) -> None:
        """``GET`` with the ``Last-Event-ID`` of a request's stream: what was missed, then the rest."""
        key, seq = resume
        log = session.replay.get(key)
        if log is None:
            await send_jsonrpc_error(
                send,
                404,
                INVALID_REQUEST,
                "Not Found: no resumable stream for this Last-Event-ID "
                "(it ended long ago or belongs to another session)",
            )
            return
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [SSE_CONTENT_TYPE, NO_CACHE, (b"mcp-session-id", session.id)],
            }
        )
        missed = b"".join(log.after(seq))
        if log.done:
            await send({"type": "http.response.body", "body": missed, "more_body": False})
            return
        box = _Mailbox()
        log.attach(box)
        if missed:
            await send({"type": "http.response.body", "body": missed, "more_body": True})
        await _stream(box, receive, send)
        if log.consumer is box:
            log.consumer = None

    async def _delete(self, send: Send, sid: bytes | None) -> None:
        session = await self._session_or_error(send, sid)
        if session is None:
            return
        self._end_session(session, "the session was deleted by the client")
        await send_empty(send, 200)

    # ------------------------------------------------------------------ legacy SSE face

    @property
    def unavailable(self) -> str | None:
        """Why new streams cannot open (server gone, proxy draining), else ``None``."""
        if self._gone is not None:
            return self._gone
        return "the proxy is shutting down" if self._draining else None

    def open_legacy_session(self) -> _Session:
        """A session whose stream is a ``GET /sse`` connection (it lives as long as the stream)."""
        sid = uuid.uuid4().hex.encode()
        session = _Session(sid, {}, legacy=True)
        session.stream = _Mailbox()
        self._sessions[sid] = session
        return session

    def legacy_session(self, sid: bytes) -> _Session | None:
        session = self._sessions.get(sid)
        if session is None or not session.legacy:
            return None
        session.last_seen = time.monotonic()
        return session

    def close_session(self, session: _Session, reason: str) -> None:
        if self._sessions.get(session.id) is session:
            self._end_session(session, reason)

    # ------------------------------------------------------------------ client → server

    async def _initialize(self, msg: Message, send: Send, accept: bytes | None) -> None:
        result, error, status = await self.handshake(msg)
        if error:
            if status == 200:
                await _send_single(send, accept, error)
            else:
                await send_body(send, status, error)
            return
        sid = uuid.uuid4().hex.encode()
        version = result.get("protocolVersion") if type(result) is dict else None
        resumable = type(version) is str and version >= RESUMABLE_SINCE
        self._sessions[sid] = _Session(sid, client_capabilities(msg), resumable=resumable)
        await _send_single(
            send, accept, encode(result_response(msg["id"], result)), [(b"mcp-session-id", sid)]
        )

    async def handshake(self, msg: Message) -> tuple[Any, bytes, int]:
        """The server's ``initialize`` result for a new session: ``(result, b"", 200)``, or
        ``(None, error response with the client's id, HTTP status)``."""
        cid: RequestId = msg["id"]
        if self._gone is not None:
            return None, error_bytes(cid, CONNECTION_CLOSED, self._gone), 503
        if self._init_result is not None:
            return self._init_result, b"", 200
        try:
            response = await self._initialize_server(msg)
        except TimeoutError:
            message = "The MCP server did not answer initialize"
            return None, error_bytes(cid, REQUEST_TIMEOUT, message), 200
        except ServerGoneError as exc:
            return None, error_bytes(cid, CONNECTION_CLOSED, str(exc)), 503
        if "result" not in response:
            error = response.get("error") or {"code": INTERNAL_ERROR, "message": "bad reply"}
            return None, encode({"jsonrpc": "2.0", "id": cid, "error": error}), 200
        return response["result"], b"", 200

    async def _initialize_server(self, msg: Message) -> Message:
        """Forward the first ``initialize``; concurrent first sessions share its answer."""
        future = self._init_future
        if future is None:
            future = self._init_future = asyncio.get_running_loop().create_future()
            bid = self._next_id()
            self._internal[bid] = future
            forward = dict(msg)
            forward["id"] = bid
            params = msg.get("params")
            if type(params) is dict:
                # Servers decide what to offer from the client's capabilities (server-everything
                # registers its sampling tool only for a sampling client): claim what can be relayed.
                capabilities = params.get("capabilities")
                merged = dict(capabilities) if type(capabilities) is dict else {}
                for key, value in RELAYED_CAPABILITIES.items():
                    merged.setdefault(key, value)
                forward["params"] = {**params, "capabilities": merged}
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
        self,
        session: _Session,
        msg: Message,
        body: bytes,
        receive: Receive,
        send: Send,
        accept: bytes | None,
    ) -> None:
        cid: RequestId = msg["id"]
        if self._gone is not None:
            await send_jsonrpc_error(send, 503, CONNECTION_CLOSED, self._gone, cid)
            return
        sse = accept is not None and b"text/event-stream" in accept
        pending, line = self._register(session, msg, _Pending, sse, body)
        detached = False
        try:
            await self._write_request(pending, line)
            detached = await self._reply(pending, receive, send, accept)
        finally:
            if not detached:  # a detached request runs on: its stream can be resumed
                self._pending.pop(pending.bid, None)
                if session.inflight.get(cid) == pending.bid:
                    del session.inflight[cid]

    async def _reply(
        self, pending: _Pending, receive: Receive, send: Send, accept: bytes | None
    ) -> bool:
        """Answer one request: a JSON body if its answer comes first, else an SSE stream.

        Returns ``True`` when the client went away from a resumable stream before the answer
        (the request stays in flight and its events are kept for ``Last-Event-ID``).
        """
        timer = None
        if pending.sse and pending.session.resumable:
            timer = asyncio.get_running_loop().call_later(
                self._priming_delay, pending.put, _PRIME, False
            )
        data, final = await pending.get()
        if timer is not None:
            timer.cancel()
        if final:
            await _send_single(send, accept, data)
            return False
        await send(
            {"type": "http.response.start", "status": 200, "headers": [SSE_CONTENT_TYPE, NO_CACHE]}
        )
        if timer is None:  # an older client: a plain stream, no ids
            await send({"type": "http.response.body", "body": sse_event(data), "more_body": True})
            while not final:
                data, final = await pending.get()
                await send(
                    {"type": "http.response.body", "body": sse_event(data), "more_body": not final}
                )
            return False
        box = _Mailbox()
        priming = pending.open_log(data, box)
        await send({"type": "http.response.body", "body": priming, "more_body": True})
        await _stream(box, receive, send)
        log = pending.log
        assert log is not None
        if log.consumer is box:
            log.consumer = None
        return not log.done

    async def forward_to_stream(self, session: _Session, msg: Message) -> None:
        """Forward a legacy SSE session's request: its answer goes to the session's stream."""
        if self._gone is not None:
            if session.stream is not None:
                session.stream.put(sse_event(error_bytes(msg["id"], CONNECTION_CLOSED, self._gone)))
            return
        pending, line = self._register(session, msg, _StreamPending, True)
        await self._write_request(pending, line)

    def _register(
        self,
        session: _Session,
        msg: Message,
        kind: type[_Pending],
        sse: bool,
        body: bytes | None = None,
    ) -> tuple[_Pending, bytes]:
        """Give ``msg`` a backend id (and progress token), track it, return it as a stdio line.

        ``body`` is the request's raw text: unless a progress token must be replaced too, the
        new id is spliced into it (large arguments are never re-encoded).
        """
        cid: RequestId = msg["id"]
        bid = self._next_id()
        pending = kind(session, cid, sse, time.monotonic() + self._timeout, bid, msg["method"])
        line = None
        params = msg.get("params")
        meta = params.get("_meta") if type(params) is dict else None
        if type(meta) is dict and "progressToken" in meta:
            pending.token = meta["progressToken"]
            meta["progressToken"] = bid
        elif body is not None:
            line = splice_id(body, cid, bid)
        msg["id"] = bid
        self._pending[bid] = pending
        session.inflight[cid] = bid
        return pending, line or encode_line(msg)

    async def _write_request(self, pending: _Pending, line: bytes) -> None:
        try:
            await self._channel.send(line)
        except Exception as exc:
            if self._pending.pop(pending.bid, None) is not None:
                message = f"cannot write to the MCP server: {exc}"
                pending.put(error_bytes(pending.client_id, CONNECTION_CLOSED, message), True)

    async def intercept(self, session: _Session, msg: Message, method: str) -> bytes | None:
        """Answer ``logging/setLevel`` and ``resources/(un)subscribe`` for one session.

        The server has one level and one subscription per URI for all sessions: the bridge keeps
        each session's own, tells the server only what changes its view, and answers the client
        (``None``: forward the request unchanged).
        """
        cid: RequestId = msg["id"]
        params = msg.get("params")
        if type(params) is not dict:
            params = {}
        ok = encode(result_response(cid, {}))
        if method == methods.LOGGING_SET_LEVEL:
            level = params.get("level")
            rank = methods.LOG_LEVELS.get(level) if type(level) is str else None
            if rank is None:
                return error_bytes(cid, INVALID_PARAMS, f"Invalid params: unknown level {level!r}")
            previous, session.level = session.level, rank
            error = await self._sync_log_level()
            if error is not None:
                session.level = previous
                return encode({"jsonrpc": "2.0", "id": cid, "error": error})
            return ok
        uri = params.get("uri")
        if type(uri) is not str:
            return None  # malformed: the server explains
        if method == methods.RESOURCES_SUBSCRIBE:
            if uri in session.subscriptions:
                return ok
            count = self._subscribed.get(uri, 0)
            session.subscriptions.add(uri)
            self._subscribed[uri] = count + 1
            if count:
                return ok
            error = await self._server_call(method, {"uri": uri})
            if error is not None:
                self._drop_subscription(session, uri)
                return encode({"jsonrpc": "2.0", "id": cid, "error": error})
            return ok
        if self._drop_subscription(session, uri):
            error = await self._server_call(method, {"uri": uri})
            if error is not None:
                return encode({"jsonrpc": "2.0", "id": cid, "error": error})
        return ok

    def _drop_subscription(self, session: _Session, uri: str) -> bool:
        """Forget one session's subscription; ``True`` when it was the last one for ``uri``."""
        if uri not in session.subscriptions:
            return False
        session.subscriptions.discard(uri)
        count = self._subscribed.get(uri, 0) - 1
        if count > 0:
            self._subscribed[uri] = count
            return False
        self._subscribed.pop(uri, None)
        return True

    async def _sync_log_level(self) -> dict[str, Any] | None:
        """Tell the server the lowest level any session wants, if that changed; the error, if any."""
        levels = [s.level for s in self._sessions.values() if s.level is not None]
        target = min(levels) if levels else None
        if target is None or target == self._server_level:
            return None
        previous, self._server_level = self._server_level, target
        error = await self._server_call(
            methods.LOGGING_SET_LEVEL, {"level": methods.LOG_LEVEL_NAMES[target]}
        )
        if error is not None and self._server_level == target:
            self._server_level = previous
        return error

    async def _server_call(self, method: str, params: dict[str, Any]) -> dict[str, Any] | None:
        """A bridge-owned request to the server; ``None`` on success, else the JSON-RPC error."""
        if self._gone is not None:
            return {"code": CONNECTION_CLOSED, "message": self._gone}
        bid = self._next_id()
        future: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._internal[bid] = future
        request = {"jsonrpc": "2.0", "id": bid, "method": method, "params": params}
        try:
            async with asyncio.timeout(self._timeout):
                await self._channel.send(encode_line(request))
                response = await future
        except TimeoutError:
            return {"code": REQUEST_TIMEOUT, "message": f"The MCP server did not answer {method}"}
        except Exception as exc:
            return {"code": CONNECTION_CLOSED, "message": str(exc) or "the MCP server is gone"}
        finally:
            self._internal.pop(bid, None)
        if "result" in response:
            return None
        error = response.get("error")
        if type(error) is dict:
            return error
        return {"code": INTERNAL_ERROR, "message": f"invalid answer to {method}"}

    async def client_notification(self, session: _Session, msg: Message) -> None:
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

    async def client_response(self, session: _Session, msg: Message) -> bool:
        """Relay a session's answer to a server request; ``False`` if it asked no such thing."""
        rid = msg["id"]
        owner = self._server_requests.get(rid) if _is_id(rid) else None
        if owner is None or owner is not session:
            return False
        del self._server_requests[rid]
        session.server_requests.discard(rid)
        if self._gone is None:
            with contextlib.suppress(Exception):
                await self._channel.send(encode_line(msg))
        return True

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
                if line.startswith(b'{"jsonrpc"') and relay(line):
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
        ``"error":``; or the same with ``json.dumps``'s spaces), the shapes SDK servers write: that
        prefix is certainly the top-level id, so re-encoding (the costly part for large results)
        is unnecessary.
        """
        if line.startswith(_RESPONSE_PREFIX):
            start, follows = len(_RESPONSE_PREFIX), _COMPACT_FOLLOWS
        elif line.startswith(_SPACED_PREFIX):
            start, follows = len(_SPACED_PREFIX), _SPACED_FOLLOWS
        else:
            return False
        end = line.find(b",", start, start + 20)
        digits = line[start:end]
        if end < 0 or not digits.isdigit() or not line.startswith(follows, end):
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
        params = msg.get("params")
        if type(params) is not dict:
            params = {}
        if method == methods.PROGRESS:
            token = params.get("progressToken")
            pending = self._pending.get(token) if type(token) is int else None
            if pending is None:
                return
            params["progressToken"] = pending.token
            data = encode(msg)
            if pending.sse:
                pending.put(data)
            else:
                pending.session.push(sse_event(data))
            return
        data = _strip(line) if line is not None else encode(msg)
        if method == methods.CANCELLED:  # the server gives up on one of its own requests
            rid = params.get("requestId")
            owner = self._server_requests.pop(rid, None) if _is_id(rid) else None
            if owner is not None and _is_id(rid):
                owner.server_requests.discard(rid)
                owner.push(sse_event(data))
            return
        event = sse_event(data)
        if method == methods.RESOURCES_UPDATED:
            uri = params.get("uri")
            if type(uri) is not str:
                return
            for session in self._sessions.values():
                if _subscribed_to(session.subscriptions, uri):
                    session.push(event)
            return
        if method == methods.LOG_MESSAGE:
            level = params.get("level")
            rank = methods.LOG_LEVELS.get(level, 0) if type(level) is str else 0
            for session in self._sessions.values():
                if session.level is None or rank >= session.level:
                    session.push(event)
            return
        for session in self._sessions.values():
            session.push(event)

    def _on_server_request(self, msg: Message, method: str, line: bytes | None) -> None:
        rid = msg["id"]
        if not _is_id(rid):
            return
        if method == methods.PING:  # answered here: the server cannot tell sessions apart anyway
            self._send_soon(encode_line(result_response(rid, {})))
            return
        session, origin = self._route(msg, method)
        if session is not None:
            data = _strip(line) if line is not None and origin is None else encode(msg)
            target: _Pending | None = origin if origin is not None and origin.sse else None
            if target is None:
                for bid in reversed(session.inflight.values()):
                    pending = self._pending.get(bid)
                    if pending is not None and pending.sse:
                        target = pending
                        break
            if target is not None:
                target.put(data)
            elif session.stream is None or not session.push(sse_event(data)):
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

    def _route(self, msg: Message, method: str) -> tuple[_Session | None, _Pending | None]:
        """The session that caused a server → client request (and its request, if known).

        1. ``params._meta.progressToken`` (a token the bridge minted for a client request) or
           ``params._meta["io.modelcontextprotocol/related-request-id"]`` names the request:
           its session (the client's own token or id is put back in ``_meta``).
        2. Else the one session with requests in flight that may call back (not ``*/list``,
           ``ping``, …) — with several, no guess.
        3. Else, with nothing in flight, the one session there is.

        Candidates in 2 and 3 must have declared the capability the request needs (sampling,
        elicitation, roots); in 1 a session without it gets nothing (the server gets an error).
        """
        capability = methods.CLIENT_CAPABILITY_FOR.get(method)
        params = msg.get("params")
        meta = params.get("_meta") if type(params) is dict else None
        if type(meta) is dict:
            token = meta.get("progressToken")
            pending = self._pending.get(token) if type(token) is int else None
            if pending is not None and pending.token is not None:
                meta["progressToken"] = pending.token
            else:
                related = meta.get(methods.RELATED_REQUEST_META)
                pending = self._pending.get(related) if type(related) is int else None
                if pending is not None:
                    meta[methods.RELATED_REQUEST_META] = pending.client_id
            if pending is not None:
                owner = pending.session
                if capability is None or capability in owner.capabilities:
                    return owner, pending
                return None, None
        busy: dict[bytes, _Session] = {}
        for pending in self._pending.values():
            if pending.method not in methods.NEVER_CALL_BACK:
                busy[pending.session.id] = pending.session
        candidates = list((busy or self._sessions).values())
        if capability is not None:
            candidates = [s for s in candidates if capability in s.capabilities]
        return (candidates[0], None) if len(candidates) == 1 else (None, None)

    # ------------------------------------------------------------------ housekeeping

    def _send_soon(self, line: bytes) -> None:
        """Write to the server from synchronous code (the reader must never block on stdin)."""
        if self._gone is not None:
            return
        self._spawn(self._send_quietly(line))

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
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
        if self._gone is not None:
            return
        for uri in list(session.subscriptions):
            if self._drop_subscription(session, uri):
                self._spawn(self._server_call(methods.RESOURCES_UNSUBSCRIBE, {"uri": uri}))
        if session.level is not None and session.level == self._server_level:
            self._spawn(self._sync_log_level())  # the lowest level may rise now

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
        interval = min(1.0, max(0.01, self._timeout / 4), max(0.01, self._keepalive / 2))
        now = time.monotonic()
        next_sessions = now + min(5.0, self._ttl / 4)
        next_keepalive = now + self._keepalive
        while True:
            await asyncio.sleep(interval)
            now = time.monotonic()
            if self._pending:
                self._expire_requests(now)
            if now >= next_sessions:
                next_sessions = now + min(5.0, self._ttl / 4)
                ttl = self._ttl
                for session in [
                    s
                    for s in self._sessions.values()
                    if not s.inflight
                    and now - s.last_seen > ttl
                    and not (s.legacy and s.stream is not None)  # an open SSE stream is alive
                ]:
                    log.debug("session %s expired", session.id.decode())
                    self._end_session(session, "the session expired")
            if now >= next_keepalive:
                next_keepalive = now + self._keepalive
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


def _parse_event_id(value: bytes) -> tuple[int, int] | None:
    """``b"<stream>.<n>"`` → ``(stream, n)``; ``None`` if it is not an id this bridge makes."""
    stream, dot, seq = value.strip().partition(b".")
    if not dot or not stream.isdigit() or not seq.isdigit():
        return None
    return int(stream), int(seq)


def _subscribed_to(subscriptions: set[str], uri: str) -> bool:
    """``uri`` is a subscribed resource or a sub-resource of one (``…/parent/child``)."""
    if not subscriptions:
        return False
    if uri in subscriptions:
        return True
    return any(uri.startswith(s if s.endswith("/") else s + "/") for s in subscriptions)


def client_capabilities(msg: Message) -> dict[str, Any]:
    params = msg.get("params")
    capabilities = params.get("capabilities") if type(params) is dict else None
    return capabilities if type(capabilities) is dict else {}


def discover_refusal(rid: RequestId) -> bytes:
    """The answer to ``server/discover`` (2026-07-28 era). The bridge serves the handshake era for
    every stdio server, so it says "method not found" itself; ``mode="auto"`` clients then fall back
    to ``initialize``."""
    return error_bytes(rid, METHOD_NOT_FOUND, "Method not found", methods.SERVER_DISCOVER)


def is_json_content_type(value: bytes) -> bool:
    return value.split(b";", 1)[0].strip().lower() == b"application/json"


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
    box.put(_GONE, True)


async def _stream(box: _Mailbox, receive: Receive, send: Send) -> bool:
    """Send the SSE chunks put in ``box`` until a final one; ``False`` if the client went away.

    The response has started; this ends it. A final item's data (if any) is sent first.
    """
    watcher = asyncio.create_task(_watch_disconnect(receive, box))
    try:
        while True:
            data, final = await box.get()
            if data is _GONE:
                return False
            if final:
                await send({"type": "http.response.body", "body": data, "more_body": False})
                return True
            await send({"type": "http.response.body", "body": data, "more_body": True})
    finally:
        watcher.cancel()
