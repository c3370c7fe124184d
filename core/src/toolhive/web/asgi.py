"""Raw ASGI: the types, and helpers for the proxy's hot path (no framework, no per-call objects
beyond the message)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Final, Protocol

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
#: A raw ASGI application.
ASGIApp = Callable[[Scope, Receive, Send], Any]

JSON_CONTENT_TYPE = (b"content-type", b"application/json")
SSE_CONTENT_TYPE = (b"content-type", b"text/event-stream")
NO_CACHE = (b"cache-control", b"no-cache")


#: ``scope["extensions"]`` key of the connection a request came on (ToolHive's uvicorn protocol,
#: :func:`toolhive.proxy.server.http_protocol_class`): a :class:`ConnectionEvents`.
CONNECTION_EXTENSION: Final = "toolhive.connection"


class ConnectionEvents(Protocol):
    """Lets an app hear of a hang-up without a task waiting in ``receive()`` for it."""

    #: Called once if the client goes away; the app clears it once it no longer cares.
    on_lost: Callable[[], None] | None


class ClientDisconnected(Exception):
    """The HTTP client went away before its request body was read."""


async def read_body(receive: Receive) -> bytes:
    """The whole request body (one ``receive`` call in the common case)."""
    message = await receive()
    if message["type"] != "http.request":
        raise ClientDisconnected
    body: bytes = message.get("body", b"")
    if not message.get("more_body", False):
        return body
    chunks = [body]
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise ClientDisconnected
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


async def send_body(
    send: Send,
    status: int,
    body: bytes,
    content_type: tuple[bytes, bytes] = JSON_CONTENT_TYPE,
    extra: list[tuple[bytes, bytes]] | None = None,
) -> None:
    """A complete response with ``content-length``: two ASGI sends."""
    headers = [content_type, (b"content-length", b"%d" % len(body))]
    if extra:
        headers.extend(extra)
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def send_empty(
    send: Send, status: int, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    headers = [(b"content-length", b"0")]
    if extra:
        headers.extend(extra)
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b""})


def sse_event(data: bytes) -> bytes:
    """One SSE ``message`` event carrying a single-line JSON-RPC message."""
    return b"event: message\ndata: " + data + b"\n\n"


def header(headers: list[tuple[bytes, bytes]], name: bytes) -> bytes | None:
    """First value of a (lower-case) header in an ASGI header list."""
    for key, value in headers:
        if key == name:
            return value
    return None
