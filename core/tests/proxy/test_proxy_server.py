"""The server runner: port binding, graceful SIGTERM, and what the proxy path imports."""

from __future__ import annotations

import asyncio
import json
import selectors
import signal
import socket
import subprocess
import sys
import textwrap
import time

import httpx
import pytest
from harness import RAW_SERVER, RAW_STDIO, bridged
from toolhive.errors import PortInUseError, ToolHiveError
from toolhive.proxy.server import bind_socket, http_implementation

pytestmark = pytest.mark.timeout(60)


def test_bind_socket_picks_a_port_and_refuses_a_busy_one() -> None:
    with bind_socket("127.0.0.1", 0) as sock:
        port = sock.getsockname()[1]
        assert port > 0
        with pytest.raises(
            PortInUseError, match=f"proxy port {port} on 127.0.0.1 is already in use"
        ):
            bind_socket("127.0.0.1", port)
    with bind_socket("localhost", 0) as sock:
        assert sock.getsockname()[1] > 0


def test_bind_socket_reports_an_unusable_host() -> None:
    with pytest.raises(ToolHiveError):
        bind_socket("203.0.113.7", 0)  # TEST-NET-3: not an address of this machine


def test_http_implementation_is_installed() -> None:
    impl = http_implementation()
    assert impl in ("httptools", "h11")
    __import__(impl)


SCRIPT = textwrap.dedent(
    """
    import asyncio, sys
    from toolhive.proxy.app import build_proxy_app
    from toolhive.proxy.server import bind_socket, serve
    from toolhive.transports.base import TransportOptions
    from toolhive.transports.pipes import PipeChannel
    from toolhive.transports.stdio import StdioBridge

    async def main():
        proc = await asyncio.create_subprocess_exec(
            sys.executable, sys.argv[1], stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
        )
        bridge = StdioBridge(TransportOptions(workload="t", stdio=PipeChannel(proc.stdout, proc.stdin)))
        sock = bind_socket("127.0.0.1", 0)
        print(sock.getsockname()[1], flush=True)
        await serve(build_proxy_app(bridge, transport_name="stdio"), sock)
        print("server exit code", await proc.wait(), flush=True)

    asyncio.run(main())
    """
)


def test_sigterm_shuts_down_gracefully_even_with_an_open_stream() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, str(RAW_SERVER)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        url = f"http://127.0.0.1:{port}/mcp"

        async def scenario() -> None:
            async with httpx.AsyncClient(timeout=10) as http:
                init = await http.post(
                    url,
                    json={
                        "jsonrpc": "2.0",
                        "id": 1,
                        "method": "initialize",
                        "params": {"protocolVersion": "2025-06-18", "capabilities": {}},
                    },
                )
                sid = init.headers["mcp-session-id"]
                headers = {"accept": "text/event-stream", "mcp-session-id": sid}
                async with http.stream("GET", url, headers=headers) as stream:
                    assert stream.status_code == 200
                    proc.send_signal(signal.SIGTERM)
                    started = time.monotonic()
                    async for _ in stream.aiter_bytes():
                        pass  # the proxy ends the stream instead of waiting for us
                    assert time.monotonic() - started < 5

        asyncio.run(scenario())
        out, err = proc.communicate(timeout=15)
        assert proc.returncode == 0, err
        assert "server exit code 0" in out  # the stdio server saw EOF and exited on its own
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def test_the_proxy_path_does_not_import_the_mcp_sdk_or_starlette() -> None:
    code = (
        "import sys, json\n"
        "import toolhive.proxy.app, toolhive.proxy.server\n"
        "import toolhive.transports.stdio, toolhive.transports.reverse_proxy\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('mcp', 'mcp_types', 'starlette', 'pydantic_settings', 'anyio'))))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    heavy = json.loads(out)
    assert not [m for m in heavy if m.split(".")[0] in ("mcp", "mcp_types", "starlette")], heavy


def test_port_busy_before_anything_starts() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        with pytest.raises(PortInUseError) as info:
            bind_socket("127.0.0.1", port)
        assert info.value.exit_code != 0
        assert "--proxy-port" in str(info.value)


class _CountingSelector(selectors.DefaultSelector):
    """Counts the times the event loop went to sleep (a ``select`` that may block)."""

    sleeps = 0

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        if timeout is None or timeout > 0:
            _CountingSelector.sleeps += 1
        return super().select(timeout)


def test_an_idle_proxy_wakes_about_once_a_second_and_stops_at_once() -> None:
    async def scenario() -> tuple[int, float]:
        async with bridged(RAW_STDIO) as b, httpx.AsyncClient(timeout=10) as http:
            assert (await http.get(f"{b.base}/health")).status_code == 200
            await asyncio.sleep(0.5)  # let start-up timers run out
            before = _CountingSelector.sleeps
            await asyncio.sleep(3)
            sleeps = _CountingSelector.sleeps - before
            stopping = time.monotonic()
        return sleeps, time.monotonic() - stopping

    with asyncio.Runner(loop_factory=lambda: asyncio.SelectorEventLoop(_CountingSelector())) as r:
        sleeps, stop_seconds = r.run(scenario())
    # uvicorn's own loop would wake 30 times in 3 s, the bridge's sweeper 3 more.
    assert sleeps <= 8, sleeps
    assert stop_seconds < 3, stop_seconds
