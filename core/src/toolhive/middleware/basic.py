"""Core's small middleware: ``recovery``, ``bodylimit``, ``origin`` and ``header-forward``.

The edge layer (:mod:`toolhive.proxy.edge`) already applies a body limit and Origin/Host checks to
every request; these types exist so that a ToolHive ``middleware_configs`` list naming them runs
here with its own parameters instead of being refused.
"""

from __future__ import annotations

import logging

from pydantic import Field, field_validator

from toolhive.contracts.middleware import ASGIApp, MiddlewareContext, MiddlewareParameters
from toolhive.mcp.jsonrpc import INTERNAL_ERROR, INVALID_REQUEST, error_bytes
from toolhive.models.remote import is_restricted_header
from toolhive.proxy.edge import normalize_origin
from toolhive.web.asgi import Message, Receive, Scope, Send, header, send_body

log = logging.getLogger("toolhive.middleware")


async def send_jsonrpc_error(send: Send, status: int, code: int, message: str) -> None:
    await send_body(send, status, error_bytes(None, code, message))


class NoParameters(MiddlewareParameters):
    pass


class _Tracked:
    """A ``send`` that remembers whether the response has started (then no error can replace it)."""

    def __init__(self, send: Send) -> None:
        self.send = send
        self.started = False

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.started = True
        await self.send(message)


class Recovery:
    """Innermost: an exception below answers 500 (if nothing was sent yet) instead of a reset."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        tracked = _Tracked(send)
        try:
            await self.app(scope, receive, tracked)
        except Exception:
            log.exception("internal error while handling %s %s", scope.get("method"), scope["path"])
            if tracked.started or scope["type"] != "http":
                raise
            await send_jsonrpc_error(send, 500, INTERNAL_ERROR, "Internal error")


def recovery_factory(app: ASGIApp, _config: NoParameters, _ctx: MiddlewareContext) -> ASGIApp:
    return Recovery(app)


class BodyLimitParameters(MiddlewareParameters):
    max_bytes: int = Field(1 << 20, gt=0)


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = header(scope["headers"], b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._too_large(send)
            return
        seen = 0
        tracked = _Tracked(send)

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _TooLarge
            return message

        try:
            await self.app(scope, counted, tracked)
        except _TooLarge:
            if not tracked.started:
                await self._too_large(send)

    async def _too_large(self, send: Send) -> None:
        message = f"Request body exceeds the limit of {self.max_bytes} bytes"
        await send_jsonrpc_error(send, 413, INVALID_REQUEST, message)


class _TooLarge(Exception):
    pass


def bodylimit_factory(
    app: ASGIApp, config: BodyLimitParameters, _ctx: MiddlewareContext
) -> ASGIApp:
    return BodyLimit(app, config.max_bytes)


class OriginParameters(MiddlewareParameters):
    allowed_origins: list[str] = Field(default_factory=list)


class OriginCheck:
    """ToolHive's ``origin``: a present ``Origin`` not on the list is 403; no ``Origin`` passes."""

    def __init__(self, app: ASGIApp, allowed: list[str]) -> None:
        self.app = app
        self.allowed = {normalize_origin(o) for o in allowed}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            origin = header(scope["headers"], b"origin")
            if (
                origin is not None
                and normalize_origin(origin.decode("latin-1")) not in self.allowed
            ):
                await send_jsonrpc_error(send, 403, INVALID_REQUEST, "Origin not allowed")
                return
        await self.app(scope, receive, send)


def origin_factory(app: ASGIApp, config: OriginParameters, _ctx: MiddlewareContext) -> ASGIApp:
    return OriginCheck(app, config.allowed_origins)


class HeaderForwardParameters(MiddlewareParameters):
    add_headers: dict[str, str] = Field(default_factory=dict)

    @field_validator("add_headers")
    @classmethod
    def _allowed(cls, headers: dict[str, str]) -> dict[str, str]:
        for name in headers:
            if is_restricted_header(name):
                msg = f"header-forward cannot set the {name!r} header"
                raise ValueError(msg)
        return headers


class HeaderForward:
    def __init__(self, app: ASGIApp, headers: dict[str, str]) -> None:
        self.app = app
        self.names = {k.lower().encode("latin-1") for k in headers}
        self.pairs = [
            (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            kept = [(k, v) for k, v in scope["headers"] if k not in self.names]
            # A copy: the values (perhaps secrets) are for upstream, not for outer middleware.
            scope = {**scope, "headers": kept + self.pairs}
        await self.app(scope, receive, send)


def header_forward_factory(
    app: ASGIApp, config: HeaderForwardParameters, _ctx: MiddlewareContext
) -> ASGIApp:
    return HeaderForward(app, config.add_headers)
