"""The stdio bridge in front of real stdio MCP servers, driven by the official client and raw HTTP."""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from typing import Any

import anyio
import httpx
import pytest
from harness import (
    BOTH,
    ECHO_STDIO,
    RAW_STDIO,
    bridged,
    raw_session,
    rpc,
    sampler_for,
    text_of,
)
from mcp import Client
from toolhive.builtin.transports import thv_transports
from toolhive.errors import ToolHiveError
from toolhive.transports.base import Transport, TransportOptions
from toolhive.transports.stdio import ProxyModeNotSupportedError, StdioBridge
from toolhive.transports.stdio.legacy_sse import LegacySseFace
from toolhive.transports.stdio.streamable_http import StreamableHttpFace

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(90)]


def sse_messages(text: str) -> list[dict[str, Any]]:
    return [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: ")]


# --------------------------------------------------------------------------- official client


async def test_official_client_initialize_list_and_call() -> None:
    async with bridged() as b, Client(b.url) as client:
        assert client.server_info is not None
        assert client.server_info.name == "toolhive-test-echo"
        names = {tool.name for tool in (await client.list_tools()).tools}
        assert {"echo", "add"} <= names
        assert text_of(await client.call_tool("echo", {"text": "héllo ✓"})) == "héllo ✓"
        assert text_of(await client.call_tool("add", {"a": 2, "b": 40})) == "42"


async def test_many_clients_share_one_server_and_get_their_own_answers() -> None:
    async with bridged() as b:

        async def worker(n: int, results: dict[int, list[str]]) -> None:
            async with Client(b.url) as client:
                got = []
                for i in range(15):
                    got.append(text_of(await client.call_tool("echo", {"text": f"c{n}-{i}"})))
                    await anyio.sleep(0)
                results[n] = got

        results: dict[int, list[str]] = {}
        with anyio.fail_after(60):
            async with anyio.create_task_group() as tg:
                for n in range(5):
                    tg.start_soon(worker, n, results)
        assert results == {n: [f"c{n}-{i}" for i in range(15)] for n in range(5)}


async def test_server_is_initialized_once_for_many_sessions() -> None:
    async with bridged(RAW_STDIO) as b, httpx.AsyncClient(timeout=30) as http:
        async with Client(b.url) as first, Client(b.url) as second:
            assert first.server_info == second.server_info
            assert first.protocol_version == second.protocol_version
            sid = await raw_session(http, b.url)
            stats = (await rpc(http, b.url, sid, 1, "debug/stats")).json()["result"]
        assert stats["initialize"] == 1
        assert stats["notifications"].count("notifications/initialized") == 1


async def test_progress_reaches_the_request_that_asked_for_it() -> None:
    async with bridged(RAW_STDIO) as b:

        async def run(n: int, seen: dict[int, list[float]]) -> None:
            progress: list[float] = []

            async def on_progress(value: float, total: float | None, message: str | None) -> None:
                progress.append(value)

            async with Client(b.url) as client:
                result = await client.call_tool(
                    "progress", {"steps": 3 + n}, progress_callback=on_progress
                )
                assert not result.is_error
                # the server saw the bridge's token, not the client's
                assert text_of(result).startswith("token=")
            seen[n] = progress

        seen: dict[int, list[float]] = {}
        async with anyio.create_task_group() as tg:
            for n in range(3):
                tg.start_soon(run, n, seen)
        assert seen == {n: [float(i + 1) for i in range(3 + n)] for n in range(3)}


async def test_sampling_request_goes_to_the_calling_session_and_back() -> None:
    sampler = sampler_for("sampled")
    async with bridged(RAW_STDIO) as b:
        async with Client(b.url, sampling_callback=sampler) as client:
            result = await client.call_tool("sample", {"prompt": "hi"})
            assert text_of(result) == "sampled:hi"
        # A session that did not declare sampling cannot be asked: the server gets an error at once.
        async with Client(b.url) as plain:
            result = await plain.call_tool("sample", {"prompt": "hi"})
            assert text_of(result).startswith("error: sampling/createMessage")


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("uv") is None, reason="needs uv to fetch mcp-server-time")
async def test_mcp_server_time_from_pypi() -> None:
    async with bridged(("uv", "tool", "run", "mcp-server-time")) as b:
        with anyio.fail_after(60):
            async with Client(b.url) as client:
                names = {tool.name for tool in (await client.list_tools()).tools}
                assert "get_current_time" in names
                result = await client.call_tool("get_current_time", {"timezone": "UTC"})
                assert "UTC" in text_of(result)


