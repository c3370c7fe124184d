"""What each middleware hands the app inside it and the client outside it, over real HTTP, with a
small inner app standing where the bridge would be (to see the exact scope, body and bytes)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from toolhive.contracts import MiddlewareContext
from toolhive.contracts.middleware import parsed_request, read_mcp_request
from toolhive.testing.mcp_servers import served
from toolhive_middleware_tools import ToolsParameters, call_filter_factory, list_filter_factory

pytestmark = pytest.mark.timeout(60)

PARAMS = ToolsParameters.model_validate(
    {"filter_tools": ["get", "time"], "tools_override": {"fetch": {"name": "get"}}}
)
TOOLS = {"tools": [{"name": "fetch"}, {"name": "search"}, {"name": "time"}]}
ACCEPT = {"accept": "application/json, text/event-stream"}


def context(proxy_mode: str = "streamable-http") -> MiddlewareContext:
    return MiddlewareContext(
        workload="w", transport="stdio", proxy_mode=proxy_mode, url="http://127.0.0.1/mcp"
    )


async def read_body(receive: Callable[[], Awaitable[dict[str, Any]]]) -> bytes:
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            return body


def rpc(method: str, id: int = 1, **params: Any) -> bytes:
    return json.dumps({"jsonrpc": "2.0", "id": id, "method": method, "params": params}).encode()


class Recorder:
    """Answers every POST with ``answer`` (JSON, or SSE split in two chunks) and records what
    it was given."""

    def __init__(self, answer: dict[str, Any], *, sse: bool = False) -> None:
        self.answer = answer
        self.sse = sse
        self.seen: list[dict[str, Any]] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        body = await read_body(receive)
        parsed = parsed_request(scope)
        self.seen.append({"body": body, "headers": dict(scope["headers"]), "parsed": parsed})
        payload = json.dumps({"jsonrpc": "2.0", "id": 1, "result": self.answer}).encode()
        if self.sse:
            event = b"event: message\ndata: " + payload + b"\n\n"
            start = {"type": "http.response.start", "status": 200,
                     "headers": [(b"content-type", b"text/event-stream")]}  # fmt: skip
            await send(start)
            await send({"type": "http.response.body", "body": event[:20], "more_body": True})
            await send({"type": "http.response.body", "body": event[20:], "more_body": False})
            return
        start = {"type": "http.response.start", "status": 200,
                 "headers": [(b"content-type", b"application/json"),
                             (b"content-length", str(len(payload)).encode())]}  # fmt: skip
        await send(start)
        await send({"type": "http.response.body", "body": payload})


def with_lifespan(app: Any) -> Any:
    """What a real server runner needs besides HTTP: a lifespan that starts and stops."""

    async def wrapped(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "lifespan":
            await app(scope, receive, send)
            return
        while True:
            message = await receive()
            kind = message["type"].rsplit(".", 1)[1]
            await send({"type": f"{message['type']}.complete"})
            if kind == "shutdown":
                return

    return wrapped


def outer_parser(app: Any) -> Any:
    """Stands for audit (outside the filters): decodes the request first, so it is cached."""

    async def wrapped(scope: Any, receive: Any, send: Any) -> None:
        _, receive = await read_mcp_request(scope, receive)
        await app(scope, receive, send)

    return wrapped


async def post(app: Any, body: bytes, headers: dict[str, str] | None = None) -> httpx.Response:
    async with served(with_lifespan(app)) as base, httpx.AsyncClient(timeout=60) as http:
        return await http.post(
            f"{base}/mcp",
            content=body,
            headers={"content-type": "application/json", **ACCEPT, **(headers or {})},
        )


def test_a_renamed_call_reaches_the_inside_with_its_length_and_parse_updated():
    inner = Recorder({"content": []})
    app = outer_parser(call_filter_factory(inner, PARAMS, context()))
    response = asyncio.run(post(app, rpc("tools/call", name="get", arguments={"url": "u"})))
    assert response.status_code == 200
    (seen,) = inner.seen
    sent = json.loads(seen["body"])
    assert sent["params"] == {"name": "fetch", "arguments": {"url": "u"}}
    assert seen["headers"][b"content-length"] == str(len(seen["body"])).encode()
    # The parser and authorization inside see the backend's name, and the body they replay.
    assert seen["parsed"].resource_id == "fetch"
    assert seen["parsed"].body == seen["body"]


@pytest.mark.parametrize(
    ("sent", "forwarded"),
    [
        ("get", b"fetch"),  # MCP's stateless HTTP revision mirrors the tool name in Mcp-Name
        ("=?base64?Z2V0?=", b"fetch"),  # "get", base64-wrapped as clients may send it
        ("search", b"search"),  # a header that disagreed with the body still disagrees
    ],
)
def test_the_mcp_name_header_follows_the_renamed_call(sent: str, forwarded: bytes):
    inner = Recorder({"content": []})
    app = call_filter_factory(inner, PARAMS, context())
    asyncio.run(
        post(app, rpc("tools/call", name="get"), {"mcp-name": sent, "mcp-method": "tools/call"})
    )
    (seen,) = inner.seen
    assert seen["headers"][b"mcp-name"] == forwarded
    assert seen["headers"][b"mcp-method"] == b"tools/call"


def test_an_allowed_call_by_its_own_name_is_forwarded_byte_for_byte():
    inner = Recorder({"content": []})
    body = rpc("tools/call", name="time")
    asyncio.run(post(call_filter_factory(inner, PARAMS, context()), body))
    assert inner.seen[0]["body"] == body


def test_an_argument_called_name_is_not_mistaken_for_a_second_tool_name():
    inner = Recorder({"content": []})
    body = rpc("tools/call", name="get", arguments={"name": "n", "path": "a\\b"})
    response = asyncio.run(post(call_filter_factory(inner, PARAMS, context()), body))
    assert response.status_code == 200
    assert json.loads(inner.seen[0]["body"])["params"] == {
        "name": "fetch",
        "arguments": {"name": "n", "path": "a\\b"},
    }


@pytest.mark.parametrize("sse", [False, True])
def test_a_tool_list_answer_is_rewritten_as_json_or_as_an_event_stream(sse: bool):
    inner = Recorder(TOOLS, sse=sse)
    response = asyncio.run(post(list_filter_factory(inner, PARAMS, context()), rpc("tools/list")))
    if sse:
        data = [line for line in response.text.splitlines() if line.startswith("data:")]
        answer = json.loads(data[0][5:])
    else:
        answer = response.json()  # httpx checks the body against content-length
        assert int(response.headers["content-length"]) == len(response.content)
    assert [t["name"] for t in answer["result"]["tools"]] == ["get", "time"]


def test_answers_to_other_methods_are_not_looked_at():
    """Cheap for everything but tools/list: a ping's answer passes even if it looked like a list."""
    inner = Recorder(TOOLS)
    response = asyncio.run(post(list_filter_factory(inner, PARAMS, context()), rpc("ping")))
    assert response.json()["result"] == TOOLS


