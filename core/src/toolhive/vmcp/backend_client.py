"""A lean asyncio MCP client for one gateway backend: one session, many concurrent requests.

The gateway keeps ONE MCP session per backend and forwards its clients' requests over it at once,
so this client is built for that: every request is a POST on a pooled keep-alive connection
(:mod:`toolhive.vmcp.http11`; no MCP SDK, no httpx), and answers come back as the exact JSON text
the backend sent, for the gateway to splice through without re-encoding.

Transports:

* **Streamable HTTP** (MCP 2025-03-26 and later): ``initialize`` is POSTed without a session and
  the ``Mcp-Session-Id`` it answers with (and ``MCP-Protocol-Version``, the negotiated version)
  goes on every later request. An answer is a JSON body or an SSE stream; messages that precede the
  answer on such a stream (progress, logging, server-to-client requests) are handed on in order. A
  stream that drops after the server gave an event id is resumed with ``GET`` + ``Last-Event-ID``
  (after the server's ``retry`` delay) until the answer arrives. After ``initialize`` a standalone
  ``GET`` stream carries server-initiated messages (a 405 means the server has none); it is
  reconnected when it drops (with ``Last-Event-ID`` when it had ids). ``aclose`` sends ``DELETE``.
* **Legacy HTTP+SSE** (2024-11-05): ``GET`` the SSE URL, whose first event ``endpoint`` names the
  URL to POST messages to (it must be on the same origin: outgoing credentials go there). Every
  POST is answered ``202``; every answer arrives on the SSE stream and is matched to its request by
  id. When that stream ends the session is over.

Header values (outgoing credentials) never appear in logs or errors, nor do URL query strings.
Outgoing headers may not set what frames the request or what this client sets itself.

Limits: one ``initialize`` per object (the owner makes a new one to re-initialize); over legacy SSE
every message but the answer goes to the connection's ``on_message`` (nothing on that stream says
which request a progress or sampling message belongs to); no redirects or compressed bodies.
``HTTP_PROXY``/``HTTPS_PROXY``/``NO_PROXY`` are honoured as Go's HTTP client honours them
(:func:`toolhive.vmcp.http11.proxy_for`).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Final, Literal, TypeVar
from urllib.parse import urljoin

from toolhive.vmcp.http11 import HttpError, Pool, Response, Started, proxy_for, split_url
from toolhive.vmcp.sse_events import (
    SSEParser,
    answer_opening,
    event_message,
    is_answer,
    plain_answer,
)

log = logging.getLogger("toolhive.vmcp.backend")

OnMessage = Callable[[bytes, dict[str, Any]], None]
Headers = Sequence[tuple[bytes, bytes]]

#: What a POST accepts; a GET only the stream.
_ACCEPT_POST: Final = b"Accept: application/json, text/event-stream\r\n"
_ACCEPT_SSE: Final = b"Accept: text/event-stream\r\nCache-Control: no-cache\r\n"
_SSE: Final = b"text/event-stream"
#: Bounded waits for what has no timeout of its own.
_NOTIFY_TIMEOUT: Final = 30.0
_DELETE_TIMEOUT: Final = 2.0
#: Reconnecting a dropped standalone stream: this many tries, waiting the server's ``retry`` (or
#: these delays, doubling) in between, before the stream counts as dead.
_STREAM_RETRIES: Final = 5
_FIRST_DELAY: Final = 0.25
_MAX_DELAY: Final = 4.0
#: Headers that frame the request or the connection, or that this client sets itself: never
#: taken from outgoing-header settings (a duplicate would break or smuggle the request).
#: Headers the client sets itself; outgoing auth may not (``outgoing`` checks at start-up).
RESERVED_HEADERS: Final = frozenset(
    (
        b"host",
        b"content-length",
        b"transfer-encoding",
        b"connection",
        b"keep-alive",
        b"upgrade",
        b"te",
        b"trailer",
        b"expect",
        b"content-type",
        b"accept",
        b"mcp-session-id",
        b"mcp-protocol-version",
        b"last-event-id",
    )
)
#: How long an answered SSE stream may take to end before its connection is closed, not reused.
_DRAIN_GRACE: Final = 5.0
#: Body text quoted in an error message, at most.
_QUOTE: Final = 200


T = TypeVar("T")


def _expire(task: asyncio.Task[Any], fired: list[bool]) -> None:
    fired.append(True)
    task.cancel()


async def _bounded(awaitable: Awaitable[T], timeout: float | None) -> T:
    """``await`` with a deadline: :class:`TimeoutError` after ``timeout`` seconds.

    ``asyncio.timeout`` does the same with a few objects more; on the per-request path that was a
    measurable share of the client's CPU. Same semantics: the task is cancelled at the deadline
    and the cancellation is turned into TimeoutError unless someone else cancelled it too."""
    if timeout is None:
        return await awaitable
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    fired: list[bool] = []
    cancelling = task.cancelling()
    handle = loop.call_at(loop.time() + timeout, _expire, task, fired)
    try:
        return await awaitable
    except asyncio.CancelledError:
        if fired and task.uncancel() <= cancelling:
            raise TimeoutError from None
        raise
    finally:
        handle.cancel()


class BackendError(Exception):
    """Backend unreachable / HTTP error / protocol error; str() safe to show users (no tokens)."""


class SessionExpiredError(BackendError):
    """The backend answered 404 for our session id: re-initialize."""


class BackendUnauthorizedError(BackendError):
    """401/403 from the backend."""


def _visible_ascii(value: bytes) -> bool:
    return bool(value) and all(0x21 <= c <= 0x7E for c in value)


def _header_lines(headers: Headers) -> bytes:
    """Extra request headers as wire bytes; refuses what would split or forge a header (the name
    only goes into the error, never the value)."""
    out: list[bytes] = []
    for name, value in headers:
        if not _visible_ascii(name) or b":" in name:
            msg = "an outgoing header has an invalid name"
            raise BackendError(msg)
        if name.lower() in RESERVED_HEADERS:
            msg = f"outgoing header {name.decode('ascii')} is set by the client itself"
            raise BackendError(msg)
        if b"\r" in value or b"\n" in value or b"\0" in value:
            msg = f"outgoing header {name.decode('ascii')} has an invalid value"
            raise BackendError(msg)
        out += (name, b": ", value, b"\r\n")
    return b"".join(out)


class BackendConnection:
    """One MCP session with one backend, shared by many concurrent requests."""

    def __init__(
        self,
        url: str,
        transport: Literal["streamable-http", "sse"],
        *,
        on_message: OnMessage,
        headers: Callable[[], Headers] | None = None,
        connect_timeout: float = 5.0,
        max_idle: int = 16,
    ) -> None:
        if transport not in ("streamable-http", "sse"):
            msg = f"unknown backend transport {transport!r}"
            raise ValueError(msg)
        self.url = url
        self.transport = transport
        self.on_message = on_message
        self.on_close: Callable[[str], None] | None = None
        self.session_id: str | None = None
        self.protocol_version: str | None = None
        self.closed: str | None = None
        self._headers = headers
        origin, target = split_url(url)
        self._origin = origin
        self._target = target
        #: The URL as errors may show it: no query string (it may hold an API key).
        self._display = origin.display() + target.split(b"?", 1)[0].decode("ascii")
        try:
            proxy = proxy_for(origin)
        except HttpError as exc:
            raise BackendError(f"backend {self._display}: {exc}") from None
        self._pool = Pool(origin, connect_timeout=connect_timeout, max_idle=max_idle, proxy=proxy)
        #: ``http://host:port`` when requests go to an HTTP proxy in absolute form, else b"".
        self._prefix = self._pool.target_prefix
        self._host = (
            b"Host: "
            + origin.host_header
            + b"\r\nUser-Agent: toolhive-vmcp\r\n"
            + self._pool.request_lines
        )
        #: ``Mcp-Session-Id`` and ``MCP-Protocol-Version`` lines once initialized.
        self._session_lines = b""
        self._post_target = target  # legacy SSE: the endpoint event's URL
        self._pending: dict[int | str, asyncio.Future[bytes]] = {}
        self._stream_task: asyncio.Task[None] | None = None
        self._init_ids = itertools.count(1)
        self._closing = False
        self._announced = False

    # ------------------------------------------------------------------ public API

    async def initialize(self, params: dict[str, Any], timeout: float) -> dict[str, Any]:
        """Send initialize (id ``init-<n>``), remember the session id and negotiated protocol
        version, send ``notifications/initialized`` and open the server's message stream (the
        standalone GET stream; the SSE stream for legacy SSE). Returns the initialize result."""
        if self._closing:
            msg = "the backend connection is closed"
            raise BackendError(msg)
        rid = f"init-{next(self._init_ids)}"
        body = json.dumps(
            {"jsonrpc": "2.0", "id": rid, "method": "initialize", "params": params},
            separators=(",", ":"),
            ensure_ascii=False,
        ).encode()
        async with asyncio.timeout(timeout):
            if self.transport == "sse":
                await self._open_sse()
                raw = await self.request(body, rid, timeout=timeout)
            else:
                raw = await self._streamable_request(body, rid, self._extra(()), None, True)
            try:
                answer = json.loads(raw)
            except ValueError:
                answer = None
            if not isinstance(answer, dict):
                msg = f"backend {self._display} answered initialize with something not JSON-RPC"
                raise BackendError(msg)
            if "error" in answer:
                error = answer["error"] if isinstance(answer["error"], dict) else {}
                msg = f"backend {self._display} refused initialize: {str(error.get('message'))[:_QUOTE]}"
                raise BackendError(msg)
            result = answer.get("result")
            if not isinstance(result, dict):
                msg = f"backend {self._display} answered initialize without a result"
                raise BackendError(msg)
            version = result.get("protocolVersion")
            if isinstance(version, str) and _visible_ascii(version.encode("ascii", "replace")):
                self.protocol_version = version
            self._set_session_lines()
            await self.notify(b'{"jsonrpc":"2.0","method":"notifications/initialized"}')
            if self.transport == "streamable-http":
                await self._open_stream()
        return result

    async def request(
        self,
        body: bytes,
        request_id: int | str,
        *,
        timeout: float | None,
        on_message: OnMessage | None = None,
        headers: Headers = (),
        started: Started | None = None,
    ) -> bytes:
        """POST one JSON-RPC request (``body`` is its exact JSON text, id set); return the raw
        JSON text of its answer. Messages before the answer on its SSE stream go to
        ``on_message`` (else the connection's), in order, before this returns; over legacy SSE
        everything but the answer goes to the connection's ``on_message``. Raises
        :class:`TimeoutError` after ``timeout`` seconds (``None``: no deadline),
        :class:`BackendError` otherwise. Cancelling the caller closes the HTTP connection."""
        extra = self._extra(headers)
        if started is not None and (started.conn.pool is not self._pool or headers):
            started.abandon()  # made for another connection of ours (re-opened since)
            started = None
        if self.transport == "sse":
            return await self._sse_request(body, request_id, extra, timeout)
        return await _bounded(
            self._streamable_request(body, request_id, extra, on_message, False, started),
            timeout,
        )

    def start_request(self, body: bytes) -> Started | None:
        """Write a streamable-HTTP request now if a connection is idle (no await, see
        :meth:`Pool.start_idle`); pass the result to :meth:`request` with the same ``body``."""
        if self.transport == "sse":
            return None
        head = self._head(b"POST", self._target, _ACCEPT_POST, self._extra(()), len(body))
        return self._pool.start_idle(head, body, _SSE)

    async def notify(self, body: bytes, headers: Headers = ()) -> None:
        """POST a notification or an answer to a server request (202 expected)."""
        if self.closed is not None and self.transport == "sse":
            raise BackendError(self._closed_message())
        head = self._head(b"POST", self._post_target, _ACCEPT_POST, self._extra(headers), len(body))
        response = await _bounded(self._send(head, body, None), _NOTIFY_TIMEOUT)
        try:
            if response.status >= 300:
                self._raise_status(response)
        finally:
            response.close()

    async def aclose(self) -> None:
        """End the session (``DELETE``, best effort), the message stream and every connection."""
        if self._closing:
            return
        self._closing = True
        task = self._stream_task
        if task is not None:
            task.cancel()
        if self.transport == "streamable-http" and self.session_id is not None:
            try:
                head = self._head(b"DELETE", self._target, _ACCEPT_POST, self._extra(()), None)
                async with asyncio.timeout(_DELETE_TIMEOUT):
                    (await self._send(head, b"", None)).close()
            except (BackendError, TimeoutError):
                pass  # best effort: the backend expires the session itself
        if task is not None:
            try:
                await task
            except asyncio.CancelledError:
                if (current := asyncio.current_task()) is not None and current.cancelling():
                    raise
            except Exception:  # pragma: no cover - the task handles its own errors
                log.exception("backend stream task failed")
        if self.closed is None:
            self.closed = "closed"
        self._fail_pending(BackendError("the backend connection is closed"))
        self._pool.close()

    # ------------------------------------------------------------------ HTTP plumbing

    def _extra(self, headers: Headers) -> bytes:
        supplied = self._headers
        base = supplied() if supplied is not None else ()
        if not headers:
            return _header_lines(base) if base else b""
        # A request's own header (a caller's exchanged token) replaces the connection's.
        mine = {name.lower() for name, _ in headers}
        kept = [(name, value) for name, value in base if name.lower() not in mine]
        return _header_lines(kept) + _header_lines(headers)

    def _set_session_lines(self) -> None:
        lines = b""
        if self.session_id is not None:
            lines += b"Mcp-Session-Id: " + self.session_id.encode("ascii") + b"\r\n"
        if self.protocol_version is not None and self.transport == "streamable-http":
            lines += b"MCP-Protocol-Version: " + self.protocol_version.encode("ascii") + b"\r\n"
        self._session_lines = lines

    def _head(
        self, method: bytes, target: bytes, accept: bytes, extra: bytes, length: int | None
    ) -> bytes:
        parts = [
            method,
            b" ",
            self._prefix,
            target,
            b" HTTP/1.1\r\n",
            self._host,
            accept,
            self._session_lines,
        ]
        parts.append(extra)
        if length is not None:
            parts += (
                b"Content-Type: application/json\r\nContent-Length: ",
                b"%d" % length,
                b"\r\n",
            )
        parts.append(b"\r\n")
        return b"".join(parts)

    async def _send(
        self, head: bytes, body: bytes, stream_when: bytes | None, started: Started | None = None
    ) -> Response:
        try:
            return await self._pool.send(head, body, stream_when=stream_when, started=started)
        except HttpError as exc:
            raise BackendError(f"backend {self._display}: {exc}") from None

    def _raise_status(self, response: Response, request_id: int | str | None = None) -> bytes:
        """An HTTP error status as the right exception — or, when the body is a JSON-RPC error
        answering ``request_id`` (a 400 for a bad request, say), that answer."""
        status = response.status
        if status in (401, 403):
            msg = f"backend {self._display} refused our credentials (HTTP {status})"
            raise BackendUnauthorizedError(msg)
        if status == 404 and self.session_id is not None:
            self._die("the backend's session expired")
            msg = f"backend {self._display} no longer knows our session (HTTP 404)"
            raise SessionExpiredError(msg)
        detail = ""
        if not response.streamed and response.body:
            try:
                parsed = json.loads(response.body)
            except ValueError:
                parsed = None
            if isinstance(parsed, dict):
                if request_id is not None and is_answer(parsed, request_id):
                    return response.body.rstrip()
                error = parsed.get("error")
                if isinstance(error, dict) and isinstance(error.get("message"), str):
                    detail = f": {error['message'][:_QUOTE]}"
        msg = f"backend {self._display} answered HTTP {status}{detail}"
        raise BackendError(msg)

    # ------------------------------------------------------------------ streamable HTTP

    async def _streamable_request(
        self,
        body: bytes,
        request_id: int | str,
        extra: bytes,
        on_message: OnMessage | None,
        initializing: bool,
        started: Started | None = None,
    ) -> bytes:
        head = self._head(b"POST", self._target, _ACCEPT_POST, extra, len(body))
        response = await self._send(head, body, _SSE, started)
        handed_off = False
        try:
            if initializing:
                sid = response.header(b"mcp-session-id")
                if sid is not None:
                    if not _visible_ascii(sid):
                        msg = f"backend {self._display} sent an invalid session id"
                        raise BackendError(msg)
                    self.session_id = sid.decode("ascii")
            if response.streamed:
                answer, last = await self._read_answer(response, request_id, extra, on_message)
                if last is response:
                    # The server ends the stream right after the answer: keep the connection.
                    response.close_when_done(_DRAIN_GRACE)
                    handed_off = True
                return answer
            status = response.status
            if status == 200:
                answer = response.body.rstrip()
                if answer[:1] == b"{":
                    return answer
                msg = f"backend {self._display} answered with neither JSON nor an event stream"
                raise BackendError(msg)
            if status == 202:
                msg = f"backend {self._display} accepted a request without answering it"
                raise BackendError(msg)
            return self._raise_status(response, request_id)
        finally:
            if not handed_off:
                response.close()

    async def _read_answer(
        self,
        response: Response,
        request_id: int | str,
        extra: bytes,
        on_message: OnMessage | None,
    ) -> tuple[bytes, Response]:
        """Read an answer's SSE stream up to the answer, resuming it when it drops; the answer
        and the response it came on (a resumed stream is closed here)."""
        sink = on_message or self.on_message
        parser = SSEParser()
        current = response
        opening = answer_opening(request_id)
        try:
            while True:
                try:
                    chunk = await current.next_chunk()
                except HttpError:
                    chunk = None
                if chunk is None:
                    if parser.last_id is None:
                        msg = f"backend {self._display} ended the response stream without answering"
                        raise BackendError(msg)
                    if current is not response:
                        current.close()
                    current = await self._resume(parser, extra)
                    parser = SSEParser(parser.last_id, parser.retry)
                    continue
                for event, data in parser.feed(chunk):
                    if event != b"message":
                        continue
                    answer = plain_answer(data, opening)
                    if answer is not None:
                        return answer, current
                    if (message := event_message(data)) is None:
                        continue
                    raw, parsed = message
                    if is_answer(parsed, request_id):
                        return raw, current
                    self._deliver(sink, raw, parsed)
        finally:
            if current is not response:
                current.close()

    async def _resume(self, parser: SSEParser, extra: bytes) -> Response:
        """``GET`` with ``Last-Event-ID`` until the stream is back (the caller's timeout bounds
        the tries)."""
        assert parser.last_id is not None
        delay = parser.retry / 1000 if parser.retry is not None else 0.0
        backoff = _FIRST_DELAY
        while True:
            if delay:
                await asyncio.sleep(delay)
            head = self._head(
                b"GET",
                self._target,
                _ACCEPT_SSE,
                extra + b"Last-Event-ID: " + parser.last_id + b"\r\n",
                None,
            )
            try:
                response = await self._send(head, b"", _SSE)
            except BackendError:
                delay = max(delay, backoff)
                backoff = min(backoff * 2, _MAX_DELAY)
                continue
            if response.streamed:
                return response
            try:
                if response.status == 200:
                    msg = f"backend {self._display} resumed a stream without an event stream"
                    raise BackendError(msg)
                self._raise_status(response)
            finally:
                response.close()
            raise AssertionError("unreachable")  # pragma: no cover

    async def _open_stream(self) -> None:
        """The standalone GET stream; a 405 (or any refusal but 404) means there is none."""
        response = await self._get_stream(self._extra(()), None)
        if response is None:
            return
        self._stream_task = asyncio.create_task(
            self._run_stream(response), name=f"vmcp-backend-stream {self._display}"
        )

    async def _get_stream(self, extra: bytes, last_id: bytes | None) -> Response | None:
        lines = extra if last_id is None else extra + b"Last-Event-ID: " + last_id + b"\r\n"
        head = self._head(b"GET", self._target, _ACCEPT_SSE, lines, None)
        response = await self._send(head, b"", _SSE)
        if response.streamed:
            return response
        try:
            if response.status in (401, 403, 404):
                self._raise_status(response)
            log.debug(
                "backend %s has no standalone stream (HTTP %d)", self._display, response.status
            )
            return None
        finally:
            response.close()

    async def _run_stream(self, response: Response) -> None:
        """Deliver the standalone stream; reconnect it when it drops (``Last-Event-ID`` when it
        had ids). It is dead after ``_STREAM_RETRIES`` failed reconnections in a row, or at once
        when the session is gone. Streams that end with nothing on them (a server that keeps
        none open) are reopened ever more slowly, never given up on."""
        parser = SSEParser()
        current: Response | None = response
        failures = quiet = 0
        reason = "the backend ended its message stream"
        try:
            while not self._closing:
                if current is not None:
                    try:
                        await self._pump(current, parser)
                        reason = "the backend ended its message stream"
                    except HttpError as exc:
                        reason = f"the backend's message stream broke: {exc}"
                    finally:
                        current.close()
                        current = None
                    if self._closing:
                        return
                    quiet = quiet + 1 if parser.fed == 0 else 0
                if failures >= _STREAM_RETRIES:
                    self._die(reason)
                    return
                base = parser.retry / 1000 if parser.retry is not None else _FIRST_DELAY
                level = failures + quiet
                if level:
                    base = min(max(base, _FIRST_DELAY) * 2**level, max(base, _MAX_DELAY))
                await asyncio.sleep(base)
                try:
                    current = await self._get_stream(self._extra(()), parser.last_id)
                except SessionExpiredError:
                    return  # _raise_status has told the owner
                except BackendError as exc:
                    failures += 1
                    reason = str(exc)
                    continue
                if current is None:
                    failures += 1
                    reason = "the backend refused to reopen its message stream"
                    continue
                failures = 0
                parser = SSEParser(parser.last_id, parser.retry)
        except asyncio.CancelledError:
            if current is not None:
                current.close()
            raise
        except Exception as exc:
            log.exception("backend %s: message stream failed", self._display)
            self._die(f"the backend's message stream failed: {type(exc).__name__}")

    async def _pump(self, response: Response, parser: SSEParser) -> None:
        """Deliver a stream's messages until it ends; answers go to waiting requests."""
        while (chunk := await response.next_chunk()) is not None:
            for event, data in parser.feed(chunk):
                self._on_event(event, data)

    def _on_event(self, event: bytes, data: bytes) -> None:
        if event != b"message" or self.closed is not None:
            return
        message = event_message(data)
        if message is None:
            return
        raw, parsed = message
        rid = parsed.get("id")
        if "method" not in parsed and isinstance(rid, int | str):
            future = self._pending.get(rid)
            if future is not None and not future.done():
                future.set_result(raw)
                return
        self._deliver(self.on_message, raw, parsed)

    def _deliver(self, sink: OnMessage, raw: bytes, parsed: dict[str, Any]) -> None:
        try:
            sink(raw, parsed)
        except Exception:
            log.exception("backend %s: on_message failed", self._display)

    def _die(self, reason: str) -> None:
        """The session (or its stream) is over: say so once, fail what waits on the stream."""
        if self.closed is None:
            self.closed = reason
        self._fail_pending(BackendError(f"backend {self._display}: {reason}"))
        task = self._stream_task
        if task is not None and task is not asyncio.current_task():
            task.cancel()
        if self._closing or self._announced:
            return
        self._announced = True
        if self.on_close is not None:
            try:
                self.on_close(reason)
            except Exception:
                log.exception("backend %s: on_close failed", self._display)

    def _fail_pending(self, error: BackendError) -> None:
        for future in self._pending.values():
            if not future.done():
                future.set_exception(error)
        self._pending.clear()

    def _closed_message(self) -> str:
        return f"backend {self._display}: {self.closed}"

    # ------------------------------------------------------------------ legacy SSE

    async def _open_sse(self) -> None:
        """``GET`` the SSE URL and wait for its ``endpoint`` event."""
        head = self._head(b"GET", self._target, _ACCEPT_SSE, self._extra(()), None)
        response = await self._send(head, b"", _SSE)
        if not response.streamed:
            try:
                if response.status == 200:
                    msg = f"backend {self._display} did not answer with an event stream"
                    raise BackendError(msg)
                self._raise_status(response)
            finally:
                response.close()
        parser = SSEParser()
        backlog: list[tuple[bytes, bytes]] = []
        endpoint: bytes | None = None
        try:
            while endpoint is None:
                try:
                    chunk = await response.next_chunk()
                except HttpError as exc:
                    raise BackendError(f"backend {self._display}: {exc}") from None
                if chunk is None:
                    msg = f"backend {self._display} ended the SSE stream before naming its endpoint"
                    raise BackendError(msg)
                for event, data in parser.feed(chunk):
                    if endpoint is None and event == b"endpoint":
                        endpoint = data.strip()
                    else:
                        backlog.append((event, data))
            self._post_target = self._endpoint_target(endpoint)
        except BaseException:
            response.close()
            raise
        self._stream_task = asyncio.create_task(
            self._run_sse(response, parser, backlog), name=f"vmcp-backend-sse {self._display}"
        )

    def _endpoint_target(self, endpoint: bytes) -> bytes:
        """The endpoint event's URL, resolved against the SSE URL; only on the same origin (our
        outgoing credentials go with every POST)."""
        try:
            absolute = urljoin(self.url, endpoint.decode("utf-8"))
            origin, target = split_url(absolute)
        except (UnicodeDecodeError, ValueError):
            origin, target = None, b""
        if origin != self._origin:
            msg = f"backend {self._display} named an endpoint that is not on its own origin"
            raise BackendError(msg)
        return target

    async def _run_sse(
        self, response: Response, parser: SSEParser, backlog: list[tuple[bytes, bytes]]
    ) -> None:
        reason = "the backend ended its SSE stream"
        try:
            for event, data in backlog:
                self._on_event(event, data)
            await self._pump(response, parser)
        except HttpError as exc:
            reason = f"the backend's SSE stream broke: {exc}"
        except Exception as exc:
            log.exception("backend %s: SSE stream failed", self._display)
            reason = f"the backend's SSE stream failed: {type(exc).__name__}"
        finally:
            response.close()
        if not self._closing:
            self._die(reason)

    async def _sse_request(
        self, body: bytes, request_id: int | str, extra: bytes, timeout: float | None
    ) -> bytes:
        if self.closed is not None:
            raise BackendError(self._closed_message())
        if request_id in self._pending:
            msg = f"request id {request_id!r} is already waiting for an answer"
            raise BackendError(msg)
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        try:
            return await _bounded(self._post_for(body, extra, future), timeout)
        finally:
            if self._pending.get(request_id) is future:
                del self._pending[request_id]

    async def _post_for(self, body: bytes, extra: bytes, future: asyncio.Future[bytes]) -> bytes:
        head = self._head(b"POST", self._post_target, _ACCEPT_POST, extra, len(body))
        response = await self._send(head, body, None)
        try:
            if response.status >= 300:
                self._raise_status(response)
        finally:
            response.close()
        return await future
