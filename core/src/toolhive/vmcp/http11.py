"""A small asyncio HTTP/1.1 client for the gateway's backend connections.

Why not httpx: the gateway forwards every client call to a backend, and httpx/httpcore spend about a
millisecond of CPU per request on this machine; this layer spends tens of microseconds. It does only
what a backend MCP connection needs: keep-alive connections per origin (reused while idle, more
opened when all are busy), ``Content-Length``, chunked and close-delimited bodies, ``http`` and
``https`` (the default SSL context), responses read whole or streamed chunk by chunk. Responses are
parsed by ``httptools`` (llhttp, C). No redirects, no compression, no pipelining.

HTTP proxies come from the environment as Go's ``http.ProxyFromEnvironment`` takes them
(:func:`proxy_for`): ``HTTPS_PROXY`` for https backends (a ``CONNECT`` tunnel, TLS with the
backend inside it), ``HTTP_PROXY`` for http backends (requests in absolute form to the proxy),
``NO_PROXY`` exempts hosts, and ``localhost`` and loopback addresses never go through a proxy.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import ipaddress
import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, cast
from urllib.parse import unquote, urlsplit

import httptools

#: Streamed bytes held for a slow reader before the socket stops being read.
_PAUSE_ABOVE: Final = 1 << 22
#: Idle connections above a pool's ``max_idle`` are closed this long after there were too many.
_TRIM_AFTER: Final = 2.0
#: Bodies above this are written separately instead of copied into one buffer with the head.
_JOIN_BELOW: Final = 1 << 14

_ssl_context: ssl.SSLContext | None = None


def _default_ssl() -> ssl.SSLContext:
    # Building a context loads the CA store (milliseconds): once per process.
    global _ssl_context
    if _ssl_context is None:
        _ssl_context = ssl.create_default_context()
    return _ssl_context


class HttpError(Exception):
    """Connecting, writing or reading failed, or the response was not valid HTTP/1.1. The message
    names no header values and no query strings."""


@dataclass(frozen=True, slots=True)
class Origin:
    """Where requests go: scheme, host and port, and the ``Host`` header they carry."""

    scheme: str
    host: str
    port: int
    host_header: bytes

    @property
    def tls(self) -> bool:
        return self.scheme == "https"

    def display(self) -> str:
        return f"{self.scheme}://{self.host_header.decode('ascii')}"


@dataclass(frozen=True, slots=True)
class Proxy:
    """An HTTP proxy: where it is and the ``Proxy-Authorization`` line it needs (if any)."""

    host: str
    port: int
    #: ``Proxy-Authorization: Basic …\r\n`` from the proxy URL's user info, else ``b""``.
    authorization: bytes = b""

    def display(self) -> str:
        # Never the credentials.
        name = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{name}:{self.port}"


def _env(environ: Mapping[str, str], name: str) -> str:
    # Go: the upper-case name first, then the lower-case one.
    return environ.get(name) or environ.get(name.lower()) or ""


def parse_proxy(text: str) -> Proxy:
    """A proxy URL as Go reads one (``host:port`` without a scheme means ``http://``). Only
    ``http://`` proxies are supported: any other scheme is an error (fail closed, never a
    silent direct connection)."""
    raw = text.strip()
    parts = urlsplit(raw if "://" in raw else "http://" + raw)
    if parts.scheme.lower() != "http" or not parts.hostname:
        msg = (
            f"proxy {parts.scheme}://{parts.hostname or ''} from the environment is not supported "
            "(only http:// proxies are); unset it or add the backend to NO_PROXY"
        )
        raise HttpError(msg)
    try:
        port = parts.port or 80
    except ValueError:
        msg = "the proxy URL from the environment has an invalid port"
        raise HttpError(msg) from None
    authorization = b""
    if parts.username is not None:
        user = unquote(parts.username)
        password = unquote(parts.password or "")
        token = base64.b64encode(f"{user}:{password}".encode())
        authorization = b"Proxy-Authorization: Basic " + token + b"\r\n"
    return Proxy(parts.hostname, port, authorization)


def _no_proxy_match(
    entry: str, host: str, port: str, ip: ipaddress.IPv4Address | ipaddress.IPv6Address | None
) -> bool:
    """One ``NO_PROXY`` entry against a (lower-case) host, Go's httpproxy rules: ``*`` matches all,
    a CIDR block matches addresses in it, an IP (optionally ``:port``) that address, a name
    (``example.com``, ``.example.com``, ``*.example.com``, optionally ``:port``) that domain
    and its subdomains (without the leading dot, the name itself too)."""
    if entry == "*":
        return True
    if "/" in entry:
        try:
            network = ipaddress.ip_network(entry, strict=False)
        except ValueError:
            return False
        return ip is not None and ip.version == network.version and ip in network
    want_port = ""
    name = entry
    if entry.startswith("[") and "]" in entry:
        name, _, rest = entry[1:].partition("]")
        want_port = rest[1:] if rest.startswith(":") else ""
    elif entry.count(":") == 1:
        name, _, want_port = entry.partition(":")
    if not name:
        return False
    try:
        entry_ip: ipaddress.IPv4Address | ipaddress.IPv6Address | None = ipaddress.ip_address(name)
    except ValueError:
        entry_ip = None
    if entry_ip is not None:
        return ip is not None and ip == entry_ip and want_port in ("", port)
    if name.startswith("*."):
        name = name[1:]
    exact = not name.startswith(".")
    suffix = name if not exact else "." + name
    if host.endswith(suffix) or (exact and host == name):
        return want_port in ("", port)
    return False


def proxy_for(origin: Origin, environ: Mapping[str, str] | None = None) -> Proxy | None:
    """The proxy requests to ``origin`` go through, from the environment (as Go's
    ``http.ProxyFromEnvironment``): ``HTTPS_PROXY`` for https, ``HTTP_PROXY`` for http,
    ``None`` for ``localhost``, loopback addresses and hosts ``NO_PROXY`` names."""
    env = os.environ if environ is None else environ
    text = _env(env, "HTTPS_PROXY" if origin.tls else "HTTP_PROXY")
    if not text:
        return None
    host = origin.host.lower().rstrip(".")
    try:
        ip: ipaddress.IPv4Address | ipaddress.IPv6Address | None = ipaddress.ip_address(host)
    except ValueError:
        ip = None
    if host == "localhost" or (ip is not None and ip.is_loopback):
        return None
    port = str(origin.port)
    for raw in _env(env, "NO_PROXY").split(","):
        entry = raw.strip().lower()
        if entry and _no_proxy_match(entry, host, port, ip):
            return None
    return parse_proxy(text)


class _Tunnel(asyncio.Protocol):
    """The proxy's answer to ``CONNECT``: its head, then the connection is handed to TLS."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.head: asyncio.Future[bytes] = loop.create_future()
        self._buffer = b""

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        end = self._buffer.find(b"\r\n\r\n")
        if end >= 0 and not self.head.done():
            # A proxy sends nothing after its 200 until the client speaks TLS.
            self.head.set_result(self._buffer[: end + 4])
        elif len(self._buffer) > 65536 and not self.head.done():
            self.head.set_exception(HttpError("the proxy sent an oversized answer to CONNECT"))

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.head.done():
            self.head.set_exception(HttpError("the proxy closed the connection during CONNECT"))


