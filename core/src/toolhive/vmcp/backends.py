"""One backend of the gateway: its MCP session, its capability lists, its health and circuit.

A :class:`Backend` keeps ONE session with its server (a workload's proxy or a remote URL) that
every client session of the gateway shares, as the stdio bridge shares one server process. What
the gateway forwards keeps the relay's unique integer ids, so answers and progress need no
mapping; the gateway's own requests (initialize, lists, pings, composite steps) use string ids.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from toolhive.mcp import methods
from toolhive.mcp.jsonrpc import encode
from toolhive.vmcp.aggregation import BackendCapabilities
from toolhive.vmcp.backend_client import (
    BackendConnection,
    BackendError,
    BackendUnauthorizedError,
    OnMessage,
    SessionExpiredError,
)
from toolhive.vmcp.http11 import Started

log = logging.getLogger("toolhive.vmcp")

#: The protocol version the gateway asks its backends for (they may answer an older one).
BACKEND_PROTOCOL = "2025-11-25"
#: Client capabilities the gateway declares to every backend: it relays these requests to the
#: client session that caused them (the bridge's rule, see toolhive.transports.stdio).
RELAYED_CAPABILITIES: dict[str, Any] = {
    "sampling": {},
    "elicitation": {},
    "roots": {"listChanged": True},
}
#: Seconds before a caller's request tries again to open a backend awaiting a caller's
#: identity after it failed for another reason than a refusal (down, unreachable, timed out).
CALLER_RETRY = 5.0
#: How many pages of one list the gateway reads before it stops (a server that never ends).
MAX_PAGES = 100

_ids = itertools.count(1)


def own_id() -> str:
    """A fresh id for a request the gateway itself sends (never an int: those are the relay's)."""
    return f"vmcp-{next(_ids)}"


@dataclass(frozen=True, slots=True)
class BackendSpec:
    """Where a backend is and how to talk to it."""

    name: str
    url: str
    transport: Literal["streamable-http", "sse"] = "streamable-http"
    #: Seconds a forwarded request may take (``operational.timeouts``).
    timeout: float = 30.0
    #: Extra headers per request (outgoing auth), called in the requesting task's context.
    headers: Callable[[], Sequence[tuple[bytes, bytes]]] | None = None
    #: Headers computed per request from the caller (token exchange); may raise BackendError.
    request_headers: Callable[[], Awaitable[Sequence[tuple[bytes, bytes]]]] | None = None


class CircuitOpenError(BackendError):
    """The backend failed too often lately; calls fail fast until the breaker's timeout."""


class CircuitBreaker:
    """closed → (``threshold`` consecutive failures) → open for ``timeout`` s → half-open: one
    call is let through; its success closes the circuit, its failure opens it again."""

    __slots__ = ("enabled", "failures", "opened_at", "threshold", "timeout", "trial")

    def __init__(self, *, enabled: bool, threshold: int, timeout: float) -> None:
        self.enabled = enabled
        self.threshold = max(1, threshold)
        self.timeout = timeout
        self.failures = 0
        self.opened_at: float | None = None
        self.trial = False

    @property
    def state(self) -> str:
        if self.opened_at is None:
            return "closed"
        return "half-open" if time.monotonic() - self.opened_at >= self.timeout else "open"

    def check(self, name: str) -> None:
        """Raise :class:`CircuitOpenError` while open; let one trial call through when half-open."""
        if not self.enabled or self.opened_at is None:
            return
        left = self.timeout - (time.monotonic() - self.opened_at)
        if left > 0 or self.trial:
            wait = max(left, 1.0)
            msg = f"backend {name} is failing; its circuit is open (retry in {wait:.0f}s)"
            raise CircuitOpenError(msg)
        self.trial = True

    def success(self) -> None:
        self.failures = 0
        self.opened_at = None
        self.trial = False

    def failure(self) -> None:
        self.failures += 1
        self.trial = False
        if self.enabled and (self.opened_at is not None or self.failures >= self.threshold):
            self.opened_at = time.monotonic()


class Backend:
    """One backend: its session, its lists, whether it is healthy."""

    def __init__(
        self,
        spec: BackendSpec,
        *,
        on_message: Callable[[Backend, bytes, dict[str, Any]], None],
        breaker: CircuitBreaker,
        connect_timeout: float = 10.0,
    ) -> None:
        self.spec = spec
        self.name = spec.name
        self._on_message = on_message
        self.breaker = breaker
        self.connect_timeout = connect_timeout
        self.conn: BackendConnection | None = None
        #: What the backend lists (``None`` while not connected).
        self.capabilities: BackendCapabilities | None = None
        #: The backend's ``initialize`` result capabilities.
        self.server_capabilities: dict[str, Any] = {}
        self.healthy = False
        #: Consecutive failed health checks.
        self.failed_checks = 0
        #: Why the backend is not usable (``None`` while healthy).
        self.problem: str | None = "not connected yet"
        self._connecting: asyncio.Task[None] | None = None
        self.closed = False
        #: A backend whose credentials come from the caller (token exchange) that refused the
        #: gateway without one: it is connected by the first client request that has a token.
        self.awaiting_identity = False
        #: While awaiting identity: no caller's request tries to open the session again before
        #: this (``monotonic``) after a failure other than a refusal, so a backend that is down
        #: or unreachable does not hold up every request while it times out.
        self.retry_at = 0.0
        #: The session-creating caller's headers: used by what no caller sends (the session's
        #: initialize, its event stream, list re-reads, pings). Requests carry their own.
        self._fallback: Sequence[tuple[bytes, bytes]] = ()

    # ------------------------------------------------------------------ session

    def _message(self, raw: bytes, msg: dict[str, Any]) -> None:
        self._on_message(self, raw, msg)

    async def connect(self) -> None:
        """(Re)open the session and read every list; concurrent callers share one attempt."""
        task = self._connecting
        if task is None or task.done():
            task = self._connecting = asyncio.ensure_future(self._connect())
        await asyncio.shield(task)

    @property
    def per_caller(self) -> bool:
        """Credentials come from each caller (token exchange)."""
        return self.spec.request_headers is not None

    def _connection_headers(self) -> Sequence[tuple[bytes, bytes]]:
        static = self.spec.headers() if self.spec.headers is not None else ()
        return (*static, *self._fallback)

    async def _connect(self) -> None:
        old, self.conn = self.conn, None
        if old is not None:
            await _quietly_close(old)
        spec = self.spec
        if spec.request_headers is not None:
            # The caller whose request opens the session (if any) lends it its identity.
            self._fallback = await spec.request_headers() or self._fallback
        conn = BackendConnection(
            spec.url, spec.transport, on_message=self._message, headers=self._connection_headers
        )
        conn.on_close = self._closed_under_us
        try:
            result = await conn.initialize(
                {
                    "protocolVersion": BACKEND_PROTOCOL,
                    "capabilities": RELAYED_CAPABILITIES,
                    "clientInfo": {"name": "toolhive-vmcp", "version": _version()},
                },
                self.connect_timeout,
            )
            capabilities = result.get("capabilities")
            self.server_capabilities = capabilities if type(capabilities) is dict else {}
            self.conn = conn
            self.capabilities = await self.fetch_lists()
        except BackendUnauthorizedError:
            self.conn = None
            await _quietly_close(conn)
            if self.per_caller:
                self.awaiting_identity = True
                self.problem = "waiting for a caller's token to exchange"
            raise
        except BaseException:
            self.conn = None
            await _quietly_close(conn)
            if self.awaiting_identity:
                self.retry_at = time.monotonic() + CALLER_RETRY
            raise
        if self.closed:
            await _quietly_close(conn)
            return
        self.healthy = True
        self.awaiting_identity = False
        self.failed_checks = 0
        self.problem = None
        self.breaker.success()

    def _closed_under_us(self, reason: str) -> None:
        log.info("backend %s: its stream ended: %s", self.name, reason)

    async def aclose(self) -> None:
        self.closed = True
        self.healthy = False
        conn, self.conn = self.conn, None
        if conn is not None:
            await _quietly_close(conn)

    def mark_unhealthy(self, problem: str) -> None:
        self.healthy = False
        self.problem = problem
        self.capabilities = None

    # ------------------------------------------------------------------ requests

    async def own_request(
        self, method: str, params: dict[str, Any] | None = None, timeout: float | None = None
    ) -> dict[str, Any]:
        """A request of the gateway's own; its ``result`` (JSON-RPC errors raise BackendError)."""
        rid = own_id()
        msg: dict[str, Any] = {"jsonrpc": "2.0", "id": rid, "method": method}
        if params is not None:
            msg["params"] = params
        raw = await self.request(encode(msg), rid, timeout=timeout)
        answer = json.loads(raw)
        if "error" in answer:
            error = answer["error"] if type(answer["error"]) is dict else {}
            msg_text = f"backend {self.name}: {method}: {error.get('message', 'error')}"
            raise BackendError(msg_text)
        result = answer.get("result")
        return result if type(result) is dict else {}

    def start(self, body: bytes) -> Started | None:
        """Write ``body`` to the backend now when nothing has to be awaited first (no
        per-request headers, an idle connection); give the result to :meth:`request`."""
        conn = self.conn
        if conn is None or self.spec.request_headers is not None:
            return None
        return conn.start_request(body)

    async def request(
        self,
        body: bytes,
        request_id: int | str,
        *,
        timeout: float | None = None,
        on_message: OnMessage | None = None,
        started: Started | None = None,
    ) -> bytes:
        """Forward one request (``started``: already written by :meth:`start`); a session the
        backend forgot (it restarted) is re-opened once."""
        conn = self.conn
        if conn is None:
            if started is not None:
                started.abandon()
            raise BackendError(f"backend {self.name} is not available: {self.problem}")
        wait = self.spec.timeout if timeout is None else timeout
        extra = self.spec.request_headers
        headers = await extra() if extra is not None else ()
        try:
            return await conn.request(
                body,
                request_id,
                timeout=wait,
                on_message=on_message,
                headers=headers,
                started=started,
            )
        except SessionExpiredError:
            log.info("backend %s forgot our session; opening a new one", self.name)
        await self.connect()
        conn = self.conn
        if conn is None:
            raise BackendError(f"backend {self.name} is not available: {self.problem}")
        return await conn.request(
            body, request_id, timeout=wait, on_message=on_message, headers=headers
        )

    async def notify(self, body: bytes) -> None:
        conn = self.conn
        if conn is not None:
            try:
                await conn.notify(body)
            except BackendError as exc:
                log.debug("backend %s: a notification was not delivered: %s", self.name, exc)

    async def fetch_lists(self) -> BackendCapabilities:
        """Every tool, resource, template and prompt the backend offers (all pages)."""
        caps = self.server_capabilities
        tools = await self._list("tools/list", "tools") if "tools" in caps else []
        resources: list[dict[str, Any]] = []
        templates: list[dict[str, Any]] = []
        if "resources" in caps:
            resources = await self._list("resources/list", "resources")
            templates = await self._list("resources/templates/list", "resourceTemplates")
        prompts = await self._list("prompts/list", "prompts") if "prompts" in caps else []
        return BackendCapabilities(
            name=self.name,
            tools=tools,
            resources=resources,
            resource_templates=templates,
            prompts=prompts,
        )

    async def _list(self, method: str, key: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        cursor: Any = None
        for _ in range(MAX_PAGES):
            result = await self.own_request(
                method, {"cursor": cursor} if cursor else None, self.connect_timeout
            )
            page = result.get(key)
            if type(page) is list:
                items.extend(item for item in page if type(item) is dict)
            cursor = result.get("nextCursor")
            if not cursor:
                break
        return items

    async def ping(self, timeout: float) -> None:
        await self.own_request(methods.PING, None, timeout)


async def _quietly_close(conn: BackendConnection) -> None:
    try:
        async with asyncio.timeout(5.0):
            await conn.aclose()
    except Exception as exc:  # closing is best effort: the backend may be gone already
        log.debug("closing a backend connection: %s", exc)


def _version() -> str:
    from toolhive import __version__

    return __version__
