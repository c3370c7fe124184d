"""What a caller of the gateway sees: a :class:`View` of the aggregate, and :class:`CallerViews`,
each caller's own view when backends take their credentials from the caller (token exchange).

As ToolHive does, a token-exchange backend's discovery runs with the caller's identity: a
caller's first request (of any kind) opens the backends still waiting for a caller, then reads
what those backends list for this caller's token; that view serves the caller's requests for
:data:`CALLER_VIEW_TTL` seconds, at most :data:`CALLER_VIEWS` callers' views are kept.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from toolhive.vmcp.aggregation import Aggregate, BackendCapabilities, UnresolvedConflictError

if TYPE_CHECKING:
    from toolhive.vmcp.backends import Backend

log = logging.getLogger("toolhive.vmcp")

#: How long a caller's own view of token-exchange backends is reused before their lists are
#: read again with that caller's token (ToolHive's per-identity ``capabilityCacheTTL``).
CALLER_VIEW_TTL: Final = 30.0
#: Callers whose views are kept at most (least recently used dropped first).
CALLER_VIEWS: Final = 512


@dataclass(slots=True)
class View:
    """What a caller sees: the aggregate (routes), the pre-encoded lists, composite tools."""

    aggregate: Aggregate
    lists: dict[str, bytes]
    composite_tools: dict[str, dict[str, Any]]
    step_tools: dict[str, dict[str, Any]]
    #: When a caller's own view must be read again (``monotonic``); unused for the shared one.
    expires: float = 0.0


class CallerViews:
    """Callers' own views, keyed by their incoming ``Authorization`` (identity and credentials).

    ``backends`` is the virtual server's live backend map; ``build`` makes a view of some
    backends' capabilities (raising :class:`UnresolvedConflictError`); ``refresh`` recomputes
    the shared view after backends waiting for a caller were opened."""

    def __init__(
        self,
        backends: Mapping[str, Backend],
        build: Callable[[list[BackendCapabilities]], View],
        refresh: Callable[[], None],
    ) -> None:
        self._backends = backends
        self._build = build
        self._refresh = refresh
        #: Backends whose credentials come from each caller; with none, nobody has a view.
        self.per_caller: list[Backend] = []
        self._views: OrderedDict[bytes, View] = OrderedDict()
        self._reads: dict[bytes, asyncio.Task[View | None]] = {}

    def backends_changed(self) -> None:
        self.per_caller = [b for b in self._backends.values() if b.per_caller]

    def clear(self) -> None:
        """Forget every view (what the backends list changed: read again on the next request)."""
        self._views.clear()

    def get(self, token: bytes) -> View | None:
        return self._views.get(token)

    def current(self, token: bytes) -> bool:
        """Whether ``token``'s view can serve a request now (else :meth:`read` it first)."""
        view = self._views.get(token)
        if view is None or view.expires <= time.monotonic() or self.awaiting_identity():
            return False
        self._views.move_to_end(token)
        return True

    def awaiting_identity(self) -> list[Backend]:
        """Token-exchange backends not opened yet (each tried again after its ``retry_at``)."""
        now = time.monotonic()
        return [
            b for b in self.per_caller if b.awaiting_identity and not b.closed and b.retry_at <= now
        ]

    async def read(self, token: bytes) -> None:
        """Read ``token``'s view (one read at a time per caller). Never raises: on failure the
        shared view serves the caller."""
        task = self._reads.get(token)
        if task is None or task.done():
            # Created here, the task runs with this caller's token (context is inherited).
            task = asyncio.get_running_loop().create_task(self._read(token))
            self._reads[token] = task
            task.add_done_callback(lambda done: self._forget_read(token, done))
        try:
            await asyncio.shield(task)
        except Exception:
            log.exception("reading the lists for a caller failed")

    def _forget_read(self, token: bytes, task: asyncio.Task[View | None]) -> None:
        if self._reads.get(token) is task:
            del self._reads[token]

    async def _read(self, token: bytes) -> View | None:
        """Open backends waiting for a caller, then read the token-exchange backends' lists
        with this caller's token; the caller's view (``None``: the shared one serves)."""
        waiting = self.awaiting_identity()
        fresh: set[str] = set()
        if waiting:
            results = await asyncio.gather(*(b.connect() for b in waiting), return_exceptions=True)
            for backend, result in zip(waiting, results, strict=True):
                if isinstance(result, BaseException):
                    log.warning(
                        "backend %s: cannot connect as the caller: %s", backend.name, result
                    )
                else:
                    fresh.add(backend.name)  # its lists were just read with this caller's token
            self._refresh()
        usable = [b for b in self._backends.values() if b.healthy and b.capabilities is not None]
        reread = [b for b in usable if b.per_caller and b.name not in fresh]
        lists = await asyncio.gather(*(b.fetch_lists() for b in reread), return_exceptions=True)
        own: dict[str, BackendCapabilities | None] = {}
        for backend, listed in zip(reread, lists, strict=True):
            if isinstance(listed, BaseException):
                # This caller's token may list nothing there: it sees none of that backend.
                log.info("backend %s: lists as the caller failed: %s", backend.name, listed)
                own[backend.name] = None
            else:
                own[backend.name] = listed
        caps = [own.get(b.name, b.capabilities) for b in usable]
        try:
            view = self._build([c for c in caps if c is not None])
        except UnresolvedConflictError as exc:
            log.warning("aggregation for a caller: %s", exc)
            return None
        view.expires = time.monotonic() + CALLER_VIEW_TTL
        views = self._views
        views[token] = view
        views.move_to_end(token)
        while len(views) > CALLER_VIEWS:
            views.popitem(last=False)
        return view
