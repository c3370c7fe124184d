"""What the ``example`` middleware does, through a real HTTP client in front of a small app."""

from __future__ import annotations

import asyncio
import json

import httpx
from toolhive.contracts import MiddlewareContext
from toolhive_middleware_example import ExampleParameters, factory

CONTEXT = MiddlewareContext(
    workload="w", transport="stdio", proxy_mode="streamable-http", url="http://127.0.0.1:8080/mcp"
)


async def app(scope, receive, send):
    """Answers 200 with the body it received."""
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


def post(greeting: str, body: bytes) -> httpx.Response:
    wrapped = factory(app, ExampleParameters(greeting=greeting), CONTEXT)

    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=wrapped)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            return await client.post(
                "/mcp", content=body, headers={"content-type": "application/json"}
            )

    return asyncio.run(go())


def test_every_response_carries_the_greeting():
    response = post("good day", b"not json")
    assert response.headers["x-example"] == "good day"
    assert "x-example-method" not in response.headers
    assert response.content == b"not json"


def test_a_json_rpc_request_is_answered_with_its_method():
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}).encode()
    response = post("hi", body)
    assert response.headers["x-example-method"] == "tools/list"
    assert response.content == body  # the request reached the app unchanged
