"""Real MCP traffic for the contract suites: the echo server as a child process (stdio or HTTP), the
proxy app served on a real port, and a session through the official SDK client."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import sys
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from toolhive.contracts.pipes import PipeChannel
    from toolhive.contracts.transport import ASGIApp

#: ``python -m toolhive.testing.echo_server`` with this interpreter.
ECHO_SERVER = (sys.executable, "-m", "toolhive.testing.echo_server")
ECHO_SERVER_NAME = "toolhive-test-echo"
#: Seconds a server gets to start listening, a session to finish.
STARTUP_TIMEOUT = 60.0

INITIALIZE_PARAMS: dict[str, Any] = {
    "protocolVersion": "2025-06-18",
    "capabilities": {},
    "clientInfo": {"name": "toolhive-contract-tests", "version": "0"},
}


def jsonrpc(method: str, id: int | None = None, params: dict[str, Any] | None = None) -> bytes:
    """One newline-terminated JSON-RPC message."""
    message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
    if id is not None:
        message["id"] = id
    if params is not None:
        message["params"] = params
    return json.dumps(message).encode() + b"\n"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class StdioServer:
    """The echo server on pipes; ``channel`` is its stdin/stdout as a transport sees them."""

    process: asyncio.subprocess.Process
    channel: PipeChannel

    async def kill(self) -> None:
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
        await self.process.wait()


@contextlib.asynccontextmanager
async def stdio_echo_server(command: Sequence[str] = ECHO_SERVER) -> AsyncIterator[StdioServer]:
    from toolhive.contracts.pipes import LINE_LIMIT, PipeChannel

    process = await asyncio.create_subprocess_exec(
        *command,
        "stdio",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        limit=LINE_LIMIT,
    )
    assert process.stdout is not None and process.stdin is not None
    server = StdioServer(process, PipeChannel(process.stdout, process.stdin))
    try:
        yield server
    finally:
        await server.kill()


@dataclass
class HttpServer:
    """The echo server speaking ``mode`` on ``port``; ``url`` is its MCP endpoint."""

    process: asyncio.subprocess.Process
    port: int
    mode: str

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{'/sse' if self.mode == 'sse' else '/mcp'}"

    async def kill(self) -> None:
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
        await self.process.wait()


async def wait_listening(port: int, process: asyncio.subprocess.Process) -> None:
    async with asyncio.timeout(STARTUP_TIMEOUT):
        while True:
            if process.returncode is not None:
                msg = f"the echo server exited with {process.returncode} before listening"
                raise AssertionError(msg)
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                await asyncio.sleep(0.05)
                continue
            writer.close()
            await writer.wait_closed()
            return


@contextlib.asynccontextmanager
async def http_echo_server(
    mode: str, command: Sequence[str] = ECHO_SERVER
) -> AsyncIterator[HttpServer]:
    """The echo server speaking ``sse`` or ``streamable-http`` on a free loopback port."""
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        *command,
        mode,
        env={**os.environ, "MCP_PORT": str(port), "MCP_HOST": "127.0.0.1"},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    server = HttpServer(process, port, mode)
    try:
        await wait_listening(port, process)
        yield server
    finally:
        if process.returncode is None:
            process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 10)
        except TimeoutError:
            await server.kill()


@contextlib.asynccontextmanager
async def served(app: ASGIApp, *, sock: socket.socket | None = None) -> AsyncIterator[str]:
    """Serve ``app`` on a free loopback port (or the bound ``sock``) with ToolHive's server runner;
    yield its base URL."""
    from toolhive.proxy.server import ProxyServer, bind_socket

    listening = sock if sock is not None else bind_socket("127.0.0.1", 0)
    server = ProxyServer(app, listening, handle_signals=False)
    task = asyncio.create_task(server.serve())
    try:
        await server.wait_started(task)
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.request_stop()
        await asyncio.wait_for(task, 15)


@dataclass(frozen=True)
class Session:
    """What one MCP session through the proxy saw."""

    server_name: str
    tools: frozenset[str]
    echoed: str
    added: str


def _text(result: Any) -> str:
    assert not result.is_error, result
    return "".join(c.text for c in result.content if c.type == "text")


async def echo_session(
    url: str, *, sse: bool = False, headers: Mapping[str, str] | None = None, text: str = "ok ✓"
) -> Session:
    """Initialize, list tools, call ``echo(text)`` and ``add(20, 22)`` with the official client."""
    import httpx2  # the SDK's HTTP client (a dependency of ``mcp``)
    from mcp import Client
    from mcp.client.sse import sse_client
    from mcp.client.streamable_http import streamable_http_client

    async with contextlib.AsyncExitStack() as stack:
        if sse:
            transport = sse_client(url, headers=dict(headers or {}))
        else:
            http = await stack.enter_async_context(
                httpx2.AsyncClient(
                    headers=dict(headers or {}), timeout=httpx2.Timeout(30, read=300)
                )
            )
            transport = streamable_http_client(url, http_client=http)
        async with asyncio.timeout(STARTUP_TIMEOUT):
            client = await stack.enter_async_context(Client(transport))
            assert client.server_info is not None
            tools = frozenset(t.name for t in (await client.list_tools()).tools)
            echoed = _text(await client.call_tool("echo", {"text": text}))
            added = _text(await client.call_tool("add", {"a": 20, "b": 22}))
            return Session(client.server_info.name, tools, echoed, added)
    raise AssertionError("unreachable")  # pragma: no cover - the stack re-raises


async def stdio_initialize(channel: Any) -> list[str]:
    """Initialize over a raw stdio channel and list the tools (no SDK: a runtime's view)."""
    await channel.send(jsonrpc("initialize", 1, INITIALIZE_PARAMS))
    reply = json.loads(await asyncio.wait_for(channel.readline(), STARTUP_TIMEOUT))
    assert reply.get("id") == 1 and "result" in reply, reply
    assert reply["result"]["serverInfo"]["name"] == ECHO_SERVER_NAME, reply
    await channel.send(jsonrpc("notifications/initialized"))
    await channel.send(jsonrpc("tools/call", 2, {"name": "echo", "arguments": {"text": "hi ✓"}}))
    reply = json.loads(await asyncio.wait_for(channel.readline(), STARTUP_TIMEOUT))
    assert reply.get("id") == 2 and "result" in reply, reply
    assert reply["result"]["content"][0]["text"] == "hi ✓", reply
    await channel.send(jsonrpc("tools/list", 3))
    reply = json.loads(await asyncio.wait_for(channel.readline(), STARTUP_TIMEOUT))
    assert reply.get("id") == 3, reply
    return [tool["name"] for tool in reply["result"]["tools"]]
