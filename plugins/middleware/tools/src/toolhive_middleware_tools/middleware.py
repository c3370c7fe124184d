"""The two ASGI middleware, imported only when a workload that filters tools starts.

Where answers travel decides what each one wraps:

- streamable HTTP answers a POST on its own response (JSON or an SSE stream); a GET stream only
  carries server-initiated messages, except when a client resumes (``Last-Event-ID``) and the
  server replays answers;
- legacy SSE (``proxy_mode == "sse"``) answers every POST ``202 Accepted`` and sends the answer
  on the session's ``GET /sse`` stream.

``ToolListFilter`` therefore rewrites the answer of a POST that may contain a ``tools/list``
and, in legacy SSE mode (or on a resumed stream), every GET stream. ``ToolCallFilter`` checks each
``tools/call`` POST (batches item by item; a body it cannot decode is refused, never passed on),
and in legacy SSE mode also watches each ``GET /sse`` stream so that a refusal reaches the client
where its answers go: the POST gets ``202`` and the error arrives on the stream, as the server
itself would answer a tool that does not exist. Everything else passes straight through.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import re
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import parse_qs, urlsplit

from toolhive.contracts.middleware import (
    PARSED_REQUEST_KEY,
    describe_mcp_request,
    read_body,
    read_mcp_request,
    replaying_receive,
    send_jsonrpc_error,
)
from toolhive.contracts.rewrite import rewriting_send

from toolhive_middleware_tools.policy import INVALID_REQUEST, Refusal

if TYPE_CHECKING:
    from toolhive.contracts import MiddlewareContext
    from toolhive.contracts.middleware import ASGIApp
    from toolhive.contracts.transport import Message, Receive, Scope, Send

    from toolhive_middleware_tools.policy import ToolPolicy

log = logging.getLogger(__name__)

TOOLS_LIST: Final = "tools/list"
TOOLS_CALL: Final = "tools/call"
PARSE_ERROR: Final = -32700
_BOM: Final = b"\xef\xbb\xbf"
_DECIDING_KEYS: Final = (b'"method"', b'"params"', b'"name"')
#: How much of a legacy SSE stream may pass before its ``endpoint`` event must have been seen.
_ENDPOINT_WINDOW: Final = 16 * 1024


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None


def _encode(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


# --- tool-filter ------------------------------------------------------------------------------


class ToolListFilter:
    """``tool-filter``: tool lists in answers show only what the policy lets clients see."""

    __slots__ = ("_app", "_legacy_sse", "_policy", "_warned")

    def __init__(self, app: ASGIApp, policy: ToolPolicy, context: MiddlewareContext) -> None:
        self._app = app
        self._policy = policy
        self._legacy_sse = context.proxy_mode == "sse"
        self._warned: set[str] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        method = scope["method"]
        if method == "POST":
            parsed, receive = await read_mcp_request(scope, receive)
            if (
                parsed is not None
                and parsed.method != TOOLS_LIST
                and not _maybe_ambiguous(parsed.body)
            ):
                await self._app(scope, receive, send)  # the common case: nothing to rewrite
                return
            # A whole list (no cursor) answering this very request: worth checking the names.
            whole = parsed is not None and parsed.is_request and "cursor" not in parsed.params
            rewrite = self._rewrite_and_check if whole else self._policy.rewrite_message
            await self._app(scope, receive, rewriting_send(send, rewrite))
        elif method == "GET" and (self._legacy_sse or _header(scope, b"last-event-id") is not None):
            await self._app(scope, receive, rewriting_send(send, self._policy.rewrite_message))
        else:
            await self._app(scope, receive, send)

    def _rewrite_and_check(self, message: dict[str, Any]) -> dict[str, Any] | None:
        result = message.get("result")
        tools = result.get("tools") if isinstance(result, dict) else None
        if isinstance(tools, list) and isinstance(result, dict) and "nextCursor" not in result:
            missing = [n for n in self._policy.unknown_names(tools) if n not in self._warned]
            if missing:
                # ToolHive refuses such names at `thv run` only for registry servers that list
                # their tools; for any other server this is the first moment they can be seen.
                self._warned.update(missing)
                log.warning(
                    "tool filter/override names not in the server's tool list: %s",
                    ", ".join(missing),
                )
        return self._policy.rewrite_message(message)


# --- tool-call-filter -------------------------------------------------------------------------


class _Stream:
    """One legacy SSE stream: its ``send``, serialized so an injected event never lands inside
    one the server is writing."""

    __slots__ = ("at_boundary", "closed", "head", "lock", "queued", "send", "session")

    def __init__(self, send: Send) -> None:
        self.send = send
        self.lock = asyncio.Lock()
        self.session: str | None = None
        self.head = b""
        self.at_boundary = True
        self.closed = False
        self.queued: list[bytes] = []


def _session_from_endpoint(head: bytes) -> str | None:
    """The session id in the stream's ``endpoint`` event (``…/messages?session_id=<id>``)."""
    for event in head.replace(b"\r\n", b"\n").split(b"\n\n"):
        lines = event.split(b"\n")
        if b"event: endpoint" not in lines and b"event:endpoint" not in lines:
            continue
        for line in lines:
            if line.startswith(b"data:"):
                query = parse_qs(urlsplit(line[5:].strip().decode("latin-1")).query)
                values = query.get("session_id") or query.get("sessionId")
                return values[0] if values else None
    return None


