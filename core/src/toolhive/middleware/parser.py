"""``mcp-parser``: decode each JSON-RPC POST once, so the middleware inside it need not.

The body is read whole (the edge layer outside already capped its size), described as a
:class:`~toolhive.contracts.middleware.ParsedMCPRequest` in the ASGI scope and replayed to the
inner app unchanged; a request an outer middleware already decoded is not decoded again. Anything
that is not a single JSON-RPC message passes through undescribed: the transport answers it with the
proper JSON-RPC error.
"""

from __future__ import annotations

from toolhive.contracts.middleware import (
    ASGIApp,
    MiddlewareContext,
    MiddlewareParameters,
    read_mcp_request,
)
from toolhive.web.asgi import Receive, Scope, Send


class ParserParameters(MiddlewareParameters):
    """``mcp-parser`` takes no parameters."""


class MCPParser:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        _parsed, receive = await read_mcp_request(scope, receive)
        await self.app(scope, receive, send)


def parser_factory(app: ASGIApp, _config: ParserParameters, _ctx: MiddlewareContext) -> ASGIApp:
    return MCPParser(app)
