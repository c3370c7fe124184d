"""A :class:`~toolhive.contracts.runtime.StdioChannel` over the Docker Engine API's attach endpoint.

The attach request is made here with asyncio on a fresh connection to the engine's unix socket
(``POST /containers/{id}/attach`` with ``Upgrade: tcp``), so the whole stream, including any byte
that arrives together with the response headers, stays in one :class:`asyncio.StreamReader`, and
no thread is needed. Standard library only.

MCP containers are created with ``Tty=false``, so the stream is multiplexed: each frame is an
8-byte header (stream type, three zero bytes, big-endian payload size) and the payload. Stream 1 is
stdout: the JSON-RPC lines :meth:`AttachChannel.readline` returns. Stream 2 is stderr: forwarded to
``on_stderr`` (by default the supervisor's own stderr). Frames are read only when a line is
wanted, so a slow reader applies backpressure to the server instead of filling memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
from collections.abc import Callable
from urllib.parse import quote

from toolhive.contracts import NotFoundError, WorkloadStateError
from toolhive.contracts.pipes import LINE_LIMIT

logger = logging.getLogger(__name__)

STDOUT = 1
STDERR = 2
SYSTEMERR = 3
HEADER_SIZE = 8
#: Seconds :meth:`AttachChannel.aclose` waits for the connection to close.
CLOSE_TIMEOUT = 5.0

StderrSink = Callable[[bytes], None]


def forward_to_stderr(data: bytes) -> None:
    """Default stderr sink: the supervisor's stderr (its log file when detached)."""
    stream = getattr(sys.stderr, "buffer", None)
    if stream is not None:
        stream.write(data)
    else:
        sys.stderr.write(data.decode("utf-8", "replace"))
    sys.stderr.flush()


async def _read_head(reader: asyncio.StreamReader) -> tuple[int, dict[str, str]]:
    status_line = await reader.readline()
    parts = status_line.decode("latin-1").split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        msg = f"unexpected answer to attach: {status_line[:80]!r}"
        raise ConnectionError(msg)
    headers: dict[str, str] = {}
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b"\n", b""):
            break
        key, _, value = line.decode("latin-1").partition(":")
        headers[key.strip().lower()] = value.strip()
    return int(parts[1]), headers


async def _read_error_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> str:
    with contextlib.suppress(Exception):
        if headers.get("content-length", "").isdigit():
            body = await reader.readexactly(int(headers["content-length"]))
        else:
            body = await asyncio.wait_for(reader.read(4096), 2)
        text = body.decode("utf-8", "replace").strip()
        # Engines answer errors as {"message": "..."} (Podman adds "cause" and "response").
        with contextlib.suppress(ValueError, AttributeError):
            return str(json.loads(text)["message"])
        return text
    return ""