# --------------------------------------------------------------------------- sessions and ids


async def test_ids_are_rewritten_and_restored_across_sessions() -> None:
    async with bridged() as b, httpx.AsyncClient(timeout=30) as http:
        one, two = await raw_session(http, b.url), await raw_session(http, b.url)
        calls = []
        for sid in (one, two):
            for rid in (1, "1", 7, "x-7"):
                calls.append((sid, rid, f"{sid[:6]}/{rid!r}"))
        responses = await asyncio.gather(
            *(
                rpc(http, b.url, sid, rid, "tools/call", {"name": "echo", "arguments": {"text": t}})
                for sid, rid, t in calls
            )
        )
        for (_sid, rid, text), response in zip(calls, responses, strict=True):
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("application/json")
            body = response.json()
            assert body["id"] == rid and type(body["id"]) is type(rid)
            assert body["result"]["content"][0]["text"] == text


async def test_session_header_rules() -> None:
    async with bridged() as b, httpx.AsyncClient(timeout=30) as http:
        missing = await rpc(http, b.url, None, 1, "tools/list")
        assert missing.status_code == 400
        assert missing.json()["error"]["code"] == -32600
        unknown = await rpc(http, b.url, "nope", 1, "tools/list")
        assert unknown.status_code == 404
        assert (await http.get(b.url, headers={"accept": "text/event-stream"})).status_code == 400

        sid = await raw_session(http, b.url)
        assert (await rpc(http, b.url, sid, 2, "tools/list")).status_code == 200
        deleted = await http.delete(b.url, headers={"mcp-session-id": sid})
        assert deleted.status_code == 200
        assert (await rpc(http, b.url, sid, 3, "tools/list")).status_code == 404
        assert (await http.delete(b.url, headers={"mcp-session-id": sid})).status_code == 404

        assert (await http.put(b.url, content=b"{}")).status_code == 405
        assert (await http.post(f"{b.base}/other", json={})).status_code == 404


async def test_discover_probe_gets_method_not_found_and_client_falls_back() -> None:
    async with bridged() as b, httpx.AsyncClient(timeout=30) as http:
        response = await rpc(http, b.url, None, 0, "server/discover", {})
        assert response.status_code == 200
        assert response.json()["error"]["code"] == -32601


async def test_session_expires_after_ttl() -> None:
    async with bridged(session_ttl=0.3) as b, httpx.AsyncClient(timeout=30) as http:
        sid = await raw_session(http, b.url)
        assert (await rpc(http, b.url, sid, 1, "ping")).status_code == 200
        await asyncio.sleep(1.6)
        assert (await rpc(http, b.url, sid, 2, "ping")).status_code == 404


# --------------------------------------------------------------------------- bad input


async def test_batch_is_rejected_and_the_bridge_keeps_serving() -> None:
    async with bridged() as b, httpx.AsyncClient(timeout=30) as http:
        sid = await raw_session(http, b.url)
        batch = [
            {"jsonrpc": "2.0", "id": 1, "method": "ping"},
            {"jsonrpc": "2.0", "id": 2, "method": "ping"},
        ]
        response = await http.post(
            b.url, json=batch, headers={"accept": BOTH, "mcp-session-id": sid}
        )
        assert response.status_code == 400
        assert response.json()["error"]["code"] == -32600
        assert (await rpc(http, b.url, sid, 3, "ping")).json() == {
            "jsonrpc": "2.0",
            "id": 3,
            "result": {},
        }


