"""The gateway's backend client against real servers: the conformance fixture (official SDK,
streamable HTTP with an event store), the echo server over legacy HTTP+SSE (official SDK), and a
small raw HTTP/1.1 server written here for what the SDK servers never do on purpose (chunked and
close-delimited bodies, dropped keep-alive connections, a standalone stream that drops, 401s,
answers that never come)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import urllib.parse
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from toolhive.testing.mcp_servers import http_echo_server
from toolhive.vmcp import http11
from toolhive.vmcp.backend_client import (
    BackendConnection,
    BackendError,
    BackendUnauthorizedError,
    SessionExpiredError,
)
from toolhive.vmcp.sse_events import SSEParser, answer_opening, plain_answer

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]

REPO = Path(__file__).resolve().parents[3]
FIXTURE = REPO / "tests" / "conformance" / "fixture_server.py"
INIT = {
    "protocolVersion": "2025-11-25",
    "capabilities": {"sampling": {}},
    "clientInfo": {"name": "vmcp-backend-client-tests", "version": "0"},
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, process: subprocess.Popen[bytes]) -> None:
    for _ in range(600):
        if process.poll() is not None:
            raise AssertionError(f"server exited with {process.returncode} before listening")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.1):
            return
        import time

        time.sleep(0.05)
    raise AssertionError("server did not start listening")


@pytest.fixture(scope="module")
def fixture_url() -> Iterator[str]:
    """The conformance fixture over streamable HTTP (one process for the module)."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, str(FIXTURE), "streamable-http"],
        env={**os.environ, "MCP_HOST": "127.0.0.1", "MCP_PORT": str(port)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_port(port, process)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class Inbox:
    """What a connection's ``on_message`` got."""

    def __init__(self) -> None:
        self.raw: list[bytes] = []
        self.parsed: list[dict[str, Any]] = []
        self.arrived = asyncio.Event()

    def __call__(self, raw: bytes, parsed: dict[str, Any]) -> None:
        assert b"\n" not in raw and json.loads(raw) == parsed
        self.raw.append(raw)
        self.parsed.append(parsed)
        self.arrived.set()

    def methods(self) -> list[str]:
        return [m.get("method", "") for m in self.parsed]


def call(rid: int | str, tool: str, **arguments: Any) -> bytes:
    params: dict[str, Any] = {"name": tool, "arguments": arguments}
    if "progress" in tool:
        params["_meta"] = {"progressToken": f"tok-{rid}"}
    return json.dumps(
        {"jsonrpc": "2.0", "id": rid, "method": "tools/call", "params": params}
    ).encode()


def text_of(raw: bytes) -> str:
    return str(json.loads(raw)["result"]["content"][0]["text"])


@contextlib.asynccontextmanager
async def connected(
    url: str, transport: Any = "streamable-http", params: dict[str, Any] = INIT, **kwargs: Any
) -> AsyncIterator[tuple[BackendConnection, Inbox]]:
    inbox = Inbox()
    conn = BackendConnection(url, transport, on_message=inbox, **kwargs)
    try:
        await conn.initialize(params, timeout=10)
        yield conn, inbox
    finally:
        await conn.aclose()


# --------------------------------------------------------------------------- streamable HTTP


async def test_initialize_negotiates_a_session_and_calls_return_the_backends_exact_json(
    fixture_url: str,
) -> None:
    async with connected(fixture_url) as (conn, _):
        assert conn.session_id and conn.protocol_version == "2025-11-25"
        raw = await conn.request(call(7, "echo", text="héllo ✓"), 7, timeout=5)
        assert raw == raw.strip() and json.loads(raw)["id"] == 7
        assert text_of(raw) == "héllo ✓"
        untimed = await conn.request(call(6, "echo", text="no deadline"), 6, timeout=None)
        assert text_of(untimed) == "no deadline"
        listed = await conn.request(
            b'{"jsonrpc":"2.0","id":"l","method":"tools/list"}', "l", timeout=5
        )
        assert "test_sampling" in {t["name"] for t in json.loads(listed)["result"]["tools"]}
        assert conn.closed is None
        session, version = conn.session_id, conn.protocol_version
    # aclose ended the session on the backend (DELETE).
    async with httpx.AsyncClient() as client:
        after = await client.post(
            fixture_url,
            content=call(8, "echo", text="late"),
            headers={
                "Mcp-Session-Id": session,
                "MCP-Protocol-Version": version,
                "Content-Type": "application/json",
                "Accept": "application/json, text/event-stream",
            },
        )
    assert after.status_code == 404


async def test_progress_and_logging_arrive_in_order_before_the_answer(fixture_url: str) -> None:
    async with connected(fixture_url) as (conn, inbox):
        mine = Inbox()
        raw = await conn.request(call(1, "test_tool_with_progress"), 1, timeout=5, on_message=mine)
        assert text_of(raw) == "Tool with progress executed successfully"
        assert [m["params"]["progress"] for m in mine.parsed] == [0, 50, 100]
        assert {m["params"]["progressToken"] for m in mine.parsed} == {"tok-1"}
        # Without a per-request sink the connection's on_message gets them.
        raw = await conn.request(call(2, "test_tool_with_logging"), 2, timeout=5)
        assert text_of(raw) == "Tool with logging executed successfully"
        assert [m["params"]["data"] for m in inbox.parsed] == [
            "Tool execution started",
            "Tool processing data",
            "Tool execution completed",
        ]


async def test_a_server_request_during_a_call_is_answered_through_notify(fixture_url: str) -> None:
    async with connected(fixture_url) as (conn, _):
        answered: list[asyncio.Task[None]] = []

        def sampler(raw: bytes, parsed: dict[str, Any]) -> None:
            assert parsed["method"] == "sampling/createMessage"
            prompt = parsed["params"]["messages"][0]["content"]["text"]
            reply = {
                "jsonrpc": "2.0",
                "id": parsed["id"],
                "result": {
                    "role": "assistant",
                    "content": {"type": "text", "text": f"echo of {prompt}"},
                    "model": "test",
                    "stopReason": "endTurn",
                },
            }
            answered.append(asyncio.create_task(conn.notify(json.dumps(reply).encode())))

        raw = await conn.request(
            call(3, "test_sampling", prompt="hi"), 3, timeout=5, on_message=sampler
        )
        assert text_of(raw) == "LLM response: echo of hi"
        assert len(answered) == 1
        await answered[0]


async def test_sse_answered_requests_keep_their_connections(fixture_url: str) -> None:
    async with connected(fixture_url) as (conn, _):
        opened = conn._pool.opened
        for i in range(20):
            mine = Inbox()
            raw = await conn.request(
                call(i, "test_tool_with_progress"), i, timeout=5, on_message=mine
            )
            assert text_of(raw) == "Tool with progress executed successfully" and len(mine.raw) == 3
        # The SDK answers over SSE and ends the stream just after the answer: the connection
        # goes back to the pool then (the next call may find it still finishing).
        assert conn._pool.opened - opened <= 3


async def test_a_dropped_answer_stream_is_resumed_with_last_event_id(fixture_url: str) -> None:
    async with connected(fixture_url) as (conn, _):
        # The fixture closes the POST's SSE stream mid-call; only a GET with Last-Event-ID
        # gets the answer.
        raw = await conn.request(call(4, "test_reconnection"), 4, timeout=10)
        assert text_of(raw) == "Reconnection test completed successfully"
        assert text_of(await conn.request(call(5, "echo", text="after"), 5, timeout=5)) == "after"


async def test_32_concurrent_requests_on_one_connection_get_their_own_answers(
    fixture_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(http11, "_TRIM_AFTER", 0.3)
    async with connected(fixture_url, max_idle=8) as (conn, _):

        async def one(i: int) -> None:
            sink = Inbox()
            tool = "test_tool_with_progress" if i % 4 == 0 else "echo"
            raw = await conn.request(
                call(i, tool, text=f"call {i} ✓"), i, timeout=20, on_message=sink
            )
            if i % 4 == 0:
                assert text_of(raw) == "Tool with progress executed successfully"
                assert [m["params"]["progress"] for m in sink.parsed] == [0, 50, 100]
                assert {m["params"]["progressToken"] for m in sink.parsed} == {f"tok-{i}"}
            else:
                assert text_of(raw) == f"call {i} ✓" and sink.parsed == []

        await asyncio.gather(*(one(i) for i in range(32)))
        for _ in range(500):  # SSE answers' streams end just after the answers
            if len(conn._pool.busy) == 1:  # only the standalone stream
                break
            await asyncio.sleep(0.01)
        opened = conn._pool.opened
        # A second burst at once reuses the first one's connections (no churn above max_idle)...
        await asyncio.gather(*(one(i) for i in range(100, 132)))
        assert conn._pool.opened - opened <= 4
        # ...and the surplus goes once the burst is over.
        await asyncio.sleep(0.6)
        assert len(conn._pool.idle) <= 8


async def test_a_session_the_backend_forgot_raises_session_expired_once(fixture_url: str) -> None:
    async with connected(fixture_url) as (conn, _):
        reasons: list[str] = []
        conn.on_close = reasons.append
        assert conn.session_id and conn.protocol_version
        async with httpx.AsyncClient() as client:
            gone = await client.delete(
                fixture_url,
                headers={
                    "Mcp-Session-Id": conn.session_id,
                    "MCP-Protocol-Version": conn.protocol_version,
                },
            )
        assert gone.status_code == 200
        with pytest.raises(SessionExpiredError):
            await conn.request(call(1, "echo", text="x"), 1, timeout=5)
        with pytest.raises(SessionExpiredError):
            await conn.notify(b'{"jsonrpc":"2.0","method":"notifications/roots/list_changed"}')
        await asyncio.sleep(0.3)  # the GET stream ends too; the owner still hears it once
        assert len(reasons) == 1 and "expired" in reasons[0]
        assert conn.closed is not None


async def test_cancelling_a_request_mid_stream_closes_its_connection_and_the_pool_works_on(
    fixture_url: str,
) -> None:
    async with connected(fixture_url) as (conn, _):
        first = Inbox()
        streams = set(conn._pool.busy)  # the standalone GET stream's connection
        task = asyncio.create_task(
            conn.request(call(1, "test_tool_with_progress"), 1, timeout=5, on_message=first)
        )
        await asyncio.wait_for(first.arrived.wait(), 5)
        (mid_response,) = set(conn._pool.busy) - streams
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert mid_response.closed and mid_response not in conn._pool.idle
        for i in range(2, 6):
            assert text_of(await conn.request(call(i, "echo", text=str(i)), i, timeout=5)) == str(i)
        # A JSON request cancelled before its answer: same.
        task = asyncio.create_task(conn.request(call(9, "echo", text="z"), 9, timeout=5))
        await asyncio.sleep(0)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        assert text_of(await conn.request(call(10, "echo", text="ok"), 10, timeout=5)) == "ok"
        assert all(c.response is None and not c.closed for c in conn._pool.idle)


# --------------------------------------------------------------------------- legacy SSE


async def test_legacy_sse_answers_match_by_id_and_the_stream_ending_fails_what_waits() -> None:
    # One SDK server for both halves: its start-up is most of this test's time.
    async with (
        http_echo_server("sse") as server,
        connected(server.url, "sse", {**INIT, "protocolVersion": "2024-11-05"}) as (conn, _),
    ):
        assert conn.protocol_version == "2024-11-05" and conn.session_id is None
        listed = await conn.request(
            b'{"jsonrpc":"2.0","id":"l","method":"tools/list"}', "l", timeout=5
        )
        assert {t["name"] for t in json.loads(listed)["result"]["tools"]} == {"echo", "add"}

        async def one(i: int) -> tuple[int, str]:
            return i, text_of(await conn.request(call(i, "echo", text=f"sse {i} ✓"), i, timeout=10))

        for i, text in await asyncio.gather(*(one(i) for i in range(32))):
            assert text == f"sse {i} ✓"
        assert not conn._pending

        # The backend dies with a request in flight: it fails at once, the owner hears it once.
        reasons: list[str] = []
        conn.on_close = reasons.append
        server.process.send_signal(signal.SIGSTOP)
        waiting = asyncio.create_task(conn.request(call(99, "echo", text="x"), 99, timeout=30))
        await asyncio.sleep(0.1)
        await server.kill()
        with pytest.raises(BackendError):
            await asyncio.wait_for(waiting, 5)
        for _ in range(250):
            if conn.closed is not None:
                break
            await asyncio.sleep(0.02)
        assert conn.closed is not None and len(reasons) == 1
        with pytest.raises(BackendError):
            await conn.request(call(1, "echo", text="x"), 1, timeout=2)


# --------------------------------------------------------------------------- server-everything


def everything_js() -> Path | None:
    """``@modelcontextprotocol/server-everything`` (TypeScript SDK) where
    ``scripts/install-node.sh`` puts it."""
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    for root in (
        os.environ.get("TOOLHIVE_NODE_TOOLS", ""),
        "/var/cache/toolhive-test/node-tools",
        f"{cache}/toolhive-test/node-tools",
    ):
        if not root:
            continue
        script = Path(root, "node_modules/@modelcontextprotocol/server-everything/dist/index.js")
        if script.exists() and Path(root, "bin/node").exists():
            return script
    return None


@contextlib.asynccontextmanager
async def everything(mode: str) -> AsyncIterator[str]:
    script = everything_js()
    if script is None:
        pytest.skip("server-everything is not installed (scripts/install-node.sh)")
    node = script.parents[4] / "bin" / "node"
    port = free_port()
    process = subprocess.Popen(
        [str(node), str(script), mode],
        env={**os.environ, "PORT": str(port)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        await asyncio.to_thread(wait_port, port, process)
        yield f"http://127.0.0.1:{port}{'/sse' if mode == 'sse' else '/mcp'}"
    finally:
        process.terminate()
        await asyncio.to_thread(process.wait, 10)


@pytest.mark.parametrize("mode", ["streamableHttp", "sse"])
async def test_server_everything_over_both_transports(mode: str) -> None:
    """The TypeScript SDK's reference server: calls, progress on the call, and a log message
    it sends outside any request (standalone GET stream / the SSE stream)."""
    transport = "sse" if mode == "sse" else "streamable-http"
    version = "2024-11-05" if mode == "sse" else "2025-06-18"
    async with (
        everything(mode) as url,
        connected(url, transport, {**INIT, "protocolVersion": version}) as (conn, inbox),
    ):
        assert conn.protocol_version == version
        echoed = await conn.request(call(1, "echo", message="über ✓"), 1, timeout=10)
        assert text_of(echoed) == "Echo: über ✓"
        mine = Inbox()
        body = json.dumps(
            {
                "jsonrpc": "2.0",
                "id": 2,
                "method": "tools/call",
                "params": {
                    "name": "trigger-long-running-operation",
                    "arguments": {"duration": 0.3, "steps": 3},
                    "_meta": {"progressToken": "lro"},
                },
            }
        ).encode()
        done = await conn.request(body, 2, timeout=10, on_message=mine)
        assert "completed" in text_of(done).lower()
        # Over legacy SSE progress shares the one stream: the connection's on_message gets it.
        seen = mine if transport == "streamable-http" else inbox
        progress = [m for m in seen.parsed if m.get("method") == "notifications/progress"]
        assert [m["params"]["progress"] for m in progress] == [1, 2, 3]
        toggled = await conn.request(call(3, "toggle-simulated-logging"), 3, timeout=10)
        assert "Started" in text_of(toggled)
        for _ in range(500):
            if "notifications/message" in inbox.methods():
                break
            await asyncio.sleep(0.01)
        assert "notifications/message" in inbox.methods()
        await conn.request(call(4, "toggle-simulated-logging"), 4, timeout=10)


# --------------------------------------------------------------------------- ToolHive's bridge

RAW_STDIO_SERVER = REPO / "core" / "tests" / "transports" / "raw_server.py"


@contextlib.asynccontextmanager
async def toolhive_bridge(proxy_mode: str) -> AsyncIterator[str]:
    """A stdio server (the transport tests' raw one: slow, progress and sampling tools) behind
    ToolHive's own stdio bridge on a real port — what most gateway backends are."""
    from toolhive.proxy.app import build_proxy_app
    from toolhive.testing.mcp_servers import served
    from toolhive.transports.base import TransportOptions
    from toolhive.transports.pipes import LINE_LIMIT, PipeChannel
    from toolhive.transports.stdio import StdioBridge

    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(RAW_STDIO_SERVER),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        limit=LINE_LIMIT,
    )
    assert process.stdout is not None and process.stdin is not None
    try:
        options = TransportOptions(
            workload="vmcp-backend-test",
            stdio=PipeChannel(process.stdout, process.stdin),
            proxy_mode=proxy_mode,
        )
        bridge = StdioBridge(options)
        app = build_proxy_app(bridge, transport_name="stdio", health_interval=0.0)
        async with served(app) as base:
            yield f"{base}{'/sse' if proxy_mode == 'sse' else '/mcp'}"
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()


@pytest.mark.parametrize("proxy_mode", ["streamable-http", "sse"])
async def test_toolhives_own_bridge_as_a_backend(proxy_mode: str) -> None:
    legacy = proxy_mode == "sse"
    params = {**INIT, "protocolVersion": "2024-11-05" if legacy else "2025-11-25"}
    async with (
        toolhive_bridge(proxy_mode) as url,
        connected(url, proxy_mode, params) as (conn, inbox),
    ):
        # A slow answer: the bridge makes it a resumable stream opening with a priming event.
        slept = await conn.request(call(1, "sleep", seconds=0.3), 1, timeout=10)
        assert text_of(slept) == "slept"
        mine = Inbox()
        body = json.dumps(
            {
                "jsonrpc": "2.0",
                "id": 2,
                "method": "tools/call",
                "params": {
                    "name": "progress",
                    "arguments": {"steps": 3},
                    "_meta": {"progressToken": 77},
                },
            }
        ).encode()
        # (The server saw the bridge's own token; the bridge gives ours back on the progress.)
        assert text_of(await conn.request(body, 2, timeout=10, on_message=mine)).startswith(
            "token="
        )
        seen = inbox if legacy else mine
        assert [m["params"]["progress"] for m in seen.parsed] == [1, 2, 3]
        assert {m["params"]["progressToken"] for m in seen.parsed} == {77}
        inbox.parsed.clear()

        # A server-to-client request during a call, answered with notify.
        def sampler(raw: bytes, parsed: dict[str, Any]) -> None:
            if parsed.get("method") != "sampling/createMessage":
                return
            reply = {
                "jsonrpc": "2.0",
                "id": parsed["id"],
                "result": {
                    "role": "assistant",
                    "content": {"type": "text", "text": "sampled"},
                    "model": "m",
                },
            }
            replies.append(asyncio.create_task(conn.notify(json.dumps(reply).encode())))

        replies: list[asyncio.Task[None]] = []
        if legacy:
            conn.on_message = sampler
        sampled = await conn.request(
            call(3, "sample", prompt="p"), 3, timeout=10, on_message=sampler
        )
        assert text_of(sampled) == "sampled" and len(replies) == 1
        await replies[0]
        conn.on_message = inbox
        # A notification outside any request reaches the connection's on_message.
        assert text_of(await conn.request(call(4, "notify"), 4, timeout=10)) == "notified"
        for _ in range(500):
            if "notifications/tools/list_changed" in inbox.methods():
                break
            await asyncio.sleep(0.01)
        assert "notifications/tools/list_changed" in inbox.methods()


# --------------------------------------------------------------------------- raw HTTP server


class RawBackend:
    """A hand-written HTTP/1.1 MCP server: exactly the bytes each test needs."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.tls = tls
        self.connections = 0
        self.last_event_ids: list[str | None] = []
        self.seen_headers: list[dict[str, str]] = []
        self.server: asyncio.Server | None = None
        self.port = 0
        self.writers: set[asyncio.StreamWriter] = set()
        self.handlers: set[asyncio.Task[Any]] = set()
        self.stop = asyncio.Event()

    async def __aenter__(self) -> RawBackend:
        self.server = await asyncio.start_server(self.serve, "127.0.0.1", 0, ssl=self.tls)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        self.stop.set()
        for writer in list(self.writers):
            writer.close()
        await asyncio.gather(*self.handlers, return_exceptions=True)
        await self.server.wait_closed()

    def url(self, path: str = "/mcp") -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}{path}"

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        number = self.connections
        handler = asyncio.current_task()
        assert handler is not None
        self.handlers.add(handler)
        self.writers.add(writer)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                lines = head.decode().split("\r\n")
                method, path, _ = lines[0].split(" ")
                headers = {
                    k.lower(): v for k, v in (line.split(": ", 1) for line in lines[1:] if line)
                }
                headers["x-connection"] = str(number)
                headers["x-authorization-count"] = str(
                    sum(line.lower().startswith("authorization:") for line in lines)
                )
                self.seen_headers.append(headers)
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                if not await self.answer(method, path, headers, body, writer):
                    return
        finally:
            self.writers.discard(writer)
            writer.close()

    async def answer(
        self, method: str, path: str, headers: dict[str, str], body: bytes, w: asyncio.StreamWriter
    ) -> bool:
        """Write one answer; False closes the connection."""
        if path == "/auth":
            w.write(b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n")
            return True
        if method == "DELETE":
            w.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
            return True
        if method == "GET" and path == "/elsewhere":
            # A legacy SSE server naming an endpoint on another origin.
            w.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n")
            w.write(b"event: endpoint\r\ndata: http://198.51.100.7/messages?s=1\r\n\r\n")
            await w.drain()
            await self.stop.wait()
            return False
        if method == "GET":
            return await self.stream(headers, w)
        msg = json.loads(body)
        if "id" not in msg:
            w.write(b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n")
            return True
        if msg["method"] == "initialize":
            result = {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "serverInfo": {"name": "raw", "version": "0"},
            }
            return self.json(w, msg["id"], result, extra=b"Mcp-Session-Id: raw-session-1\r\n")
        name = msg["params"]["name"]
        text = msg["params"]["arguments"].get("text", "")
        answer = json.dumps(
            {
                "jsonrpc": "2.0",
                "id": msg["id"],
                "result": {"content": [{"type": "text", "text": text}]},
            }
        ).encode()
        if name == "chunked":
            w.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
            )
            for i in range(0, len(answer), 1000):
                piece = answer[i : i + 1000]
                w.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                await w.drain()
            w.write(b"0\r\n\r\n")
            return True
        if name == "close-delimited":
            w.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n"
            )
            w.write(answer + b"\n")
            return False
        if name == "hang":
            await self.stop.wait()
            return False
        if name == "drop-after":
            # Answers as keep-alive, then hangs up anyway (as servers do with idle connections).
            self.json(w, msg["id"], json.loads(answer)["result"])
            await w.drain()
            return False
        if name == "sse-big":
            w.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
            )
            note = json.dumps(
                {"jsonrpc": "2.0", "method": "notifications/message", "params": {"data": text}}
            )
            event = (
                b"event: message\r\ndata: "
                + note.encode()
                + b"\r\n\r\ndata: "
                + answer
                + b"\r\n\r\n"
            )
            for i in range(0, len(event), 777):
                piece = event[i : i + 777]
                w.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                await w.drain()
            w.write(b"0\r\n\r\n")
            return True
        w.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s\r\n"
            % (len(answer) + 2, answer)
        )
        return True

    def json(self, w: asyncio.StreamWriter, rid: Any, result: Any, extra: bytes = b"") -> bool:
        data = json.dumps({"jsonrpc": "2.0", "id": rid, "result": result}).encode()
        w.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n%sContent-Length: %d\r\n\r\n%s"
            % (extra, len(data), data)
        )
        return True

    async def stream(self, headers: dict[str, str], w: asyncio.StreamWriter) -> bool:
        """The standalone stream: the first one sends a message and drops; a resumed one sends
        another and stays open."""
        last = headers.get("last-event-id")
        self.last_event_ids.append(last)
        w.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
        )

        def event(data: bytes) -> None:
            w.write(b"%x\r\n%s\r\n" % (len(data), data))

        note = b'{"jsonrpc":"2.0","method":"notifications/tools/list_changed"}'
        if last is None:
            event(b"id: g1\nretry: 50\ndata: \n\n")
            event(b": keep-alive\n\nid: g2\ndata: " + note + b"\n\n")
            await w.drain()
            return False  # drop mid-stream (no terminating chunk)
        event(b"id: g3\ndata: " + note.replace(b"tools", b"prompts") + b"\n\n")
        await w.drain()
        await self.stop.wait()
        return False


async def test_the_standalone_stream_delivers_messages_and_resumes_after_a_drop() -> None:
    async with (
        RawBackend() as raw,
        connected(raw.url(), params={**INIT, "protocolVersion": "2025-06-18"}) as (conn, inbox),
    ):
        assert conn.session_id == "raw-session-1" and conn.protocol_version == "2025-06-18"
        for _ in range(500):
            if len(inbox.parsed) >= 2:
                break
            await asyncio.sleep(0.01)
        assert inbox.methods() == [
            "notifications/tools/list_changed",
            "notifications/prompts/list_changed",
        ]
        assert raw.last_event_ids == [None, "g2"]
        assert conn.closed is None
        posted = [h for h in raw.seen_headers if h.get("content-type") == "application/json"]
        assert posted[0].get("mcp-session-id") is None
        assert all(
            h["mcp-session-id"] == "raw-session-1" and h["mcp-protocol-version"] == "2025-06-18"
            for h in raw.seen_headers[1:]
        )


async def test_chunked_close_delimited_and_sse_bodies_of_256_kib_come_back_whole() -> None:
    big = "x✓" * (128 * 1024)
    async with RawBackend() as raw, connected(raw.url()) as (conn, _):
        for i, tool in enumerate(("chunked", "close-delimited", "plain", "sse-big")):
            mine = Inbox()
            answer = await conn.request(call(i, tool, text=big), i, timeout=10, on_message=mine)
            assert json.loads(answer)["id"] == i and text_of(answer) == big
            assert answer == answer.rstrip()
            if tool == "sse-big":
                assert [m["params"]["data"] for m in mine.parsed] == [big]


async def test_idle_connections_are_reused_and_dropped_ones_cost_no_failed_request() -> None:
    async with RawBackend() as raw, connected(raw.url()) as (conn, _):
        for _ in range(500):  # the standalone stream has dropped once and is back
            if len(raw.last_event_ids) == 2:
                break
            await asyncio.sleep(0.01)
        first = len(raw.seen_headers)
        for i in range(20):
            assert text_of(await conn.request(call(i, "plain", text=str(i)), i, timeout=5)) == str(
                i
            )
        # One keep-alive connection carried all 20.
        assert len({h["x-connection"] for h in raw.seen_headers[first:]}) == 1
        for i in range(20):
            answer = await conn.request(call(i, "drop-after", text=str(i)), i, timeout=5)
            assert text_of(answer) == str(i)


async def test_a_request_written_early_is_answered_and_an_abandoned_one_closes() -> None:
    async with RawBackend() as raw, connected(raw.url()) as (conn, _):
        assert text_of(await conn.request(call(1, "plain", text="warm"), 1, timeout=5)) == "warm"
        seen = len(raw.seen_headers)
        body = call(2, "plain", text="early")
        started = conn.start_request(body)
        assert started is not None  # the warm-up's connection is idle
        for _ in range(500):  # on the wire without anyone awaiting
            if len(raw.seen_headers) > seen:
                break
            await asyncio.sleep(0.01)
        assert len(raw.seen_headers) == seen + 1
        assert text_of(await conn.request(body, 2, timeout=5, started=started)) == "early"
        assert len(raw.seen_headers) == seen + 1  # not sent twice
        abandoned = conn.start_request(call(3, "hang"))
        assert abandoned is not None
        abandoned.abandon()
        for _ in range(500):
            if len(conn._pool.busy) == 1:  # only the standalone stream
                break
            await asyncio.sleep(0.01)
        assert len(conn._pool.busy) == 1 and not conn._pool.idle
        # Connections the backend closes after answering: an early write on one of them is
        # retried on a fresh connection like any other request.
        for i in range(10, 30):
            body = call(i, "drop-after", text=str(i))
            answer = await conn.request(body, i, timeout=5, started=conn.start_request(body))
            assert text_of(answer) == str(i)


async def test_a_401_is_unauthorized_and_names_no_header_value() -> None:
    async with RawBackend() as raw:
        conn = BackendConnection(
            raw.url("/auth"),
            "streamable-http",
            on_message=Inbox(),
            headers=lambda: [(b"Authorization", b"Bearer s3cr3t-token")],
        )
        try:
            with pytest.raises(BackendUnauthorizedError) as caught:
                await conn.initialize(INIT, timeout=5)
            assert "s3cr3t" not in str(caught.value) and "401" in str(caught.value)
            assert raw.seen_headers[-1]["authorization"] == "Bearer s3cr3t-token"
        finally:
            await conn.aclose()


async def test_a_requests_own_header_replaces_the_connections_of_the_same_name() -> None:
    async with RawBackend() as raw:
        inbox = Inbox()
        conn = BackendConnection(
            raw.url(),
            "streamable-http",
            on_message=inbox,
            headers=lambda: [(b"authorization", b"Bearer session"), (b"x-team", b"a")],
        )
        try:
            await conn.initialize(INIT, timeout=5)
            assert raw.seen_headers[0]["authorization"] == "Bearer session"
            caller = [(b"Authorization", b"Bearer caller")]
            await conn.request(call(1, "plain", text="x"), 1, timeout=5, headers=caller)
            seen = raw.seen_headers[-1]
            assert seen["authorization"] == "Bearer caller" and seen["x-authorization-count"] == "1"
            assert seen["x-team"] == "a"
        finally:
            await conn.aclose()


async def test_a_header_that_would_break_the_request_is_refused_before_sending() -> None:
    async with RawBackend() as raw, connected(raw.url()) as (conn, _):
        sent = len(raw.seen_headers)
        with pytest.raises(BackendError) as caught:
            await conn.request(
                call(1, "plain"), 1, timeout=5, headers=[(b"X-Token", b"a\r\nX-Evil: 1")]
            )
        assert "X-Evil" not in str(caught.value)
        # Nor may a setting take over the request's framing.
        for name in (b"Content-Length", b"Transfer-Encoding", b"Host"):
            with pytest.raises(BackendError, match="set by the client"):
                await conn.request(call(2, "plain"), 2, timeout=5, headers=[(name, b"1")])
        assert len(raw.seen_headers) == sent


async def test_an_unanswered_request_times_out_and_its_connection_is_not_reused() -> None:
    async with RawBackend() as raw, connected(raw.url()) as (conn, _):
        with pytest.raises(TimeoutError):
            await conn.request(call(1, "hang"), 1, timeout=0.2)
        assert len(conn._pool.busy) == 1  # only the standalone stream
        assert text_of(await conn.request(call(2, "plain", text="next"), 2, timeout=5)) == "next"


async def test_an_unreachable_backend_is_a_backend_error() -> None:
    conn = BackendConnection(
        f"http://127.0.0.1:{free_port()}/mcp", "streamable-http", on_message=Inbox()
    )
    with pytest.raises(BackendError) as caught:
        await conn.initialize(INIT, timeout=5)
    assert "cannot connect" in str(caught.value)
    await conn.aclose()


def test_the_sse_parser_handles_split_lines_crlf_comments_and_multiline_data() -> None:
    parser = SSEParser()
    stream = b": hi\r\nid: 7\r\nretry: 300\r\nevent: endpoint\r\ndata: /m?x=1\r\n\r\ndata: a\ndata: b\n\n"
    events = [e for i in range(len(stream)) for e in parser.feed(stream[i : i + 1])]
    assert events == [(b"endpoint", b"/m?x=1"), (b"message", b"a\nb")]
    assert parser.last_id == b"7" and parser.retry == 300
    # Lone CR line ends, and a CRLF split between reads is one line end, not two.
    parser = SSEParser()
    assert parser.feed(b"data: x\rdata: y\r") == []
    assert parser.feed(b"\n\r\n") == [(b"message", b"x\ny")]
    assert parser.feed(b"data: {}\r") == [] and parser.feed(b"\r") == [(b"message", b"{}")]


def test_an_answer_is_recognised_by_its_opening_without_parsing_only_when_certain() -> None:
    opening = answer_opening(7)
    answer = b'{"jsonrpc":"2.0","id":7,"result":{"content":[]}}'
    assert plain_answer(answer + b"\r\n", opening) == answer
    assert plain_answer(b'{"jsonrpc":"2.0","id":7,"error":{"code":1}}', opening) is not None
    for other in (
        b'{"jsonrpc":"2.0","id":70,"result":{}}',  # another request's answer
        b'{"jsonrpc":"2.0","id":7,"method":"sampling/createMessage"}',  # a server request
        b'{"jsonrpc": "2.0", "id": 7, "result": {}}',  # spaced: parsed instead
        b'{"jsonrpc":"2.0","id":7,"result":\n{}}',  # two lines: re-encoded on the slow path
        b'{"jsonrpc":"2.0","id":7,"result":"x"',  # not an object's end
    ):
        assert plain_answer(other, opening) is None, other
    assert plain_answer(b'{"jsonrpc":"2.0","id":"a\\"b","result":{}}', answer_opening('a"b'))


def tls_pair(*names: str) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A server context with a certificate for 127.0.0.1 (and the DNS ``names``) and a client
    context trusting only its one-off CA."""
    import datetime
    import ipaddress
    import tempfile

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "backend client test CA")])

    def builder(subject: x509.Name, public: Any) -> x509.CertificateBuilder:
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(ca_name)
            .public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(hours=1))
        )

    ca = (
        builder(ca_name, ca_key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    cert = (
        builder(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]), key.public_key())
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                    *(x509.DNSName(name) for name in names),
                ]
            ),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with tempfile.TemporaryDirectory() as folder:
        chain, private = Path(folder, "cert.pem"), Path(folder, "key.pem")
        chain.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        private.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        server.load_cert_chain(chain, private)
    client = ssl.create_default_context(
        cadata=ca.public_bytes(serialization.Encoding.PEM).decode("ascii")
    )
    return server, client


