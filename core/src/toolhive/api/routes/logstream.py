"""``GET /api/v1beta/workloads/{name}/logs/stream``: a workload's log as server-sent events — the
text it has (the last 1000 lines, as ``GET …/logs``) and then each new line as it is written.

Events (``data`` is JSON):

* ``lines`` — a list of lines (strings, without their newline), oldest first; the existing text
  comes first, in one or more ``lines`` events, then new lines, batched as they arrive;
* ``reset`` — ``{"reason": …}``: the log started over (the server started again, the proxy log was
  truncated or replaced); drop what you have, its text follows as ``lines``;
* ``removed`` — ``{"name": …}``: the workload is gone; the stream ends.

``: keep-alive`` comments every 15 s. The stream ends when the client leaves, the workload is
removed or ``thv serve`` stops.

``source=server`` (the default) follows the runtime's own log stream
(:meth:`~toolhive.contracts.runtime.Runtime.logs` with ``follow=True``), so it works on every
runtime; that stream ends when the server exits, and at the workload's next status change (from
the server's :class:`~toolhive.workloads.watch.StatusWatcher`: started again, failed) it is read
and followed anew, after a ``reset``. A remote workload has no server here: its proxy log is
followed, as ``thv logs`` shows it. ``source=proxy`` tails the proxy (supervisor) log file.

A runtime's follow mode blocks (the contract has no way to interrupt it), so it runs in a thread
of its own that lasts as long as the server's output: ONE per workload (:class:`ServerTail`),
shared by every stream of it, keeping the last 1000 lines for whoever joins. When the last client
leaves, the thread goes on to the server's exit (a client who comes back joins it) — never a
thread per client.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import os
import threading
from collections.abc import AsyncGenerator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

from toolhive.api.routes.events import KEEPALIVE_S, RETRY_MS, watcher_of
from toolhive.api.routes.params import workload_name
from toolhive.api.routing import Call, Router
from toolhive.errors import NotFoundError, ToolHiveError
from toolhive.workloads.watch import REMOVED, Closed, StatusWatcher

if TYPE_CHECKING:
    from starlette.responses import Response

    from toolhive.contracts.runtime import Runtime

router = Router(tag="logs")
log = logging.getLogger("toolhive.api.logstream")

#: As ``GET …/logs``: the text a stream starts with is at most this many lines.
BACKLOG_LINES = 1000
#: Lines per ``lines`` event at most (a burst is split).
BATCH_LINES = 500
#: Seconds between looks at a proxy log file that has not grown.
FILE_POLL_S = 0.25
#: Items a stream may have waiting before it is ended as too slow (it reconnects).
SUBSCRIBER_QUEUE = 1024
#: Statuses of a workload whose server is (being) started.
_STARTED = ("starting", "running")


class LogStreamQuery(BaseModel):
    source: Literal["server", "proxy"] = Field(
        default="server",
        description="server: the MCP server's output (a remote workload's: its proxy's); "
        "proxy: the proxy (supervisor) log.",
    )


class _Splitter:
    """Bytes in, complete decoded lines out; a partial last line waits for its newline."""

    def __init__(self) -> None:
        self._pending = b""

    def feed(self, chunk: bytes) -> list[str]:
        parts = (self._pending + chunk).split(b"\n")
        self._pending = parts.pop()
        return [_decode(p) for p in parts]

    def flush(self) -> list[str]:
        rest, self._pending = self._pending, b""
        return [_decode(rest)] if rest else []


def _decode(line: bytes) -> str:
    return line.removesuffix(b"\r").decode("utf-8", errors="replace")


@dataclass
class _Item:
    """What a stream's queue carries — lines, a reset, a status change of the workload, the
    watcher closing — and what a :class:`ServerTail`'s thread hands the loop (lines, its end)."""

    kind: Literal["lines", "reset", "end", "status", "closed"]
    lines: list[str] = field(default_factory=list)
    reason: str = ""
    status: str = ""
    previous: str | None = None
    when: str = ""


