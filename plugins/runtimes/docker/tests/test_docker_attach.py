"""Demultiplexing of the attach stream, fed byte by byte into a real StreamReader.

No engine and no fake server: the channel reads from an :class:`asyncio.StreamReader` that the
test feeds directly, which exercises frame splitting, line assembly and end of stream exactly.
The engine tests cover the real attach request.
"""

from __future__ import annotations

import asyncio
import struct

from toolhive.contracts import pipes
from toolhive_runtime_docker.attach import AttachChannel


def frame(stream: int, payload: bytes) -> bytes:
    return struct.pack(">BxxxL", stream, len(payload)) + payload


class _Sink(asyncio.Transport):
    """The write side: records stdin, and reports the close as a real transport does."""

    def __init__(self) -> None:
        super().__init__()
        self.written = bytearray()
        self.closed = False
        self.protocol: asyncio.BaseProtocol | None = None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += data

    def close(self) -> None:
        self.closed = True
        if self.protocol is not None:
            asyncio.get_running_loop().call_soon(self.protocol.connection_lost, None)

    def is_closing(self) -> bool:
        return self.closed


async def channel(data: bytes, *, multiplexed: bool = True, chunk: int = 3):
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    sink = _Sink()
    protocol = asyncio.StreamReaderProtocol(reader)
    sink.protocol = protocol
    writer = asyncio.StreamWriter(sink, protocol, reader, loop)
    errors: list[bytes] = []
    ch = AttachChannel(reader, writer, multiplexed=multiplexed, on_stderr=errors.append)

    async def feed() -> None:
        for i in range(0, len(data), chunk):
            reader.feed_data(data[i : i + chunk])
            await asyncio.sleep(0)
        reader.feed_eof()

    return ch, errors, sink, asyncio.create_task(feed())


def test_frames_split_anywhere_and_lines_span_frames() -> None:
    async def run() -> tuple[list[bytes], list[bytes]]:
        data = (
            frame(1, b'{"a":')
            + frame(2, b"warning\n")
            + frame(1, b"1}\n{")
            + frame(1, b"")
            + frame(1, b'"b":2}\npartial')
        )
        ch, errors, _, task = await channel(data)
        lines = [await ch.readline() for _ in range(4)]
        await task
        await ch.aclose()
        return lines, errors

    lines, errors = asyncio.run(run())
    assert lines == [b'{"a":1}\n', b'{"b":2}\n', b"partial", b""]
    assert errors == [b"warning\n"]


def test_raw_stream_for_tty_containers() -> None:
    async def run() -> list[bytes]:
        ch, _, _, task = await channel(b"one\ntwo\n", multiplexed=False)
        lines = [await ch.readline() for _ in range(3)]
        await task
        await ch.aclose()
        return lines

    assert asyncio.run(run()) == [b"one\n", b"two\n", b""]


def test_send_writes_stdin_and_close() -> None:
    async def run() -> tuple[bytes, bool]:
        ch, _, sink, task = await channel(b"")
        await ch.send(b'{"jsonrpc":"2.0"}\n')
        await task
        await ch.aclose()
        return bytes(sink.written), sink.closed

    assert asyncio.run(run()) == (b'{"jsonrpc":"2.0"}\n', True)


def test_overlong_line_is_dropped(monkeypatch) -> None:
    monkeypatch.setattr("toolhive_runtime_docker.attach.LINE_LIMIT", 16)
    assert pipes.LINE_LIMIT > 16  # core's constant is untouched

    async def run() -> list[bytes]:
        data = frame(1, b"x" * 40) + frame(1, b"yy\nok\n")
        ch, _, _, task = await channel(data, chunk=7)
        lines = [await ch.readline() for _ in range(3)]
        await task
        await ch.aclose()
        return lines

    assert asyncio.run(run()) == [b"\n", b"ok\n", b""]


def test_cancelled_readline_keeps_framing() -> None:
    async def run() -> list[bytes]:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        sink = _Sink()
        sink.protocol = asyncio.StreamReaderProtocol(reader)
        writer = asyncio.StreamWriter(sink, sink.protocol, reader, loop)
        ch = AttachChannel(reader, writer, on_stderr=lambda _: None)
        whole = frame(1, b"hello\n")
        reader.feed_data(whole[:10])  # header and part of the payload
        pending = asyncio.create_task(ch.readline())
        await asyncio.sleep(0.01)
        pending.cancel()
        await asyncio.gather(pending, return_exceptions=True)
        reader.feed_data(whole[10:] + frame(1, b"next\n"))
        reader.feed_eof()
        lines = [await ch.readline() for _ in range(3)]
        await ch.aclose()
        return lines

    assert asyncio.run(run()) == [b"hello\n", b"next\n", b""]
