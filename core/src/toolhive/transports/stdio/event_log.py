"""Resumable SSE streams (SEP-1699): each stream's events, kept for ``Last-Event-ID`` replay.

Event ids are ``<stream>.<n>``: ``<stream>`` is 0 for a session's ``GET`` stream and the backend
id of the request for a request's stream; ``n`` counts the stream's events from 1.
"""

from __future__ import annotations

import os
from collections import deque
from typing import Final

from toolhive.transports.stdio.streams import Mailbox
from toolhive.web.durations import parse_duration

#: The first protocol version whose clients expect priming events (empty data) on SSE streams.
RESUMABLE_SINCE: Final = "2025-11-25"
#: A request unanswered this long becomes a resumable SSE stream (sessions on 2025-11-25+).
PRIMING_DELAY: Final = 0.1
PRIMING_DELAY_ENV: Final = "TOOLHIVE_PROXY_SSE_PRIMING_DELAY"
#: The ``retry`` (ms) a priming event tells clients to wait before reconnecting.
RETRY_MS: Final = 500
#: Events kept per stream for ``Last-Event-ID`` replay, and finished request streams per session.
REPLAY_EVENTS: Final = 256
REPLAY_STREAMS: Final = 16


def priming_delay_from_env() -> float:
    """``$TOOLHIVE_PROXY_SSE_PRIMING_DELAY`` (``0`` streams every request), else 100 ms."""
    value = parse_duration(os.environ.get(PRIMING_DELAY_ENV, ""), PRIMING_DELAY)
    return value if value >= 0 else PRIMING_DELAY


def is_resumable(version: object) -> bool:
    """Whether a session on protocol ``version`` gets resumable streams."""
    return type(version) is str and version >= RESUMABLE_SINCE


class EventLog:
    """One resumable SSE stream: its events (ids ``<key>.<n>``), kept for ``Last-Event-ID``.

    ``key`` is 0 for a session's ``GET`` stream and the backend id for a request's stream. Events
    go to ``consumer`` (the HTTP response currently streaming them) if there is one.
    """

    __slots__ = ("consumer", "done", "events", "key", "seq")

    def __init__(self, key: int, consumer: Mailbox | None) -> None:
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

    def attach(self, consumer: Mailbox) -> None:
        """Stream to ``consumer`` from now on; a previous consumer's response ends."""
        previous, self.consumer = self.consumer, consumer
        if previous is not None:
            previous.put(b"", True)


def parse_event_id(value: bytes) -> tuple[int, int] | None:
    """``b"<stream>.<n>"`` → ``(stream, n)``; ``None`` if it is not an id this bridge makes."""
    stream, dot, seq = value.strip().partition(b".")
    if not dot or not stream.isdigit() or not seq.isdigit():
        return None
    return int(stream), int(seq)
