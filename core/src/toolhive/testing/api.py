"""A real ``thv serve`` for tests and benchmarks: the console script in a subprocess, isolated.

::

    from toolhive.testing.api import api_server

    def test_version(thv_env):
        with api_server(thv_env) as api:            # or api_server() for a fresh home
            assert api.client.get("/api/v1beta/version").status_code == 200

    with api_server(socket=True) as api:            # over a unix socket (0600) instead of TCP
        api.client.get("/health")

The server listens on ``--port 0`` (the kernel picks a free port: no race with another test) and
:class:`ApiServer` learns its URL, pid and nonce from the discovery file ``thv serve`` writes
(``$XDG_STATE_HOME/toolhive/server/server.json``), then waits for ``GET /health`` to answer (204,
or 503 when no runtime answers here: the server is up either way). ``stop()`` sends SIGTERM, waits,
and kills after a timeout, so no process is left. Its stderr goes to ``api.log_path`` (quoted when
it fails to start).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket as socketlib
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any
from urllib.parse import urlsplit

import httpx

__all__ = [
    "ApiServer",
    "ApiServerError",
    "EventStream",
    "SseEvent",
    "api_server",
    "isolated_env",
    "thv_executable",
]


class ApiServerError(RuntimeError):
    """``thv serve`` did not come up (its log is in the message)."""


def thv_executable() -> Path:
    """The ``thv`` console script installed beside this interpreter."""
    return Path(sys.executable).with_name("thv")


def isolated_env(home: Path, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """``base`` (default: this process's environment) with ToolHive's config, data and state
    under ``home`` — as ``tests/conftest.py``'s ``thv_env`` builds it."""
    env = {
        **(os.environ if base is None else base),
        "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_DATA_HOME": str(home / "data"),
        "XDG_STATE_HOME": str(home / "state"),
        "TOOLHIVE_STRICT_PLUGINS": "1",
    }
    env.pop("XDG_CACHE_HOME", None)  # package caches stay shared (uv's, npm's)
    return env


def _state_home(env: Mapping[str, str]) -> Path:
    if env.get("XDG_STATE_HOME"):
        return Path(env["XDG_STATE_HOME"])
    return Path(env.get("HOME", str(Path.home()))) / ".local" / "state"


class ApiServer:
    """One ``thv serve`` subprocess.

    ``env``: the environment to run it with (a test's ``thv_env`` / ``thv_home.env``, so the CLI
    and the server share a home); without it, a fresh home under a temporary directory that
    :meth:`stop` removes. ``socket``: ``True`` for a unix socket in a fresh short directory, a
    path for that one, ``None`` for TCP on 127.0.0.1. ``args``: more ``thv serve`` options.
    """

    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        *,
        socket: bool | str | os.PathLike[str] | None = None,
        openapi: bool = False,
        args: Sequence[str] = (),
        startup_timeout: float = 30.0,
        stop_timeout: float = 10.0,
        client_timeout: float = 30.0,
    ) -> None:
        self._owned: list[Path] = []  # temporary directories removed by stop()
        if env is None:
            home = Path(tempfile.mkdtemp(prefix="thv-api-home-"))
            self._owned.append(home)
            env = isolated_env(home)
        self.env: dict[str, str] = dict(env)
        self.socket_path: Path | None = None
        if socket is True:
            # sun_path holds ~108 bytes: pytest's tmp_path may be longer, so a short dir of its own
            folder = Path(tempfile.mkdtemp(prefix="thv-api-", dir="/tmp"))
            self._owned.append(folder)
            self.socket_path = folder / "api.sock"
        elif socket:
            self.socket_path = Path(socket)
        self.openapi = openapi
        self.args = tuple(args)
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self.client_timeout = client_timeout
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path: Path | None = None
        self._log: IO[bytes] | None = None
        self._client: httpx.Client | None = None
        #: ``url`` from the discovery file (``http://127.0.0.1:<port>`` or ``unix://<path>``).
        self.url = ""
        #: What httpx requests go to: the TCP URL, or ``http://localhost`` over the socket.
        self.base_url = ""
        self.nonce = ""

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def command(self) -> list[str]:
        where = (
            ["--socket", str(self.socket_path)]
            if self.socket_path is not None
            else ["--host", "127.0.0.1", "--port", "0"]
        )
        extra = ["--openapi"] if self.openapi else []
        return [str(thv_executable()), "serve", *where, *extra, *self.args]

    @property
    def discovery_file(self) -> Path:
        return _state_home(self.env) / "toolhive" / "server" / "server.json"

    @property
    def pid(self) -> int:
        assert self.process is not None, "not started"
        return self.process.pid

    def start(self) -> ApiServer:
        """Start the server and wait until ``/health`` answers; raises :class:`ApiServerError`
        (the server stopped again) when it does not within ``startup_timeout``."""
        if self.process is not None:
            raise ApiServerError("already started")
        log_dir = Path(tempfile.mkdtemp(prefix="thv-api-log-"))
        self._owned.append(log_dir)
        self.log_path = log_dir / "serve.log"
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            self.command,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while True:
            if self.process is not None and self.process.poll() is not None:
                raise ApiServerError(f"thv serve exited {self.process.returncode}\n{self.log()}")
            if time.monotonic() > deadline:
                raise ApiServerError(
                    f"thv serve did not answer /health within {self.startup_timeout}s\n{self.log()}"
                )
            if not self.url:
                self._read_discovery()
            if self.url and self._healthy():
                return
            time.sleep(0.05)

    def _read_discovery(self) -> None:
        try:
            record: dict[str, Any] = json.loads(self.discovery_file.read_text())
        except (OSError, ValueError):
            return
        if record.get("pid") != self.pid:  # another server's (or a stale) file
            return
        self.url = str(record["url"])
        self.nonce = str(record.get("nonce", ""))
        if self.url.startswith("unix://"):
            self.socket_path = Path(self.url.removeprefix("unix://"))
            self.base_url = "http://localhost"
        else:
            self.base_url = self.url

    def _healthy(self) -> bool:
        try:
            answer = self.client.get("/health", timeout=5)
        except httpx.TransportError:
            return False
        return answer.status_code in (204, 503)

    def stop(self) -> int | None:
        """SIGTERM, wait ``stop_timeout``, then SIGKILL; the exit code (``None`` if never
        started). Idempotent."""
        code: int | None = None
        if self._client is not None:
            self._client.close()
            self._client = None
        if self.process is not None:
            if self.process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    self.process.send_signal(signal.SIGTERM)
                try:
                    self.process.wait(self.stop_timeout)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait()
            code = self.process.returncode
        if self._log is not None:
            self._log.close()
            self._log = None
        return code

    def cleanup(self) -> None:
        """Remove the temporary directories this server made (its home, socket dir, log)."""
        for folder in self._owned:
            shutil.rmtree(folder, ignore_errors=True)
        self._owned.clear()

    def __enter__(self) -> ApiServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
        self.cleanup()

    # -- talking to it -----------------------------------------------------------------------

    def new_client(self, **kwargs: Any) -> httpx.Client:
        """A fresh ``httpx.Client`` on this server (over its socket when it has one); the caller
        closes it. ``kwargs`` go to ``httpx.Client`` (e.g. ``headers=``)."""
        if not self.base_url:
            # Before discovery: TCP is unknown yet, the socket path is known.
            if self.socket_path is None:
                raise ApiServerError("the server's URL is not known yet")
            self.base_url = "http://localhost"
        kwargs.setdefault("timeout", self.client_timeout)
        if self.socket_path is not None:
            kwargs.setdefault("transport", httpx.HTTPTransport(uds=str(self.socket_path)))
        return httpx.Client(base_url=self.base_url, **kwargs)

    @property
    def client(self) -> httpx.Client:
        """A shared client, closed by :meth:`stop`."""
        if self._client is None:
            self._client = self.new_client()
        return self._client

    def async_client(self, **kwargs: Any) -> httpx.AsyncClient:
        """An ``httpx.AsyncClient`` on this server; the caller closes it."""
        kwargs.setdefault("timeout", self.client_timeout)
        if self.socket_path is not None:
            kwargs.setdefault("transport", httpx.AsyncHTTPTransport(uds=str(self.socket_path)))
        return httpx.AsyncClient(base_url=self.base_url, **kwargs)

    def events(self, path: str = "/api/v1beta/events", *, query: str = "") -> EventStream:
        """An open server-sent-event stream on ``path`` (a context manager; close it)."""
        assert self.base_url, "not started"
        if self.socket_path is not None:
            return EventStream(path, query=query, unix=str(self.socket_path))
        return EventStream(path, query=query, url=self.base_url)

    def log(self) -> str:
        """What the server wrote so far (stdout and stderr)."""
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")