def test_the_first_complete_list_reports_configured_names_the_server_lacks(
    caplog: pytest.LogCaptureFixture,
):
    params = ToolsParameters.model_validate({"filter_tools": ["time", "wrong-tool"]})
    app = list_filter_factory(Recorder(TOOLS), params, context())
    with caplog.at_level("WARNING"):
        asyncio.run(post(app, rpc("tools/list")))
        asyncio.run(post(app, rpc("tools/list")))
    warnings = [r.getMessage() for r in caplog.records if "wrong-tool" in r.getMessage()]
    assert warnings == ["tool filter/override names not in the server's tool list: wrong-tool"]


class StreamingServer:
    """A legacy SSE server in miniature: ``GET /sse`` announces the session, then sends what it
    is told (an event cut in the middle, to see where an injected event lands); ``POST`` 202."""

    def __init__(self) -> None:
        self.chunks: asyncio.Queue[bytes | None] = asyncio.Queue()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["method"] == "POST":
            await read_body(receive)
            await send({"type": "http.response.start", "status": 202, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        headers = [(b"content-type", b"text/event-stream")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        endpoint = b"event: endpoint\ndata: /messages?session_id=abc\n\n"
        await send({"type": "http.response.body", "body": endpoint, "more_body": True})
        while (chunk := await self.chunks.get()) is not None:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})


def test_legacy_sse_refusals_go_on_the_sessions_stream_between_events():
    server = StreamingServer()
    # ToolHive's order: tool-filter outside tool-call-filter.
    inner = call_filter_factory(server, PARAMS, context("sse"))
    app = list_filter_factory(inner, PARAMS, context("sse"))
    listing = json.dumps({"jsonrpc": "2.0", "id": 1, "result": TOOLS}).encode()
    half = len(listing) // 2

    async def scenario() -> tuple[int, bytes]:
        async with (
            served(with_lifespan(app)) as base,
            httpx.AsyncClient(timeout=20) as http,
            http.stream("GET", f"{base}/sse") as stream,
        ):
            lines = stream.aiter_raw()
            assert b"session_id=abc" in await anext(lines)
            await server.chunks.put(b"event: message\ndata: " + listing[:half])
            await asyncio.sleep(0.2)  # the stream is now in the middle of an event
            refused = await http.post(
                f"{base}/messages?session_id=abc",
                content=rpc("tools/call", id=5, name="search"),
                headers={"content-type": "application/json"},
            )
            await server.chunks.put(listing[half:] + b"\n\n")
            await server.chunks.put(None)
            rest = b"".join([chunk async for chunk in lines])
            return refused.status_code, rest

    status, rest = asyncio.run(scenario())
    assert status == 202
    events = [e for e in rest.split(b"\n\n") if e.strip()]
    first, second = (json.loads(e.split(b"data: ", 1)[1]) for e in events)
    # The cut event was completed (and its list filtered) before the refusal was written.
    assert [t["name"] for t in first["result"]["tools"]] == ["get", "time"]
    assert second == {"jsonrpc": "2.0", "id": 5,
                      "error": {"code": -32602, "message": "tool not found"}}  # fmt: skip


def test_legacy_sse_refusal_for_an_unknown_session_is_answered_on_the_post():
    app = call_filter_factory(StreamingServer(), PARAMS, context("sse"))
    response = asyncio.run(
        post(app, rpc("tools/call", name="search"), {"accept": "application/json"})
    )
    assert response.json()["error"]["message"] == "tool not found"


def test_a_resumed_stream_in_streamable_http_is_rewritten_too():
    server = StreamingServer()
    app = list_filter_factory(server, PARAMS, context())
    listing = json.dumps({"jsonrpc": "2.0", "id": 1, "result": TOOLS}).encode()

    async def scenario() -> bytes:
        await server.chunks.put(b"event: message\ndata: " + listing + b"\n\n")
        await server.chunks.put(None)
        async with served(with_lifespan(app)) as base, httpx.AsyncClient(timeout=20) as http:
            response = await http.get(f"{base}/mcp", headers={"last-event-id": "1"})
            return response.content

    body = asyncio.run(scenario())
    data = [line for line in body.split(b"\n") if line.startswith(b"data: {")]
    assert [t["name"] for t in json.loads(data[0][6:])["result"]["tools"]] == ["get", "time"]
