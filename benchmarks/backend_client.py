"""What the gateway's backend client (``toolhive.vmcp.backend_client``) costs per request.

An in-process raw asyncio HTTP/1.1 server (hand-parsed, keep-alive; the same for every client)
answers MCP POSTs; three clients send the same requests to it, interleaved in rounds:

    floor      a bare asyncio protocol writing prebuilt request bytes and reading the answer by
               its Content-Length: the event loop and socket syscalls, nothing else
    backend    ``BackendConnection.request`` (what the gateway calls)
    httpx      ``httpx.AsyncClient.post`` + ``.content`` (the baseline it replaces)

Reported per client and answer kind (``json`` ~200 B, ``big`` 64 KiB JSON, ``sse`` an event
stream with one notification before the answer): CPU per request (process time; the server's share
is the same for all), the client's own CPU beyond the floor (``backend - floor``: the target is
<= 60 us for ``json``), and wall p50 of sequential requests; then requests/s with 32 concurrent
callers on one connection object.

    uv run python benchmarks/backend_client.py [--requests 2000] [--rounds 5] [--concurrency 32]

A benchmark, not a test: it prints figures and asserts nothing. Everything stays on loopback.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import statistics
import time
from collections.abc import Awaitable, Callable

import httpx
from toolhive.vmcp.backend_client import BackendConnection

SMALL = json.dumps(
    {"content": [{"type": "text", "text": "hello from the raw backend " * 4}], "isError": False}
).encode()
BIG = json.dumps({"content": [{"type": "text", "text": "x" * 65536}], "isError": False}).encode()
NOTE = (
    b'{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":1,"progress":1}}'
)


class RawServer(asyncio.Protocol):
    """A keep-alive HTTP/1.1 server: ``initialize`` gets a session, notifications 202, requests to
    ``/json``, ``/big`` and ``/sse`` their answer kind, with the request's id."""

    def __init__(self) -> None:
        self.buf = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buf[: end + 2]
            at = head.lower().find(b"content-length: ")
            length = int(head[at + 16 : head.find(b"\r\n", at)]) if at >= 0 else 0
            if len(self.buf) < end + 4 + length:
                return
            body = self.buf[end + 4 : end + 4 + length]
            self.buf = self.buf[end + 4 + length :]
            self.answer(head, body)

    def answer(self, head: bytes, body: bytes) -> None:
        assert self.transport is not None
        method, path = head.split(b" ", 2)[:2]
        if method != b"POST":
            self.transport.write(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
            return
        # The id is the first member of every request the clients here send.
        if not body.startswith(b'{"jsonrpc":"2.0","id":'):
            self.transport.write(b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n")
            return
        rid = body[22 : body.index(b",", 22)]
        if b'"initialize"' in body:
            result = b'{"protocolVersion":"2025-06-18","capabilities":{},"serverInfo":{"name":"raw","version":"0"}}'
            extra = b"Mcp-Session-Id: bench-session\r\n"
        else:
            result = BIG if path == b"/big" else SMALL
            extra = b""
        answer = b'{"jsonrpc":"2.0","id":' + rid + b',"result":' + result + b"}"
        if path == b"/sse" and not extra:
            events = b"data: " + NOTE + b"\n\ndata: " + answer + b"\n\n"
            self.transport.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
                + b"%x\r\n%s\r\n0\r\n\r\n" % (len(events), events)
            )
            return
        self.transport.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n%sContent-Length: %d\r\n\r\n%s"
            % (extra, len(answer), answer)
        )


class FloorClient(asyncio.Protocol):
    """The least a client can do: write the bytes, wait for Content-Length bytes of body."""

    def __init__(self) -> None:
        self.buf = b""
        self.waiter: asyncio.Future[bytes] | None = None
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buf += data
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            return
        at = self.buf.find(b"Content-Length: ")
        length = int(self.buf[at + 16 : self.buf.find(b"\r\n", at)])
        if len(self.buf) >= end + 4 + length:
            body, self.buf = self.buf[end + 4 : end + 4 + length], b""
            assert self.waiter is not None
            self.waiter.set_result(body)

    async def request(self, data: bytes) -> bytes:
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(data)
        return await self.waiter


def body_for(rid: int) -> bytes:
    return (
        b'{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"}}}'
        % rid
    )


Call = Callable[[int], Awaitable[bytes]]


async def measure(call: Call, requests: int, start: int) -> tuple[float, float]:
    """CPU µs per request and wall p50 µs of ``requests`` sequential calls."""
    walls: list[float] = []
    gc.collect()
    cpu = time.process_time()
    for rid in range(start, start + requests):
        t0 = time.perf_counter()
        await call(rid)
        walls.append(time.perf_counter() - t0)
    cpu = time.process_time() - cpu
    return cpu / requests * 1e6, statistics.median(walls) * 1e6