@contextlib.contextmanager
def api_server(
    env: Mapping[str, str] | None = None,
    *,
    socket: bool | str | os.PathLike[str] | None = None,
    openapi: bool = False,
    args: Sequence[str] = (),
    startup_timeout: float = 30.0,
) -> Iterator[ApiServer]:
    """A started :class:`ApiServer`, stopped (no process left) and cleaned up on exit::

    @pytest.fixture
    def api(thv_env):
        with api_server(thv_env) as server:
            yield server
    """
    server = ApiServer(
        env, socket=socket, openapi=openapi, args=args, startup_timeout=startup_timeout
    )
    with server:
        yield server


class SseEvent:
    """One server-sent event (or comment block): ``event`` (``"message"`` when unnamed), ``data``
    (JSON-decoded when it is JSON), ``comment``, ``retry``."""

    def __init__(self) -> None:
        self.event = "message"
        self.data: Any = None
        self.comment = ""
        self.retry: int | None = None

    def __repr__(self) -> str:
        return f"SseEvent({self.event!r}, data={self.data!r}, comment={self.comment!r})"


class EventStream:
    """A ``text/event-stream`` read over a plain socket with per-read timeouts (an HTTP client's
    stream cannot time out one read without ending the response), TCP or unix socket.

    ``next(timeout)`` gives the next event; :meth:`close` disconnects at once (the server sees
    the client leave).
    """

    def __init__(
        self,
        path: str,
        *,
        query: str = "",
        url: str = "",
        unix: str = "",
        headers: Mapping[str, str] | None = None,
        connect_timeout: float = 10.0,
    ) -> None:
        if unix:
            self._sock = socketlib.socket(socketlib.AF_UNIX, socketlib.SOCK_STREAM)
            self._sock.settimeout(connect_timeout)
            self._sock.connect(unix)
            host = "localhost"
        else:
            parts = urlsplit(url)
            host = parts.netloc
            self._sock = socketlib.create_connection(
                (parts.hostname or "127.0.0.1", parts.port or 80), timeout=connect_timeout
            )
        target = f"{path}?{query}" if query else path
        extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        request = (
            f"GET {target} HTTP/1.1\r\nHost: {host}\r\nAccept: text/event-stream\r\n{extra}\r\n"
        )
        self._sock.sendall(request.encode())
        self._raw = b""  # bytes received, not yet de-chunked
        self._text = ""  # de-chunked text, not yet parsed into events
        self._ended = False
        self.status = 0
        self.headers: dict[str, str] = {}
        self._read_head(connect_timeout)

    def _recv(self, deadline: float) -> None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("no event in time")
        self._sock.settimeout(remaining)
        try:
            data = self._sock.recv(65536)
        except TimeoutError:
            raise TimeoutError("no event in time") from None
        if not data:
            self._ended = True
            raise EOFError("the server closed the stream")
        self._raw += data

    def _read_head(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while b"\r\n\r\n" not in self._raw:
            self._recv(deadline)
        head, self._raw = self._raw.split(b"\r\n\r\n", 1)
        status_line, *lines = head.decode("latin-1").split("\r\n")
        self.status = int(status_line.split()[1])
        for line in lines:
            key, _, value = line.partition(":")
            self.headers[key.strip().lower()] = value.strip()
        self._chunked = self.headers.get("transfer-encoding", "").lower() == "chunked"

    def body(self, timeout: float = 10.0) -> str:
        """The whole body of a non-streaming answer (an error)."""
        deadline = time.monotonic() + timeout
        length = int(self.headers.get("content-length", "0"))
        while len(self._raw) < length:
            self._recv(deadline)
        return self._raw[:length].decode()

    def _dechunk(self) -> None:
        if not self._chunked:
            self._text += self._raw.decode()
            self._raw = b""
            return
        while b"\r\n" in self._raw:
            size_line, rest = self._raw.split(b"\r\n", 1)
            size = int(size_line.split(b";")[0], 16)
            if size == 0:
                self._ended = True
                self._raw = b""
                return
            if len(rest) < size + 2:
                return
            self._text += rest[:size].decode()
            self._raw = rest[size + 2 :]

    def next(self, timeout: float = 10.0) -> SseEvent:
        """The next event or comment; :class:`TimeoutError` after ``timeout`` seconds,
        :class:`EOFError` once the server ended the stream."""
        deadline = time.monotonic() + timeout
        while True:
            self._dechunk()
            if "\n\n" in self._text:
                block, self._text = self._text.split("\n\n", 1)
                return self._parse(block)
            if self._ended:
                raise EOFError("the server ended the stream")
            self._recv(deadline)

    @staticmethod
    def _parse(block: str) -> SseEvent:
        event = SseEvent()
        data: list[str] = []
        for line in block.split("\n"):
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if not name:
                event.comment = value
            elif name == "event":
                event.event = value
            elif name == "data":
                data.append(value)
            elif name == "retry":
                event.retry = int(value)
        if data:
            text = "\n".join(data)
            try:
                event.data = json.loads(text)
            except ValueError:
                event.data = text
        return event

    def until(self, predicate: Any, timeout: float = 10.0) -> list[SseEvent]:
        """Events read until one satisfies ``predicate`` (the last one returned)."""
        deadline = time.monotonic() + timeout
        seen: list[SseEvent] = []
        while True:
            seen.append(self.next(max(0.0, deadline - time.monotonic())))
            if predicate(seen[-1]):
                return seen

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.shutdown(socketlib.SHUT_RDWR)
        self._sock.close()

    def __enter__(self) -> EventStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
