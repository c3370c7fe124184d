"""Core's own middleware types (mcp-parser, recovery, bodylimit, origin, header-forward), each
in front of a small ASGI app, through a real HTTP client (httpx's ASGI transport)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from toolhive.contracts.middleware import (
    MiddlewareContext,
    parsed_request,
    read_mcp_request,
)
from toolhive.middleware import basic, parser

pytestmark = pytest.mark.anyio

CTX = MiddlewareContext(workload="w", transport="stdio", proxy_mode="streamable-http", url="u")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def echo_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Answers with what it received: body, headers and what mcp-parser said about it."""
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    parsed = parsed_request(scope)
    body = json.dumps(
        {
            "body": b"".join(chunks).decode(),
            "headers": {k.decode(): v.decode() for k, v in scope["headers"]},
            "parsed": None
            if parsed is None
            else [
                parsed.method,
                parsed.id,
                parsed.resource_id,
                parsed.arguments,
                parsed.is_request,
            ],
        }
    ).encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


def client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


async def test_the_parser_describes_a_tool_call_and_replays_the_body_unchanged() -> None:
    app = parser.parser_factory(echo_app, parser.ParserParameters(), CTX)
    raw = b'{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"fetch","arguments":{"url":"x"}}}'
    async with client(app) as http:
        seen = (
            await http.post("/mcp", content=raw, headers={"content-type": "application/json"})
        ).json()
    assert seen["body"] == raw.decode()
    assert seen["parsed"] == ["tools/call", 3, "fetch", {"url": "x"}, True]


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (
            {"method": "resources/read", "params": {"uri": "file:///a"}, "id": "r"},
            ["resources/read", "r", "file:///a", {}, True],
        ),
        (
            {"method": "prompts/get", "params": {"name": "p", "arguments": {"k": "v"}}, "id": 1},
            ["prompts/get", 1, "p", {"k": "v"}, True],
        ),
        (
            {"method": "initialize", "params": {"clientInfo": {"name": "cli"}}, "id": 0},
            ["initialize", 0, "cli", {}, True],
        ),
        (
            {"method": "notifications/initialized"},
            ["notifications/initialized", None, "", {}, False],
        ),
    ],
)
async def test_the_parser_names_each_kind_of_target(
    message: dict[str, Any], expected: list[Any]
) -> None:
    app = parser.parser_factory(echo_app, parser.ParserParameters(), CTX)
    async with client(app) as http:
        seen = (await http.post("/mcp", json={"jsonrpc": "2.0", **message})).json()
    assert seen["parsed"] == expected


async def test_the_parser_leaves_non_json_rpc_bodies_alone() -> None:
    app = parser.parser_factory(echo_app, parser.ParserParameters(), CTX)
    async with client(app) as http:
        broken = (
            await http.post("/mcp", content=b"{nope", headers={"content-type": "application/json"})
        ).json()
        batch = (
            await http.post("/mcp", json=[{"jsonrpc": "2.0", "id": 1, "method": "ping"}])
        ).json()
        get = await http.get("/mcp")
    assert broken == {"body": "{nope", "headers": broken["headers"], "parsed": None}
    assert batch["parsed"] is None and json.loads(batch["body"])[0]["method"] == "ping"
    assert get.json()["parsed"] is None


async def test_an_outer_middleware_and_the_parser_decode_the_body_once() -> None:
    decoded: list[int] = []
    inner = parser.parser_factory(echo_app, parser.ParserParameters(), CTX)

    async def outer(scope: Any, receive: Any, send: Any) -> None:
        parsed, receive = await read_mcp_request(scope, receive)
        decoded.append(id(parsed))
        await inner(scope, receive, send)

    async with client(outer) as http:
        seen = (await http.post("/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "ping"})).json()
    assert seen["parsed"][0] == "ping" and json.loads(seen["body"])["method"] == "ping"
    assert len(decoded) == 1


async def test_recovery_turns_an_exception_into_a_json_rpc_500() -> None:
    async def broken(scope: Any, receive: Any, send: Any) -> None:
        raise RuntimeError("boom")

    app = basic.recovery_factory(broken, basic.NoParameters(), CTX)
    async with client(app) as http:
        response = await http.post("/mcp", json={})
    assert response.status_code == 500
    assert response.json()["error"] == {"code": -32603, "message": "Internal error"}


async def test_bodylimit_refuses_declared_and_streamed_bodies_over_the_limit() -> None:
    app = basic.bodylimit_factory(echo_app, basic.BodyLimitParameters(max_bytes=10), CTX)

    async def chunks():  # no content-length: counted as it streams
        for _ in range(4):
            yield b"xxxx"

    async with client(app) as http:
        assert (await http.post("/mcp", content=b"x" * 10)).status_code == 200
        assert (await http.post("/mcp", content=b"x" * 11)).status_code == 413
        assert (await http.post("/mcp", content=chunks())).status_code == 413


async def test_origin_allows_listed_and_absent_origins_only() -> None:
    params = basic.OriginParameters(allowed_origins=["https://app.example"])
    app = basic.origin_factory(echo_app, params, CTX)
    async with client(app) as http:
        assert (
            await http.post("/mcp", headers={"origin": "https://app.example"})
        ).status_code == 200
        assert (await http.post("/mcp")).status_code == 200
        assert (
            await http.post("/mcp", headers={"origin": "https://evil.example"})
        ).status_code == 403


async def test_header_forward_sets_headers_replacing_the_client_s() -> None:
    params = basic.HeaderForwardParameters(add_headers={"X-Api-Key": "k1"})
    app = basic.header_forward_factory(echo_app, params, CTX)
    async with client(app) as http:
        seen = (await http.post("/mcp", headers={"x-api-key": "client"})).json()
    assert seen["headers"]["x-api-key"] == "k1"