async def test_malformed_json_is_a_parse_error_and_the_next_request_works() -> None:
    async with bridged() as b, httpx.AsyncClient(timeout=30) as http:
        sid = await raw_session(http, b.url)
        headers = {"accept": BOTH, "mcp-session-id": sid, "content-type": "application/json"}
        response = await http.post(b.url, content=b'{"jsonrpc": "2.0", "id": 1,', headers=headers)
        assert response.status_code == 400
        assert response.json()["error"]["code"] == -32700
        not_rpc = await http.post(b.url, content=b'{"id": 1}', headers=headers)
        assert not_rpc.status_code == 400
        assert not_rpc.json()["error"]["code"] == -32600
        ok = await rpc(
            http, b.url, sid, 2, "tools/call", {"name": "add", "arguments": {"a": 1, "b": 1}}
        )
        assert ok.json()["result"]["content"][0]["text"] == "2"


# --------------------------------------------------------------------------- response framing


async def test_sse_only_client_gets_an_event_stream() -> None:
    async with bridged() as b, httpx.AsyncClient(timeout=30) as http:
        sid = await raw_session(http, b.url)
        response = await rpc(http, b.url, sid, 5, "ping", accept="text/event-stream")
        assert response.headers["content-type"].startswith("text/event-stream")
        assert sse_messages(response.text) == [{"jsonrpc": "2.0", "id": 5, "result": {}}]


async def test_progress_turns_the_response_into_a_stream() -> None:
    async with bridged(RAW_STDIO) as b, httpx.AsyncClient(timeout=30) as http:
        sid = await raw_session(http, b.url)
        params = {"name": "progress", "arguments": {"steps": 2}, "_meta": {"progressToken": "tok"}}
        response = await rpc(http, b.url, sid, 9, "tools/call", params)
        assert response.headers["content-type"].startswith("text/event-stream")
        messages = sse_messages(response.text)
        assert [m.get("method") for m in messages] == [
            "notifications/progress",
            "notifications/progress",
            None,
        ]
        assert all(m["params"]["progressToken"] == "tok" for m in messages[:2])
        assert messages[-1]["id"] == 9
        # JSON-only clients get the answer alone
        only_json = await rpc(http, b.url, sid, 10, "tools/call", params, accept="application/json")
        assert only_json.headers["content-type"].startswith("application/json")
        assert only_json.json()["id"] == 10


async def test_list_changed_reaches_every_get_stream() -> None:
    async with bridged(RAW_STDIO) as b, httpx.AsyncClient(timeout=30) as http:
        sids = [await raw_session(http, b.url) for _ in range(2)]
        received: dict[str, list[dict[str, Any]]] = {}
        opened = asyncio.Event()
        count = 0

        async def listen(sid: str) -> None:
            nonlocal count
            headers = {"accept": "text/event-stream", "mcp-session-id": sid}
            async with http.stream("GET", b.url, headers=headers) as response:
                assert response.status_code == 200
                count += 1
                if count == len(sids):
                    opened.set()
                async for line in response.aiter_lines():
                    if line.startswith("data: "):
                        received[sid] = [json.loads(line[6:])]
                        return

        async with anyio.create_task_group() as tg:
            for sid in sids:
                tg.start_soon(listen, sid)
            await opened.wait()
            await asyncio.sleep(0.05)
            result = await rpc(http, b.url, sids[0], 1, "tools/call", {"name": "notify"})
            assert result.json()["result"]["content"][0]["text"] == "notified"
        assert received == {
            sid: [{"jsonrpc": "2.0", "method": "notifications/tools/list_changed"}] for sid in sids
        }