async def test_https_backends_are_verified_and_work_once_trusted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server_tls, client_tls = tls_pair()
    async with RawBackend(server_tls) as raw:
        # The default trust store does not know the one-off CA: refused, with a safe message.
        conn = BackendConnection(raw.url(), "streamable-http", on_message=Inbox())
        with pytest.raises(BackendError) as caught:
            await conn.initialize(INIT, timeout=5)
        assert "TLS" in str(caught.value)
        await conn.aclose()
        # Trusted (as a system CA bundle would be): the same client speaks MCP over TLS.
        monkeypatch.setattr(http11, "_ssl_context", client_tls)
        async with connected(raw.url()) as (conn, _):
            answer = await conn.request(call(1, "chunked", text="über TLS"), 1, timeout=5)
            assert text_of(answer) == "über TLS"


async def test_a_legacy_endpoint_on_another_origin_is_refused() -> None:
    async with RawBackend() as raw:
        conn = BackendConnection(raw.url("/elsewhere"), "sse", on_message=Inbox())
        try:
            with pytest.raises(BackendError, match="not on its own origin"):
                await conn.initialize({**INIT, "protocolVersion": "2024-11-05"}, timeout=5)
        finally:
            await conn.aclose()


# ------------------------------------------------------------------ HTTP proxies


