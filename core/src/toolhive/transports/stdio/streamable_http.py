"""The streamable HTTP face (the default): ``POST``/``GET``/``DELETE /mcp``.

A request's answer is one JSON body, or an SSE stream when the client accepts
``text/event-stream`` and something arrives before the answer; on resumable sessions a slow
request's stream opens with a priming event and can be resumed with ``GET`` + ``Last-Event-ID``.
"""

from __future__ import annotations

import asyncio
import logging
import re
import socket
import time
from typing import Any, Final

from toolhive.mcp import methods
from toolhive.mcp.jsonrpc import (
    CONNECTION_CLOSED,
    INTERNAL_ERROR,
    INVALID_REQUEST,
    JSONRPCError,
    Message,
    MessageKind,
    RequestId,
    encode,
    parse_message,
    result_response,
)
from toolhive.transports.stdio.event_log import EventLog, is_resumable, parse_event_id
from toolhive.transports.stdio.face import (
    NO_SUCH_SERVER_REQUEST,
    discover_refusal,
    refuse_content_type,
    refuse_protocol_version,
    send_jsonrpc_error,
    send_single,
)
from toolhive.transports.stdio.intercepted import INTERCEPTED
from toolhive.transports.stdio.relay import SHUTTING_DOWN, Relay
from toolhive.transports.stdio.session_store import SessionStore, SessionStoreError
from toolhive.transports.stdio.sessions import Pending, Session, client_capabilities
from toolhive.transports.stdio.streams import PRIME, Mailbox, stream
from toolhive.web.asgi import (
    NO_CACHE,
    SSE_CONTENT_TYPE,
    ClientDisconnected,
    Receive,
    Scope,
    Send,
    read_body,
    send_body,
    send_empty,
    sse_event,
)

_ALLOW: Final = [(b"allow", b"GET, POST, DELETE")]
#: What :meth:`SessionTable.open` hands out: only such ids are looked up in a session store.
_OUR_SESSION_ID: Final = re.compile(rb"[0-9a-f]{32}")

log = logging.getLogger("toolhive.transports")


