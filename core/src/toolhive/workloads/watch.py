"""Watching every workload's status through the state files, whichever process changes them.

Workloads change in other processes than the one that watches (``thv run``/``stop``/``rm`` from a
shell, the detached supervisors that record ``running`` and ``unhealthy``), so in-process
:class:`~toolhive.workloads.events.WorkloadEvents` do not see everything. The files do: a
workload is its RunConfig, its status is its status file (:mod:`toolhive.state.store`).

:class:`StateScanner` reads the state cheaply: it lists the two folders and re-reads only a file
whose inode, mtime or size changed (status files are replaced atomically, so each write is a new
inode); the status shown is :func:`~toolhive.workloads.status.merged_status`, as ``thv list`` shows
it (a supervisor found dead turns ``running`` into ``unhealthy``).

:class:`StatusWatcher` scans every ``interval`` seconds — and at once when inotify says a state
folder changed (:class:`FolderNotify`, Linux) — in ONE task shared by all subscribers, started with
the first and stopped with the last, and fans the differences out as :class:`StatusChange` s. :meth:`StatusWatcher.poke` scans at once (the API's own use cases poke it
through its event bus, so a change made through the API is seen without waiting for the tick).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from toolhive.models.runconfig import RunConfig
from toolhive.models.workload import WorkloadStatus
from toolhive.state import paths
from toolhive.state.store import StatusRecord, WorkloadRecord, now_rfc3339
from toolhive.workloads.status import SUPERVISED, merged_status
from toolhive.workloads.urls import client_url

#: What a change is: part of the first snapshot, a new workload, a changed one, a removed one.
ChangeKind = Literal["snapshot", "created", "changed", "removed"]
#: The status a removed workload is reported with.
REMOVED = "removed"
#: A RunConfig this young without a status file is being created (the status file follows it).
CREATING_GRACE_S = 2.0

_Stamp = tuple[int, int, int]  # inode, mtime_ns, size

log = logging.getLogger("toolhive.workloads.watch")


@dataclass(frozen=True)
class WorkloadView:
    """What a watcher tells of one workload."""

    name: str
    status: str
    status_context: str = ""
    group: str = "default"
    url: str = ""
    #: The RunConfig's image (``vmcp://GROUP`` for a gateway workload).
    image: str = ""
    #: When the status was set: the status file's ``updated_at``, or when the watcher saw it.
    time: str = ""

    def same(self, other: WorkloadView) -> bool:
        """Whether a client would see no difference (``time`` aside)."""
        return (self.status, self.status_context, self.group, self.url) == (
            other.status,
            other.status_context,
            other.group,
            other.url,
        )


@dataclass(frozen=True)
class StatusChange:
    """One workload's change: ``status`` now (``"removed"`` once gone), ``previous`` before it
    (``None`` for a workload the client had not seen)."""

    kind: ChangeKind
    workload: WorkloadView
    previous: str | None = None

    def to_json(self) -> dict[str, Any]:
        view = self.workload
        out: dict[str, Any] = {
            "type": self.kind,
            "name": view.name,
            "status": view.status,
            "previous": self.previous,
        }
        if view.status_context:
            out["status_context"] = view.status_context
        out["group"] = view.group
        if view.url:
            out["url"] = view.url
        out["time"] = view.time
        return out


def _stamp(st: os.stat_result) -> _Stamp:
    return (st.st_ino, st.st_mtime_ns, st.st_size)


def _listing(folder: str) -> dict[str, tuple[str, _Stamp]]:
    """``{stem: (path, stamp)}`` of the folder's ``*.json`` files (none when it is missing)."""
    out: dict[str, tuple[str, _Stamp]] = {}
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                name = entry.name
                if not name.endswith(".json") or name.startswith("."):
                    continue
                try:
                    out[name[:-5]] = (entry.path, _stamp(entry.stat()))
                except OSError:
                    continue  # removed since the listing
    except FileNotFoundError:
        pass
    return out


def _folder_stamp(folder: str) -> _Stamp | None:
    try:
        return _stamp(os.stat(folder))
    except OSError:
        return None