def split_url(url: str) -> tuple[Origin, bytes]:
    """An absolute http(s) URL → its origin and request target (path and query)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        msg = "backend URL must be an absolute http:// or https:// URL"
        raise ValueError(msg)
    if parts.username is not None or parts.password is not None:
        msg = "backend URL must not carry credentials (use outgoing auth)"
        raise ValueError(msg)
    default = 443 if scheme == "https" else 80
    port = parts.port or default
    host = parts.hostname
    name = f"[{host}]" if ":" in host else host
    host_header = name if port == default else f"{name}:{port}"
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    if any(c in target for c in " \r\n\t") or any(ord(c) > 126 for c in target):
        # Request targets go on the wire as they are: refuse what would break the request line.
        msg = "backend URL path must be percent-encoded ASCII"
        raise ValueError(msg)
    return Origin(scheme, host, port, host_header.encode("idna")), target.encode("ascii")


class Response:
    """One response: status and headers (names lower-cased), then the body — whole (``body``)
    for a buffered response, or chunk by chunk (:meth:`next_chunk`) for a streamed one."""

    __slots__ = (
        "_conn",
        "_discard",
        "_eof",
        "_error",
        "_grace",
        "_queued",
        "_waiter",
        "body",
        "chunks",
        "content_type",
        "headers",
        "status",
        "streamed",
    )

    def __init__(self, conn: Connection) -> None:
        self._conn: Connection | None = conn
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.content_type = b""
        self.streamed = False
        self.chunks: collections.deque[bytes] = collections.deque()
        self.body = b""
        self._queued = 0
        self._eof = False
        self._error: HttpError | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._discard = False
        self._grace: asyncio.TimerHandle | None = None

    def header(self, name: bytes) -> bytes | None:
        """The first value of header ``name`` (lower-case)."""
        for key, value in self.headers:
            if key == name:
                return value
        return None

    async def next_chunk(self) -> bytes | None:
        """The next piece of a streamed body; ``None`` at its end. Raises :class:`HttpError` if
        the connection broke before the body was complete."""
        while not self.chunks:
            if self._error is not None:
                raise self._error
            if self._eof:
                return None
            conn = self._conn
            assert conn is not None
            self._waiter = conn.loop.create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        chunk = self.chunks.popleft()
        self._queued -= len(chunk)
        conn = self._conn
        if conn is not None and conn.paused and self._queued < _PAUSE_ABOVE // 2:
            conn.resume()
        return chunk

    async def read_all(self) -> bytes:
        """The rest of the body, joined once (no quadratic copying)."""
        if not self.streamed:
            return self.body
        parts: list[bytes] = []
        while (chunk := await self.next_chunk()) is not None:
            parts.append(chunk)
        return b"".join(parts)

    def close(self) -> None:
        """Done with this response: a complete one's connection goes back to the pool; one
        abandoned mid-body has its connection closed (never reused mid-response)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.finish(self)

    def close_when_done(self, grace: float) -> None:
        """Done with this response, but its body has not ended yet (an SSE answer stream the
        server closes right after the answer): the rest is discarded as it arrives and the
        connection goes back to the pool when the body ends — closed instead if that takes
        longer than ``grace`` seconds. Spares a new connection per SSE-answered request."""
        conn = self._conn
        if conn is None or self._eof:
            self.close()
            return
        self.chunks.clear()
        self._queued = 0
        self._discard = True
        if conn.paused:
            conn.resume()
        self._grace = conn.loop.call_later(grace, conn.abort)

    # Called by the connection.
    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _push(self, chunk: bytes) -> None:
        if self._discard:
            return
        self.chunks.append(chunk)
        self._queued += len(chunk)
        conn = self._conn
        if self._queued > _PAUSE_ABOVE and conn is not None and not conn.paused:
            conn.pause()
        self._wake()

    def _end(self, error: HttpError | None) -> None:
        if error is not None:
            self._error = error
        self._eof = True
        if self._discard:
            if self._grace is not None:
                self._grace.cancel()
            self.close()
            return
        self._wake()


class Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection; one request at a time."""

    def __init__(self, pool: Pool, loop: asyncio.AbstractEventLoop) -> None:
        self.pool = pool
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.closed = False
        self.paused = False
        self.reused = False
        self.got_bytes = False
        self.response: Response | None = None
        self.complete = False
        self.keep_alive = False
        self.stream_when: bytes | None = None
        self._buffer: list[bytes] = []
        self._delimited = False
        self._head: asyncio.Future[Response] | None = None

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # Not an isinstance check: uvloop's transports do not derive from asyncio.Transport.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.got_bytes = True
        if self.response is None or self.complete:
            # Bytes while idle (or after the response): the server is misbehaving; drop the link.
            self.abort()
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(HttpError("the backend switched protocols"))
        except httptools.HttpParserError:
            self._fail(HttpError("the backend sent a malformed HTTP response"))

    def eof_received(self) -> bool | None:
        return None  # close the transport; connection_lost finishes the response

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.pool.forget(self)
        response = self.response
        if response is None or self.complete:
            return
        if response.status and not self._delimited:
            # A body without length or chunking ends when the connection does.
            self.on_message_complete()
            return
        self._fail(HttpError("the backend closed the connection"))

    # httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        response = self.response
        assert response is not None
        name = name.lower()
        response.headers.append((name, value))
        if name == b"content-type" and not response.content_type:
            response.content_type = value

    def on_headers_complete(self) -> None:
        response = self.response
        assert response is not None
        status = self.parser.get_status_code()
        if 100 <= status < 200:
            # An interim answer (100 Continue, 103 Early Hints): the real one follows.
            response.headers.clear()
            response.content_type = b""
            return
        response.status = status
        self.keep_alive = self.parser.should_keep_alive()
        self._delimited = any(
            k in (b"content-length", b"transfer-encoding") for k, _ in response.headers
        )
        want = self.stream_when
        if want is not None and status == 200 and response.content_type.startswith(want):
            response.streamed = True
            self._resolve_head()

    def on_body(self, body: bytes) -> None:
        response = self.response
        assert response is not None
        if response.streamed:
            response._push(body)
        else:
            self._buffer.append(body)

    def on_message_complete(self) -> None:
        response = self.response
        if response is None or response.status == 0:
            return  # the end of an interim (1xx) answer
        self.complete = True
        if response.streamed:
            response._end(None)
        else:
            buffer = self._buffer
            response.body = buffer[0] if len(buffer) == 1 else b"".join(buffer)
            self._buffer = []
            self._resolve_head()

    # internals
    def _resolve_head(self) -> None:
        head = self._head
        if head is not None and not head.done():
            assert self.response is not None
            head.set_result(self.response)

    def _fail(self, error: HttpError) -> None:
        head = self._head
        if head is not None and not head.done():
            head.set_exception(error)
        elif self.response is not None:
            self.response._end(error)
        self.abort()

    def pause(self) -> None:
        if self.transport is not None and not self.closed:
            self.paused = True
            self.transport.pause_reading()

    def resume(self) -> None:
        if self.transport is not None and not self.closed:
            self.paused = False
            self.transport.resume_reading()

    def abort(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    def start(
        self, data: bytes, body: bytes, stream_when: bytes | None
    ) -> asyncio.Future[Response]:
        """Send a request; the future resolves with the response once its head is in (streamed)
        or once it is complete (buffered)."""
        assert self.transport is not None
        self.response = Response(self)
        self.complete = False
        self.got_bytes = False
        self.stream_when = stream_when
        self._buffer = []
        self._delimited = False
        head = self._head = self.loop.create_future()
        if body and len(body) < _JOIN_BELOW:
            self.transport.write(data + body)
        else:
            self.transport.write(data)
            if body:
                self.transport.write(body)
        return head

    def finish(self, response: Response) -> None:
        if response is not self.response:
            return
        self.response = None
        self._head = None
        if self.paused:
            self.resume()
        if self.complete and self.keep_alive and not self.closed:
            self.pool.release(self)
        else:
            self.abort()


class Started:
    """A request already written on an idle connection (:meth:`Pool.start_idle`): pass it to
    :meth:`Pool.send` for its response, or :meth:`abandon` it."""

    __slots__ = ("conn", "head", "taken")

    def __init__(self, conn: Connection, head: asyncio.Future[Response]) -> None:
        self.conn = conn
        self.head = head
        self.taken = False

    def abandon(self) -> None:
        """Nobody will read the response (no-op once :meth:`Pool.send` took it): the
        connection is closed."""
        if self.taken:
            return
        self.taken = True
        self.head.cancel()
        self.conn.response = None
        self.conn.abort()


class Pool:
    """Keep-alive connections to one origin: idle ones are reused (most recent first), a new one
    is opened when all are busy; at most ``max_idle`` stay idle for long (a surplus after a burst
    is closed ``_TRIM_AFTER`` seconds later)."""

    def __init__(
        self,
        origin: Origin,
        *,
        connect_timeout: float,
        max_idle: int,
        proxy: Proxy | None = None,
    ) -> None:
        self.origin = origin
        #: The HTTP proxy connections go through (:func:`proxy_for`), if any.
        self.proxy = proxy
        #: What request targets start with: the absolute form (``http://host:port``) through a
        #: proxy to a plain-http origin, else nothing (origin form).
        self.target_prefix = b""
        #: Header lines every request carries (the proxy's credentials for absolute-form ones).
        self.request_lines = b""
        if proxy is not None and not origin.tls:
            self.target_prefix = b"http://" + origin.host_header
            self.request_lines = proxy.authorization
        self.connect_timeout = connect_timeout
        self.max_idle = max_idle
        self.idle: list[Connection] = []
        self.busy: set[Connection] = set()
        self.closed = False
        self.opened = 0  # connections opened so far (for diagnostics and tests)
        self._trim: asyncio.TimerHandle | None = None

    async def _connect(self) -> Connection:
        loop = asyncio.get_running_loop()
        origin = self.origin
        self.opened += 1
        if self.proxy is not None:
            return await self._connect_via(self.proxy, loop)
        try:
            async with asyncio.timeout(self.connect_timeout):
                if origin.tls:
                    _, conn = await loop.create_connection(
                        lambda: Connection(self, loop),
                        origin.host,
                        origin.port,
                        ssl=_default_ssl(),
                        server_hostname=origin.host,
                    )
                else:
                    _, conn = await loop.create_connection(
                        lambda: Connection(self, loop), origin.host, origin.port
                    )
        except TimeoutError:
            msg = f"connecting to {origin.display()} timed out"
            raise HttpError(msg) from None
        except ssl.SSLError as exc:
            msg = f"TLS with {origin.display()} failed: {exc.reason or type(exc).__name__}"
            raise HttpError(msg) from None
        except OSError as exc:
            msg = f"cannot connect to {origin.display()}: {exc.strerror or type(exc).__name__}"
            raise HttpError(msg) from None
        return conn

    async def _connect_via(self, proxy: Proxy, loop: asyncio.AbstractEventLoop) -> Connection:
        """A connection through ``proxy``: plain to it for an http origin (requests then use the
        absolute form), a ``CONNECT`` tunnel with TLS inside for an https one."""
        origin = self.origin
        where = f"{origin.display()} through the proxy {proxy.display()}"
        transport: asyncio.BaseTransport | None = None
        try:
            async with asyncio.timeout(self.connect_timeout):
                if not origin.tls:
                    _, conn = await loop.create_connection(
                        lambda: Connection(self, loop), proxy.host, proxy.port
                    )
                    return conn
                transport, tunnel = await loop.create_connection(
                    lambda: _Tunnel(loop), proxy.host, proxy.port
                )
                authority = origin.host_header
                if b":" not in authority.rpartition(b"]")[2]:
                    authority += b":%d" % origin.port
                transport.write(
                    b"CONNECT " + authority + b" HTTP/1.1\r\nHost: " + authority + b"\r\n"
                    + proxy.authorization + b"User-Agent: toolhive-vmcp\r\n\r\n"
                )  # fmt: skip
                head = await tunnel.head
                status_line = head.split(b"\r\n", 1)[0].split(b" ", 2)
                status = status_line[1] if len(status_line) > 1 else b""
                if not (len(status) == 3 and status.startswith(b"2")):
                    shown = status.decode("ascii", "replace") or "no status"
                    msg = f"the proxy {proxy.display()} refused to connect to {origin.display()} (HTTP {shown})"
                    raise HttpError(msg)
                conn = Connection(self, loop)
                tls = await loop.start_tls(
                    transport, conn, _default_ssl(), server_hostname=origin.host
                )
                if tls is None:
                    raise HttpError(f"TLS with {where} failed")
                conn.connection_made(tls)
                transport = None  # owned by conn now
                return conn
        except TimeoutError:
            msg = f"connecting to {where} timed out"
            raise HttpError(msg) from None
        except ssl.SSLError as exc:
            msg = f"TLS with {where} failed: {exc.reason or type(exc).__name__}"
            raise HttpError(msg) from None
        except OSError as exc:
            msg = f"cannot connect to {where}: {exc.strerror or type(exc).__name__}"
            raise HttpError(msg) from None
        finally:
            if transport is not None:
                transport.close()

    def _take_idle(self) -> Connection | None:
        while self.idle:
            candidate = self.idle.pop()
            transport = candidate.transport
            if not candidate.closed and transport is not None and not transport.is_closing():
                return candidate
        return None

    def start_idle(self, data: bytes, body: bytes, stream_when: bytes | None) -> Started | None:
        """Write a request now, without awaiting anything, if a connection is idle (else
        ``None``): it is on the wire before the caller's task first runs. Hand the result to
        :meth:`send` (same arguments) or :meth:`Started.abandon` it."""
        if self.closed:
            return None
        conn = self._take_idle()
        if conn is None:
            return None
        self.busy.add(conn)
        return Started(conn, conn.start(data, body, stream_when))

    async def send(
        self,
        data: bytes,
        body: bytes = b"",
        *,
        stream_when: bytes | None = None,
        started: Started | None = None,
    ) -> Response:
        """Send one request (``data`` is the request line and headers, ending in a blank line);
        return the response: complete, or — when it is a 200 whose content type starts with
        ``stream_when`` — with only its head read. The caller must :meth:`Response.close` it.
        Cancellation closes the connection. ``started``: the same request, already written
        by :meth:`start_idle`."""
        if started is not None:
            started.taken = True
        if self.closed:
            if started is not None:
                started.conn.abort()
            msg = "the connection pool is closed"
            raise HttpError(msg)
        for attempt in (0, 1):
            head: asyncio.Future[Response] | None = None
            if started is not None:
                conn, head, started = started.conn, started.head, None
            else:
                idle = self._take_idle()
                if idle is None:
                    idle = await self._connect()
                    if self.closed:
                        idle.abort()
                        msg = "the connection pool is closed"
                        raise HttpError(msg)
                conn = idle
                self.busy.add(conn)
            try:
                if head is None:
                    head = conn.start(data, body, stream_when)
                return await head
            except HttpError:
                # A reused connection the server closed while idle (it may not have seen the
                # request at all): once more on a fresh one. Anything later is a real failure.
                if attempt == 0 and conn.reused and not conn.got_bytes:
                    # The others went idle as long ago or longer: likely gone as well.
                    for stale in self.idle:
                        stale.abort()
                    self.idle.clear()
                    continue
                raise
            except BaseException:
                self.busy.discard(conn)
                if conn.response is not None:
                    conn.response._conn = None
                conn.response = None
                conn.abort()
                raise
        raise AssertionError("unreachable")  # pragma: no cover

    def release(self, conn: Connection) -> None:
        self.busy.discard(conn)
        if self.closed:
            conn.abort()
            return
        conn.reused = True
        self.idle.append(conn)
        if len(self.idle) > self.max_idle and self._trim is None:
            # Not at once: under steady load above max_idle that would close and reopen
            # connections all the time. What is still surplus a moment later goes.
            self._trim = conn.loop.call_later(_TRIM_AFTER, self._trim_idle)

    def _trim_idle(self) -> None:
        self._trim = None
        surplus = len(self.idle) - self.max_idle
        if surplus > 0:
            # The front of the list has been idle longest (reuse takes from the back).
            for conn in self.idle[:surplus]:
                conn.abort()
            del self.idle[:surplus]

    def forget(self, conn: Connection) -> None:
        self.busy.discard(conn)
        if conn in self.idle:
            self.idle.remove(conn)

    def close(self) -> None:
        """Close every connection, idle or busy (streams in progress end with an error)."""
        self.closed = True
        if self._trim is not None:
            self._trim.cancel()
            self._trim = None
        for conn in [*self.idle, *self.busy]:
            conn.abort()
        self.idle.clear()
        self.busy.clear()
