"""Routing in the stdio bridge when many sessions share one server: progress, sampling, roots,
resource subscriptions, log levels — each message must reach exactly the session it belongs to."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx
import pytest
from harness import (
    BOTH,
    RAW_STDIO,
    Bridged,
    bridged,
    raw_session,
    rpc,
    sampler_for,
    text_of,
    wait_get_streams,
)
from mcp import Client
from mcp.client.session import ClientRequestContext
from mcp_types import (
    ListRootsResult,
    Root,
)

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]


class Listener:
    """A session's ``GET /mcp`` stream, read into a queue of JSON-RPC messages."""

    def __init__(self) -> None:
        self.messages: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def next(self, timeout: float = 5) -> dict[str, Any]:
        return await asyncio.wait_for(self.messages.get(), timeout)


@contextlib.asynccontextmanager
async def listening(http: httpx.AsyncClient, b: Bridged, sid: str) -> AsyncIterator[Listener]:
    listener = Listener()
    opened = asyncio.Event()

    async def read() -> None:
        headers = {"accept": "text/event-stream", "mcp-session-id": sid}
        async with http.stream("GET", b.url, headers=headers) as response:
            assert response.status_code == 200
            opened.set()
            async for line in response.aiter_lines():
                if line.startswith("data: "):
                    listener.messages.put_nowait(json.loads(line[6:]))

    task = asyncio.create_task(read())
    await asyncio.wait_for(opened.wait(), 5)
    try:
        yield listener
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, httpx.HTTPError):
            await task


async def call(http: httpx.AsyncClient, b: Bridged, sid: str, tool: str, **args: Any) -> str:
    response = await rpc(http, b.url, sid, "c", "tools/call", {"name": tool, "arguments": args})
    body = response.json()
    assert "result" in body, body
    return str(body["result"]["content"][0]["text"])


async def stats(http: httpx.AsyncClient, b: Bridged, sid: str) -> dict[str, Any]:
    response = await rpc(http, b.url, sid, "stats", "debug/stats")
    return dict(response.json()["result"])


# --------------------------------------------------------------------------- many sessions


@pytest.mark.parametrize("sessions", [2, 16])
async def test_concurrent_sessions_get_their_own_answers_progress_and_sampling(
    sessions: int,
) -> None:
    """Interleaved echo, progress and sampling calls from N official clients on one server."""
    async with bridged(RAW_STDIO) as b:
        results: dict[int, dict[str, Any]] = {}

        async def session(n: int) -> None:
            tag = f"s{n}"
            progress: list[float] = []

            async def on_progress(value: float, total: float | None, message: str | None) -> None:
                progress.append(value)

            async with Client(b.url, sampling_callback=sampler_for(tag)) as client:
                got: dict[str, Any] = {"echo": [], "sampled": []}
                for i in range(3):
                    got["echo"].append(
                        text_of(await client.call_tool("echo", {"text": f"{tag}-{i}"}))
                    )
                    # the progress token links the sampling request to this call
                    sampled = await client.call_tool(
                        "sample", {"prompt": f"p{i}"}, progress_callback=on_progress
                    )
                    got["sampled"].append(text_of(sampled))
                    await client.call_tool(
                        "progress", {"steps": 2 + n % 3}, progress_callback=on_progress
                    )
                got["progress"] = progress
                results[n] = got

        with anyio.fail_after(90):
            async with anyio.create_task_group() as tg:
                for n in range(sessions):
                    tg.start_soon(session, n)
        for n in range(sessions):
            assert results[n]["echo"] == [f"s{n}-{i}" for i in range(3)]
            assert results[n]["sampled"] == [f"s{n}:p{i}" for i in range(3)]
            steps = [float(i + 1) for i in range(2 + n % 3)]
            assert results[n]["progress"] == steps * 3
        assert not b.bridge.relay.table.pending and not b.bridge.relay.table.server_requests