class StateScanner:
    """The workloads as the state files hold them, reading as little as it can.

    State files are replaced by renaming (:func:`~toolhive.state.atomic.write_atomic`) and removed
    by unlinking, so a write changes its folder's mtime: while neither folder changed, a scan is
    two ``stat`` calls. The files are listed anyway while a folder changed recently (two writes
    within the clock's granularity share an mtime) and every ``full_every`` scans (an in-place
    edit; a supervisor that died, which no file records); a file is re-read only when its inode,
    mtime or size changed.
    """

    def __init__(self, *, full_every: int = 5, recent_s: float = 2.0) -> None:
        self.full_every = full_every
        self.recent_s = recent_s
        self._folders: tuple[_Stamp | None, _Stamp | None] | None = None
        self._since_full = 0
        self._configs: dict[str, tuple[_Stamp, RunConfig | None]] = {}
        self._statuses: dict[str, tuple[_Stamp, StatusRecord | None]] = {}
        #: base name → (RunConfig stamp, status stamp, view)
        self._views: dict[str, tuple[_Stamp, _Stamp | None, WorkloadView]] = {}

    def scan(self) -> dict[str, WorkloadView]:
        """``{base_name: view}`` of every workload now (blocking: run it in a thread)."""
        config_dir = str(paths.runconfig_path("x").parent)
        status_dir = str(paths.status_path("x").parent)
        folders = (_folder_stamp(config_dir), _folder_stamp(status_dir))
        now_ns = time.time_ns()
        recent = any(f is not None and now_ns - f[1] < self.recent_s * 1e9 for f in folders)
        self._since_full += 1
        if folders == self._folders and not recent and self._since_full < self.full_every:
            return {base: view for base, (_, _, view) in self._views.items()}
        self._folders, self._since_full = folders, 0
        return self._full_scan(config_dir, status_dir, now_ns)

    def _full_scan(self, config_dir: str, status_dir: str, now_ns: int) -> dict[str, WorkloadView]:
        configs = _listing(config_dir)
        statuses = _listing(status_dir)
        self._configs = {k: v for k, v in self._configs.items() if k in configs}
        self._statuses = {k: v for k, v in self._statuses.items() if k in statuses}
        views: dict[str, tuple[_Stamp, _Stamp | None, WorkloadView]] = {}
        for base, (path, config_stamp) in configs.items():
            status_stamp = statuses[base][1] if base in statuses else None
            if status_stamp is None and now_ns - config_stamp[1] < CREATING_GRACE_S * 1e9:
                continue  # being created: its status file is written right after the RunConfig
            before = self._views.get(base)
            if (
                before is not None
                and before[:2] == (config_stamp, status_stamp)
                and before[2].status not in SUPERVISED
            ):
                views[base] = before  # no file changed, no process to check
                continue
            config = self._config(base, path, config_stamp)
            if config is None:
                continue  # unreadable: `thv status NAME` says why
            status = self._status(base, *statuses[base]) if base in statuses else None
            view = self._view(config, status, before[2] if before is not None else None)
            views[base] = (config_stamp, status_stamp, view)
        self._views = views
        return {base: view for base, (_, _, view) in views.items()}

    def _config(self, base: str, path: str, stamp: _Stamp) -> RunConfig | None:
        cached = self._configs.get(base)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        config: RunConfig | None
        try:
            with open(path) as file:
                config = RunConfig.from_json(file.read(), source=path)
        except FileNotFoundError:
            return None  # removed since the listing: the next scan drops it
        except Exception:  # unreadable until rewritten
            config = None
        self._configs[base] = (stamp, config)
        return config

    def _status(self, base: str, path: str, stamp: _Stamp) -> StatusRecord | None:
        cached = self._statuses.get(base)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        record: StatusRecord | None
        try:
            with open(path, "rb") as file:
                record = StatusRecord.model_validate_json(file.read())
        except FileNotFoundError:
            return None
        except ValueError:
            record = StatusRecord(
                status=WorkloadStatus.UNKNOWN, status_context=f"unreadable {path}"
            )
        self._statuses[base] = (stamp, record)
        return record

    @staticmethod
    def _view(
        config: RunConfig, status: StatusRecord | None, before: WorkloadView | None
    ) -> WorkloadView:
        merged, context = merged_status(WorkloadRecord(config, status))
        view = WorkloadView(
            name=config.name or config.base_name,
            status=str(merged),
            status_context=context,
            group=config.group or "default",
            url=client_url(config),
            image=config.image,
        )
        if before is not None and before.same(view):
            return before  # unchanged: keeps the time it changed
        from_file = status is not None and status.status == merged and status.updated_at
        return replace(view, time=status.updated_at if from_file and status else now_rfc3339())


def diff(before: dict[str, WorkloadView], after: dict[str, WorkloadView]) -> list[StatusChange]:
    """What changed from ``before`` to ``after`` (both keyed by base name), in name order."""
    changes: list[StatusChange] = []
    for base in sorted(before.keys() | after.keys()):
        old, new = before.get(base), after.get(base)
        if old is None and new is not None:
            changes.append(StatusChange("created", new))
        elif new is None and old is not None:
            gone = replace(old, status=REMOVED, status_context="", time=now_rfc3339())
            changes.append(StatusChange("removed", gone, previous=old.status))
        elif old is not None and new is not None and not old.same(new):
            changes.append(StatusChange("changed", new, previous=old.status))
    return changes


class Closed(Exception):
    """The subscription ended: the watcher closed, or the subscriber fell too far behind (it
    reconnects and starts again from a snapshot)."""


@dataclass(eq=False)
class Subscription:
    """One subscriber: ``snapshot`` (every workload when it subscribed), then :meth:`next`."""

    snapshot: list[StatusChange]
    maxsize: int = 10_000
    _queue: asyncio.Queue[StatusChange | None] = field(default_factory=asyncio.Queue)
    _closed: bool = False

    def _offer(self, change: StatusChange) -> None:
        if self._closed:
            return
        if self._queue.qsize() >= self.maxsize:
            self.close()
            return
        self._queue.put_nowait(change)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._queue.put_nowait(None)

    async def next(self, timeout: float | None = None) -> StatusChange | None:
        """The next change; ``None`` when ``timeout`` passes first; :class:`Closed` once closed."""
        try:
            async with asyncio.timeout(timeout):
                change = await self._queue.get()
        except TimeoutError:
            return None
        if change is None:
            raise Closed
        return change


