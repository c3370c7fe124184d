"""Resumable SSE streams in the stdio bridge (SEP-1699, protocol 2025-11-25): priming events,
event ids, and ``GET`` + ``Last-Event-ID`` after a dropped connection — driven over real HTTP
against the raw stdio server, and with the official client."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from harness import RAW_STDIO, bridged
from mcp import Client
from toolhive.transports.stdio.event_log import RETRY_MS

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]

BOTH = "application/json, text/event-stream"
RESUMABLE = "2025-11-25"


async def session(http: httpx.AsyncClient, url: str, version: str = RESUMABLE) -> str:
    params = {
        "protocolVersion": version,
        "capabilities": {},
        "clientInfo": {"name": "r", "version": "1"},
    }
    response = await http.post(
        url,
        json={"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": params},
        headers={"accept": BOTH},
    )
    assert response.status_code == 200, response.text
    assert response.json()["result"]["protocolVersion"] == version
    sid = response.headers["mcp-session-id"]
    note = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    await http.post(url, json=note, headers={"accept": BOTH, "mcp-session-id": sid})
    return sid


def call(id: int, tool: str, **arguments: Any) -> dict[str, Any]:
    params = {"name": tool, "arguments": arguments}
    return {"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": params}


def events(text: str) -> list[dict[str, str]]:
    """SSE events as dicts of their fields (comments dropped)."""
    out = []
    for block in text.split("\n\n"):
        fields: dict[str, str] = {}
        for line in block.splitlines():
            if line and not line.startswith(":"):
                name, _, value = line.partition(":")
                fields[name] = value.removeprefix(" ")
        if fields:
            out.append(fields)
    return out


async def read_events(response: httpx.Response, count: int) -> list[dict[str, str]]:
    """The first ``count`` events of a streaming response."""
    buffer = ""
    async for chunk in response.aiter_text():
        buffer += chunk
        found = events(buffer[: buffer.rfind("\n\n") + 2]) if "\n\n" in buffer else []
        if len(found) >= count:
            return found[:count]
    raise AssertionError(f"stream ended after {events(buffer)}")


async def test_slow_request_streams_with_a_priming_event_and_fast_ones_stay_json() -> None:
    async with bridged(RAW_STDIO) as b, httpx.AsyncClient(timeout=30) as http:
        sid = await session(http, b.url)
        headers = {"accept": BOTH, "mcp-session-id": sid}
        fast = await http.post(b.url, json=call(1, "echo", text="hi"), headers=headers)
        assert fast.headers["content-type"].startswith("application/json")
        slow = await http.post(b.url, json=call(2, "sleep", seconds=0.4), headers=headers)
        assert slow.headers["content-type"].startswith("text/event-stream")
        priming, answer = events(slow.text)
        assert priming["data"] == "" and priming["retry"] == str(RETRY_MS)
        assert json.loads(answer["data"])["id"] == 2
        stream, first = priming["id"].split(".")
        assert answer["id"] == f"{stream}.{int(first) + 1}"


async def test_sessions_on_older_protocols_get_no_priming_events() -> None:
    async with bridged(RAW_STDIO) as b, httpx.AsyncClient(timeout=30) as http:
        sid = await session(http, b.url, "2025-06-18")
        headers = {"accept": BOTH, "mcp-session-id": sid}
        slow = await http.post(b.url, json=call(2, "sleep", seconds=0.3), headers=headers)
        assert slow.headers["content-type"].startswith("application/json")
        assert slow.json()["id"] == 2
        get = {"accept": "text/event-stream", "mcp-session-id": sid, "last-event-id": "5.1"}
        async with http.stream("GET", b.url, headers=get) as stream:
            assert stream.status_code == 200  # Last-Event-ID ignored: a plain GET stream
            await stream.aclose()


@pytest.mark.parametrize("resume_after_answer", [True, False], ids=["answered", "still-running"])
async def test_dropped_stream_is_resumed_with_last_event_id(resume_after_answer: bool) -> None:
    async with bridged(RAW_STDIO) as b, httpx.AsyncClient(timeout=30) as http:
        sid = await session(http, b.url)
        headers = {"accept": BOTH, "mcp-session-id": sid}
        async with http.stream(
            "POST", b.url, json=call(7, "sleep", seconds=0.6), headers=headers
        ) as r:
            assert r.headers["content-type"].startswith("text/event-stream")
            (priming,) = await read_events(r, 1)
        # the connection is gone; the call keeps running on the server
        if resume_after_answer:
            await asyncio.sleep(0.9)
        get = {"accept": "text/event-stream", "mcp-session-id": sid, "last-event-id": priming["id"]}
        resumed = await http.get(b.url, headers=get)
        assert resumed.status_code == 200
        (answer,) = events(resumed.text)
        message = json.loads(answer["data"])
        assert message["id"] == 7 and message["result"]["content"][0]["text"] == "slept"
        stats = await http.post(
            b.url, json={"jsonrpc": "2.0", "id": 8, "method": "debug/stats"}, headers=headers
        )
        assert stats.json()["result"]["cancelled"] == []  # never cancelled on the server
        # resuming from the last event again: nothing missed, the stream is over
        again = {**get, "last-event-id": answer["id"]}
        assert events((await http.get(b.url, headers=again)).text) == []


async def test_get_stream_replays_what_was_missed_while_disconnected() -> None:
    async with bridged(RAW_STDIO) as b, httpx.AsyncClient(timeout=30) as http:
        sid = await session(http, b.url)
        headers = {"accept": BOTH, "mcp-session-id": sid}
        get = {"accept": "text/event-stream", "mcp-session-id": sid}
        async with http.stream("GET", b.url, headers=get) as stream:
            (priming,) = await read_events(stream, 1)
        assert priming["data"] == "" and priming["id"].startswith("0.")
        done = await http.post(b.url, json=call(3, "notify"), headers=headers)
        assert done.json()["result"]["content"][0]["text"] == "notified"
        async with http.stream("GET", b.url, headers={**get, "last-event-id": priming["id"]}) as s:
            new_priming, missed = await read_events(s, 2)
        assert new_priming["data"] == ""
        assert json.loads(missed["data"]) == {
            "jsonrpc": "2.0",
            "method": "notifications/tools/list_changed",
        }
        assert int(missed["id"].split(".")[1]) > int(priming["id"].split(".")[1])


async def test_bad_and_unknown_last_event_ids_are_refused_clearly() -> None:
    async with bridged(RAW_STDIO) as b, httpx.AsyncClient(timeout=30) as http:
        sid = await session(http, b.url)
        get = {"accept": "text/event-stream", "mcp-session-id": sid}
        bad = await http.get(b.url, headers={**get, "last-event-id": "evt-1"})
        assert bad.status_code == 400 and "Last-Event-ID" in bad.json()["error"]["message"]
        unknown = await http.get(b.url, headers={**get, "last-event-id": "999.1"})
        assert unknown.status_code == 404
        assert "no resumable stream" in unknown.json()["error"]["message"]
        # another session's stream cannot be resumed from here
        other = await session(http, b.url)
        headers = {"accept": BOTH, "mcp-session-id": other}
        slow = await http.post(b.url, json=call(1, "sleep", seconds=0.3), headers=headers)
        key = events(slow.text)[0]["id"]
        stolen = await http.get(b.url, headers={**get, "last-event-id": key})
        assert stolen.status_code == 404


async def test_official_client_gets_slow_answers_over_a_primed_stream() -> None:
    async with bridged(RAW_STDIO) as b, Client(b.url) as client:
        results = await asyncio.gather(
            *(client.call_tool("sleep", {"seconds": 0.3}) for _ in range(3))
        )
        assert [r.content[0].text for r in results] == ["slept"] * 3
        assert (await client.call_tool("echo", {"text": "after"})).content[0].text == "after"
        # the slow calls really went out as primed, resumable streams (the quick echo did not)
        (session,) = b.bridge.relay.table.sessions.values()
        assert session.resumable and len(session.replay) == 3
        assert all(log.done for log in session.replay.values())
