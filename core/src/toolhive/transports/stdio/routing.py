"""Server → client: answers to the waiting request, notifications and server requests to the
right sessions (the rules are the package docstring's)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Final, TypeGuard

from toolhive.mcp import methods
from toolhive.mcp.jsonrpc import (
    METHOD_NOT_FOUND,
    Message,
    RequestId,
    encode,
    encode_line,
    error_response,
    result_response,
)
from toolhive.transports.stdio.sessions import Pending, Session, SessionTable
from toolhive.web.asgi import sse_event

log = logging.getLogger("toolhive.transports.stdio")

_RESPONSE_PREFIX: Final = b'{"jsonrpc":"2.0","id":'
#: ``json.dumps``'s spacing of the same opening (servers written without an SDK).
_SPACED_PREFIX: Final = b'{"jsonrpc": "2.0", "id": '
#: What must follow the id in each shape.
_COMPACT_FOLLOWS: Final = (b',"result":', b',"error":')
_SPACED_FOLLOWS: Final = (b', "result": ', b', "error": ')


def is_id(value: object) -> TypeGuard[RequestId]:
    return type(value) is str or type(value) is int


def _strip(line: bytes) -> bytes:
    return line.rstrip(b"\r\n")


class Router:
    """Delivers what the server writes; ``send_soon`` writes the bridge's own answers back."""

    __slots__ = ("_send_soon", "_table")

    def __init__(self, table: SessionTable, send_soon: Callable[[bytes], None]) -> None:
        self._table = table
        self._send_soon = send_soon

    def relay_response(self, line: bytes) -> bool:
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
        pending = self._table.pending.pop(int(digits), None)
        if pending is None:
            return False
        tail = line[end:]
        if tail.endswith(b"\n"):
            tail = tail[:-2] if tail.endswith(b"\r\n") else tail[:-1]
        cid = pending.client_id
        token = b"%d" % cid if type(cid) is int else encode(cid)
        pending.put(_RESPONSE_PREFIX + token + tail, True)
        return True

    def dispatch(self, msg: Any, line: bytes | None) -> None:
        """One decoded message from the server (``line``: its raw text, when it was one line)."""
        if type(msg) is not dict:
            if type(msg) is list:  # a batch from the server: relay its parts
                for item in msg:
                    self.dispatch(item, None)
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
        table = self._table
        pending = table.pending.pop(mid, None)
        if pending is not None:
            msg["id"] = pending.client_id
            pending.put(encode(msg), True)
            return
        future = table.internal.pop(mid, None)
        if future is not None:
            if not future.done():
                future.set_result(msg)
            return
        log.debug("dropping a late response (id %r)", mid)

    def _on_server_notification(self, msg: Message, method: str, line: bytes | None) -> None:
        table = self._table
        params = msg.get("params")
        if type(params) is not dict:
            params = {}
        if method == methods.PROGRESS:
            token = params.get("progressToken")
            pending = table.pending.get(token) if type(token) is int else None
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
            owner = table.server_requests.pop(rid, None) if is_id(rid) else None
            if owner is not None and is_id(rid):
                owner.server_requests.discard(rid)
                owner.push(sse_event(data))
            return
        event = sse_event(data)
        if method == methods.RESOURCES_UPDATED:
            uri = params.get("uri")
            if type(uri) is not str:
                return
            for session in table.sessions.values():
                if subscribed_to(session.subscriptions, uri):
                    session.push(event)
            return
        if method == methods.LOG_MESSAGE:
            level = params.get("level")
            rank = methods.LOG_LEVELS.get(level, 0) if type(level) is str else 0
            for session in table.sessions.values():
                if session.level is None or rank >= session.level:
                    session.push(event)
            return
        for session in table.sessions.values():
            session.push(event)

    def _on_server_request(self, msg: Message, method: str, line: bytes | None) -> None:
        rid = msg["id"]
        if not is_id(rid):
            return
        if method == methods.PING:  # answered here: the server cannot tell sessions apart anyway
            self._send_soon(encode_line(result_response(rid, {})))
            return
        table = self._table
        session, origin = self.route(msg, method)
        if session is not None:
            data = _strip(line) if line is not None and origin is None else encode(msg)
            target: Pending | None = origin if origin is not None and origin.sse else None
            if target is None:
                for bid in reversed(session.inflight.values()):
                    pending = table.pending.get(bid)
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
        table.server_requests[rid] = session
        session.server_requests.add(rid)

    def route(self, msg: Message, method: str) -> tuple[Session | None, Pending | None]:
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
        table = self._table
        capability = methods.CLIENT_CAPABILITY_FOR.get(method)
        params = msg.get("params")
        meta = params.get("_meta") if type(params) is dict else None
        if type(meta) is dict:
            token = meta.get("progressToken")
            pending = table.pending.get(token) if type(token) is int else None
            if pending is not None and pending.token is not None:
                meta["progressToken"] = pending.token
            else:
                related = meta.get(methods.RELATED_REQUEST_META)
                pending = table.pending.get(related) if type(related) is int else None
                if pending is not None:
                    meta[methods.RELATED_REQUEST_META] = pending.client_id
            if pending is not None:
                owner = pending.session
                if capability is None or capability in owner.capabilities:
                    return owner, pending
                return None, None
        busy: dict[bytes, Session] = {}
        for pending in table.pending.values():
            if pending.method not in methods.NEVER_CALL_BACK:
                busy[pending.session.id] = pending.session
        candidates = list((busy or table.sessions).values())
        if capability is not None:
            candidates = [s for s in candidates if capability in s.capabilities]
        return (candidates[0], None) if len(candidates) == 1 else (None, None)


def subscribed_to(subscriptions: set[str], uri: str) -> bool:
    """``uri`` is a subscribed resource or a sub-resource of one (``…/parent/child``)."""
    if not subscriptions:
        return False
    if uri in subscriptions:
        return True
    return any(uri.startswith(s if s.endswith("/") else s + "/") for s in subscriptions)
