"""ToolHive's uvicorn protocol: a response leaves in one write as soon as it is complete, and an
app can hear of a hang-up through ``CONNECTION_EXTENSION`` without a task in ``receive()``."""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Any

import pytest
from toolhive.proxy.server import ProxyServer, bind_socket, http_protocol_class
from toolhive.web.asgi import CONNECTION_EXTENSION, Receive, Scope, Send

REQUEST = b"POST /x HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\n\r\n{}"


async def _serving(app: Any, implementation: str = "httptools") -> tuple[ProxyServer, Any, int]:
    sock = bind_socket("127.0.0.1", 0)
    server = ProxyServer(app, sock, handle_signals=False, lifespan="off")
    server.config.http = http_protocol_class(implementation)
    task = asyncio.create_task(server.serve())
    await server.wait_started(task)
    return server, task, int(sock.getsockname()[1])


async def _stop(server: ProxyServer, task: Any) -> None:
    server.request_stop()
    await asyncio.wait_for(task, 10)


def test_a_complete_response_leaves_at_once_in_one_write() -> None:
    """Head and body go in one ``send()``, made when the response is complete rather than an
    event-loop iteration later: the client has it while the app still blocks the loop."""
    blocked: dict[str, float] = {}

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        headers = [(b"content-length", b"5")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"hello"})
        blocked["from"] = time.monotonic()
        time.sleep(0.5)  # nothing else runs on the loop meanwhile
        blocked["until"] = time.monotonic()

    def client(port: int, got: list[Any]) -> None:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
            conn.sendall(REQUEST)
            chunks = [conn.recv(65536)]
            while b"hello" not in b"".join(chunks):
                chunks.append(conn.recv(65536))
            got.extend((time.monotonic(), chunks))

    async def main() -> list[Any]:
        server, task, port = await _serving(app)
        got: list[Any] = []
        try:
            await asyncio.to_thread(client, port, got)
        finally:
            await _stop(server, task)
        return got

    received, chunks = asyncio.run(main())
    assert len(chunks) == 1, chunks
    assert chunks[0].startswith(b"HTTP/1.1 200") and chunks[0].endswith(b"hello")
    assert received < blocked["until"], (received - blocked["from"], blocked)


def test_the_app_hears_a_hang_up_through_the_connection_extension() -> None:
    async def main() -> None:
        lost = asyncio.Event()
        received = asyncio.Event()

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            scope["extensions"][CONNECTION_EXTENSION].on_lost = lost.set
            await receive()
            received.set()
            await lost.wait()  # never answers: the client hangs up first

        server, task, port = await _serving(app)
        try:
            _reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(REQUEST)
            await asyncio.wait_for(received.wait(), 5)
            assert not lost.is_set()
            writer.close()
            await asyncio.wait_for(lost.wait(), 5)
        finally:
            await _stop(server, task)

    asyncio.run(main())


def test_a_cleared_callback_is_not_called_and_h11_offers_no_extension() -> None:
    calls: list[str] = []
    scopes: list[Scope] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        scopes.append(scope)
        conn = scope.get("extensions", {}).get(CONNECTION_EXTENSION)
        await receive()
        if conn is not None:
            conn.on_lost = lambda: calls.append("lost")
            conn.on_lost = None  # the app stopped caring (its answer is under way)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"hello"})

    async def main(implementation: str) -> None:
        server, task, port = await _serving(app, implementation)
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(REQUEST)
            assert (await reader.read(65536)).startswith(b"HTTP/1.1 200")
            writer.close()
            await asyncio.sleep(0.1)  # the client has closed: connection_lost has run
        finally:
            await _stop(server, task)

    asyncio.run(main("httptools"))
    assert CONNECTION_EXTENSION in scopes[0]["extensions"]
    assert calls == []
    pytest.importorskip("h11")
    asyncio.run(main("h11"))
    assert CONNECTION_EXTENSION not in scopes[1].get("extensions", {})
