"""Server-sent events from an MCP backend: the incremental ``text/event-stream`` parser, and telling
which event holds which JSON-RPC message (the answer to a request found by its opening alone)."""

from __future__ import annotations

import json
import logging
from typing import Any, Final

log = logging.getLogger("toolhive.vmcp.backend")


class SSEParser:
    """Incremental ``text/event-stream`` parser: :meth:`feed` bytes, get ``(event, data)`` pairs.

    Lines end in LF, CRLF or CR, also when a CRLF is split between two reads. A line is scanned
    once however many reads it spans. ``last_id`` and ``retry`` keep the latest ``id``
    and ``retry`` fields (what resuming the stream needs)."""

    __slots__ = ("_buf", "_cr", "_data", "_scan", "_type", "fed", "last_id", "retry")

    def __init__(self, last_id: bytes | None = None, retry: int | None = None) -> None:
        self._buf = bytearray()
        self._scan = 0
        self._data: list[bytes] = []
        self._type = b""
        self.last_id = last_id
        self.retry = retry
        self.fed = 0  # bytes fed so far
        self._cr = False  # the last chunk ended in CR: an LF starting the next one belongs to it

    def feed(self, chunk: bytes) -> list[tuple[bytes, bytes]]:
        self.fed += len(chunk)
        if self._cr:
            self._cr = False
            if chunk[:1] == b"\n":
                chunk = chunk[1:]
        if b"\r" in chunk:
            # CRLF and lone CR end lines too; JSON data never holds a raw CR.
            self._cr = chunk[-1:] == b"\r"
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        buf = self._buf
        buf += chunk
        events: list[tuple[bytes, bytes]] = []
        start = 0
        scan = self._scan
        while (end := buf.find(b"\n", scan)) >= 0:
            line = bytes(buf[start:end])
            start = scan = end + 1
            if not line:
                if self._data:
                    data = self._data
                    events.append(
                        (self._type or b"message", data[0] if len(data) == 1 else b"\n".join(data))
                    )
                    self._data = []
                self._type = b""
                continue
            if line[0] == 58:  # ':' a comment (keep-alive)
                continue
            colon = line.find(b":")
            if colon < 0:
                field, value = line, b""
            else:
                field, value = line[:colon], line[colon + 1 :]
                if value[:1] == b" ":
                    value = value[1:]
            if field == b"data":
                self._data.append(value)
            elif field == b"event":
                self._type = value
            elif field == b"id":
                if b"\0" not in value:
                    self.last_id = value or None
            elif field == b"retry" and value.isdigit():
                self.retry = int(value)
        if start:
            del buf[:start]
        self._scan = len(buf)
        return events


def event_message(data: bytes) -> tuple[bytes, dict[str, Any]] | None:
    """An SSE ``message`` event's data → (raw JSON text, parsed object); ``None`` for what is not
    one JSON-RPC message (priming events have empty data)."""
    if not data.strip():
        return None
    try:
        parsed = json.loads(data)
    except ValueError:
        log.warning("backend sent an SSE event that is not JSON; skipped")
        return None
    if not isinstance(parsed, dict):
        log.warning("backend sent an SSE event that is not one JSON-RPC message; skipped")
        return None
    raw = data.strip()
    if b"\n" in raw or b"\r" in raw:
        # Multi-line data (pretty-printed JSON): the gateway's framing wants one line.
        raw = json.dumps(parsed, separators=(",", ":"), ensure_ascii=False).encode()
    return raw, parsed


#: How SDK servers open an answer (compact JSON, ``jsonrpc`` then ``id``).
ANSWER_OPENING: Final = b'{"jsonrpc":"2.0","id":'


def answer_opening(request_id: int | str) -> bytes:
    token = b"%d" % request_id if type(request_id) is int else json.dumps(request_id).encode()
    return ANSWER_OPENING + token


def plain_answer(data: bytes, opening: bytes) -> bytes | None:
    """``data`` when it is certainly the answer that ``opening`` starts (one line, the id right
    after ``jsonrpc``, then ``result`` or ``error``), else ``None``: found without parsing it."""
    if not data.startswith(opening):
        return None
    end = len(opening)
    if not (data.startswith(b',"result":', end) or data.startswith(b',"error":', end)):
        return None
    data = data.rstrip()
    if not data.endswith(b"}") or b"\n" in data or b"\r" in data:
        return None
    return data


def is_answer(parsed: dict[str, Any], request_id: int | str) -> bool:
    rid = parsed.get("id")
    return (
        rid == request_id
        and type(rid) is type(request_id)
        and "method" not in parsed
        and ("result" in parsed or "error" in parsed)
    )
