"""Serve a proxy app with uvicorn on an already-bound socket.

Binding first (:func:`bind_socket`) means a busy port is reported before a server is deployed.
:class:`ProxyServer` is a uvicorn server that shuts down gracefully on SIGTERM/SIGINT without
re-raising the signal afterwards (uvicorn's default would kill the caller before it cleans up), ends
long-lived streams before waiting for connections, and logs quietly.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import importlib.util
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any, Literal

import uvicorn

from toolhive.errors import InvalidInputError, PortInUseError
from toolhive.web.asgi import CONNECTION_EXTENSION


def bind_socket(host: str, port: int, *, what: str = "proxy port") -> socket.socket:
    """A listening TCP socket on ``host:port`` (``port`` 0 picks a free one).

    Raises :class:`~toolhive.errors.PortInUseError` when the port is taken.
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise InvalidInputError(f"cannot listen on {host!r}: {exc.strerror}") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        # Lets a restarted proxy reuse a port in TIME_WAIT; never a port someone listens on.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise PortInUseError(
                f"{what} {port} on {host} is already in use; "
                "pick another with --proxy-port or omit it to use a free one"
            ) from None
        raise InvalidInputError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    return sock


def http_implementation() -> str:
    """``httptools`` when installed (faster HTTP/1.1 parsing), else ``h11``."""
    return "httptools" if importlib.util.find_spec("httptools") is not None else "h11"


class _CoalescingTransport:
    """Holds writes until the end of the current event-loop iteration and sends them at once.

    uvicorn writes a response's head and body separately; on loopback each write is a syscall that
    wakes the client, so a small response costs two. Buffering them into one ``send`` saves one
    syscall (and one client wake-up) per response. Everything else is delegated.
    """

    __slots__ = ("_buffer", "_flush_soon", "_loop", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._buffer: list[bytes] | None = None
        self._flush_soon: asyncio.Handle | None = None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not data:
            return
        if self._buffer is None:
            self._buffer = [bytes(data)]
            self._flush_soon = self._loop.call_soon(self.flush)
        else:
            self._buffer.append(bytes(data))

    def flush(self) -> None:
        """Send what is held now (the protocol calls it once a response is complete)."""
        buffer, self._buffer = self._buffer, None
        if self._flush_soon is not None:
            self._flush_soon.cancel()
            self._flush_soon = None
        if buffer and not self._transport.is_closing():
            self._transport.write(buffer[0] if len(buffer) == 1 else b"".join(buffer))

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def get_write_buffer_size(self) -> int:
        pending = sum(len(b) for b in self._buffer) if self._buffer else 0
        return self._transport.get_write_buffer_size() + pending

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


def http_protocol_class(implementation: str | None = None) -> type[asyncio.Protocol]:
    """uvicorn's HTTP/1.1 protocol (``httptools`` or ``h11``) with coalesced writes; the
    ``httptools`` one also offers :data:`~toolhive.web.asgi.CONNECTION_EXTENSION`."""
    implementation = implementation or http_implementation()
    base: type[Any]
    if implementation == "httptools":
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

        base = HttpToolsProtocol
    else:
        from uvicorn.protocols.http.h11_impl import H11Protocol

        base = H11Protocol

    class CoalescingProtocol(base):  # type: ignore[misc]
        on_lost: Callable[[], None] | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:
            super().connection_made(_CoalescingTransport(transport, self.loop))

        def connection_lost(self, exc: Exception | None) -> None:
            callback, self.on_lost = self.on_lost, None
            super().connection_lost(exc)
            if callback is not None:
                callback()

        def on_response_complete(self) -> None:
            # The whole response is held: send it now, not an event-loop iteration later.
            self.transport.flush()
            super().on_response_complete()

        if implementation == "httptools":

            def on_message_begin(self) -> None:
                super().on_message_begin()
                self.scope["extensions"] = {CONNECTION_EXTENSION: self}

    CoalescingProtocol.__name__ = f"Coalescing{base.__name__}"
    return CoalescingProtocol


class ProxyServer(uvicorn.Server):
    """uvicorn serving ``app`` on ``sock``; ``request_stop()`` or SIGTERM/SIGINT stop it gracefully."""

    def __init__(
        self,
        app: Any,
        sock: socket.socket,
        *,
        log_level: str = "warning",
        access_log: bool = False,
        handle_signals: bool = True,
        graceful_timeout: float = 10.0,
        lifespan: Literal["auto", "on", "off"] = "on",
    ) -> None:
        config = uvicorn.Config(
            app,
            log_level=log_level,
            log_config=None,  # log through the caller's logging setup
            access_log=access_log,
            http=http_protocol_class(),
            ws="none",
            lifespan=lifespan,
            proxy_headers=False,
            server_header=False,
            timeout_graceful_shutdown=max(1, round(graceful_timeout)),
        )
        super().__init__(config)
        self.app = app
        self.sock = sock
        self._handle_signals = handle_signals
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        await super().serve(sockets=sockets or [self.sock])

    def request_stop(self) -> None:
        self.should_exit = True
        self._wake_up()

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        self._wake_up()

    def _wake_up(self) -> None:
        if self._wake is not None and self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._wake.set)

    async def main_loop(self) -> None:
        """uvicorn's loop, woken once a second (the ``Date`` header) or by a stop request.

        uvicorn itself wakes every 0.1 s to look at ``should_exit``: ten wake-ups a second in
        every idle workload's supervisor, each costing far more CPU than the check.
        """
        self._loop = asyncio.get_running_loop()
        wake = self._wake = asyncio.Event()
        counter = 0
        should_exit = await self.on_tick(counter)
        while not should_exit:
            counter = (counter + 10) % 864000  # each tick is uvicorn's once-a-second tick
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(1.0):
                    await wake.wait()
            should_exit = await self.on_tick(counter)

    async def wait_started(self, serving: asyncio.Task[None], timeout: float = 10.0) -> None:
        """Return once the server accepts connections; raise if ``serving`` ended first."""
        async with asyncio.timeout(timeout):
            while not self.started:
                if serving.done():
                    serving.result()
                    raise RuntimeError("the proxy server stopped during startup")
                await asyncio.sleep(0.01)

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if not self._handle_signals or threading.current_thread() is not threading.main_thread():
            yield
            return
        handled = (signal.SIGINT, signal.SIGTERM)
        original = {sig: signal.signal(sig, self.handle_exit) for sig in handled}
        try:
            yield
        finally:
            for sig, handler in original.items():
                signal.signal(sig, handler)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        # Stop accepting first, then end long-lived streams (GET /mcp, proxied SSE): uvicorn waits
        # for open connections, and a stream would otherwise hold shutdown until its client leaves.
        for server in self.servers:
            server.close()
        drain = getattr(self.app, "drain", None)
        if drain is not None:
            await drain()
        await super().shutdown(sockets=sockets)


async def serve(app: Any, sock: socket.socket, **options: Any) -> None:
    """Serve until SIGTERM/SIGINT (or ``request_stop()``); see :class:`ProxyServer` for options."""
    await ProxyServer(app, sock, **options).serve()


def event_loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """``uvloop``'s loop when installed (less overhead per request), else asyncio's default."""
    if importlib.util.find_spec("uvloop") is None:
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = importlib.import_module(
        "uvloop"
    ).new_event_loop
    return factory


def run(app: Any, sock: socket.socket, **options: Any) -> None:
    """Blocking :func:`serve` in a fresh event loop (uvloop's when installed)."""
    with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
        runner.run(serve(app, sock, **options))
