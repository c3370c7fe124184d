"""The work queue: deduplicated keys, one reconcile per key at a time, retries with backoff.

Semantics of controller-runtime's queue: a key added while queued is not queued twice; a key
added while being reconciled runs once more afterwards (the change it announces may have come
after the read); a failed reconcile comes back after 0.5 s, 1 s, 2 s … capped at 60 s; a
``Result(requeue_after=…)`` comes back after that delay. Reconciles run in worker threads (the
API client is synchronous); the queue itself lives on the asyncio loop kopf runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from toolhive_runtime_kubernetes.operator.framework import Key, Result

log = logging.getLogger("toolhive.operator")

BACKOFF_BASE = 0.5
BACKOFF_MAX = 60.0


class WorkQueue:
    def __init__(self, process: Callable[[Key], Result | None], *, workers: int = 4) -> None:
        self._process = process
        self._workers = workers
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue[Key] | None = None
        self._queued: set[Key] = set()
        self._active: set[Key] = set()
        self._dirty: set[Key] = set()
        self._timers: dict[Key, tuple[float, asyncio.TimerHandle]] = {}
        self._failures: dict[Key, int] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="reconcile")
        self._idle = asyncio.Event()
        #: Reconciles run and failed so far (the benchmark and the logs report them).
        self.processed = 0
        self.failed = 0

    # --- adding -----------------------------------------------------------------------------

    def add(self, key: Key, delay: float = 0) -> None:
        """Thread safe: from the loop (kopf handlers) or a worker thread (a reconcile)."""
        loop = self._loop
        if loop is None:
            msg = "the work queue is not started"
            raise RuntimeError(msg)
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._add(key, delay)
        else:
            loop.call_soon_threadsafe(self._add, key, delay)

    def _add(self, key: Key, delay: float) -> None:
        assert self._loop is not None and self._queue is not None
        if delay > 0:
            due = self._loop.time() + delay
            timer = self._timers.get(key)
            if timer is not None and timer[0] <= due:
                return  # an earlier pass is already planned
            if timer is not None:
                timer[1].cancel()
            handle = self._loop.call_at(due, self._fire, key)
            self._timers[key] = (due, handle)
            return
        if key in self._active:
            self._dirty.add(key)
        elif key not in self._queued:
            self._queued.add(key)
            self._idle.clear()
            self._queue.put_nowait(key)

    def _fire(self, key: Key) -> None:
        self._timers.pop(key, None)
        self._add(key, 0)

    # --- running ----------------------------------------------------------------------------

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._queue = asyncio.Queue()
        self._idle = asyncio.Event()
        self._idle.set()
        self._tasks = [asyncio.create_task(self._worker(i)) for i in range(self._workers)]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for _, handle in self._timers.values():
            handle.cancel()
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def wait_idle(self) -> None:
        """Until nothing is queued or running (delayed keys do not count)."""
        await self._idle.wait()

    def _check_idle(self) -> None:
        if not self._queued and not self._active:
            self._idle.set()

    async def _worker(self, number: int) -> None:
        assert self._queue is not None and self._loop is not None
        while True:
            key = await self._queue.get()
            self._queued.discard(key)
            self._active.add(key)
            try:
                result = await self._loop.run_in_executor(self._executor, self._run, key)
            finally:
                self._active.discard(key)
            if isinstance(result, BaseException):
                failures = self._failures.get(key, 0) + 1
                self._failures[key] = failures
                delay = min(BACKOFF_BASE * 2 ** (failures - 1), BACKOFF_MAX)
                log.warning("reconcile %s failed (retry in %.1fs): %s", key, delay, result)
                self._add(key, delay)
            else:
                self._failures.pop(key, None)
                if result is not None and result.requeue_after is not None:
                    self._add(key, result.requeue_after)
            if key in self._dirty:
                self._dirty.discard(key)
                self._add(key, 0)
            self._check_idle()

    def _run(self, key: Key) -> Result | BaseException | None:
        self.processed += 1
        try:
            return self._process(key)
        except Exception as exc:  # every failure is retried; the log says which and why
            self.failed += 1
            log.debug("reconcile %s", key, exc_info=True)
            return exc