class _Refused(Exception):
    """A request the filter answers itself."""

    def __init__(self, refusal: Refusal, request_id: Any = None, *, has_id: bool = True) -> None:
        super().__init__(refusal.message)
        self.refusal = refusal
        self.request_id = request_id
        self.has_id = has_id


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise _Refused(Refusal(400, INVALID_REQUEST, "Invalid Request"))
    return out


class ToolCallFilter:
    """``tool-call-filter``: every ``tools/call`` names a visible tool and reaches its backend."""

    __slots__ = ("_app", "_legacy_sse", "_policy", "_streams")

    def __init__(self, app: ASGIApp, policy: ToolPolicy, context: MiddlewareContext) -> None:
        self._app = app
        self._policy = policy
        self._legacy_sse = context.proxy_mode == "sse"
        self._streams: dict[str, _Stream] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        method = scope["method"]
        if method == "POST":
            await self._post(scope, receive, send)
        elif method == "GET" and self._legacy_sse:
            await self._watch_stream(scope, receive, send)
        else:
            await self._app(scope, receive, send)

    # -- POST ---------------------------------------------------------------------------------

    async def _post(self, scope: Scope, receive: Receive, send: Send) -> None:
        parsed, receive = await read_mcp_request(scope, receive)
        if parsed is not None and parsed.method != TOOLS_CALL and not _maybe_ambiguous(parsed.body):
            await self._app(scope, receive, send)  # the common case: not a tool call
            return
        body, after = await read_body(receive)
        if body is None:  # the client went away before its body arrived
            await self._app(scope, after, send)
            return
        # The parse read_mcp_request made serves unless keys that decide the call may repeat.
        known = parsed.message if parsed is not None and not _may_repeat_keys(body) else None
        try:
            rewritten = self._checked(body, known)
        except _Refused as refused:
            await self._refuse(scope, send, refused)
            return
        if rewritten is not None:
            body, renames = rewritten
            _replace_body(scope, body, renames)
        await self._app(scope, replaying_receive(body, after), send)

    def _checked(self, body: bytes, decoded: Any = None) -> tuple[bytes, dict[str, str]] | None:
        """The body to forward instead (a renamed call) and its renames (visible -> backend
        name), ``None`` to forward it as is.

        Raises :class:`_Refused` for what must not reach the server: a refused call, a body
        that is not JSON or not a JSON-RPC object or array, duplicate keys.
        """
        if decoded is None:
            decoded = _decode(body)
        if isinstance(decoded, list):
            batch = self._checked_batch(decoded)
            return None if batch is None else (batch, {})
        if not isinstance(decoded, dict):
            raise _Refused(Refusal(400, INVALID_REQUEST, "Invalid Request"), None)
        if decoded.get("method") != TOOLS_CALL:
            return None
        renamed = self._mapped(decoded)
        if renamed is None:
            return None
        return _encode(renamed), {decoded["params"]["name"]: renamed["params"]["name"]}

    def _checked_batch(self, items: list[Any]) -> bytes | None:
        out: list[Any] = []
        changed = False
        for item in items:
            renamed = None
            if isinstance(item, dict) and item.get("method") == TOOLS_CALL:
                try:
                    renamed = self._mapped(item)
                except _Refused as refused:
                    # One answer for the whole batch: forwarding the rest would need their
                    # answers merged with ours, and batches are gone from MCP since 2025-06-18.
                    refusal = Refusal(400, refused.refusal.code, refused.refusal.message)
                    raise _Refused(refusal, None) from None
            changed |= renamed is not None
            out.append(item if renamed is None else renamed)
        return _encode(out) if changed else None

    def _mapped(self, message: dict[str, Any]) -> dict[str, Any] | None:
        """``message`` (a tools/call) with the backend's tool name, ``None`` if unchanged."""
        params = message.get("params")
        name = params.get("name") if isinstance(params, dict) else None
        target = self._policy.call_target(name)
        if isinstance(target, Refusal):
            raise _Refused(target, message.get("id"), has_id="id" in message)
        if target == name:
            return None
        assert isinstance(params, dict)
        return {**message, "params": {**params, "name": target}}

    async def _refuse(self, scope: Scope, send: Send, refused: _Refused) -> None:
        refusal = refused.refusal
        if not refused.has_id:  # a notification: nothing to answer, nothing forwarded
            await _send_empty(send, 202)
            return
        answer = {"jsonrpc": "2.0", "id": refused.request_id}
        answer["error"] = {"code": refusal.code, "message": refusal.message}
        if self._legacy_sse and await self._inject(scope, _encode(answer)):
            await _send_empty(send, 202)  # what the server answers any POST in this mode
            return
        accept = (_header(scope, b"accept") or b"").lower()
        if accept and not _accepts_json(accept) and b"text/event-stream" in accept:
            await _send_sse_answer(send, _encode(answer))
            return
        request_id = refused.request_id if type(refused.request_id) in (str, int) else None
        await send_jsonrpc_error(send, refusal.status, request_id, refusal.code, refusal.message)

    # -- legacy SSE streams -------------------------------------------------------------------

    async def _watch_stream(self, scope: Scope, receive: Receive, send: Send) -> None:
        stream = _Stream(send)

        async def tracked(message: Message) -> None:
            async with stream.lock:
                await send(message)
                if message["type"] != "http.response.body":
                    return
                chunk = bytes(message.get("body", b""))
                if chunk:
                    stream.at_boundary = chunk.endswith((b"\n\n", b"\r\n\r\n", b"\r\r"))
                    if stream.session is None and len(stream.head) < _ENDPOINT_WINDOW:
                        stream.head += chunk
                        stream.session = _session_from_endpoint(stream.head)
                        if stream.session is not None:
                            self._streams[stream.session] = stream
                if not message.get("more_body", False):
                    stream.closed = True
                elif stream.at_boundary and stream.queued:
                    queued, stream.queued = b"".join(stream.queued), []
                    await send({"type": "http.response.body", "body": queued, "more_body": True})

        try:
            await self._app(scope, receive, tracked)
        finally:
            stream.closed = True
            if stream.session is not None and self._streams.get(stream.session) is stream:
                del self._streams[stream.session]

    async def _inject(self, scope: Scope, answer: bytes) -> bool:
        """Put ``answer`` on the stream of the POST's session; False if there is none."""
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        values = query.get("session_id") or query.get("sessionId")
        stream = self._streams.get(values[0]) if values else None
        if stream is None:
            return False
        event = b"event: message\ndata: " + answer + b"\n\n"
        async with stream.lock:
            if stream.closed:
                return False
            if not stream.at_boundary:
                stream.queued.append(event)
                return True
            try:
                await stream.send({"type": "http.response.body", "body": event, "more_body": True})
            except Exception:  # the stream's client is gone: answer on the POST instead
                log.debug("could not write to the SSE stream", exc_info=True)
                return False
        return True


