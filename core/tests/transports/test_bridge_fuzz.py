"""Property: whatever JSON-RPC-ish traffic a client sends, the stdio bridge answers every request
exactly once with its own id, rejects the rest cleanly, never crashes, and keeps serving.

The bridge (in front of ``raw_server.py``) runs for the whole module in its own thread and event
loop; hypothesis drives it with batches of concurrent POSTs from one session.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from harness import RAW_STDIO, Bridged, bridged
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.timeout(300)

BOTH = "application/json, text/event-stream"
ACCEPTS = [BOTH, "application/json", "text/event-stream", "*/*"]
INIT = {
    "jsonrpc": "2.0",
    "id": 0,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "f"}},
}

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
ids = (
    json_scalars
    | st.lists(st.integers(), max_size=2)
    | st.dictionaries(st.text(max_size=3), st.integers(), max_size=1)
)
methods = st.sampled_from(
    [
        "ping",
        "tools/list",
        "tools/call",
        "resources/subscribe",
        "resources/unsubscribe",
        "logging/setLevel",
        "debug/stats",
        "initialize",
        "server/discover",
        "notifications/cancelled",
        "notifications/initialized",
        "notifications/roots/list_changed",
    ]
) | st.text(max_size=15)
tool_calls = st.fixed_dictionaries(
    {
        "name": st.sampled_from(
            ["echo", "progress", "notify", "touch", "log", "sample", "roots", "nope"]
        ),
        "arguments": st.fixed_dictionaries(
            {},
            optional={
                "text": st.text(max_size=20),
                "steps": st.integers(0, 3),
                "uri": st.text(max_size=8),
                "level": st.sampled_from(["debug", "error", "bogus"]),
            },
        ),
    },
    optional={"_meta": st.fixed_dictionaries({"progressToken": json_values})},
)
params = (
    tool_calls
    | st.fixed_dictionaries({"uri": json_values})
    | st.fixed_dictionaries({"level": st.sampled_from(["debug", "info", "error", "nope"])})
    | st.fixed_dictionaries({"requestId": ids, "reason": st.text(max_size=5)})
    | json_values
)


@st.composite
def messages(draw: st.DrawFn) -> Any:
    """Mostly well-formed requests and notifications, with every kind of breakage mixed in."""
    kind = draw(
        st.sampled_from(["request", "request", "request", "notification", "response", "junk"])
    )
    if kind == "junk":
        return draw(
            json_values | st.lists(st.fixed_dictionaries({"jsonrpc": st.just("2.0")}), max_size=2)
        )
    msg: dict[str, Any] = {}
    if draw(st.integers(0, 9)):
        msg["jsonrpc"] = "2.0"
    else:
        msg["jsonrpc"] = draw(json_scalars)
    if kind == "response":
        msg["id"] = draw(ids)
        msg[draw(st.sampled_from(["result", "error"]))] = draw(json_values)
        return msg
    msg["method"] = draw(methods) if draw(st.integers(0, 19)) else draw(json_scalars)
    if kind == "request":
        msg["id"] = (
            draw(st.integers(-(2**64), 2**64) | st.text(max_size=10))
            if draw(st.integers(0, 5))
            else draw(ids)
        )
    if draw(st.booleans()):
        msg["params"] = draw(params)
    return msg


def expected_kind(msg: Any) -> str:
    """What a correct bridge must make of ``msg`` (JSON-RPC 2.0 as MCP restricts it)."""
    if not isinstance(msg, dict) or msg.get("jsonrpc") != "2.0":
        return "invalid"
    if msg.get("method") is not None:
        if not isinstance(msg["method"], str):
            return "invalid"
        if "id" not in msg:
            return "notification"
        if type(msg["id"]) not in (str, int):
            return "invalid"
        if msg.get("params") is not None and not isinstance(msg["params"], dict | list):
            return "invalid"
        return "request"
    if "id" in msg and (("result" in msg) != ("error" in msg)):
        return "response"
    return "invalid"


def last_message(response: httpx.Response) -> dict[str, Any]:
    if response.headers["content-type"].startswith("text/event-stream"):
        data = [line[6:] for line in response.text.splitlines() if line.startswith("data: ")]
        assert data, response.text
        answers = [json.loads(d) for d in data]
        assert all("method" in m for m in answers[:-1]), (
            answers
        )  # only notifications/requests before
        return dict(answers[-1])
    return dict(response.json())


@pytest.fixture(scope="module")
def fuzz_target() -> Iterator[tuple[Bridged, str]]:
    ready = threading.Event()
    box: dict[str, Any] = {}

    async def run() -> None:
        async with bridged(RAW_STDIO, request_timeout=10) as b:
            box["bridged"], box["loop"], box["stop"] = (
                b,
                asyncio.get_running_loop(),
                asyncio.Event(),
            )
            ready.set()
            await box["stop"].wait()

    thread = threading.Thread(target=asyncio.run, args=(run(),), name="fuzz-bridge")
    thread.start()
    assert ready.wait(30), "the bridge did not start"
    b: Bridged = box["bridged"]
    with httpx.Client(timeout=30) as http:
        response = http.post(b.url, json=INIT, headers={"accept": BOTH})
        sid = response.headers["mcp-session-id"]
    try:
        yield b, sid
    finally:
        box["loop"].call_soon_threadsafe(box["stop"].set)
        thread.join(30)


async def exchange(url: str, sid: str, batch: list[tuple[Any, str]]) -> None:
    async with httpx.AsyncClient(timeout=30) as http:

        async def one(msg: Any, accept: str) -> None:
            headers = {"accept": accept, "mcp-session-id": sid, "content-type": "application/json"}
            response = await http.post(url, content=json.dumps(msg).encode(), headers=headers)
            kind = expected_kind(msg)
            assert response.status_code < 500, (msg, response.status_code, response.text)
            if kind == "request":
                assert response.status_code == 200, (msg, response.text)
                answer = last_message(response)
                assert answer["id"] == msg["id"] and type(answer["id"]) is type(msg["id"]), (
                    msg,
                    answer,
                )
                assert ("result" in answer) != ("error" in answer), answer
            elif kind == "notification":
                assert response.status_code == 202, (msg, response.text)
            else:  # invalid, batches and responses to requests nobody made
                assert response.status_code == 400, (msg, response.text)
                assert "error" in response.json()

        await asyncio.gather(*(one(msg, accept) for msg, accept in batch))
        # and a normal call afterwards works
        call = {"jsonrpc": "2.0", "id": "after", "method": "tools/call"}
        call["params"] = {"name": "echo", "arguments": {"text": "ok"}}
        response = await http.post(url, json=call, headers={"accept": BOTH, "mcp-session-id": sid})
        assert response.json()["result"]["content"][0]["text"] == "ok"


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(batch=st.lists(st.tuples(messages(), st.sampled_from(ACCEPTS)), min_size=1, max_size=8))
def test_arbitrary_traffic_gets_exactly_one_answer_per_request(
    fuzz_target: tuple[Bridged, str], batch: list[tuple[Any, str]]
) -> None:
    b, sid = fuzz_target
    asyncio.run(exchange(b.url, sid, batch))
    assert b.server.process.returncode is None
    assert b.bridge.relay.gone is None
