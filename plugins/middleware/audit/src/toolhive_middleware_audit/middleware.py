"""The ``audit`` middleware itself, imported only when a workload that uses it starts.

It is the outermost entry of ToolHive's chain (audit > auth > … > authorization), so every
request that reaches the proxy gets one event, whoever answers it: a 401 from ``auth`` or a 403
from ``authorization`` is ``outcome: denied``. The caller is read with :func:`identity` *after*
the inner app ran (``auth``, inside, records it in the shared scope).

Per request (ToolHive's ``Auditor.Middleware``):

- A stream open (``GET`` with ``Accept: text/event-stream``: the SSE endpoint, or streamable
  HTTP's GET stream) is logged once, as ``sse_connection``, when its response starts — a
  long-lived stream is never held back waiting for its end.
- Anything else is logged when the inner app has answered: the type from the MCP method
  (:data:`~toolhive_middleware_audit.events.EVENT_TYPE_FOR_METHOD`), the outcome from the status
  (2xx success, 401/403 denied, other 4xx failure, 5xx error; a JSON-RPC error inside a 2xx is
  ``application_error``), the duration, the response size, and, if configured, the request and
  response bodies capped at ``maxDataSize`` (for an SSE response, its JSON-RPC messages).

Events carry no header except ``User-Agent`` (and ``X-Request-ID``), and never a token.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from typing import TYPE_CHECKING, Any

from toolhive.contracts.middleware import identity, read_mcp_request

from toolhive_middleware_audit.events import (
    EVENT_TYPE_FOR_METHOD,
    HTTP_REQUEST,
    MCP_REQUEST,
    META_CLIENT_INFO,
    SSE_CONNECTION,
    TARGET_TYPE_FOR_EVENT,
    AuditIds,
    Clock,
    client_info,
    delegation_chain,
    subjects,
    target_name,
)

if TYPE_CHECKING:
    from toolhive.contracts.middleware import ASGIApp, Identity, ParsedMCPRequest
    from toolhive.contracts.transport import Message, Receive, Scope, Send

    from toolhive_middleware_audit import AuditConfig
    from toolhive_middleware_audit.sink import Sink

log = logging.getLogger(__name__)

#: How much of a JSON response is kept to look for a JSON-RPC error when its data is not logged
#: (ToolHive keeps 512 bytes; error answers are small, results are not inspected past this).
ERROR_PROBE_BYTES = 4096
#: ToolHive's cap on ``metadata.extra.jsonrpc_error_message``.
MAX_ERROR_MESSAGE = 256
#: An SSE line longer than this (and the cap) is not inspected: its event is skipped.
MAX_SSE_LINE = 65536
#: MCP sessions whose client info is remembered (oldest forgotten first).
MAX_SESSIONS = 10000

#: One encoder for every event (``json.dumps`` with options builds a new one per call).
_ENCODE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode
_ENCODE_NAN = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _outcome(status: int) -> str:
    """ToolHive's ``determineOutcome``."""
    if 200 <= status < 300:
        return "success"
    if status in (401, 403):
        return "denied"
    if 400 <= status < 500:
        return "failure"
    if status >= 500:
        return "error"
    return "success"


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")


def _json_or_text(raw: bytes, cap: int) -> Any:
    """``raw`` as JSON when it fits the cap and parses (ToolHive's data rule), else its first
    ``cap`` bytes as text."""
    if len(raw) <= cap:
        try:
            return json.loads(raw)
        except ValueError:
            return _text(raw)
    return _text(raw[:cap])


def _jsonrpc_error(message: Any) -> tuple[int, str] | None:
    """``(code, message)`` of a JSON-RPC error response (ToolHive's ``ParseMCPResponse``)."""
    if isinstance(message, dict):
        error = message.get("error")
        if isinstance(error, dict):
            code = error.get("code")
            text = error.get("message")
            return (
                code if isinstance(code, int) and not isinstance(code, bool) else 0,
                text[:MAX_ERROR_MESSAGE] if isinstance(text, str) else "",
            )
    return None


def _session_from_query(query: bytes) -> bytes:
    """The legacy SSE transport names its session in the message URL's query."""
    for part in query.split(b"&"):
        key, _, value = part.partition(b"=")
        if key in (b"session_id", b"sessionId"):
            return value
    return b""


async def _read_body(receive: Receive) -> tuple[bytes, Receive]:
    """The whole request body and a ``receive`` that replays it (then defers to the real one;
    a client gone before its body arrived is replayed as that disconnect)."""
    chunks: list[bytes] = []
    message = await receive()
    while message["type"] == "http.request":
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
        message = await receive()
    body = b"".join(chunks)
    first: Message = (
        {"type": "http.request", "body": body, "more_body": False}
        if message["type"] == "http.request"
        else message
    )
    pending = True

    async def replay() -> Message:
        nonlocal pending
        if pending:
            pending = False
            return first
        return await receive()

    return body, replay