# --- source=server: the runtime's follow mode, one thread per workload ----------------------------


class _Subscriber:
    """One stream's queue; a stream that falls too far behind is ended (its client reconnects)."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[_Item] = asyncio.Queue(maxsize=SUBSCRIBER_QUEUE)
        self.overflowed = False

    def offer(self, item: _Item) -> None:
        try:
            self.queue.put_nowait(item)
        except asyncio.QueueFull:
            self.overflowed = True


class ServerTail:
    """``runtime.logs(follow=True)`` of one workload, read in a daemon thread (not the worker
    pool: it blocks for as long as the server runs) and fanned out, on the event loop, to every
    stream of the workload; the last :data:`BACKLOG_LINES` lines are kept for streams that join.

    Every method but the thread's runs on the event loop.
    """

    def __init__(
        self,
        key: tuple[str, str, str],
        open_logs: Callable[[], Iterator[bytes]],
        tails: dict[tuple[str, str, str], ServerTail],
    ) -> None:
        self.key = key
        self._open_logs = open_logs
        self._tails = tails
        self._loop = asyncio.get_running_loop()
        self.lines: collections.deque[str] = collections.deque(maxlen=BACKLOG_LINES)
        self.subscribers: set[_Subscriber] = set()
        self.following = False
        self._restarted = False  # the server started again while the thread read the old one
        self._last_change: tuple[str, str | None, str] | None = None
        #: Chunks handed to the loop and not yet taken: the thread waits beyond this many.
        self._slots = threading.BoundedSemaphore(64)

    def join(self) -> tuple[_Subscriber, list[str]]:
        """A new stream: its queue and the lines so far."""
        subscriber = _Subscriber()
        self.subscribers.add(subscriber)
        if not self.following and not self.lines:
            self._start()
        return subscriber, list(self.lines)

    def leave(self, subscriber: _Subscriber) -> None:
        self.subscribers.discard(subscriber)
        if not self.subscribers and not self.following:
            self._drop()

    def on_status(self, status: str, previous: str | None, when: str) -> None:
        """A status change of the workload, as each of its streams sees it (once is enough)."""
        key = (status, previous, when)
        if key == self._last_change:
            return
        self._last_change = key
        if not self.following:
            # Whatever the change (started again, failed at startup), the log may have more to
            # tell: read it again.
            self._reset(f"the server is {status}")
        elif status == "starting" or (status == "running" and previous not in _STARTED):
            # A new server (the watcher may have missed the old one's stop): when the old one's
            # stream ends, read the new one's.
            self._restarted = True

    def _drop(self) -> None:
        if self._tails.get(self.key) is self:
            del self._tails[self.key]

    def _publish(self, item: _Item) -> None:
        for subscriber in list(self.subscribers):
            subscriber.offer(item)

    def _reset(self, reason: str) -> None:
        self.lines.clear()
        self._publish(_Item("reset", reason=reason))
        self._start()

    def _start(self) -> None:
        self.following = True
        name = f"thv-api-logs-{self.key[0]}"
        threading.Thread(target=self._follow, name=name, daemon=True).start()

    def _take(self, item: _Item) -> None:
        self._slots.release()
        if item.kind == "lines":
            self.lines.extend(item.lines)
            self._publish(item)
            return
        # The server's log stream ended (it exited).
        self.following = False
        if self._restarted:
            self._restarted = False
            self._reset("the server started again")
        elif not self.subscribers:
            self._drop()

    # The thread: -------------------------------------------------------------------------------

    def _send(self, item: _Item) -> bool:
        while not self._slots.acquire(timeout=1.0):
            if self._loop.is_closed():
                return False
        try:
            self._loop.call_soon_threadsafe(self._take, item)
        except RuntimeError:  # the loop closed: the server stopped
            return False
        return True

    def _follow(self) -> None:
        splitter = _Splitter()
        chunks: Iterator[bytes] | None = None
        try:
            chunks = self._open_logs()
            for chunk in chunks:
                lines = splitter.feed(chunk)
                if lines and not self._send(_Item("lines", lines)):
                    return
            rest = splitter.flush()
            if rest:
                self._send(_Item("lines", rest))
        except NotFoundError:
            pass  # saved but not deployed (starting), or stopped and gone: nothing to follow
        except ToolHiveError as exc:
            log.info("following the log of %s stopped: %s", self.key[0], exc)
        except Exception:
            log.exception("following the log of %s failed", self.key[0])
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                with contextlib.suppress(Exception):
                    close()
        self._send(_Item("end"))


def server_tail(
    app: Any, key: tuple[str, str, str], open_logs: Callable[[], Iterator[bytes]]
) -> ServerTail:
    """The workload's one :class:`ServerTail` on this server (kept on the Starlette app)."""
    tails: dict[tuple[str, str, str], ServerTail] | None = getattr(app.state, "log_tails", None)
    if tails is None:
        tails = {}
        app.state.log_tails = tails
    tail = tails.get(key)
    if tail is None:
        tail = tails[key] = ServerTail(key, open_logs, tails)
    return tail


