"""List answers a server might shape badly or on purpose: the filter reads JSON and SSE bodies,
and replaces what it cannot read safely with an error instead of passing it on. The server here
is a small app answering canned bodies, behind the real middleware, through a real HTTP client."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
from toolhive.contracts import MiddlewareContext
from toolhive_middleware_authz import AuthzParameters, factory

CONFIG = AuthzParameters(
    config_data={
        "version": "1.0",
        "type": "cedarv1",
        "cedar": {
            "policies": [
                'permit(principal, action == Action::"call_tool", resource == Tool::"echo");'
            ]
        },
    }
)
CONTEXT = MiddlewareContext(
    workload="w", transport="stdio", proxy_mode="streamable-http", url="http://127.0.0.1/mcp"
)
TOOLS = [{"name": "echo", "inputSchema": {}}, {"name": "add", "inputSchema": {}}]
LIST = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}


def canned(status: int, content_type: str, body: bytes) -> Any:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        while (await receive()).get("more_body"):
            pass
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", content_type.encode())],
            }
        )
        # In two pieces, as a streaming server would send it.
        await send({"type": "http.response.body", "body": body[:7], "more_body": True})
        await send({"type": "http.response.body", "body": body[7:], "more_body": False})

    return app


def ask(app: Any, message: Any = LIST, method: str = "POST") -> httpx.Response:
    wrapped = factory(app, CONFIG, CONTEXT)

    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=wrapped)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
            if method == "GET":
                return await http.get("/mcp")
            return await http.post("/mcp", json=message)

    return asyncio.run(go())


def answer(result: Any, **extra: Any) -> bytes:
    return json.dumps({"jsonrpc": "2.0", "id": 1, "result": result, **extra}).encode()


def test_a_json_list_answer_is_filtered_and_keeps_its_other_fields():
    response = ask(canned(200, "application/json", answer({"tools": TOOLS, "nextCursor": "c"})))
    assert response.json()["result"] == {"tools": [TOOLS[0]], "nextCursor": "c"}
    assert response.headers["content-length"] == str(len(response.content))


def test_an_sse_list_answer_is_filtered_event_by_event():
    notification = json.dumps({"jsonrpc": "2.0", "method": "notifications/message", "params": {}})
    body = (
        b"event: message\ndata: " + notification.encode() + b"\n\n"
        b"event: message\ndata: " + answer({"tools": TOOLS}) + b"\n\n"
    )
    response = ask(canned(200, "text/event-stream", body))
    events = [
        json.loads(line[5:]) for line in response.text.splitlines() if line.startswith("data:")
    ]
    assert events[0]["method"] == "notifications/message"
    assert events[1]["result"]["tools"] == [TOOLS[0]]


def test_a_list_answer_carrying_an_error_and_a_result_becomes_an_internal_error():
    response = ask(
        canned(200, "application/json", answer({"tools": TOOLS}, error={"code": 1, "message": "x"}))
    )
    assert response.json()["error"]["code"] == -32603
    assert "add" not in response.text


def test_a_tools_value_that_is_not_a_list_becomes_an_internal_error():
    response = ask(canned(200, "application/json", answer({"tools": {"add": TOOLS[1]}})))
    assert response.json()["error"]["code"] == -32603


def test_a_list_answer_labelled_neither_json_nor_sse_is_not_passed_on():
    response = ask(canned(200, "text/plain", answer({"tools": TOOLS})))
    assert response.status_code == 500
    assert "add" not in response.text


def test_a_request_shaped_message_carrying_a_result_is_not_passed_on():
    smuggled = json.dumps({"jsonrpc": "2.0", "method": "x", "id": 1, "result": {"tools": TOOLS}})
    response = ask(canned(200, "application/json", smuggled.encode()))
    assert "add" not in response.text and response.json()["error"]["code"] == -32603


def test_an_error_answer_to_a_list_passes_unchanged():
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "error": {"code": -32601, "message": "nope"}})
    response = ask(canned(200, "application/json", body.encode()))
    assert response.json()["error"] == {"code": -32601, "message": "nope"}


def test_list_answers_on_a_get_event_stream_are_filtered_by_their_shape():
    body = b"event: message\ndata: " + answer({"tools": TOOLS}) + b"\n\n"
    response = ask(canned(200, "text/event-stream", body), method="GET")
    (data,) = [
        json.loads(line[5:]) for line in response.text.splitlines() if line.startswith("data:")
    ]
    assert data["result"]["tools"] == [TOOLS[0]]


def test_a_client_response_to_a_server_request_passes():
    seen: list[bytes] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append((await receive())["body"])
        await send({"type": "http.response.start", "status": 202, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    reply = {"jsonrpc": "2.0", "id": "srv-1", "result": {"action": "accept"}}
    response = ask(app, reply)
    assert response.status_code == 202
    assert json.loads(seen[0]) == reply


def test_a_call_the_parser_did_not_decode_is_still_decided():
    """``Application/JSON`` is JSON to a server, though the parser only decodes ``…json``."""
    seen: list[bytes] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append((await receive())["body"])
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    wrapped = factory(app, CONFIG, CONTEXT)

    async def call(tool: str) -> httpx.Response:
        transport = httpx.ASGITransport(app=wrapped)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
            body = {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": tool}}
            return await http.post(
                "/mcp", content=json.dumps(body), headers={"content-type": "Application/JSON"}
            )

    denied = asyncio.run(call("add"))
    assert denied.status_code == 403 and denied.json()["error"]["code"] == 403
    assert seen == []
    assert asyncio.run(call("echo")).status_code == 200
    assert json.loads(seen[0])["params"]["name"] == "echo"
