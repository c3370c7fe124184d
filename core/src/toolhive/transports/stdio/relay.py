"""The relay: the one stdio server shared by every client session.

It reads the server's stdout (answers go to :class:`~.routing.Router`), initializes the server
once, forwards client requests, notifications and answers, and runs the sweeper: request
timeouts, session expiry and SSE keep-alives in one task (no timer per request). Both HTTP faces
(:mod:`.streamable_http`, :mod:`.legacy_sse`) use it through its public methods.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any, Final

from toolhive.contracts.runtime import StdioChannel
from toolhive.mcp import methods
from toolhive.mcp.jsonrpc import (
    CONNECTION_CLOSED,
    INTERNAL_ERROR,
    REQUEST_TIMEOUT,
    Message,
    RequestId,
    encode,
    encode_line,
    error_bytes,
    error_response,
)
from toolhive.transports.stdio.intercepted import Intercepted
from toolhive.transports.stdio.routing import Router, is_id
from toolhive.transports.stdio.sessions import Pending, Session, SessionTable
from toolhive.transports.stdio.streams import KEEPALIVE

log = logging.getLogger("toolhive.transports.stdio")

#: Client capabilities the bridge advertises to the server on the one ``initialize`` it forwards
#: (merged into the first client's): it can relay these requests to whichever session declared them.
RELAYED_CAPABILITIES: Final[dict[str, Any]] = {
    "sampling": {},
    "elicitation": {},
    "roots": {"listChanged": True},
}
SHUTTING_DOWN: Final = "the proxy is shutting down"


class ServerGoneError(ConnectionError):
    """The stdio server has exited (or the bridge was closed)."""


class Relay:
    """Sessions over one stdio server: forwarding, the read loop, housekeeping."""

    def __init__(
        self,
        channel: StdioChannel,
        *,
        workload: str,
        request_timeout: float,
        keepalive_interval: float,
        session_ttl: float,
    ) -> None:
        self._channel = channel
        self._workload = workload
        self.timeout = request_timeout
        self._keepalive = keepalive_interval
        self._ttl = session_ttl
        self.table = SessionTable()
        self._send_message: Callable[[Message, bytes], None] | None = getattr(
            channel, "send_message", None
        )
        self.router = Router(self.table, self._send_soon)
        self.intercepted = Intercepted(self.table.sessions, self._server_call, self._spawn)
        self._init_result: Any = None
        self._init_future: asyncio.Future[Message] | None = None
        self._initialized_sent = False
        #: Why requests cannot be served (``None`` while running).
        self.gone: str | None = "the bridge has not been started"
        self.draining = False
        self._closed = False
        self._reader: asyncio.Task[None] | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[Any]] = set()

    @property
    def unavailable(self) -> str | None:
        """Why new streams cannot open (server gone, proxy draining), else ``None``."""
        if self.gone is not None:
            return self.gone
        return SHUTTING_DOWN if self.draining else None

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Start reading the server's stdout (idempotent)."""
        if self._reader is not None or self._closed:
            return
        self.gone = None
        push_to = getattr(self._channel, "push_to", None)
        if push_to is not None:
            # A channel in this process (the vMCP gateway's virtual server) hands each line over
            # as it is written: an event-loop iteration less per message than a queue and the
            # reader; the reader then only waits for the end.
            push_to(self._deliver)
        self._reader = asyncio.create_task(self._read_loop(), name=f"stdio-reader:{self._workload}")
        self._sweeper = asyncio.create_task(
            self._sweep_loop(), name=f"stdio-sweeper:{self._workload}"
        )

    def drain(self) -> None:
        """Prepare for shutdown: end every ``GET`` stream so the HTTP server can finish."""
        self.draining = True
        for session in self.table.sessions.values():
            session.end_stream()

    async def aclose(self) -> None:
        """Stop relaying: waiting clients get an error; the server's stdin is closed (idempotent)."""
        if self._closed:
            return
        self._closed = True
        for task in (self._reader, self._sweeper):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._server_gone(SHUTTING_DOWN)
        for task in list(self._background):
            task.cancel()
        with contextlib.suppress(Exception):
            await self._channel.aclose()

    async def ping(self, timeout: float = 5.0) -> None:
        """Send an MCP ``ping`` with a bridge-owned id; any answer proves the server is alive."""
        if self.gone is not None:
            raise ServerGoneError(self.gone)
        internal = self.table.internal
        bid = self.table.next_id()
        future: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        internal[bid] = future
        try:
            async with asyncio.timeout(timeout):
                await self._channel.send(b'{"jsonrpc":"2.0","id":%d,"method":"ping"}\n' % bid)
                await future
        finally:
            self.table.internal.pop(bid, None)

    # ------------------------------------------------------------------ client → server

    async def handshake(self, msg: Message) -> tuple[Any, bytes, int]:
        """The server's ``initialize`` result for a new session: ``(result, b"", 200)``, or
        ``(None, error response with the client's id, HTTP status)``."""
        cid: RequestId = msg["id"]
        if self.gone is not None:
            return None, error_bytes(cid, CONNECTION_CLOSED, self.gone), 503
        if self._init_result is not None:
            return self._init_result, b"", 200
        try:
            response = await self._initialize_server(msg)
        except TimeoutError:
            message = "The MCP server did not answer initialize"
            return None, error_bytes(cid, REQUEST_TIMEOUT, message), 200
        except ServerGoneError as exc:
            return None, error_bytes(cid, CONNECTION_CLOSED, str(exc)), 503
        if "result" not in response:
            error = response.get("error") or {"code": INTERNAL_ERROR, "message": "bad reply"}
            return None, encode({"jsonrpc": "2.0", "id": cid, "error": error}), 200
        return response["result"], b"", 200

    async def _initialize_server(self, msg: Message) -> Message:
        """Forward the first ``initialize``; concurrent first sessions share its answer."""
        future = self._init_future
        if future is None:
            future = self._init_future = asyncio.get_running_loop().create_future()
            bid = self.table.next_id()
            self.table.internal[bid] = future
            forward = dict(msg)
            forward["id"] = bid
            params = msg.get("params")
            if type(params) is dict:
                # Servers decide what to offer from the client's capabilities (server-everything
                # registers its sampling tool only for a sampling client): claim what can be relayed.
                capabilities = params.get("capabilities")
                merged = dict(capabilities) if type(capabilities) is dict else {}
                for key, value in RELAYED_CAPABILITIES.items():
                    merged.setdefault(key, value)
                forward["params"] = {**params, "capabilities": merged}
            try:
                await self._channel.send(encode_line(forward))
            except Exception as exc:
                self.table.internal.pop(bid, None)
                self._init_future = None
                raise ServerGoneError(f"cannot write to the MCP server: {exc}") from exc
        # A timeout leaves the forwarded initialize in place: its late answer still counts.
        async with asyncio.timeout(self.timeout):
            response = await asyncio.shield(future)
        if "result" in response:
            self._init_result = response["result"]
        elif self._init_future is future:
            self._init_future = None  # the server refused: let the next initialize try again
        return response

    def register(
        self,
        session: Session,
        msg: Message,
        kind: type[Pending],
        sse: bool,
        body: bytes | None = None,
    ) -> tuple[Pending, bytes]:
        """Track a client request (see :meth:`SessionTable.register`) with this relay's timeout.

        The caller checked :attr:`gone`, sends the line with :meth:`send_request` and calls
        ``table.settle`` once the answer is no longer awaited.
        """
        return self.table.register(session, msg, kind, sse, time.monotonic() + self.timeout, body)

    async def send_request(self, pending: Pending, line: bytes, msg: Message | None = None) -> None:
        """Write a registered request to the server; if that fails, its answer is the error.

        ``msg``: the request as registered (``line`` parsed), for a channel that takes it as is
        (``send_message``: the vMCP gateway's virtual server, which need not parse it again)."""
        try:
            if msg is not None and self._send_message is not None:
                self._send_message(msg, line)
            else:
                await self._channel.send(line)
        except Exception as exc:
            if self.table.pending.pop(pending.bid, None) is not None:
                message = f"cannot write to the MCP server: {exc}"
                pending.put(error_bytes(pending.client_id, CONNECTION_CLOSED, message), True)

    async def client_notification(self, session: Session, msg: Message) -> None:
        method = msg["method"]
        if method == methods.INITIALIZED:
            if self._initialized_sent:
                return  # the server was initialized once, by the first session
            self._initialized_sent = True
        elif method == methods.CANCELLED:
            params = msg.get("params")
            rid = params.get("requestId") if type(params) is dict else None
            bid = session.inflight.get(rid) if is_id(rid) else None
            if bid is None or type(params) is not dict:
                return  # already answered, or not this session's request
            params["requestId"] = bid
            pending = self.table.pending.pop(bid, None)
            if pending is not None:
                pending.put(
                    error_bytes(pending.client_id, INTERNAL_ERROR, "Request cancelled"), True
                )
        if self.gone is None:
            with contextlib.suppress(Exception):
                await self._channel.send(encode_line(msg))

    async def client_response(self, session: Session, msg: Message) -> bool:
        """Relay a session's answer to a server request; ``False`` if it asked no such thing."""
        rid = msg["id"]
        server_requests = self.table.server_requests
        owner = server_requests.get(rid) if is_id(rid) else None
        if owner is None or owner is not session:
            return False
        del server_requests[rid]
        session.server_requests.discard(rid)
        if self.gone is None:
            with contextlib.suppress(Exception):
                await self._channel.send(encode_line(msg))
        return True

    async def _server_call(self, method: str, params: dict[str, Any]) -> dict[str, Any] | None:
        """A bridge-owned request to the server; ``None`` on success, else the JSON-RPC error."""
        if self.gone is not None:
            return {"code": CONNECTION_CLOSED, "message": self.gone}
        bid = self.table.next_id()
        future: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self.table.internal[bid] = future
        request = {"jsonrpc": "2.0", "id": bid, "method": method, "params": params}
        try:
            async with asyncio.timeout(self.timeout):
                await self._channel.send(encode_line(request))
                response = await future
        except TimeoutError:
            return {"code": REQUEST_TIMEOUT, "message": f"The MCP server did not answer {method}"}
        except Exception as exc:
            return {"code": CONNECTION_CLOSED, "message": str(exc) or "the MCP server is gone"}
        finally:
            self.table.internal.pop(bid, None)
        if "result" in response:
            return None
        error = response.get("error")
        if type(error) is dict:
            return error
        return {"code": INTERNAL_ERROR, "message": f"invalid answer to {method}"}

    # ------------------------------------------------------------------ server → client

    async def _read_loop(self) -> None:
        readline = self._channel.readline
        deliver = self._deliver
        reason = "the MCP server exited"
        try:
            while True:
                line = await readline()
                if not line:
                    break
                deliver(line)
        except Exception as exc:
            reason = f"reading from the MCP server failed: {exc}"
        log.info("%s: %s", self._workload, reason)
        self._server_gone(reason)

    def _deliver(self, line: bytes) -> None:
        """One line the server wrote (``push_to`` channels call it directly)."""
        if line.startswith(b'{"jsonrpc"') and self.router.relay_response(line):
            return
        if line == b"\n":
            return
        try:
            msg = json.loads(line)
        except ValueError:
            log.warning("ignoring non-JSON output from the MCP server: %.200r", line)
            return
        try:
            self.router.dispatch(msg, line)
        except Exception:
            log.exception("failed to relay a message from the MCP server")

    # ------------------------------------------------------------------ housekeeping

    def _send_soon(self, line: bytes) -> None:
        """Write to the server from synchronous code (the reader must never block on stdin)."""
        if self.gone is not None:
            return
        self._spawn(self._send_quietly(line))

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _send_quietly(self, line: bytes) -> None:
        try:
            await self._channel.send(line)
        except Exception as exc:
            log.debug("write to the MCP server failed: %s", exc)

    def _cancel_on_server(self, bid: int, reason: str) -> None:
        self._send_soon(
            encode_line(
                {
                    "jsonrpc": "2.0",
                    "method": methods.CANCELLED,
                    "params": {"requestId": bid, "reason": reason},
                }
            )
        )

    def end_session(self, session: Session, reason: str) -> None:
        """End a session: its waiting requests get an error and are cancelled on the server."""
        table = self.table
        table.sessions.pop(session.id, None)
        session.end_stream()
        for cid, bid in list(session.inflight.items()):
            pending = table.pending.pop(bid, None)
            if pending is not None:
                pending.put(error_bytes(cid, CONNECTION_CLOSED, reason), True)
                self._cancel_on_server(bid, reason)
        session.inflight.clear()
        for rid in session.server_requests:
            if table.server_requests.pop(rid, None) is not None:
                self._send_soon(encode_line(error_response(rid, INTERNAL_ERROR, reason)))
        session.server_requests.clear()
        if self.gone is not None:
            return
        self.intercepted.forget(session)

    def close_session(self, session: Session, reason: str) -> None:
        """:meth:`end_session`, unless it ended already."""
        if self.table.sessions.get(session.id) is session:
            self.end_session(session, reason)

    def _server_gone(self, reason: str) -> None:
        """Fail everything that waits on the server (idempotent)."""
        if self.gone is None:
            self.gone = reason
        table = self.table
        pending, table.pending = table.pending, {}
        for item in pending.values():
            item.put(error_bytes(item.client_id, CONNECTION_CLOSED, self.gone), True)
        internal, table.internal = table.internal, {}
        for future in internal.values():
            if not future.done():
                future.set_exception(ServerGoneError(self.gone))
                future.exception()  # retrieved: nobody may be waiting any more
        for session in table.sessions.values():
            session.end_stream()
            session.server_requests.clear()
        table.server_requests.clear()

    async def _sweep_loop(self) -> None:
        # With requests in flight it looks every `busy` seconds (timeouts); otherwise it sleeps
        # until the next session or keep-alive check is due, but never so long that a request
        # sent meanwhile could time out unnoticed. Each wake-up of an idle process costs CPU.
        busy = min(1.0, max(0.01, self.timeout / 4), max(0.01, self._keepalive / 2))
        idle = max(busy, self.timeout / 2)
        now = time.monotonic()
        next_sessions = now + min(5.0, self._ttl / 4)
        next_keepalive = now + self._keepalive
        while True:
            if self.table.pending:
                delay = busy
            else:
                delay = min(idle, next_sessions - now, next_keepalive - now)
            await asyncio.sleep(max(0.01, delay))
            now = time.monotonic()
            if self.table.pending:
                self._expire_requests(now)
            if now >= next_sessions:
                next_sessions = now + min(5.0, self._ttl / 4)
                ttl = self._ttl
                for session in [
                    s
                    for s in self.table.sessions.values()
                    if not s.inflight
                    and now - s.last_seen > ttl
                    and not (s.legacy and s.stream is not None)  # an open SSE stream is alive
                ]:
                    log.debug("session %s expired", session.id.decode())
                    self.end_session(session, "the session expired")
            if now >= next_keepalive:
                next_keepalive = now + self._keepalive
                for session in self.table.sessions.values():
                    if session.stream is not None:
                        session.stream.put(KEEPALIVE)

    def _expire_requests(self, now: float) -> None:
        pending = self.table.pending
        expired: list[int] = []
        for bid, item in pending.items():
            if item.deadline > now:
                break
            expired.append(bid)
        message = f"Request timed out after {self.timeout:g}s"
        for bid in expired:
            item = pending.pop(bid)
            item.put(error_bytes(item.client_id, REQUEST_TIMEOUT, message), True)
            self._cancel_on_server(bid, "timeout")
