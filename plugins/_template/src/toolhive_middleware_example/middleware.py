"""The ``example`` middleware itself, imported only when a workload that uses it starts."""

from __future__ import annotations

from typing import TYPE_CHECKING

from toolhive.contracts.middleware import read_mcp_request

if TYPE_CHECKING:
    from toolhive.contracts.middleware import ASGIApp
    from toolhive.contracts.transport import Message, Receive, Scope, Send

    from toolhive_middleware_example import ExampleParameters


class ExampleMiddleware:
    """An ASGI middleware: every HTTP response gets ``X-Example: <greeting>``; the response to a
    JSON-RPC request also gets ``X-Example-Method: <method>``. The request goes on unchanged."""

    def __init__(self, app: ASGIApp, parameters: ExampleParameters) -> None:
        self.app = app
        self.greeting = (b"x-example", parameters.greeting.encode("ascii"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # Decodes the body once per request (mcp-parser reuses it) and hands back a `receive`
        # that replays it to the app unchanged.
        request, receive = await read_mcp_request(scope, receive)
        headers = [self.greeting]
        if request is not None and request.method.isascii() and request.method.isprintable():
            headers.append((b"x-example-method", request.method.encode("ascii")))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *headers]}
            await send(message)

        await self.app(scope, receive, send_with_headers)