class StatusWatcher:
    """One scanning task for every subscriber of an event loop (see the module)."""

    def __init__(self, interval: float = 0.2) -> None:
        self.interval = interval
        self._subscribers: set[Subscription] = set()
        self._lock: asyncio.Lock | None = None
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._scanner = StateScanner()
        self._current: dict[str, WorkloadView] = {}

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    @contextlib.asynccontextmanager
    async def subscribe(self) -> AsyncIterator[Subscription]:
        """A subscription starting from a snapshot of every workload; the first subscriber starts
        the scanning task, the last one out stops it."""
        loop = asyncio.get_running_loop()
        if self._lock is None or (self._loop is not loop and not self.running):
            self._lock = asyncio.Lock()  # an asyncio lock belongs to one event loop
        async with self._lock:
            if not self.running:
                self._loop = loop
                self._wake = asyncio.Event()
                self._scanner = StateScanner()
                self._current = await asyncio.to_thread(self._scanner.scan)
                self._task = asyncio.create_task(self._run(), name="toolhive-status-watcher")
            views = sorted(self._current.values(), key=lambda v: v.name)
            subscription = Subscription([StatusChange("snapshot", v) for v in views])
            self._subscribers.add(subscription)
        try:
            yield subscription
        finally:
            subscription.close()
            await self._leave(subscription)

    async def _leave(self, subscription: Subscription) -> None:
        assert self._lock is not None
        # Shielded: a cancelled stream (its client left) must still stop the task when last.
        await asyncio.shield(self._stop_if_unused(subscription))

    async def _stop_if_unused(self, subscription: Subscription) -> None:
        assert self._lock is not None
        async with self._lock:
            self._subscribers.discard(subscription)
            if self._subscribers or self._task is None:
                return
            task, self._task = self._task, None
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def poke(self) -> None:
        """Scan now rather than at the next tick; callable from any thread."""
        loop, wake = self._loop, self._wake
        if loop is None or wake is None or loop.is_closed() or not self.running:
            return
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            loop.call_soon_threadsafe(wake.set)

    def close(self) -> None:
        """End every subscription (the server is shutting down); the task stops with the last."""
        for subscription in list(self._subscribers):
            subscription.close()

    async def _run(self) -> None:
        assert self._wake is not None and self._loop is not None
        wake, loop = self._wake, self._loop
        notify = FolderNotify()

        def readable() -> None:
            if notify.drain():
                wake.set()
            else:  # a broken descriptor: back to polling alone
                loop.remove_reader(notify.fd)
                notify.close()

        if notify.open():
            loop.add_reader(notify.fd, readable)
        try:
            while True:
                if notify.fd >= 0:
                    notify.watch(str(paths.runconfig_path("x").parent))
                    notify.watch(str(paths.status_path("x").parent))
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.interval):
                        await wake.wait()
                wake.clear()
                try:
                    after = await asyncio.to_thread(self._scanner.scan)
                except Exception:  # e.g. a state folder made unreadable: keep watching, say why
                    log.exception("scanning the workload state failed")
                    continue
                changes = diff(self._current, after)
                self._current = after
                for change in changes:
                    for subscription in list(self._subscribers):
                        subscription._offer(change)
        finally:
            if notify.fd >= 0:
                loop.remove_reader(notify.fd)
            notify.close()


class FolderNotify:
    """inotify on the state folders (Linux, through libc): a write there wakes the watcher at
    once instead of at its next tick. Polling stays — where inotify is missing, before a folder
    exists, and for what no file records (a supervisor that died)."""

    #: IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE | IN_DELETE
    MASK = 0x2 | 0x4 | 0x8 | 0x40 | 0x80 | 0x100 | 0x200

    def __init__(self) -> None:
        self.fd = -1
        self._libc: Any = None
        self._watched: set[str] = set()

    def open(self) -> bool:
        """Start (``False`` where inotify is not available: polling alone then)."""
        if not sys.platform.startswith("linux"):
            return False
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            fd = int(libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC))
        except (OSError, AttributeError):
            return False
        if fd < 0:
            return False
        self._libc, self.fd = libc, fd
        return True

    def watch(self, folder: str) -> None:
        """Watch ``folder`` once it exists (a fresh home has none yet)."""
        if folder in self._watched or not os.path.isdir(folder):
            return
        if self._libc.inotify_add_watch(self.fd, os.fsencode(folder), self.MASK) >= 0:
            self._watched.add(folder)

    def drain(self) -> bool:
        """Read what is pending (the events themselves do not matter: a scan follows)."""
        try:
            while os.read(self.fd, 65536):
                pass
        except BlockingIOError:
            pass
        except OSError:
            return False
        return True

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
            self._watched.clear()
