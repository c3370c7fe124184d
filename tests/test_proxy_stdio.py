"""`thv proxy stdio WORKLOAD`, driven as a stdio MCP client would: JSON-RPC lines in, lines out.

Workloads are the echo fixture under the process runtime (fast), in every transport a workload can
have: stdio behind the streamable-HTTP bridge, stdio behind the legacy SSE bridge, streamable-http and
sse servers behind the reverse proxy.
"""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
import time
from typing import Any

import anyio
import pytest
from mcp import StdioServerParameters
from mcp.client.stdio import stdio_client

from tests.conftest import FIXTURES, Thv, process_runtime_available, require_or_skip

PREFIX = "prx-stdio"
ECHO = str(FIXTURES / "echo_server.py")

INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "thv-proxy-stdio-test", "version": "1"},
    },
}
INITIALIZED = {"jsonrpc": "2.0", "method": "notifications/initialized"}


@pytest.fixture(autouse=True)
def _process_runtime() -> None:
    if not process_runtime_available():
        require_or_skip("bubblewrap and uv for the process runtime")


class Bridge:
    """`thv proxy stdio` as a subprocess; lines written to stdin, stdout lines read on a thread."""

    def __init__(self, thv: Thv, workload: str) -> None:
        self.proc = subprocess.Popen(
            [thv.exe, "proxy", "stdio", workload],
            env=thv.env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self.lines: queue.Queue[bytes] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)

    def send(self, message: Any) -> None:
        assert self.proc.stdin is not None
        raw = message if isinstance(message, bytes) else json.dumps(message).encode()
        self.proc.stdin.write(raw + b"\n")
        self.proc.stdin.flush()

    def receive(self, timeout: float = 60) -> dict[str, Any]:
        line = self.lines.get(timeout=timeout)
        assert line.endswith(b"\n") and line.count(b"\n") == 1
        message = json.loads(line)
        assert isinstance(message, dict), message
        return message

    def answer(self, request_id: int, timeout: float = 60) -> dict[str, Any]:
        """The response to ``request_id`` (server notifications before it are skipped)."""
        deadline = time.monotonic() + timeout
        while True:
            message = self.receive(max(0.1, deadline - time.monotonic()))
            if message.get("id") == request_id and "method" not in message:
                return message

    def close(self) -> tuple[int, str]:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            code = self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise AssertionError("thv proxy stdio did not exit on stdin EOF") from None
        return code, self._finish()

    def _finish(self) -> str:
        """Collect stderr and close every pipe (no ResourceWarning)."""
        self._reader.join(10)
        assert self.proc.stdout is not None and self.proc.stderr is not None
        err = self.proc.stderr.read().decode()
        self.proc.stdout.close()
        self.proc.stderr.close()
        return err

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            self.proc.stdin.close()
        if self.proc.stderr is not None and not self.proc.stderr.closed:
            self._finish()


def _run(thv: Thv, name: str, transport: str, *extra: str) -> None:
    mode = "stdio" if transport == "stdio" else transport
    thv(
        "run",
        sys.executable,
        "--runtime",
        "process",
        "--name",
        name,
        "--transport",
        transport,
        *extra,
        "--",
        ECHO,
        mode,
    )


def _session(bridge: Bridge) -> None:
    bridge.send(INITIALIZE)
    init = bridge.answer(1)
    assert init["result"]["serverInfo"]["name"] == "toolhive-test-echo", init
    bridge.send(INITIALIZED)
    bridge.send({"jsonrpc": "2.0", "id": 2, "method": "tools/list"})
    tools = bridge.answer(2)["result"]["tools"]
    assert sorted(t["name"] for t in tools) == ["add", "echo"]
    # Several calls in flight at once, answered by id.
    for i in range(3, 8):
        bridge.send(
            {
                "jsonrpc": "2.0",
                "id": i,
                "method": "tools/call",
                "params": {"name": "add", "arguments": {"a": i, "b": 100}},
            }
        )
    answers: dict[int, str] = {}
    while len(answers) < 5:
        message = bridge.receive()
        if "result" in message:
            answers[message["id"]] = message["result"]["content"][0]["text"]
    assert answers == {i: str(i + 100) for i in range(3, 8)}


@pytest.mark.parametrize(
    ("transport", "extra"),
    [
        ("stdio", ()),
        ("streamable-http", ()),
        ("sse", ()),
        ("stdio", ("--proxy-mode", "sse")),
    ],
    ids=["stdio", "streamable-http", "sse", "stdio-sse"],
)
def test_proxy_stdio_against_each_workload_kind(
    thv: Thv, transport: str, extra: tuple[str, ...]
) -> None:
    name = f"{PREFIX}-{transport}{'-sse' if extra else ''}"
    _run(thv, name, transport, *extra)
    bridge = Bridge(thv, name)
    try:
        _session(bridge)
        # Pending answers are still delivered when stdin ends right after the request.
        bridge.send(
            {
                "jsonrpc": "2.0",
                "id": 99,
                "method": "tools/call",
                "params": {"name": "echo", "arguments": {"text": "last words"}},
            }
        )
        code, stderr = bridge.close()
        last = bridge.answer(99, timeout=5)
        assert last["result"]["content"][0]["text"] == "last words"
    finally:
        bridge.kill()
    assert code == 0, stderr


def test_batches_and_garbage_are_rejected_and_the_bridge_keeps_going(thv: Thv) -> None:
    name = f"{PREFIX}-batch"
    _run(thv, name, "stdio")
    bridge = Bridge(thv, name)
    try:
        bridge.send(INITIALIZE)
        bridge.answer(1)
        bridge.send(INITIALIZED)
        bridge.send([{"jsonrpc": "2.0", "id": 2, "method": "tools/list"}])
        error = bridge.receive()
        assert error["id"] is None and error["error"]["code"] == -32600
        assert "batch" in error["error"]["message"]
        bridge.send(b"{not json")
        assert bridge.receive()["error"]["code"] == -32700
        bridge.send({"jsonrpc": "2.0", "id": 3, "method": "no/such/method"})
        assert bridge.answer(3)["error"]["code"] == -32601
        bridge.send({"jsonrpc": "2.0", "id": 4, "method": "ping"})
        assert bridge.answer(4)["result"] == {}
        code, stderr = bridge.close()
    finally:
        bridge.kill()
    assert code == 0, stderr


def test_official_stdio_client_through_proxy_stdio(thv: Thv) -> None:
    name = f"{PREFIX}-official"
    _run(thv, name, "stdio")

    async def main() -> str:
        from mcp import Client

        params = StdioServerParameters(command=thv.exe, args=["proxy", "stdio", name], env=thv.env)
        with anyio.fail_after(60):
            async with Client(stdio_client(params)) as client:
                result = await client.call_tool("echo", {"text": "via stdio"})
        return "".join(c.text for c in result.content if c.type == "text")

    assert anyio.run(main) == "via stdio"


def test_proxy_stdio_refuses_unknown_and_stopped_workloads(thv: Thv) -> None:
    r = thv("proxy", "stdio", f"{PREFIX}-nope", check=False)
    assert r.returncode != 0 and f"{PREFIX}-nope" in r.stderr
    name = f"{PREFIX}-stopped"
    _run(thv, name, "stdio")
    thv("stop", name)
    r = thv("proxy", "stdio", name, check=False)
    assert r.returncode != 0 and "thv start" in r.stderr