async def test_unlinked_sampling_goes_to_the_only_busy_session_or_is_refused() -> None:
    async with (
        bridged(RAW_STDIO) as b,
        Client(b.url, sampling_callback=sampler_for("a")) as a,
        Client(b.url, sampling_callback=sampler_for("b")) as other,
    ):
        # No token in the sampling request: the only session with a call in flight caused it.
        result = await a.call_tool("sample", {"prompt": "x", "link": False})
        assert text_of(result) == "a:x"
        # Two sessions that can sample both have calls in flight: no guess, the server is told.
        async with anyio.create_task_group() as tg:
            tg.start_soon(other.call_tool, "sleep", {"seconds": 1.5})
            await anyio.sleep(0.3)
            result = await a.call_tool("sample", {"prompt": "y", "link": False})
        assert text_of(result).startswith("error: sampling/createMessage: no single")


async def test_roots_request_reaches_the_session_that_declared_roots() -> None:
    async def roots(ctx: ClientRequestContext) -> ListRootsResult:
        return ListRootsResult(roots=[Root(uri="file:///work/a", name="a")])

    async with (
        bridged(RAW_STDIO) as b,
        Client(b.url) as plain,
        Client(b.url, list_roots_callback=roots) as rooted,
    ):
        # ``plain`` calls, but only ``rooted`` could answer: the server gets an error.
        refused = json.loads(text_of(await plain.call_tool("roots", {})))
        assert refused["error"]["code"] == -32601
        answered = json.loads(text_of(await rooted.call_tool("roots", {})))
        assert answered["result"]["roots"] == [{"uri": "file:///work/a", "name": "a"}]


async def test_server_sees_relayable_capabilities_on_its_one_initialize() -> None:
    async with bridged(RAW_STDIO) as b, httpx.AsyncClient(timeout=30) as http:
        sid = await raw_session(http, b.url, {"experimental": {"x": {}}})
        capabilities = (await stats(http, b, sid))["capabilities"]
        assert capabilities == {
            "experimental": {"x": {}},
            "sampling": {},
            "elicitation": {},
            "roots": {"listChanged": True},
        }


# --------------------------------------------------------------------------- notifications


async def test_resource_updates_reach_only_subscribers_and_subscriptions_are_ref_counted() -> None:
    uri = "res://doc"
    async with bridged(RAW_STDIO) as b, httpx.AsyncClient(timeout=30) as http:
        a, c, d = [await raw_session(http, b.url) for _ in range(3)]
        async with listening(http, b, a) as la, listening(http, b, c) as lc:
            async with listening(http, b, d) as ld:
                for sid in (a, c):
                    ok = await rpc(http, b.url, sid, 1, "resources/subscribe", {"uri": uri})
                    assert ok.json() == {"jsonrpc": "2.0", "id": 1, "result": {}}
                assert (await stats(http, b, a))["subscribe"] == [uri]  # one for both sessions

                await call(http, b, d, "touch", uri=uri)
                await call(http, b, d, "touch", uri=f"{uri}/part")  # a sub-resource
                await call(http, b, d, "touch", uri="res://other")
                await call(http, b, d, "notify")  # a marker every session gets
                for listener in (la, lc):
                    got = [(await listener.next())["params"]["uri"] for _ in range(2)]
                    assert got == [uri, f"{uri}/part"]
                    assert (await listener.next())["method"].endswith("list_changed")
                # the session that did not subscribe sees only the marker
                assert (await ld.next())["method"] == "notifications/tools/list_changed"

            # the first unsubscriber leaves the server subscribed for the other
            await rpc(http, b.url, a, 2, "resources/unsubscribe", {"uri": uri})
            assert (await stats(http, b, a))["unsubscribe"] == []
            await call(http, b, a, "touch", uri=uri)
            assert (await lc.next())["params"]["uri"] == uri
            await call(http, b, a, "notify")
            assert (await la.next())["method"] == "notifications/tools/list_changed"

        # the last subscriber's session ends: the server is unsubscribed
        assert (await http.delete(b.url, headers={"mcp-session-id": c})).status_code == 200
        with anyio.fail_after(5):
            while (await stats(http, b, a))["unsubscribe"] != [uri]:
                await asyncio.sleep(0.05)
        assert b.bridge.relay.intercepted.subscribed == {}