class AttachChannel:
    """The attached stdin/stdout of one container, as newline-delimited messages."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        multiplexed: bool = True,
        on_stderr: StderrSink | None = None,
        name: str = "",
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._multiplexed = multiplexed
        self._on_stderr = on_stderr or forward_to_stderr
        self._name = name
        self._buffer = bytearray()
        #: A frame header already taken off the stream whose payload is still to be read
        #: (kept across a cancelled :meth:`readline` so the framing never goes out of step).
        self._header: bytes | None = None
        self._eof = False
        self._skipping = False
        self._read_lock = asyncio.Lock()
        self._write_lock = asyncio.Lock()

    @classmethod
    async def open(
        cls,
        socket_path: str,
        container: str,
        *,
        multiplexed: bool = True,
        on_stderr: StderrSink | None = None,
        api_prefix: str = "",
    ) -> AttachChannel:
        """Attach to ``container``'s stdin, stdout and stderr through the engine at ``socket_path``.

        Raises :class:`NotFoundError` if the container does not exist, :class:`WorkloadStateError`
        if the engine refuses (e.g. it is not running), :class:`OSError` if the socket is gone.
        """
        reader, writer = await asyncio.open_unix_connection(socket_path, limit=LINE_LIMIT)
        try:
            path = f"{api_prefix}/containers/{quote(container, safe='')}/attach"
            request = (
                f"POST {path}?stream=1&stdin=1&stdout=1&stderr=1 HTTP/1.1\r\n"
                "Host: localhost\r\n"
                "Content-Type: text/plain\r\n"
                "Content-Length: 0\r\n"
                "Connection: Upgrade\r\n"
                "Upgrade: tcp\r\n"
                "\r\n"
            )
            writer.write(request.encode("ascii"))
            await writer.drain()
            status, headers = await _read_head(reader)
            if status not in (101, 200):
                body = await _read_error_body(reader, headers)
                if status == 404:
                    msg = f"no container named {container}"
                    raise NotFoundError(msg)
                msg = f"cannot attach to container {container}: {body or f'HTTP {status}'}"
                raise WorkloadStateError(msg)
            if headers.get("transfer-encoding", "").lower() == "chunked":
                # Never seen from Docker or Podman for a hijacked stream; refuse rather than
                # misread chunk sizes as frames.
                msg = f"cannot attach to container {container}: chunked attach stream"
                raise WorkloadStateError(msg)
        except BaseException:
            writer.close()
            raise
        logger.debug("attached to %s (HTTP %s, %s)", container, status, headers.get("content-type"))
        return cls(reader, writer, multiplexed=multiplexed, on_stderr=on_stderr, name=container)

    async def send(self, line: bytes) -> None:
        """Write ``line`` to the server's stdin."""
        async with self._write_lock:
            self._writer.write(line)
            await self._writer.drain()

    async def readline(self) -> bytes:
        """The next stdout line with its ``\\n``; ``b""`` once the stream has ended.

        A line longer than :data:`~toolhive.transports.pipes.LINE_LIMIT` is dropped (logged) and
        returned as ``b"\\n"``, as :class:`~toolhive.transports.pipes.PipeChannel` does.
        """
        async with self._read_lock:
            while True:
                end = self._buffer.find(b"\n")
                if end >= 0:
                    line = bytes(self._buffer[: end + 1])
                    del self._buffer[: end + 1]
                    if self._skipping:
                        self._skipping = False
                        return b"\n"
                    return line
                if len(self._buffer) > LINE_LIMIT:
                    if not self._skipping:
                        logger.warning(
                            "%s: dropping a stdout line longer than %d bytes",
                            self._name,
                            LINE_LIMIT,
                        )
                    self._skipping = True
                    self._buffer.clear()
                if self._eof:
                    rest = bytes(self._buffer)
                    self._buffer.clear()
                    return b"" if self._skipping else rest
                await self._fill()

    async def _fill(self) -> None:
        """Read one frame (or one chunk of a raw stream) into the stdout buffer."""
        try:
            if not self._multiplexed:
                data = await self._reader.read(65536)
                if data:
                    self._buffer += data
                else:
                    self._eof = True
                return
            if self._header is None:
                self._header = await self._reader.readexactly(HEADER_SIZE)
            kind = self._header[0]
            size = int.from_bytes(self._header[4:8], "big")
            payload = await self._reader.readexactly(size) if size else b""
            self._header = None
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            self._eof = True
            return
        if kind == STDOUT:
            self._buffer += payload
        elif kind in (STDERR, SYSTEMERR):
            try:
                self._on_stderr(payload)
            except Exception:  # a broken sink must not break the channel
                logger.exception("%s: stderr sink failed", self._name)
        else:
            logger.debug("%s: ignoring frame of stream %d", self._name, kind)

    async def aclose(self) -> None:
        """Close the connection; the container's stdin stays open for the next attach."""
        with contextlib.suppress(Exception):
            self._writer.close()
            await asyncio.wait_for(self._writer.wait_closed(), CLOSE_TIMEOUT)