class ForwardProxy:
    """A small real HTTP proxy: ``CONNECT`` tunnels and absolute-form requests, forwarded to the
    named host (resolved through ``hosts``, as a proxy resolves names its clients never do).
    Written here because Squid is not installed on these machines; it records every request
    line and the ``Proxy-Authorization`` it got, and refuses hosts it does not know (403)."""

    def __init__(self, hosts: dict[str, str]) -> None:
        self.hosts = hosts
        self.seen: list[str] = []
        self.credentials: list[str] = []
        self.port = 0
        self.server: asyncio.Server | None = None
        self.tasks: set[asyncio.Task[Any]] = set()

    async def __aenter__(self) -> ForwardProxy:
        self.server = await asyncio.start_server(self.serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.tasks.add(task)
        upstream: asyncio.StreamWriter | None = None
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                method, target, version = lines[0].split(" ")
                self.seen.append(f"{method} {target}")
                kept = []
                for line in lines[1:]:
                    if line.lower().startswith("proxy-authorization:"):
                        self.credentials.append(line.split(":", 1)[1].strip())
                    elif line:
                        kept.append(line)
                if method == "CONNECT":
                    host, _, port = target.rpartition(":")
                    up = await self.open(host, int(port), writer)
                    if up is None:
                        return
                    writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    await self.copy(reader, up)
                    return
                parts = urllib.parse.urlsplit(target)
                assert parts.scheme == "http", f"not absolute form: {lines[0]}"
                if upstream is None:
                    upstream = await self.open(parts.hostname or "", parts.port or 80, writer)
                    if upstream is None:
                        return
                length = next(
                    (
                        int(v.split(":", 1)[1])
                        for v in kept
                        if v.lower().startswith("content-length:")
                    ),
                    0,
                )
                body = await reader.readexactly(length)
                path = parts.path + (f"?{parts.query}" if parts.query else "")
                upstream.write(
                    f"{method} {path} {version}\r\n".encode()
                    + "".join(f"{line}\r\n" for line in kept).encode("latin-1")
                    + b"\r\n"
                    + body
                )
        finally:
            if upstream is not None:
                upstream.close()
            writer.close()
            self.tasks.discard(task)

    async def open(
        self, host: str, port: int, client: asyncio.StreamWriter
    ) -> asyncio.StreamWriter | None:
        address = self.hosts.get(host)
        if address is None:
            client.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
            await client.drain()
            return None
        up_reader, up_writer = await asyncio.open_connection(address, port)
        # Answers flow back as they come (streams included).
        self.spawn(self.copy(up_reader, client))
        return up_writer

    def spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    @staticmethod
    async def copy(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        try:
            while chunk := await source.read(65536):
                sink.write(chunk)
                await sink.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            sink.close()


def _proxy(url: str, **env: str) -> str:
    from toolhive.vmcp.http11 import proxy_for, split_url

    found = proxy_for(split_url(url)[0], env)
    return "direct" if found is None else found.display()


def test_the_proxy_comes_from_the_environment_by_gos_rules() -> None:
    p = "http://proxy.example:3128"
    # HTTPS_PROXY for https backends, HTTP_PROXY for http ones; the upper-case name wins.
    assert _proxy("https://a.example/mcp", HTTPS_PROXY=p, HTTP_PROXY="http://other:1") == p
    assert _proxy("http://a.example/mcp", HTTPS_PROXY=p) == "direct"
    assert _proxy("http://a.example/mcp", http_proxy=p) == p
    assert _proxy("http://a.example/mcp", HTTP_PROXY=p, http_proxy="http://x:1") == p
    assert _proxy("http://a.example/mcp", HTTP_PROXY="proxy.example:3128") == p  # no scheme
    # localhost and loopback addresses are never proxied.
    for url in ("http://localhost:8080/mcp", "http://127.0.0.5/mcp", "http://[::1]:9/mcp"):
        assert _proxy(url, HTTP_PROXY=p) == "direct"
    # NO_PROXY: names (and their subdomains), .suffix, *.suffix, ports, addresses, CIDR, *.
    cases = {
        "a.example": ("http://a.example/", "http://x.a.example/", "!http://ba.example/"),
        ".example": ("http://a.example/", "!http://example/"),
        "*.example": ("http://a.example/",),
        "a.example:8080": ("http://a.example:8080/", "!http://a.example:8081/"),
        "192.0.2.9": ("http://192.0.2.9:1/", "!http://192.0.2.10/"),
        "192.0.2.9:80": ("http://192.0.2.9/", "!http://192.0.2.9:81/"),
        "10.0.0.0/8": ("http://10.1.2.3/", "!http://11.0.0.1/", "!http://ten.example/"),
        "[2001:db8::1]:443": ("https://[2001:db8::1]/",),
        "*": ("http://anything.example/",),
        " A.EXAMPLE , other": ("http://a.example/",),
    }
    for no_proxy, urls in cases.items():
        for url in urls:
            direct = not url.startswith("!")
            got = _proxy(url.lstrip("!"), HTTP_PROXY=p, HTTPS_PROXY=p, NO_PROXY=no_proxy)
            assert (got == "direct") is direct, (no_proxy, url, got)
    assert _proxy("http://a.example/", HTTP_PROXY=p, no_proxy="a.example") == "direct"


def test_proxy_credentials_are_sent_but_never_shown_and_other_schemes_fail_closed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from toolhive.vmcp.http11 import HttpError, parse_proxy

    proxy = parse_proxy("http://us%40er:s3cret@proxy.example:3128")
    assert proxy.display() == "http://proxy.example:3128"
    assert proxy.authorization == b"Proxy-Authorization: Basic dXNAZXI6czNjcmV0\r\n"
    with pytest.raises(
        HttpError, match=re.escape("socks5://proxy.example from the environment is not")
    ):
        parse_proxy("socks5://user:s3cret@proxy.example:1080")
    monkeypatch.setenv("HTTPS_PROXY", "socks5://user:s3cret@proxy.example:1080")
    with pytest.raises(BackendError) as caught:
        BackendConnection("https://a.example/mcp", "streamable-http", on_message=Inbox())
    assert "s3cret" not in str(caught.value)


async def test_an_http_backend_is_reached_through_http_proxy_in_absolute_form(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with RawBackend() as raw, ForwardProxy({"backend.test": "127.0.0.1"}) as proxy:
        # backend.test resolves only in the proxy: the call cannot have gone direct.
        monkeypatch.setenv("HTTP_PROXY", proxy.url.replace("://", "://alice:pw@"))
        monkeypatch.setenv("NO_PROXY", "elsewhere.test")
        url = f"http://backend.test:{raw.port}/mcp"
        async with connected(url) as (conn, _):
            answer = await conn.request(call(1, "json", text="via proxy"), 1, timeout=5)
            assert text_of(answer) == "via proxy"
            answer = await conn.request(call(2, "chunked", text="again"), 2, timeout=5)
            assert text_of(answer) == "again"
        assert f"POST {url}" in proxy.seen
        assert f"GET {url}" in proxy.seen  # the standalone stream too
        assert set(proxy.credentials) == {"Basic YWxpY2U6cHc="}
        # The proxy's credentials stop at the proxy.
        assert all("proxy-authorization" not in h for h in raw.seen_headers)
        assert {h["host"] for h in raw.seen_headers} == {f"backend.test:{raw.port}"}


async def test_an_https_backend_is_tunnelled_with_connect_and_its_certificate_checked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server_tls, client_tls = tls_pair("backend.test")
    hosts = {"backend.test": "127.0.0.1", "wrong.test": "127.0.0.1"}
    async with RawBackend(server_tls) as raw, ForwardProxy(hosts) as proxy:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        monkeypatch.setattr(http11, "_ssl_context", client_tls)
        url = f"https://backend.test:{raw.port}/mcp"
        async with connected(url) as (conn, _):
            answer = await conn.request(call(1, "json", text="tunnelled"), 1, timeout=5)
            assert text_of(answer) == "tunnelled"
        assert f"CONNECT backend.test:{raw.port}" in proxy.seen
        assert all(line.startswith("CONNECT ") for line in proxy.seen)
        # TLS runs end to end inside the tunnel: a name the certificate lacks is refused.
        conn = BackendConnection(
            f"https://wrong.test:{raw.port}/mcp", "streamable-http", on_message=Inbox()
        )
        with pytest.raises(BackendError, match=re.escape("TLS with https://wrong.test")):
            await conn.initialize(INIT, timeout=5)
        await conn.aclose()
        # A CONNECT the proxy refuses is an error naming the proxy's answer.
        conn = BackendConnection("https://unknown.test/mcp", "streamable-http", on_message=Inbox())
        with pytest.raises(BackendError, match=r"refused to connect .*\(HTTP 403\)"):
            await conn.initialize(INIT, timeout=5)
        await conn.aclose()


async def test_no_proxy_hosts_and_loopback_go_direct(monkeypatch: pytest.MonkeyPatch) -> None:
    async with RawBackend() as raw, ForwardProxy({"backend.test": "127.0.0.1"}) as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.setenv("NO_PROXY", ".test")
        # Loopback: direct, whatever HTTP_PROXY says.
        async with connected(raw.url()) as (conn, _):
            answer = await conn.request(call(1, "json", text="direct"), 1, timeout=5)
            assert text_of(answer) == "direct"
        # A NO_PROXY name is dialled directly: here it resolves nowhere, so it fails.
        conn = BackendConnection(
            f"http://backend.test:{raw.port}/mcp", "streamable-http", on_message=Inbox()
        )
        with pytest.raises(BackendError, match=re.escape("cannot connect to http://backend.test")):
            await conn.initialize(INIT, timeout=5)
        await conn.aclose()
        assert proxy.seen == []


class _ForeignTransport:
    """A transport that is no ``asyncio.Transport`` subclass — as uvloop's are (the proxy runs on
    uvloop whenever it is installed) — delegating everything to a real one."""

    def __init__(self, inner: asyncio.BaseTransport) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


async def test_connections_work_over_transports_that_are_no_asyncio_transport(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    loop = asyncio.get_running_loop()
    original = loop.create_connection
    foreign: list[_ForeignTransport] = []

    async def create_connection(factory: Any, *args: Any, **kwargs: Any) -> Any:
        protocol = factory()

        class Handing(asyncio.Protocol):  # hands the protocol the foreign transport
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                foreign.append(_ForeignTransport(transport))
                protocol.connection_made(foreign[-1])

            def data_received(self, data: bytes) -> None:
                protocol.data_received(data)

            def eof_received(self) -> bool | None:
                return protocol.eof_received()  # type: ignore[no-any-return]

            def connection_lost(self, exc: Exception | None) -> None:
                protocol.connection_lost(exc)

            def pause_writing(self) -> None:
                protocol.pause_writing()

            def resume_writing(self) -> None:
                protocol.resume_writing()

        transport, _ = await original(Handing, *args, **kwargs)
        return transport, protocol

    monkeypatch.setattr(loop, "create_connection", create_connection)
    async with RawBackend() as raw, connected(raw.url()) as (conn, _):
        for i in range(3):
            answer = await conn.request(call(i, "plain", text=f"over {i}"), i, timeout=5)
            assert text_of(answer) == f"over {i}"
    assert foreign and not any(isinstance(t, asyncio.Transport) for t in foreign)
