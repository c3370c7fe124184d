"""Outgoing auth: what the gateway sends each backend (``outgoingAuth``).

``unauthenticated`` sends nothing; ``header_injection`` one fixed header (its value from the
config or, better, from an environment variable); ``token_exchange`` exchanges the *caller's* token
(RFC 8693) for one meant for that backend on every forwarded request. The exchange is the
``tokenexchange`` middleware plugin's, driven through its public factory, so the gateway and
``thv run --token-exchange-*`` share one implementation, cache and error handling; without the
plugin a config that asks for it is refused (fail closed).
"""

from __future__ import annotations

import contextvars
import os
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import TYPE_CHECKING, Any

from toolhive.errors import InvalidInputError
from toolhive.vmcp.backend_client import (
    RESERVED_HEADERS,
    BackendError,
    BackendUnauthorizedError,
)
from toolhive.vmcp.config import (
    SUPPORTED_OUTGOING_AUTH,
    BackendAuthStrategy,
    TokenExchangeConfig,
)

if TYPE_CHECKING:
    from toolhive.plugins import Hooks

Headers = Sequence[tuple[bytes, bytes]]
StaticHeaders = Callable[[], Headers]
RequestHeaders = Callable[[], Awaitable[Headers]]

#: The ``Authorization`` header of the client request being served (set by the gateway's ASGI
#: layer; asyncio tasks started for that request inherit it): ``b""`` when the client sent none,
#: ``None`` outside any client request (the gateway's own traffic).
INCOMING_AUTHORIZATION: contextvars.ContextVar[bytes | None] = contextvars.ContextVar(
    "vmcp_incoming_authorization", default=None
)


def static_headers(strategy: BackendAuthStrategy | None, backend: str) -> StaticHeaders | None:
    """``header_injection``'s header for every request to ``backend`` (``None`` for others)."""
    if strategy is None or strategy.type != "header_injection":
        return None
    spec = strategy.header_injection
    name = spec.header_name if spec is not None else ""
    value = spec.header_value if spec is not None else None
    env = spec.header_value_env if spec is not None else None
    if env:
        value = os.environ.get(env)
        if not value:
            msg = (
                f"outgoingAuth for backend {backend}: header_injection reads ${env}, "
                "which is not set; export it before serving"
            )
            raise InvalidInputError(msg)
    if not name or value is None:
        msg = f"outgoingAuth for backend {backend}: header_injection needs headerName and a value"
        raise InvalidInputError(msg)
    if name.lower().encode("latin-1") in RESERVED_HEADERS:
        msg = (
            f"outgoingAuth for backend {backend}: header_injection cannot set {name}: "
            "the gateway sets that header itself"
        )
        raise InvalidInputError(msg)
    header = ((name.lower().encode("latin-1"), value.encode("latin-1")),)

    def headers() -> Headers:
        return header

    return headers


def check_supported(strategy: BackendAuthStrategy | None, backend: str) -> None:
    if strategy is not None and not strategy.supported:
        msg = (
            f"outgoingAuth for backend {backend}: type {strategy.type!r} is not supported by "
            f"this gateway (use one of {', '.join(sorted(SUPPORTED_OUTGOING_AUTH))}); refusing "
            "to send requests without it"
        )
        raise InvalidInputError(msg)


def request_headers(
    strategy: BackendAuthStrategy | None, backend: str, hooks: Hooks
) -> RequestHeaders | None:
    """``token_exchange``: per request, the caller's token exchanged for ``backend``'s."""
    if strategy is None or strategy.type != "token_exchange":
        return None
    spec = strategy.token_exchange or TokenExchangeConfig()
    secret_env = spec.client_secret_env
    secret = os.environ.get(secret_env, "") if secret_env else (spec.client_secret or "")
    if secret_env and not secret:
        msg = f"outgoingAuth for backend {backend}: token_exchange reads ${secret_env}, which is not set"
        raise InvalidInputError(msg)
    specs = hooks.middleware()
    plugin = specs.get("tokenexchange")
    if plugin is None:
        msg = (
            f"outgoingAuth for backend {backend} asks for token_exchange, which no installed "
            "plugin provides; install toolhive-middleware-tokenexchange"
        )
        raise InvalidInputError(msg)
    parameters = plugin.config_model.model_validate(
        {
            "token_exchange_config": {
                "token_url": spec.token_url,
                "client_id": spec.client_id or "",
                "client_secret": secret,
                "audience": spec.audience or "",
                "scopes": list(spec.scopes or []),
                "subject_token_type": spec.subject_token_type or "",
            }
        }
    )
    from toolhive.contracts.middleware import MiddlewareContext

    result: contextvars.ContextVar[bytes | None] = contextvars.ContextVar(
        f"vmcp_exchanged_{backend}", default=None
    )

    async def capture(scope: Any, _receive: Any, _send: Any) -> None:
        for key, value in scope["headers"]:
            if key == b"authorization":
                result.set(value)

    context = MiddlewareContext(
        workload=backend, transport="streamable-http", proxy_mode="streamable-http", url=""
    )
    exchange = plugin.factory(capture, parameters, context)

    async def headers() -> Headers:
        incoming = INCOMING_AUTHORIZATION.get()
        if incoming is None:
            return ()  # the gateway's own traffic: the session's lent identity
        if not incoming:
            # A client without a token must never borrow the identity that opened the session.
            raise BackendUnauthorizedError(
                f"backend {backend} needs the caller's token to exchange"
            )
        status: list[int] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status.append(int(message["status"]))

        scope = {
            "type": "http",
            "method": "POST",
            "path": "/mcp",
            "headers": [(b"authorization", incoming)],
        }
        token = result.set(None)
        try:
            await exchange(scope, receive, send)
            exchanged = result.get()
        finally:
            result.reset(token)
        if exchanged is None:
            if status and status[0] in (401, 403):
                raise BackendUnauthorizedError(f"token exchange for backend {backend} was refused")
            raise BackendError(f"token exchange for backend {backend} failed")
        return ((b"authorization", exchanged),)

    return headers