# --- helpers ----------------------------------------------------------------------------------


def _decode(body: bytes) -> Any:
    """The JSON body (a leading BOM ignored), refusing duplicate object keys: JSON parsers
    resolve them differently, and the filter and the server must agree on which tool (and which
    method) a message names. Not JSON: :class:`_Refused` with a parse error."""
    try:
        return json.loads(body.removeprefix(_BOM), object_pairs_hook=_no_duplicate_keys)
    except (ValueError, UnicodeDecodeError):
        raise _Refused(Refusal(400, PARSE_ERROR, "Parse error"), None) from None


def _may_repeat_keys(body: bytes) -> bool:
    """Whether a key that decides which tool is called (``method``, ``params``, ``name``) may
    occur twice, so that only a strict decode can tell (an escape could spell any of them)."""
    return b"\\" in body or any(body.count(key) > 1 for key in _DECIDING_KEYS)


def _maybe_ambiguous(body: bytes) -> bool:
    """Whether a message already decoded as some other method could name ``tools/call`` to
    a parser that keeps the first of duplicate keys: only if ``"method"`` occurs twice, or an
    escape could spell it. Two byte scans, so the common case stays cheap."""
    return b"\\" in body or body.count(b'"method"') > 1


def _accepts_json(accept: bytes) -> bool:
    for entry in accept.split(b","):
        media = entry.split(b";")[0].strip()
        if media in (b"application/json", b"application/*", b"*/*"):
            return True
    return False