async def measure_concurrent(call: Call, requests: int, concurrency: int, start: int) -> float:
    """Requests/s with ``concurrency`` callers."""
    per = requests // concurrency

    async def caller(offset: int) -> None:
        for rid in range(offset, offset + per):
            await call(rid)

    t0 = time.perf_counter()
    await asyncio.gather(*(caller(start + i * per) for i in range(concurrency)))
    return per * concurrency / (time.perf_counter() - t0)


async def main(requests: int, rounds: int, concurrency: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(RawServer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    base = f"http://127.0.0.1:{port}"

    _, floor = await loop.create_connection(FloorClient, "127.0.0.1", port)
    floor_head = {
        path: b"POST /%s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: "
        % path.encode()
        for path in ("json", "big")
    }

    backends: dict[str, BackendConnection] = {}
    for kind in ("json", "big", "sse"):
        conn = BackendConnection(
            f"{base}/{kind}", "streamable-http", on_message=lambda raw, msg: None
        )
        await conn.initialize(
            {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "b", "version": "0"},
            },
            5,
        )
        backends[kind] = conn
    client = httpx.AsyncClient(
        headers={"Mcp-Session-Id": "bench-session", "MCP-Protocol-Version": "2025-06-18"},
        limits=httpx.Limits(max_connections=64, max_keepalive_connections=64),
    )

    def floor_call(kind: str) -> Call:
        head = floor_head[kind]

        async def go(rid: int) -> bytes:
            body = body_for(rid)
            return await floor.request(head + b"%d\r\n\r\n" % len(body) + body)

        return go

    def backend_call(kind: str) -> Call:
        conn = backends[kind]

        async def go(rid: int) -> bytes:
            return await conn.request(body_for(rid), rid, timeout=10)

        return go

    def httpx_call(kind: str) -> Call:
        url = f"{base}/{kind}"
        headers = {
            "Content-Type": "application/json",
            "Accept": "application/json, text/event-stream",
        }

        async def go(rid: int) -> bytes:
            response = await client.post(url, content=body_for(rid), headers=headers)
            return response.content

        return go

    makers: dict[str, Callable[[str], Call]] = {
        "floor": floor_call,
        "backend": backend_call,
        "httpx": httpx_call,
    }
    kinds = ("json", "big", "sse")
    # Sanity: every client gets the answer with its id.
    for name, make in makers.items():
        for kind in kinds:
            if name == "floor" and kind == "sse":
                continue
            answer = await make(kind)(424242)
            assert b'"id":424242' in answer, (name, kind, answer[:100])

    cpu: dict[tuple[str, str], list[float]] = {}
    wall: dict[tuple[str, str], list[float]] = {}
    rid = 0
    for _ in range(rounds):
        for kind in kinds:
            for name, make in makers.items():
                if name == "floor" and kind == "sse":
                    continue
                call = make(kind)
                await measure(call, requests // 10, rid)  # warm up
                c, w = await measure(call, requests, rid)
                rid += requests
                cpu.setdefault((name, kind), []).append(c)
                wall.setdefault((name, kind), []).append(w)

    print(
        f"sequential requests, {rounds} rounds x {requests} each, interleaved; CPU is the whole"
        " process (client + the in-process server): median and best round"
    )
    print(
        f"{'kind':<6}{'client':<9}{'CPU us/req':>11}{'best':>8}"
        f"{'beyond floor':>14}{'best':>8}{'wall p50 us':>13}"
    )
    for kind in kinds:
        floor_runs = cpu[("floor", "json" if kind == "sse" else kind)]
        floor_med, floor_min = statistics.median(floor_runs), min(floor_runs)
        for name in makers:
            if (name, kind) not in cpu:
                continue
            runs = cpu[(name, kind)]
            med, best = statistics.median(runs), min(runs)
            w = statistics.median(wall[(name, kind)])
            print(
                f"{kind:<6}{name:<9}{med:>11.1f}{best:>8.1f}"
                f"{med - floor_med:>14.1f}{best - floor_min:>8.1f}{w:>13.1f}"
            )
    print("(sse's floor is json's: the floor client does not parse event streams)")

    print(f"\n{concurrency} concurrent callers, json, requests/s (median of {rounds})")
    for name, make in makers.items():
        if name == "floor":
            continue  # one protocol object, one request at a time
        call = make("json")
        rates = []
        for _ in range(rounds):
            rates.append(await measure_concurrent(call, requests, concurrency, rid))
            rid += requests
        print(f"  {name:<9}{statistics.median(rates):>10.0f}")
    pool = backends["json"]._pool
    print(f"  backend: {pool.opened} connections opened in all, {len(pool.idle)} kept idle")

    await client.aclose()
    for conn in backends.values():
        await conn.aclose()
    assert floor.transport is not None
    floor.transport.close()
    server.close()
    await server.wait_closed()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    asyncio.run(main(args.requests, args.rounds, args.concurrency))