async def test_log_messages_follow_each_sessions_level() -> None:
    async with bridged(RAW_STDIO) as b, httpx.AsyncClient(timeout=30) as http:
        quiet, chatty, unset = [await raw_session(http, b.url) for _ in range(3)]
        bad = await rpc(http, b.url, quiet, 1, "logging/setLevel", {"level": "loud"})
        assert bad.json()["error"]["code"] == -32602
        for sid, level in ((quiet, "error"), (chatty, "debug")):
            ok = await rpc(http, b.url, sid, 1, "logging/setLevel", {"level": level})
            assert ok.json() == {"jsonrpc": "2.0", "id": 1, "result": {}}
        # the server is told the lowest level any session wants, once per change
        assert (await stats(http, b, quiet))["levels"] == ["error", "debug"]

        async with (
            listening(http, b, quiet) as lq,
            listening(http, b, chatty) as lc,
            listening(http, b, unset) as lu,
        ):
            await call(http, b, unset, "log", level="warning", text="w")
            await call(http, b, unset, "log", level="critical", text="c")
            for listener in (lc, lu):
                assert [(await listener.next())["params"]["data"] for _ in range(2)] == ["w", "c"]
            assert (await lq.next())["params"]["data"] == "c"

        await http.delete(b.url, headers={"mcp-session-id": chatty})
        with anyio.fail_after(5):
            while (await stats(http, b, quiet))["levels"] != ["error", "debug", "error"]:
                await asyncio.sleep(0.05)


@pytest.mark.filterwarnings("ignore::mcp.shared.exceptions.MCPDeprecationWarning")
async def test_official_client_logging_and_subscription_round_trip() -> None:
    logs: list[Any] = []

    async def on_log(params: Any) -> None:
        logs.append(params.data)

    async with bridged(RAW_STDIO) as b, Client(b.url, logging_callback=on_log) as client:
        await client.set_logging_level("info")
        await client.subscribe_resource("res://x")
        await wait_get_streams(b, 1)
        await client.call_tool("log", {"level": "debug", "text": "hidden"})
        await client.call_tool("log", {"level": "info", "text": "shown"})
        with anyio.fail_after(5):
            while not logs:
                await anyio.sleep(0.02)
        assert logs == ["shown"]
        await client.unsubscribe_resource("res://x")
        assert b.bridge.relay.intercepted.subscribed == {}


# --------------------------------------------------------------------------- disconnects


async def test_client_disconnecting_mid_stream_does_not_disturb_the_bridge() -> None:
    async with bridged(RAW_STDIO) as b, httpx.AsyncClient(timeout=30) as http:
        sid = await raw_session(http, b.url)
        params = {"name": "progress", "arguments": {"steps": 30}, "_meta": {"progressToken": 1}}
        body = {"jsonrpc": "2.0", "id": "p", "method": "tools/call", "params": params}
        headers = {"accept": BOTH, "mcp-session-id": sid}
        async with http.stream("POST", b.url, json=body, headers=headers) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            async for line in response.aiter_lines():
                if line.startswith("data: "):
                    break  # hang up after the first progress event
        async with listening(http, b, sid):
            pass  # and a GET stream that comes and goes
        assert await call(http, b, sid, "echo", text="still here") == "still here"
        async with Client(b.url) as client:
            assert text_of(await client.call_tool("echo", {"text": "new"})) == "new"
        with anyio.fail_after(5):
            # The abandoned call finished on the server and was dropped.
            while b.bridge.relay.table.pending:
                await asyncio.sleep(0.05)
