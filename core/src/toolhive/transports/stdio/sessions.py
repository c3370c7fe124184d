"""Client sessions and the id mapping between them and the one server.

Every forwarded request gets a fresh integer *backend id* (so answers reach the right session and
clients may reuse ids freely); a progress token is replaced by that id too. :class:`SessionTable`
holds the sessions and the maps from backend ids to waiting requests and from server → client
request ids to the session asked to answer.
"""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from typing import Any

from toolhive.mcp.jsonrpc import Message, RequestId, encode_line, splice_id
from toolhive.transports.stdio.event_log import REPLAY_STREAMS, EventLog
from toolhive.transports.stdio.streams import PRIME, Mailbox
from toolhive.web.asgi import sse_event


class Session:
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
        self.events: EventLog | None = None
        #: Request streams that can be resumed: backend id → log (bounded, oldest finished first).
        self.replay: dict[int, EventLog] = {}
        self.last_seen = time.monotonic()
        #: client request id → backend id, for requests in flight.
        self.inflight: dict[RequestId, int] = {}
        #: The session's standalone ``GET`` stream (pre-formatted SSE chunks).
        self.stream: Mailbox | None = None
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

    def keep(self, log: EventLog) -> None:
        """Remember a request stream for resumption, forgetting the oldest finished ones."""
        replay = self.replay
        replay[log.key] = log
        if len(replay) > REPLAY_STREAMS:
            for key in [k for k, v in replay.items() if v.done][: len(replay) - REPLAY_STREAMS]:
                del replay[key]

    def end_stream(self) -> None:
        """End the ``GET`` stream's response, if one is open."""
        if self.stream is not None:
            self.stream.put(b"", True)
            self.stream = None


class Pending(Mailbox):
    """One forwarded client request: its answer (and, for SSE, messages before it).

    Once its response is a resumable stream, messages go to the stream's event log instead (and
    from there to whichever HTTP response streams it now, if any).
    """

    __slots__ = ("bid", "client_id", "deadline", "log", "method", "session", "sse", "token")

    def __init__(
        self,
        session: Session,
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
        self.log: EventLog | None = None

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

    def open_log(self, first: bytes, consumer: Mailbox) -> bytes:
        """Turn the response into a resumable stream; its priming event, to be sent first.

        ``first`` (the message already taken, unless it is the priming marker) and anything
        queued behind it go to the log, hence to ``consumer``.
        """
        log = EventLog(self.bid, consumer)
        priming = log.priming()
        queued = self.take_queued()
        self.log = log
        self.session.keep(log)
        if first is not PRIME:
            log.add(sse_event(first))
        for data, final in queued or ():
            if data is not PRIME:
                self.put(data, final)
        return priming


class StreamPending(Pending):
    """A request of a legacy SSE session: everything, the answer included, goes to its stream."""

    __slots__ = ()

    def put(self, data: bytes, final: bool = False) -> None:
        session = self.session
        if final and session.inflight.get(self.client_id) == self.bid:
            del session.inflight[self.client_id]
        if session.stream is not None:
            session.stream.put(sse_event(data))


class SessionTable:
    """The sessions, and which backend id belongs to which waiting request or session."""

    __slots__ = ("internal", "next_id", "pending", "server_requests", "sessions")

    def __init__(self) -> None:
        self.sessions: dict[bytes, Session] = {}
        #: backend id → forwarded client request. Insertion order is deadline order.
        self.pending: dict[int, Pending] = {}
        #: backend id → bridge-owned request (initialize, ping) waiting for its raw response.
        self.internal: dict[int, asyncio.Future[Message]] = {}
        #: server → client request id → the session asked to answer it.
        self.server_requests: dict[RequestId, Session] = {}
        self.next_id = itertools.count(1).__next__

    def open(
        self, capabilities: dict[str, Any], *, legacy: bool = False, resumable: bool = False
    ) -> Session:
        sid = uuid.uuid4().hex.encode()
        session = self.sessions[sid] = Session(sid, capabilities, legacy, resumable)
        return session

    def find(self, sid: bytes) -> Session | None:
        """The live session ``sid`` (its idle clock restarts), else ``None``."""
        session = self.sessions.get(sid)
        if session is not None:
            session.last_seen = time.monotonic()
        return session

    def register(
        self,
        session: Session,
        msg: Message,
        kind: type[Pending],
        sse: bool,
        deadline: float,
        body: bytes | None = None,
    ) -> tuple[Pending, bytes]:
        """Give ``msg`` a backend id (and progress token), track it, return it as a stdio line.

        ``body`` is the request's raw text: unless a progress token must be replaced too, the
        new id is spliced into it (large arguments are never re-encoded).
        """
        cid: RequestId = msg["id"]
        bid = self.next_id()
        pending = kind(session, cid, sse, deadline, bid, msg["method"])
        line = None
        params = msg.get("params")
        meta = params.get("_meta") if type(params) is dict else None
        if type(meta) is dict and "progressToken" in meta:
            pending.token = meta["progressToken"]
            meta["progressToken"] = bid
        elif body is not None:
            line = splice_id(body, cid, bid)
        msg["id"] = bid
        self.pending[bid] = pending
        session.inflight[cid] = bid
        return pending, line or encode_line(msg)

    def settle(self, pending: Pending) -> None:
        """Forget a request whose answer was sent (or that nobody waits for any more)."""
        self.pending.pop(pending.bid, None)
        inflight = pending.session.inflight
        if inflight.get(pending.client_id) == pending.bid:
            del inflight[pending.client_id]


def client_capabilities(msg: Message) -> dict[str, Any]:
    params = msg.get("params")
    capabilities = params.get("capabilities") if type(params) is dict else None
    return capabilities if type(capabilities) is dict else {}