async def test_client_cancellation_is_forwarded_with_the_backend_id() -> None:
    async with bridged(RAW_STDIO) as b, httpx.AsyncClient(timeout=30) as http:
        sid = await raw_session(http, b.url)
        call = asyncio.create_task(
            rpc(
                http,
                b.url,
                sid,
                "slow",
                "tools/call",
                {"name": "sleep", "arguments": {"seconds": 30}},
            )
        )
        await asyncio.sleep(0.3)
        started = time.monotonic()
        cancel = await http.post(
            b.url,
            json={
                "jsonrpc": "2.0",
                "method": "notifications/cancelled",
                "params": {"requestId": "slow", "reason": "user"},
            },
            headers={"accept": BOTH, "mcp-session-id": sid},
        )
        assert cancel.status_code == 202
        response = await call
        assert time.monotonic() - started < 5
        assert response.json()["id"] == "slow" and "error" in response.json()
        stats = (await rpc(http, b.url, sid, 2, "debug/stats")).json()["result"]
        assert len(stats["cancelled"]) == 1 and isinstance(stats["cancelled"][0], int)


# --------------------------------------------------------------------------- failures


async def test_server_killed_mid_call_fails_every_waiting_client_at_once() -> None:
    async with bridged(RAW_STDIO) as b, httpx.AsyncClient(timeout=30) as http:
        sids = [await raw_session(http, b.url) for _ in range(3)]
        calls = [
            asyncio.create_task(
                rpc(
                    http,
                    b.url,
                    sid,
                    1,
                    "tools/call",
                    {"name": "sleep", "arguments": {"seconds": 60}},
                )
            )
            for sid in sids
        ]
        await asyncio.sleep(0.3)
        started = time.monotonic()
        b.server.process.kill()
        responses = await asyncio.gather(*calls)
        assert time.monotonic() - started < 5
        for response in responses:
            assert response.json()["error"]["code"] == -32000
        later = await rpc(http, b.url, sids[0], 2, "ping")
        assert later.status_code == 503
        assert later.json()["error"]["code"] == -32000
        health = await http.get(f"{b.base}/health")
        assert health.status_code == 503
        assert health.json()["status"] == "unhealthy"
        with pytest.raises(ConnectionError):
            await b.bridge.ping(1)


async def test_official_client_sees_an_error_when_the_server_crashes() -> None:
    async with bridged(RAW_STDIO) as b, Client(b.url) as client:
        started = time.monotonic()
        with pytest.raises(Exception, match=r"exited|closed"):
            await client.call_tool("exit", {})
        assert time.monotonic() - started < 5


async def test_request_timeout_gives_a_jsonrpc_error_and_cancels_on_the_server() -> None:
    async with (
        bridged(RAW_STDIO, request_timeout=0.5) as b,
        httpx.AsyncClient(timeout=30) as http,
    ):
        sid = await raw_session(http, b.url)
        started = time.monotonic()
        response = await rpc(
            http, b.url, sid, 1, "tools/call", {"name": "sleep", "arguments": {"seconds": 10}}
        )
        elapsed = time.monotonic() - started
        assert 0.4 < elapsed < 3
        assert response.json()["error"]["code"] == -32001
        stats = (await rpc(http, b.url, sid, 2, "debug/stats")).json()["result"]
        assert len(stats["cancelled"]) == 1


def test_request_timeout_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOOLHIVE_PROXY_REQUEST_TIMEOUT", "2m")
    bridge = StdioBridge(TransportOptions(workload="w", stdio=_NullChannel()))
    assert bridge.relay.timeout == 120.0
    monkeypatch.setenv("TOOLHIVE_PROXY_REQUEST_TIMEOUT", "soon")  # not a duration: the default
    assert StdioBridge(TransportOptions(workload="w", stdio=_NullChannel())).relay.timeout == 60.0


# --------------------------------------------------------------------------- ping and factory


async def test_ping_uses_a_bridge_owned_id() -> None:
    async with bridged() as b:
        await b.bridge.ping(30)  # the SDK server may still be importing (slow on a loaded machine)
        async with Client(b.url) as client:
            await b.bridge.ping(5)
            assert text_of(await client.call_tool("echo", {"text": "after ping"})) == "after ping"


