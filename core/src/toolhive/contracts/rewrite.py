"""Rewrite the JSON-RPC messages of a response on its way out (list filtering, renames).

An MCP server answers a POST either with one JSON body or with an SSE stream of events whose
``data`` is a JSON-RPC message, and on the legacy SSE transport every answer arrives on the GET
``/sse`` stream. :func:`rewriting_send` wraps the inner app's ``send`` so that each JSON-RPC object
in either form passes through ``rewrite(message)`` (return a new object to replace it, ``None`` to
keep it). Anything else — other content types, SSE comments, ``endpoint`` events, data that is not
JSON — passes through byte for byte, and SSE events are forwarded as soon as they are complete,
so long-lived streams keep streaming.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from toolhive.web.asgi import Message, Send

__all__ = ["MessageRewriter", "rewrite_body", "rewriting_send"]

#: ``rewrite(message) -> replacement | None`` for one decoded JSON-RPC object.
MessageRewriter = Callable[[dict[str, Any]], dict[str, Any] | None]

_EVENT_END = re.compile(rb"\r\n\r\n|\n\n|\r\r")
_LINE = re.compile(rb"\r\n|\n|\r")


def _encode(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def rewrite_body(body: bytes, rewrite: MessageRewriter) -> bytes | None:
    """A JSON body (one message or a batch) after ``rewrite``, or ``None`` when unchanged."""
    try:
        decoded = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    if isinstance(decoded, dict):
        new = rewrite(decoded)
        return None if new is None else _encode(new)
    if isinstance(decoded, list):
        changed = False
        out: list[Any] = []
        for item in decoded:
            new = rewrite(item) if isinstance(item, dict) else None
            changed |= new is not None
            out.append(item if new is None else new)
        return _encode(out) if changed else None
    return None


def _rewrite_event(event: bytes, rewrite: MessageRewriter) -> bytes:
    """One SSE event (without its blank-line terminator), its ``data`` rewritten if JSON-RPC."""
    lines = _LINE.split(event)
    data = [line for line in lines if line.startswith(b"data:")]
    if not data:
        return event
    payload = b"\n".join(line[5:].removeprefix(b" ") for line in data)
    new = rewrite_body(payload, rewrite)
    if new is None:
        return event
    kept = [line for line in lines if not line.startswith(b"data:")]
    return b"\n".join([*kept, b"data: " + new])


def _content_type(message: Message) -> bytes:
    for key, value in message.get("headers", []):
        if key.lower() == b"content-type":
            return bytes(value).lower()
    return b""


def rewriting_send(send: Send, rewrite: MessageRewriter) -> Send:
    """``send`` with every JSON-RPC message of the response passed through ``rewrite``.

    JSON bodies are buffered whole (they are one answer) and ``content-length`` is fixed; SSE
    bodies are rewritten event by event.
    """
    mode = "pass"
    start: Message | None = None
    buffered: list[bytes] = []
    pending = b""
    streamed = False  # whether any SSE body arrived yet (a BOM may only open the stream)

    async def wrapped(message: Message) -> None:
        nonlocal mode, start, pending, streamed
        kind = message["type"]
        if kind == "http.response.start":
            ctype = _content_type(message)
            if ctype.startswith(b"application/json"):
                mode, start = "json", message
                return
            if ctype.startswith(b"text/event-stream"):
                mode = "sse"
            await send(message)
            return
        if kind != "http.response.body" or mode == "pass":
            await send(message)
            return
        body = bytes(message.get("body", b""))
        more = bool(message.get("more_body", False))
        if mode == "json":
            buffered.append(body)
            if more:
                return
            whole = b"".join(buffered)
            new = rewrite_body(whole, rewrite)
            if new is not None:
                whole = new
            assert start is not None
            headers = [
                (k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"
            ]
            headers.append((b"content-length", str(len(whole)).encode()))
            await send({**start, "headers": headers})
            await send({"type": "http.response.body", "body": whole, "more_body": False})
            return
        if not streamed and body.startswith(b"\xef\xbb\xbf"):
            # A BOM may open the stream (the SSE spec ignores it); keep it, parse past it.
            await send({"type": "http.response.body", "body": body[:3], "more_body": True})
            body = body[3:]
        streamed = True
        pending += body
        out: list[bytes] = []
        while True:
            match = _EVENT_END.search(pending)
            if match is None:
                break
            out.append(_rewrite_event(pending[: match.start()], rewrite) + b"\n\n")
            pending = pending[match.end() :]
        if not more and pending:
            out.append(_rewrite_event(pending, rewrite))
            pending = b""
        if out or not more:
            await send({"type": "http.response.body", "body": b"".join(out), "more_body": more})

    return wrapped
