"""Scaffolding for the gateway's auth tests: real processes (``thv vmcp serve``, ``thv proxy run``,
the SDK echo server), a raw JSON-RPC client that sees HTTP statuses, and an official-SDK session
with a bearer token."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.conformance.suite import free_port
from tests.conftest import Thv

ACCEPT = {"accept": "application/json, text/event-stream"}
SERVING = re.compile(r"serving at (http://127\.0\.0\.1:\d+/mcp)")
PROXYING = re.compile(r" at (http://127\.0\.0\.1:\d+/\S*) \(Ctrl-C")


def listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


HEADER_SERVER = Path(__file__).with_name("vmcp_header_server.py")


@contextlib.contextmanager
def echo_backend(
    command: tuple[str, ...] = ("-m", "toolhive.testing.echo_server", "streamable-http"),
    path: str = "/mcp",
) -> Iterator[str]:
    """An SDK server over HTTP (default: the echo server over streamable HTTP, tools ``echo``,
    ``add``); yields its URL (``path``: ``/mcp``, or ``/sse`` for the legacy transport)."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, *command],
        env={**os.environ, "MCP_HOST": "127.0.0.1", "MCP_PORT": str(port)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while not listening(port):
            assert process.poll() is None, f"{command} exited"
            assert time.monotonic() < deadline, f"{command} did not listen"
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}{path}"
    finally:
        process.terminate()
        process.wait(timeout=10)


@dataclass
class Running:
    """A foreground ``thv`` process whose stderr is collected (for the never-a-secret checks)."""

    process: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)
    url: str = ""

    @property
    def output(self) -> str:
        return "".join(self.lines)


@contextlib.contextmanager
def foreground(thv: Thv, args: list[str], ready: re.Pattern[str]) -> Iterator[Running]:
    """Run ``thv ARGS`` until it prints a line matching ``ready`` (group 1: its URL); stop it
    with SIGTERM on exit. Everything it printed stays in ``Running.lines``."""
    process = subprocess.Popen(
        [thv.exe, *args],
        env=thv.env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    running = Running(process)
    found = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            running.lines.append(line)
            match = ready.search(line)
            if match and not found.is_set():
                running.url = match.group(1)
                found.set()
        found.set()  # exited: stop waiting

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        found.wait(60)
        assert running.url, f"thv {' '.join(args)} did not start:\n{running.output}"
        yield running
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        reader.join(10)
        if process.stdout is not None:
            process.stdout.close()


def serve_gateway(thv: Thv, config: Path) -> contextlib.AbstractContextManager[Running]:
    """``thv --debug vmcp serve --config CONFIG --port 0`` (debug: the most it ever logs)."""
    return foreground(
        thv, ["--debug", "vmcp", "serve", "--config", str(config), "--port", "0"], SERVING
    )


def refused_start(thv: Thv, config: Path, port: int) -> subprocess.CompletedProcess[str]:
    """``thv vmcp serve`` expected to refuse; asserts it exited non-zero with nothing on ``port``."""
    proc = thv(
        "vmcp", "serve", "--config", str(config), "--port", str(port), check=False, timeout=60
    )
    assert proc.returncode != 0, proc.stdout + proc.stderr
    assert "serving at" not in proc.stderr
    assert not listening(port)
    return proc


@contextlib.contextmanager
def protected_proxy(thv: Thv, target: str, oidc: list[str], name: str) -> Iterator[Running]:
    """``thv proxy run NAME --target-uri TARGET`` behind ToolHive's auth middleware (``oidc``:
    the ``--oidc-*`` flags); yields it with its MCP URL."""
    args = ["proxy", "run", name, "--target-uri", target, *oidc]
    with foreground(thv, args, PROXYING) as running:
        yield running


class RawClient:
    """A streamable-HTTP MCP client raw enough to see statuses and headers."""

    def __init__(self, url: str, token: str | None = None) -> None:
        self.url = url
        self.headers = dict(ACCEPT)
        if token:
            self.headers["authorization"] = f"Bearer {token}"
        self.next_id = 0

    def rpc(self, method: str, params: Mapping[str, Any] | None = None) -> httpx.Response:
        self.next_id += 1
        body = {"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params or {}}
        return httpx.post(self.url, json=body, headers=self.headers, timeout=30)

    def initialize(self) -> RawClient:
        response = self.rpc(
            "initialize",
            {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "vmcp-auth-e2e", "version": "1"},
            },
        )
        assert response.status_code == 200, response.text
        self.headers["mcp-session-id"] = response.headers["mcp-session-id"]
        self.headers["mcp-protocol-version"] = "2025-06-18"
        body = {"jsonrpc": "2.0", "method": "notifications/initialized"}
        httpx.post(self.url, json=body, headers=self.headers, timeout=30)
        return self


def message(response: httpx.Response) -> dict[str, Any]:
    """The JSON-RPC message of a JSON or SSE answer."""
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        for line in response.text.splitlines():
            if line.startswith("data:"):
                found: dict[str, Any] = json.loads(line[5:])
                return found
        raise AssertionError(f"no data in {response.text!r}")
    answer: dict[str, Any] = response.json()
    return answer


@dataclass(frozen=True)
class Session:
    tools: list[str]
    results: dict[str, str]


async def _sdk_session(url: str, token: str, calls: Mapping[str, Mapping[str, Any]]) -> Session:
    import httpx2  # the SDK's HTTP client (a dependency of ``mcp``)
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    headers = {"authorization": f"Bearer {token}"}
    async with contextlib.AsyncExitStack() as stack:
        http = await stack.enter_async_context(
            httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30, read=60))
        )
        async with asyncio.timeout(60):
            client = await stack.enter_async_context(
                Client(streamable_http_client(url, http_client=http))
            )
            tools = sorted(t.name for t in (await client.list_tools()).tools)
            results = {}
            for name, arguments in calls.items():
                result = await client.call_tool(name, dict(arguments))
                assert not result.is_error, result
                results[name] = "".join(c.text for c in result.content if c.type == "text")
            return Session(tools, results)
    raise AssertionError("unreachable")  # pragma: no cover - the stack re-raises


def sdk_session(url: str, token: str, calls: Mapping[str, Mapping[str, Any]]) -> Session:
    """Initialize, list the tools and make ``calls`` with the official client and a bearer token."""
    return asyncio.run(_sdk_session(url, token, calls))