def _replace_body(scope: Scope, body: bytes, renames: dict[str, str]) -> None:
    """Make the scope describe ``body``: its length, the ``Mcp-Name`` header that mirrors the
    tool name (MCP's stateless HTTP revision: the server checks it against the body), and the
    decoded request the parser and authorization inside read — the backend's tool name, not the
    one the client used."""
    headers: list[tuple[bytes, bytes]] = []
    for key, value in scope["headers"]:
        if key == b"content-length":
            continue
        if key == b"mcp-name":
            # Only a header that agreed with the body follows it; a mismatch stays one.
            new = renames.get(_decode_header_value(value) or "")
            if new is not None:
                value = _encode_header_value(new)
        headers.append((key, value))
    headers.append((b"content-length", str(len(body)).encode()))
    scope["headers"] = headers
    parsed = describe_mcp_request(body)
    if parsed is None:
        scope.pop(PARSED_REQUEST_KEY, None)
    else:
        scope[PARSED_REQUEST_KEY] = parsed


_SENTINEL = re.compile(rb"=\?base64\?(.*)\?=")


def _decode_header_value(value: bytes) -> str | None:
    """An ``Mcp-Name`` value: verbatim ASCII, or UTF-8 in a ``=?base64?…?=`` sentinel."""
    match = _SENTINEL.fullmatch(value)
    try:
        if match is None:
            return value.decode("ascii")
        return base64.b64decode(match.group(1), validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None


def _encode_header_value(name: str) -> bytes:
    """As MCP clients encode it: printable ASCII without edge spaces verbatim, else base64."""
    if name.isascii() and name.isprintable() and name == name.strip():
        raw = name.encode("ascii")
        if _SENTINEL.fullmatch(raw) is None:
            return raw
    return b"=?base64?" + base64.b64encode(name.encode()) + b"?="


async def _send_empty(send: Send, status: int) -> None:
    await send({"type": "http.response.start", "status": status, "headers": []})
    await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _send_sse_answer(send: Send, answer: bytes) -> None:
    """The answer as a one-event stream, for a client that accepts only ``text/event-stream``."""
    body = b"event: message\ndata: " + answer + b"\n\n"
    headers = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    with contextlib.suppress(OSError):
        await send({"type": "http.response.body", "body": body, "more_body": False})
