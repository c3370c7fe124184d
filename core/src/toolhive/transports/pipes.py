"""A :class:`~toolhive.runtime.StdioChannel` over a pair of pipes (a local child process)."""

from __future__ import annotations

import asyncio
import contextlib

#: A single JSON-RPC message may be large (tool results with embedded files).
LINE_LIMIT = 64 * 1024 * 1024


class PipeChannel:
    """Newline-delimited messages over ``reader`` (server stdout) and ``writer`` (server stdin)."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        read_transport: asyncio.BaseTransport | None = None,
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._read_transport = read_transport
        self._lock = asyncio.Lock()

    @classmethod
    async def from_fds(cls, stdout_fd: int, stdin_fd: int) -> PipeChannel:
        """Wrap raw pipe file descriptors (taken over: they are closed with the channel)."""
        loop = asyncio.get_running_loop()
        # The pipe transports own these file objects and close them with the channel.
        reader = asyncio.StreamReader(limit=LINE_LIMIT)
        read_transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader),
            open(stdout_fd, "rb", buffering=0),  # noqa: SIM115
        )
        transport, protocol = await loop.connect_write_pipe(
            asyncio.streams.FlowControlMixin,
            open(stdin_fd, "wb", buffering=0),  # noqa: SIM115
        )
        writer = asyncio.StreamWriter(transport, protocol, reader, loop)
        return cls(reader, writer, read_transport)

    async def send(self, line: bytes) -> None:
        async with self._lock:
            self._writer.write(line)
            await self._writer.drain()

    async def readline(self) -> bytes:
        try:
            return await self._reader.readline()
        except (asyncio.IncompleteReadError, ConnectionError):
            return b""
        except ValueError:
            # Longer than LINE_LIMIT: skip the rest of the line rather than kill the bridge.
            with contextlib.suppress(Exception):
                await self._reader.readuntil(b"\n")
            return b"\n"

    async def aclose(self) -> None:
        with contextlib.suppress(Exception):
            self._writer.close()
        if self._read_transport is not None:
            self._read_transport.close()