class _Response:
    """What the inner app answered, seen through ``send``: status, size, session id, and (only
    as much as asked for) its JSON-RPC content."""

    __slots__ = (
        "app_error",
        "cap",
        "capture",
        "detect",
        "event_data",
        "inspect",
        "limit",
        "line",
        "overflow",
        "payloads",
        "prefix",
        "session",
        "size",
        "skipping",
        "sse",
        "status",
        "tainted",
    )

    def __init__(self, *, capture: bool, detect: bool, cap: int) -> None:
        self.status = 0
        self.size = 0
        self.session = b""
        self.sse = False
        self.capture = capture
        self.detect = detect
        self.cap = cap
        self.inspect = capture or detect
        self.limit = max(cap if capture else 0, ERROR_PROBE_BYTES if detect else 0)
        self.prefix = b""
        self.app_error: tuple[int, str] | None = None
        # SSE: the line being read, the data lines of the event being read, captured payloads.
        self.line = b""
        self.event_data: list[bytes] = []
        self.tainted = False
        self.skipping = False
        self.payloads: list[bytes] = []
        self.overflow = False

    def start(self, message: Message) -> None:
        self.status = message["status"]
        for key, value in message.get("headers", ()):
            key = key.lower()
            if key == b"content-type":
                self.sse = value.lstrip().lower().startswith(b"text/event-stream")
            elif key == b"mcp-session-id":
                self.session = value

    def body(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if not self.inspect:
            return
        if self.sse:
            self._sse(chunk)
        elif len(self.prefix) < self.limit:
            self.prefix += chunk[: self.limit - len(self.prefix)]

    # -- text/event-stream ---------------------------------------------------------------------

    def _sse(self, chunk: bytes) -> None:
        lines = chunk.split(b"\n")
        lines[0] = self.line + lines[0]
        self.line = lines.pop()  # an unfinished line (b"" when the chunk ended one)
        for line in lines:
            if self.skipping:  # the rest of an oversized line
                self.skipping = False
                continue
            self._sse_line(line.removesuffix(b"\r"))
        if len(self.line) > max(MAX_SSE_LINE, self.cap):
            self.line = b""
            self.skipping = self.tainted = True
            self.overflow = self.overflow or self.capture

    def _sse_line(self, line: bytes) -> None:
        if not line:
            data, self.event_data = self.event_data, []
            tainted, self.tainted = self.tainted, False
            if data and not tainted:
                self._sse_event(b"\n".join(data))
        elif line.startswith(b"data:"):
            payload = line[5:]
            self.event_data.append(payload[1:] if payload.startswith(b" ") else payload)

    def _sse_event(self, payload: bytes) -> None:
        if self.detect and self.app_error is None and b'"error"' in payload:
            with contextlib.suppress(ValueError):
                self.app_error = _jsonrpc_error(json.loads(payload))
        if self.capture and not self.overflow:
            room = self.cap - sum(map(len, self.payloads))
            if len(payload) <= room:
                self.payloads.append(payload)
            else:
                self.payloads.append(payload[:room])
                self.overflow = True

    # -- the event's parts ---------------------------------------------------------------------

    def finish(self) -> Any:
        """The response data to log (if captured); fills ``app_error`` for a JSON body."""
        if self.sse:
            if self.line:
                self._sse_line(self.line)
            self._sse_line(b"")  # a last event without its blank line
            if not self.capture or not self.payloads:
                return None
            if not self.overflow:
                try:
                    messages = [json.loads(p) for p in self.payloads]
                    return messages[0] if len(messages) == 1 else messages
                except ValueError:
                    pass
            return _text(b"\n".join(self.payloads))
        data = None
        complete = self.size == len(self.prefix)
        if self.capture and self.prefix:
            data = _json_or_text(self.prefix, self.cap) if complete else _text(self.prefix)
        if self.detect and complete and b'"error"' in self.prefix:
            if self.capture and not isinstance(data, str):
                self.app_error = _jsonrpc_error(data)
            else:
                with contextlib.suppress(ValueError):
                    self.app_error = _jsonrpc_error(json.loads(self.prefix))
        return data


class _Sessions:
    """Client info (``clientInfo`` of ``initialize``) per MCP session id, bounded. Kept with the
    caller who initialized the session and given only to requests by the same caller, so a
    request naming someone else's session id is not labelled with their client."""

    def __init__(self) -> None:
        self.known: dict[bytes, tuple[str, tuple[str, str]]] = {}

    def remember(self, session: bytes, caller: str, info: tuple[str, str]) -> None:
        self.known.pop(session, None)
        self.known[session] = (caller, info)
        if len(self.known) > MAX_SESSIONS:
            del self.known[next(iter(self.known))]

    def get(self, session: bytes, caller: str) -> tuple[str, str] | None:
        found = self.known.get(session) if session else None
        return found[1] if found is not None and found[0] == caller else None

    def forget(self, session: bytes) -> None:
        self.known.pop(session, None)


class AuditMiddleware:
    """ASGI middleware writing one ToolHive audit event per request (see the module docstring)."""

    def __init__(
        self,
        app: ASGIApp,
        config: AuditConfig,
        *,
        sink: Sink,
        component: str,
        transport_type: str,
        trust_proxy_headers: bool = False,
    ) -> None:
        self.app = app
        self.trust_proxy_headers = trust_proxy_headers
        self.config = config
        self.sink = sink
        self.component = component
        self.transport_type = transport_type
        self.sse_transport = transport_type == "sse"
        self.transport_label = "sse" if self.sse_transport else "http"
        self.cap = config.data_cap
        self.include_request = config.include_request_data
        self.include_response = config.include_response_data
        self.detect = config.detects_application_errors
        self.delegation_cap = config.delegation_cap
        self.sessions = _Sessions()
        self.clock = Clock()
        self.ids = AuditIds()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = _Headers(scope["headers"])
        if scope["method"] == "GET" and b"text/event-stream" in headers.accept.lower():
            await self._stream_open(scope, receive, send, headers)
            return

        started = time.perf_counter()
        parsed, receive = await read_mcp_request(scope, receive)
        if parsed is not None:
            event_type = EVENT_TYPE_FOR_METHOD.get(parsed.method, MCP_REQUEST)
        elif self.sse_transport and scope["method"] == "GET":
            event_type = SSE_CONNECTION
        elif self.sse_transport and scope["method"] == "POST":
            event_type = MCP_REQUEST
        else:
            event_type = HTTP_REQUEST
        if not self.config.audits(event_type):
            await self.app(scope, receive, send)
            return

        request_data: Any = None
        if self.include_request:
            if parsed is not None:
                body = parsed.body
                request_data = parsed.message if len(body) <= self.cap else _text(body[: self.cap])
            elif scope["method"] not in ("GET", "HEAD"):
                body, receive = await _read_body(receive)
                request_data = _json_or_text(body, self.cap) if body else None

        response = _Response(capture=self.include_response, detect=self.detect, cap=self.cap)

        async def watching(message: Message) -> None:
            kind = message["type"]
            if kind == "http.response.body":
                chunk = message.get("body", b"")
                if chunk:
                    response.body(chunk)
            elif kind == "http.response.start":
                response.start(message)
            await send(message)

        try:
            await self.app(scope, receive, watching)
        finally:
            # An app that raised, or returned without answering, left the server to send a 500.
            if not response.status:
                response.status = 500
            elapsed_ms = int((time.perf_counter() - started) * 1000)
            try:
                self._log_request(
                    scope, headers, parsed, event_type, response, request_data, elapsed_ms
                )
            except Exception:  # a bug here must not turn an answered request into a failure
                log.exception("could not write the audit event for %s", scope["path"])

    # -- stream opens ---------------------------------------------------------------------------

    async def _stream_open(
        self, scope: Scope, receive: Receive, send: Send, headers: _Headers
    ) -> None:
        if not self.config.audits(SSE_CONNECTION):
            await self.app(scope, receive, send)
            return
        logged = False

        async def on_start(message: Message) -> None:
            nonlocal logged
            if not logged and message["type"] == "http.response.start":
                logged = True
                self._log_stream_open(scope, headers, message["status"])
            await send(message)

        try:
            await self.app(scope, receive, on_start)
        finally:
            if not logged:  # it failed, or returned without answering: the server sends a 500
                self._log_stream_open(scope, headers, 500)

    def _log_stream_open(self, scope: Scope, headers: _Headers, status: int) -> None:
        try:
            self._write_stream_open(scope, headers, status)
        except Exception:  # never fail the stream for its audit event
            log.exception("could not write the audit event for %s", scope["path"])

    def _write_stream_open(self, scope: Scope, headers: _Headers, status: int) -> None:
        event = self._event(SSE_CONNECTION, _outcome(status), scope, headers, None, identity(scope))
        event["target"] = {"endpoint": scope["path"], "method": "GET", "type": "sse_endpoint"}
        event["metadata"] = {
            "extra": {"transport": self.transport_type, "user_agent": headers.user_agent}
        }
        self._write(event)

    # -- request events -------------------------------------------------------------------------

    def _log_request(
        self,
        scope: Scope,
        headers: _Headers,
        parsed: ParsedMCPRequest | None,
        event_type: str,
        response: _Response,
        request_data: Any,
        elapsed_ms: int,
    ) -> None:
        response_data = response.finish() if response.inspect else None
        outcome = _outcome(response.status)
        if outcome == "success" and response.app_error is not None:
            outcome = "application_error"

        session = headers.session or _session_from_query(scope.get("query_string", b""))
        who = identity(scope)
        caller = who.subject if who is not None else ""
        client = None
        if parsed is not None:
            params = parsed.params
            meta = params.get("_meta")
            if parsed.method == "initialize":
                client = client_info(params.get("clientInfo"))
                if client is not None and 200 <= response.status < 300:
                    self.sessions.remember(response.session or session, caller, client)
            elif isinstance(meta, dict) and META_CLIENT_INFO in meta:
                client = client_info(meta[META_CLIENT_INFO])
        if client is None:
            client = self.sessions.get(session, caller)
        if scope["method"] == "DELETE" and session and 200 <= response.status < 300:
            self.sessions.forget(session)

        event = self._event(event_type, outcome, scope, headers, client, who)
        target = {"endpoint": scope["path"], "method": scope["method"]}
        if parsed is not None:
            target["method"] = parsed.method
            if name := target_name(parsed.method, parsed.params):
                target["name"] = name
        target["type"] = TARGET_TYPE_FOR_EVENT.get(event_type, "endpoint")
        event["target"] = target

        extra: dict[str, Any] = {"duration_ms": elapsed_ms}
        if outcome == "application_error" and response.app_error is not None:
            extra["jsonrpc_error_code"], extra["jsonrpc_error_message"] = response.app_error
        extra["response_size_bytes"] = response.size
        extra["transport"] = self.transport_label
        event["metadata"] = {"extra": extra}

        data: dict[str, Any] = {}
        if request_data is not None:
            data["request"] = request_data
        if response_data is not None:
            data["response"] = response_data
        if data:
            event["data"] = data
        self._write(event)

    def _event(
        self,
        event_type: str,
        outcome: str,
        scope: Scope,
        headers: _Headers,
        client: tuple[str, str] | None,
        who: Identity | None,
    ) -> dict[str, Any]:
        """The parts every event has, in ToolHive's ``slog`` order."""
        local_time, logged_at = self.clock.now()
        source_extra: dict[str, str] = {}
        if headers.request_id:
            source_extra["request_id"] = headers.request_id
        if headers.user_agent:
            source_extra["user_agent"] = headers.user_agent
        event: dict[str, Any] = {
            "time": local_time,
            "level": "AUDIT",
            "msg": "audit_event",
            "audit_id": self.ids.new(),
            "type": event_type,
            "logged_at": logged_at,
            "outcome": outcome,
            "component": self.component,
            "source": {
                "type": "network",
                "value": headers.client_ip(scope, trusted=self.trust_proxy_headers),
                "extra": source_extra,
            },
        }
        if who is None:
            event["subjects"] = subjects("", "", "", {}, client)
        else:
            event["subjects"] = subjects(who.subject, who.name, who.email, who.claims, client)
            chain = delegation_chain(who.claims.get("act"), self.delegation_cap)
            if chain is not None:
                event["delegation"] = chain
        return event

    def _write(self, event: dict[str, Any]) -> None:
        try:
            line = _ENCODE(event)
        except ValueError:  # NaN/Infinity in a logged body: keep the event, say so
            event["data"] = {key: "<not JSON>" for key in event.get("data", {})}
            line = _ENCODE_NAN(event)
        # A lone surrogate (from a \\ud800 escape in a body) stays a JSON escape, not bad UTF-8.
        self.sink.write(line.encode("utf-8", "backslashreplace") + b"\n")


class _Headers:
    """The few request headers an event uses, found in one pass (no other header is kept)."""

    __slots__ = ("accept", "forwarded_for", "real_ip", "request_id", "session", "user_agent")

    def __init__(self, raw: list[tuple[bytes, bytes]]) -> None:
        self.accept = b""
        self.user_agent = ""
        self.request_id = ""
        self.forwarded_for = b""
        self.real_ip = b""
        self.session = b""
        for key, value in raw:
            if key == b"accept":
                self.accept = value
            elif key == b"user-agent":
                self.user_agent = _text(value)
            elif key == b"mcp-session-id":
                self.session = value
            elif key == b"x-request-id":
                self.request_id = _text(value)
            elif key == b"x-forwarded-for":
                self.forwarded_for = value
            elif key == b"x-real-ip":
                self.real_ip = value

    def client_ip(self, scope: Scope, *, trusted: bool) -> str:
        """ToolHive's ``getClientIP`` (the first X-Forwarded-For hop, X-Real-IP, the peer) when
        the workload trusts proxy headers; otherwise the peer, as a client cannot fake it."""
        if not trusted:
            client = scope.get("client")
            return str(client[0]) if client else ""
        if self.forwarded_for:
            return _text(self.forwarded_for.split(b",", 1)[0].strip())
        if self.real_ip:
            return _text(self.real_ip)
        client = scope.get("client")
        return str(client[0]) if client else ""
