"""Mailboxes (what an HTTP response streams from) and pumping one to the client as SSE."""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Final

from toolhive.web.asgi import Receive, Send

#: Mailbox markers (compared by identity): "send the priming event now", "the client went away".
PRIME: Final = bytes(bytearray(b"prime"))
GONE: Final = bytes(bytearray(b"gone"))
#: An SSE comment that keeps an idle stream (and the proxies in between) alive.
KEEPALIVE: Final = b": keepalive\n\n"


class Mailbox:
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

    def take_queued(self) -> deque[tuple[bytes, bool]] | None:
        """Everything queued and not yet taken (the mailbox is empty afterwards)."""
        items, self._items = self._items, None
        return items


async def watch_disconnect(receive: Receive, box: Mailbox) -> None:
    """Put the final :data:`GONE` marker in ``box`` when the HTTP client goes away."""
    while (await receive())["type"] != "http.disconnect":
        pass
    box.put(GONE, True)


async def stream(box: Mailbox, receive: Receive, send: Send) -> bool:
    """Send the SSE chunks put in ``box`` until a final one; ``False`` if the client went away.

    The response has started; this ends it. A final item's data (if any) is sent first.
    """
    watcher = asyncio.create_task(watch_disconnect(receive, box))
    try:
        while True:
            data, final = await box.get()
            if data is GONE:
                return False
            if final:
                await send({"type": "http.response.body", "body": data, "more_body": False})
                return True
            await send({"type": "http.response.body", "body": data, "more_body": True})
    finally:
        watcher.cancel()