class _NullChannel:
    async def send(self, line: bytes) -> None:
        raise NotImplementedError

    async def readline(self) -> bytes:
        return b""

    async def aclose(self) -> None:
        return None


def test_the_builtin_plugin_loads_the_bridge_in_either_mode() -> None:
    spec = next(s for s in thv_transports() if s.name == "stdio")
    factory = spec.load()
    bridge = factory(TransportOptions(workload="w", stdio=_NullChannel()))
    assert isinstance(bridge, Transport)
    legacy = factory(TransportOptions(workload="w", stdio=_NullChannel(), proxy_mode="sse"))
    assert isinstance(legacy, Transport) and isinstance(legacy.face, LegacySseFace)
    assert isinstance(bridge.face, StreamableHttpFace)
    with pytest.raises(ProxyModeNotSupportedError) as info:
        factory(TransportOptions(workload="w", stdio=_NullChannel(), proxy_mode="websocket"))
    assert isinstance(info.value, ToolHiveError)
    assert "streamable-http or sse" in str(info.value)
    with pytest.raises(ToolHiveError):
        factory(TransportOptions(workload="w"))


async def test_requests_before_start_and_after_close_get_503() -> None:
    async with bridged(ECHO_STDIO) as b, httpx.AsyncClient(timeout=30) as http:
        sid = await raw_session(http, b.url)
        await b.bridge.aclose()
        response = await rpc(http, b.url, sid, 1, "ping")
        assert response.status_code == 503


# --------------------------------------------------------------------------- protocol edges


async def test_official_clients_in_both_modes_pass_strict_protocol_validation() -> None:
    async with (
        bridged(strict_protocol_validation=True) as b,
        httpx.AsyncClient(timeout=30) as http,
    ):
        for mode in ("auto", "legacy"):
            async with Client(b.url, mode=mode) as client:
                assert text_of(await client.call_tool("echo", {"text": mode})) == mode
        sid = await raw_session(http, b.url)
        headers = {"accept": BOTH, "mcp-session-id": sid}
        body = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
        odd = await http.post(b.url, json=body, headers={**headers, "mcp-protocol-version": "1999"})
        assert odd.status_code == 400
        assert "MCP-Protocol-Version" in odd.json()["error"]["message"]
        known = {**headers, "mcp-protocol-version": "2025-06-18"}
        assert (await http.post(b.url, json=body, headers=known)).json()["result"] == {}


async def test_wrong_content_type_is_415_and_the_next_request_works() -> None:
    async with bridged() as b, httpx.AsyncClient(timeout=30) as http:
        sid = await raw_session(http, b.url)
        body = b'{"jsonrpc":"2.0","id":1,"method":"ping"}'
        for ctype in ("text/plain", "application/x-www-form-urlencoded"):
            headers = {"accept": BOTH, "mcp-session-id": sid, "content-type": ctype}
            response = await http.post(b.url, content=body, headers=headers)
            assert response.status_code == 415
            assert response.json()["error"]["code"] == -32600
        charset = {"accept": BOTH, "mcp-session-id": sid}
        charset["content-type"] = "application/json; charset=utf-8"
        assert (await http.post(b.url, content=body, headers=charset)).json()["result"] == {}


async def test_large_messages_pass_and_oversized_bodies_are_refused() -> None:
    async with bridged(RAW_STDIO) as b, httpx.AsyncClient(timeout=60) as http:
        sid = await raw_session(http, b.url)
        text = "x" * (3 * 1024 * 1024)
        big = await rpc(
            http, b.url, sid, 1, "tools/call", {"name": "echo", "arguments": {"text": text}}
        )
        assert big.json()["result"]["content"][0]["text"] == text
        huge = "y" * (5 * 1024 * 1024)
        refused = await rpc(
            http, b.url, sid, 2, "tools/call", {"name": "echo", "arguments": {"text": huge}}
        )
        assert refused.status_code == 413
        assert (await rpc(http, b.url, sid, 3, "ping")).json()["result"] == {}