# --- source=proxy: the supervisor's log file ------------------------------------------------------


def _read_backlog(path: Path) -> tuple[list[str], int, int, bytes] | None:
    """The file's last lines, how many bytes were read, its inode and a partial last line."""
    try:
        with path.open("rb") as fh:
            data = fh.read()
            inode = os.fstat(fh.fileno()).st_ino
    except FileNotFoundError:
        return None
    head, _, pending = data.rpartition(b"\n")
    lines = [_decode(p) for p in head.split(b"\n")] if head or data.startswith(b"\n") else []
    return lines[-BACKLOG_LINES:], len(data), inode, pending


def _read_from(path: Path, offset: int) -> bytes:
    try:
        with path.open("rb") as fh:
            fh.seek(offset)
            return fh.read()
    except FileNotFoundError:
        return b""


async def _follow_file(path: Path, queue: asyncio.Queue[_Item]) -> None:
    """Tail ``path`` forever (the caller cancels): its last lines, then what is appended; a file
    that shrinks or is replaced starts over with a ``reset``."""
    position: int | None = None
    inode = 0
    splitter = _Splitter()
    while True:
        try:
            st = await asyncio.to_thread(path.stat)
        except FileNotFoundError:
            st = None
        if st is not None:
            if position is None or st.st_ino != inode or st.st_size < position:
                backlog = await asyncio.to_thread(_read_backlog, path)
                if backlog is not None:
                    if position is not None:
                        await queue.put(_Item("reset", reason="the proxy log started over"))
                    lines, position, inode, pending = backlog
                    splitter = _Splitter()
                    splitter.feed(pending)
                    if lines:
                        await queue.put(_Item("lines", lines))
            elif st.st_size > position:
                data = await asyncio.to_thread(_read_from, path, position)
                position += len(data)
                lines = splitter.feed(data)
                if lines:
                    await queue.put(_Item("lines", lines))
                continue  # more may follow at once
        await asyncio.sleep(FILE_POLL_S)


# --- the stream ------------------------------------------------------------------------------------


def _event(event: str, data: object) -> str:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


def _drain_lines(first: _Item, queue: asyncio.Queue[_Item]) -> tuple[list[str], _Item | None]:
    """``first``'s lines and those of the ``lines`` items already queued behind it (up to a
    batch); the first other item taken off the queue is handed back."""
    lines = list(first.lines)
    while len(lines) < BATCH_LINES and not queue.empty():
        item = queue.get_nowait()
        if item.kind != "lines":
            return lines, item
        lines.extend(item.lines)
    return lines, None


