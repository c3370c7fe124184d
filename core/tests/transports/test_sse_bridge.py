"""Legacy SSE mode of the stdio bridge (``--proxy-mode sse``), driven by the official ``sse_client``
and raw HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import anyio
import httpx
import pytest
from harness import ECHO_STDIO, INIT_PARAMS, RAW_STDIO, Bridged, bridged, sampler_for, text_of
from mcp import Client
from mcp.client.sse import sse_client

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(90)]


class RawSSE:
    """One legacy SSE session over raw HTTP: the stream's events in a queue, POSTs to its endpoint."""

    def __init__(self, http: httpx.AsyncClient, b: Bridged) -> None:
        self.http = http
        self.b = b
        self.events: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
        self.comments = 0
        self.endpoint = ""
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> RawSSE:
        self._task = asyncio.create_task(self._read())
        event, data = await asyncio.wait_for(self.events.get(), 5)
        assert event == "endpoint"
        self.endpoint = data
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, httpx.HTTPError):
            await self._task

    async def _read(self) -> None:
        async with self.http.stream("GET", self.b.url) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            event = "message"
            async for line in response.aiter_lines():
                if line.startswith(":"):
                    self.comments += 1
                elif line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: "):
                    self.events.put_nowait((event, line[6:]))
                    event = "message"

    async def post(self, body: Any, **kwargs: Any) -> httpx.Response:
        return await self.http.post(f"{self.b.base}{self.endpoint}", json=body, **kwargs)

    async def message(self, timeout: float = 5) -> dict[str, Any]:
        event, data = await asyncio.wait_for(self.events.get(), timeout)
        assert event == "message"
        return dict(json.loads(data))


async def test_official_sse_client_lists_and_calls_tools() -> None:
    async with bridged(ECHO_STDIO, proxy_mode="sse") as b:
        for mode in ("auto", "legacy"):
            async with Client(sse_client(b.url), mode=mode) as client:
                assert client.server_info is not None
                assert client.server_info.name == "toolhive-test-echo"
                assert {"echo", "add"} <= {t.name for t in (await client.list_tools()).tools}
                assert text_of(await client.call_tool("echo", {"text": f"{mode} ✓"})) == f"{mode} ✓"
        with anyio.fail_after(5):
            while b.bridge.relay.table.sessions:  # closing the stream ends the session
                await asyncio.sleep(0.02)


async def test_several_sse_sessions_share_one_server() -> None:
    async with bridged(RAW_STDIO, proxy_mode="sse") as b:
        results: dict[int, list[str]] = {}

        async def session(n: int) -> None:
            progress: list[float] = []

            async def on_progress(value: float, total: float | None, message: str | None) -> None:
                progress.append(value)

            async with Client(sse_client(b.url), sampling_callback=sampler_for(f"s{n}")) as client:
                got = [
                    text_of(await client.call_tool("echo", {"text": f"s{n}-{i}"})) for i in range(5)
                ]
                got.append(
                    text_of(
                        await client.call_tool(
                            "sample", {"prompt": "p"}, progress_callback=on_progress
                        )
                    )
                )
                await client.call_tool("progress", {"steps": 3}, progress_callback=on_progress)
                got.append(repr(progress))
                results[n] = got

        with anyio.fail_after(60):
            async with anyio.create_task_group() as tg:
                for n in range(4):
                    tg.start_soon(session, n)
        for n in range(4):
            echoes = [f"s{n}-{i}" for i in range(5)]
            assert results[n] == [*echoes, f"s{n}:p", repr([1.0, 2.0, 3.0])]


async def test_endpoint_event_answers_on_the_stream_and_keepalive_comments() -> None:
    async with (
        bridged(RAW_STDIO, proxy_mode="sse", keepalive_interval=0.2) as b,
        httpx.AsyncClient(timeout=30) as http,
        RawSSE(http, b) as sse,
    ):
        assert sse.endpoint.startswith("/messages?session_id=")
        init = {"jsonrpc": "2.0", "id": "i", "method": "initialize", "params": INIT_PARAMS}
        accepted = await sse.post(init)
        assert accepted.status_code == 202 and accepted.content == b""
        answer = await sse.message()
        assert answer["id"] == "i" and answer["result"]["serverInfo"]["name"] == "raw-test-server"
        await sse.post({"jsonrpc": "2.0", "method": "notifications/initialized"})
        call = {"jsonrpc": "2.0", "id": 7, "method": "tools/call"}
        await sse.post({**call, "params": {"name": "echo", "arguments": {"text": "hi"}}})
        assert (await sse.message())["result"]["content"][0]["text"] == "hi"
        discover = await sse.post({"jsonrpc": "2.0", "id": 8, "method": "server/discover"})
        assert discover.status_code == 202
        assert (await sse.message())["error"]["code"] == -32601
        # idle: keep-alive comments keep arriving
        await asyncio.sleep(0.7)
        assert sse.comments >= 2


async def test_sse_mode_errors() -> None:
    async with (
        bridged(ECHO_STDIO, proxy_mode="sse") as b,
        httpx.AsyncClient(timeout=30) as http,
        RawSSE(http, b) as sse,
    ):
        ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
        missing = await http.post(f"{b.base}/messages", json=ping)
        assert missing.status_code == 400
        unknown = await http.post(f"{b.base}/messages?session_id=nope", json=ping)
        assert unknown.status_code == 404
        assert (await sse.post([ping, ping])).json()["error"]["code"] == -32600
        bad = await http.post(
            f"{b.base}{sse.endpoint}",
            content=b"{oops",
            headers={"content-type": "application/json"},
        )
        assert bad.status_code == 400 and bad.json()["error"]["code"] == -32700
        wrong_type = await http.post(
            f"{b.base}{sse.endpoint}", content=b"{}", headers={"content-type": "text/plain"}
        )
        assert wrong_type.status_code == 415
        assert (await http.post(f"{b.base}/mcp", json=ping)).status_code == 404
        assert (await http.post(f"{b.base}/sse", json=ping)).status_code == 405
        # the session still works after all that
        init = {"jsonrpc": "2.0", "id": "i", "method": "initialize", "params": INIT_PARAMS}
        assert (await sse.post(init)).status_code == 202
        assert (await sse.message())["id"] == "i"
        assert (await sse.post(ping)).status_code == 202
        assert await sse.message() == {"jsonrpc": "2.0", "id": 1, "result": {}}


async def test_sse_stream_ends_when_the_server_dies() -> None:
    async with (
        bridged(RAW_STDIO, proxy_mode="sse") as b,
        httpx.AsyncClient(timeout=30) as http,
        RawSSE(http, b) as sse,
    ):
        init = {"jsonrpc": "2.0", "id": "i", "method": "initialize", "params": INIT_PARAMS}
        await sse.post(init)
        await sse.message()
        params = {"name": "sleep", "arguments": {"seconds": 30}}
        await sse.post({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": params})
        await asyncio.sleep(0.2)
        b.server.process.kill()
        assert (await sse.message())["error"]["code"] == -32000
        assert (await http.get(b.url)).status_code == 503
