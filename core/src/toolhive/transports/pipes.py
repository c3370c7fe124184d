"""A :class:`~toolhive.contracts.runtime.StdioChannel` over a pair of pipes (a local child process)."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl

#: A single JSON-RPC message may be large (tool results with embedded files).
LINE_LIMIT = 64 * 1024 * 1024


#: Pipe capacity asked for (Linux ``F_SETPIPE_SZ``; 1 MiB is the unprivileged maximum): a 64 KiB
#: message then fits in one write instead of waiting for the other side to drain the default 64 KiB.
PIPE_SIZE = 1024 * 1024
#: Above this many unsent bytes, :meth:`PipeChannel.send` waits for the server to catch up.
HIGH_WATER = 4 * 1024 * 1024


def grow_pipe(fd: int, size: int = PIPE_SIZE) -> None:
    """Ask the kernel for a larger pipe buffer (best effort: other systems keep their default)."""
    setsize = getattr(fcntl, "F_SETPIPE_SZ", None)
    if setsize is not None:
        with contextlib.suppress(OSError):
            fcntl.fcntl(fd, setsize, size)


class PipeChannel:
    """Newline-delimited messages over ``reader`` (server stdout) and ``writer`` (server stdin).

    Lines sent in one event-loop iteration go out in one ``write`` at its end (many sessions,
    one pipe: fewer system calls and wake-ups of the server); a whole line is always written at
    once, so lines never interleave.
    """

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        read_transport: asyncio.BaseTransport | None = None,
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._transport = writer.transport
        self._read_transport = read_transport
        self._queued: list[bytes] = []

    @classmethod
    async def from_fds(cls, stdout_fd: int, stdin_fd: int) -> PipeChannel:
        """Wrap raw pipe file descriptors (taken over: they are closed with the channel)."""
        loop = asyncio.get_running_loop()
        grow_pipe(stdout_fd)
        grow_pipe(stdin_fd)
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
        transport.set_write_buffer_limits(high=HIGH_WATER)
        writer = asyncio.StreamWriter(transport, protocol, reader, loop)
        return cls(reader, writer, read_transport)

    async def send(self, line: bytes) -> None:
        if self._transport.is_closing():
            raise BrokenPipeError("the MCP server's stdin is closed")
        queued = self._queued
        if not queued:
            asyncio.get_running_loop().call_soon(self._flush)
        queued.append(line)
        if self._transport.get_write_buffer_size() > HIGH_WATER:
            await self._writer.drain()

    def _flush(self) -> None:
        queued = self._queued
        if not queued:
            return
        self._queued = []
        if self._transport.is_closing():
            return
        self._transport.write(queued[0] if len(queued) == 1 else b"".join(queued))

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
        self._flush()
        with contextlib.suppress(Exception):
            self._writer.close()
        if self._read_transport is not None:
            self._read_transport.close()