async def log_events(
    watcher: StatusWatcher,
    name: str,
    *,
    tail: ServerTail | None,
    proxy_log: Path | None,
) -> AsyncGenerator[str, None]:
    """The stream's text (see the module): the server's log through ``tail`` when given, else the
    ``proxy_log`` file."""
    subscriber = _Subscriber()
    backlog: list[str] = []
    tasks: list[asyncio.Task[None]] = []
    async with watcher.subscribe() as subscription:
        try:
            if tail is not None:
                subscriber, backlog = tail.join()
            queue = subscriber.queue

            async def pump() -> None:
                try:
                    while True:
                        change = await subscription.next()
                        if change is not None and change.workload.name == name:
                            view = change.workload
                            await queue.put(
                                _Item(
                                    "status",
                                    status=view.status,
                                    previous=change.previous,
                                    when=view.time,
                                )
                            )
                except Closed:
                    await queue.put(_Item("closed"))

            yield f"retry: {RETRY_MS}\n\n"
            for at in range(0, len(backlog), BATCH_LINES):
                yield _event("lines", backlog[at : at + BATCH_LINES])
            tasks.append(asyncio.create_task(pump(), name=f"thv-logs-watch-{name}"))
            if proxy_log is not None:
                tasks.append(asyncio.create_task(_follow_file(proxy_log, queue)))
            pending: _Item | None = None
            while not subscriber.overflowed:
                if pending is not None:
                    item, pending = pending, None
                else:
                    try:
                        async with asyncio.timeout(KEEPALIVE_S):
                            item = await queue.get()
                    except TimeoutError:
                        yield ": keep-alive\n\n"
                        continue
                if item.kind == "lines":
                    lines, pending = _drain_lines(item, queue)
                    yield _event("lines", lines)
                elif item.kind == "reset":
                    yield _event("reset", {"reason": item.reason})
                elif item.kind == "closed":
                    return
                elif item.kind == "status":
                    if item.status == REMOVED:
                        yield _event("removed", {"name": name})
                        return
                    if tail is not None:
                        tail.on_status(item.status, item.previous, item.when)
        finally:
            if tail is not None:
                tail.leave(subscriber)
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task


@router.get(
    "/api/v1beta/workloads/{name}/logs/stream",
    summary="Follow a workload's logs (server-sent events)",
    content="sse",
    query=LogStreamQuery,
    errors={400: "Unknown source", 404: "No such workload", 503: "Its runtime does not answer"},
)
async def stream_workload_logs(call: Call[LogStreamQuery, None]) -> Response:
    """A ``text/event-stream``: ``event: lines`` (``data``: a JSON list of lines) with the text
    the log has (its last 1000 lines), then with each new line; ``event: reset`` (``{reason}``)
    when the log starts over (the server started again) — replace what you have with the lines
    that follow; ``event: removed`` (``{name}``) when the workload is removed, and the stream
    ends. ``: keep-alive`` comments every 15 s. ``source=server`` (default) is the MCP server's
    output (a remote workload's: its proxy's), ``source=proxy`` the proxy log."""
    from toolhive.api.routes.events import _event_stream_response
    from toolhive.state import paths

    name = workload_name(call)
    workloads = call.state.workloads
    config = await call.run(workloads.export, name)  # 404 for an unknown workload
    tail: ServerTail | None = None
    proxy_log: Path | None = None
    if call.query.source == "proxy" or config.is_remote or config.is_vmcp:
        proxy_log = paths.proxy_log_path(config.base_name)
    else:
        from toolhive.workloads.runtimes import runtime_for

        runtime: Runtime = await call.run(runtime_for, workloads.hooks, config.runtime)
        container = config.container_name or config.base_name

        def open_logs() -> Iterator[bytes]:
            return runtime.logs(container, follow=True, tail=BACKLOG_LINES)

        key = (name, config.runtime, container)
        tail = server_tail(call.request.app, key, open_logs)
    watcher = watcher_of(call.request.app, call.state)
    return _event_stream_response(log_events(watcher, name, tail=tail, proxy_log=proxy_log))