class StreamableHttpFace:
    """``/mcp``: sessions by ``Mcp-Session-Id``, answers as JSON or (resumable) SSE."""

    __slots__ = (
        "_background",
        "_priming_delay",
        "_relay",
        "_restore_lock",
        "_store",
        "_strict",
        "_touched",
    )

    def __init__(
        self,
        relay: Relay,
        *,
        strict_protocol: bool,
        priming_delay: float,
        store: SessionStore | None = None,
    ) -> None:
        self._relay = relay
        self._strict = strict_protocol
        self._priming_delay = priming_delay
        #: Sessions beyond this process (see session_store.py); ``None``: memory only.
        self._store = store
        self._restore_lock = asyncio.Lock()
        #: session id → when its store record's clock was last restarted.
        self._touched: dict[bytes, float] = {}
        self._background: set[asyncio.Task[Any]] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
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
        if await refuse_protocol_version(send, version, self._strict):
            return
        method = scope["method"]
        try:
            if method == "POST":
                if await refuse_content_type(send, ctype):
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

    async def _session_or_error(self, send: Send, sid: bytes | None) -> Session | None:
        if sid is None:
            await send_jsonrpc_error(send, 400, INVALID_REQUEST, "Bad Request: Missing session ID")
            return None
        session = self._relay.table.find(sid)
        if self._store is not None:
            if session is not None:
                self._touch(sid)
            elif _OUR_SESSION_ID.fullmatch(sid):
                try:
                    session = await self._restore(self._store, sid)
                except SessionStoreError as exc:
                    log.warning("session %s: cannot look it up: %s", sid.decode(), exc)
                    await send_jsonrpc_error(
                        send, 503, INTERNAL_ERROR, f"Service Unavailable: session storage: {exc}"
                    )
                    return None
        if session is None:
            await send_jsonrpc_error(
                send, 404, INVALID_REQUEST, "Not Found: Invalid or expired session ID"
            )
        return session

    async def _restore(self, store: SessionStore, sid: bytes) -> Session | None:
        """Open a session another process opened, from its store record (``None``: unknown).

        Its ``initialize`` is replayed into the server (answered from the first one when this
        process already has it), so the session is what it was: same id, capabilities, version.
        """
        async with self._restore_lock:  # concurrent requests of one session restore it once
            table = self._relay.table
            session = table.find(sid)
            if session is not None:
                return session
            record = await store.load(sid.decode())
            params = record.get("params") if record is not None else None
            if record is None or type(params) is not dict:
                return None
            msg: Message = {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": params}
            _result, error, _status = await self._relay.handshake(msg)
            if error:
                raise SessionStoreError(
                    "the server refused the session's initialize: " + error.decode(errors="replace")
                )
            version = record.get("protocolVersion")
            session = Session(
                sid,
                client_capabilities(msg),
                resumable=is_resumable(version if type(version) is str else None),
            )
            table.sessions[sid] = session
            self._touch(sid)
            log.info("session %s continues here (restored from the session store)", sid.decode())
            return session

    def _touch(self, sid: bytes) -> None:
        """Restart the store record's clock, at most every quarter TTL per session."""
        store = self._store
        assert store is not None
        now = time.monotonic()
        touched = self._touched
        if now - touched.get(sid, -store.ttl) < store.ttl / 4:
            return
        touched[sid] = now
        if len(touched) > 2 * len(self._relay.table.sessions) + 64:
            live = self._relay.table.sessions
            for key in [k for k in touched if k not in live]:
                del touched[key]
        self._spawn(store.touch(sid.decode()), sid)

    def _spawn(self, coro: Any, sid: bytes) -> None:
        async def quietly() -> None:
            try:
                await coro
            except SessionStoreError as exc:
                log.warning("session %s: session storage: %s", sid.decode(), exc)

        task = asyncio.get_running_loop().create_task(quietly())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _post(
        self, receive: Receive, send: Send, sid: bytes | None, accept: bytes | None
    ) -> None:
        body = await read_body(receive)
        try:
            msg, kind = parse_message(body)
        except JSONRPCError as exc:
            await send_body(send, 400, exc.to_bytes())
            return
        relay = self._relay
        if kind is MessageKind.REQUEST:
            method = msg["method"]
            if method == methods.INITIALIZE:
                await self._initialize(msg, send, accept)
                return
            if method == methods.SERVER_DISCOVER:
                await send_single(send, accept, discover_refusal(msg["id"]))
                return
            session = await self._session_or_error(send, sid)
            if session is None:
                return
            if method in INTERCEPTED:
                answer = await relay.intercepted.answer(session, msg, method)
                if answer is not None:
                    await send_single(send, accept, answer)
                    return
            await self._forward_request(session, msg, body, receive, send, accept)
            return
        session = await self._session_or_error(send, sid)
        if session is None:
            return
        if kind is MessageKind.NOTIFICATION:
            await relay.client_notification(session, msg)
            await send_empty(send, 202)
        elif await relay.client_response(session, msg):
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
            resume = parse_event_id(last_event_id)
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
        relay = self._relay
        if relay.gone is not None or relay.draining:
            reason = relay.gone or SHUTTING_DOWN
            await send_jsonrpc_error(send, 503, CONNECTION_CLOSED, reason)
            return
        box = Mailbox()
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
                log = session.events = EventLog(0, None)
            first = log.priming()
            if resume is not None:
                first += b"".join(log.after(resume[1]))
            log.consumer = box
            await send({"type": "http.response.body", "body": first, "more_body": True})
        try:
            await stream(box, receive, send)
        finally:
            if session.stream is box:
                session.stream = None
                if session.events is not None:
                    session.events.consumer = None

    async def _resume_request(
        self, session: Session, resume: tuple[int, int], receive: Receive, send: Send
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
        box = Mailbox()
        log.attach(box)
        if missed:
            await send({"type": "http.response.body", "body": missed, "more_body": True})
        await stream(box, receive, send)
        if log.consumer is box:
            log.consumer = None

    async def _delete(self, send: Send, sid: bytes | None) -> None:
        session = await self._session_or_error(send, sid)
        if session is None:
            return
        self._relay.end_session(session, "the session was deleted by the client")
        if self._store is not None:
            self._touched.pop(session.id, None)
            try:
                await self._store.delete(session.id.decode())
            except SessionStoreError as exc:  # it expires on its own after the TTL
                log.warning(
                    "session %s: cannot delete it from storage: %s", session.id.decode(), exc
                )
        await send_empty(send, 200)

    async def _initialize(self, msg: Message, send: Send, accept: bytes | None) -> None:
        result, error, status = await self._relay.handshake(msg)
        if error:
            if status == 200:
                await send_single(send, accept, error)
            else:
                await send_body(send, status, error)
            return
        version = result.get("protocolVersion") if type(result) is dict else None
        session = self._relay.table.open(client_capabilities(msg), resumable=is_resumable(version))
        if self._store is not None:
            params = msg.get("params")
            record = {
                "params": params if type(params) is dict else {},
                "protocolVersion": version,
                "created": time.time(),
                # Which process (pod) opened it: for whoever reads the store.
                "openedBy": socket.gethostname(),
            }
            try:
                await self._store.save(session.id.decode(), record)
            except SessionStoreError as exc:
                # A session other replicas cannot continue is not what was configured.
                self._relay.end_session(session, "session storage failed")
                log.warning("initialize: cannot store the new session: %s", exc)
                await send_jsonrpc_error(
                    send,
                    503,
                    INTERNAL_ERROR,
                    f"Service Unavailable: session storage: {exc}",
                    msg["id"],
                )
                return
            self._touched[session.id] = time.monotonic()
        await send_single(
            send,
            accept,
            encode(result_response(msg["id"], result)),
            [(b"mcp-session-id", session.id)],
        )

    async def _forward_request(
        self,
        session: Session,
        msg: Message,
        body: bytes,
        receive: Receive,
        send: Send,
        accept: bytes | None,
    ) -> None:
        relay = self._relay
        if relay.gone is not None:
            cid: RequestId = msg["id"]
            await send_jsonrpc_error(send, 503, CONNECTION_CLOSED, relay.gone, cid)
            return
        sse = accept is not None and b"text/event-stream" in accept
        pending, line = relay.register(session, msg, Pending, sse, body)
        detached = False
        try:
            await relay.send_request(pending, line, msg)
            detached = await self._reply(pending, receive, send, accept)
        finally:
            if not detached:  # a detached request runs on: its stream can be resumed
                relay.table.settle(pending)

    async def _reply(
        self, pending: Pending, receive: Receive, send: Send, accept: bytes | None
    ) -> bool:
        """Answer one request: a JSON body if its answer comes first, else an SSE stream.

        Returns ``True`` when the client went away from a resumable stream before the answer
        (the request stays in flight and its events are kept for ``Last-Event-ID``).
        """
        timer = None
        if pending.sse and pending.session.resumable:
            timer = asyncio.get_running_loop().call_later(
                self._priming_delay, pending.put, PRIME, False
            )
        data, final = await pending.get()
        if timer is not None:
            timer.cancel()
        if final:
            await send_single(send, accept, data)
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
        box = Mailbox()
        priming = pending.open_log(data, box)
        await send({"type": "http.response.body", "body": priming, "more_body": True})
        await stream(box, receive, send)
        log = pending.log
        assert log is not None
        if log.consumer is box:
            log.consumer = None
        return not log.done
