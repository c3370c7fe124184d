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

SUPPORTED = ("unauthenticated", "header_injection", "token_exchange")


def _field(obj: Any, *names: str) -> Any:
    """The first attribute of ``obj`` that is set, by any of ``names`` (snake or camel case)."""
    for name in names:
        value = getattr(obj, name, None)
        if value not in (None, ""):
            return value
    return None


def strategy_for(outgoing: Any, backend: str) -> Any:
    """The backend's strategy: its own entry, else the default (``None``: unauthenticated)."""
    if outgoing is None:
        return None
    backends = _field(outgoing, "backends") or {}
    strategy = backends.get(backend) if isinstance(backends, dict) else None
    return strategy if strategy is not None else _field(outgoing, "default")


def static_headers(strategy: Any, backend: str) -> StaticHeaders | None:
    """``header_injection``'s header for every request to ``backend`` (``None`` for others)."""
    kind = _field(strategy, "type") if strategy is not None else None
    if kind != "header_injection":
        return None
    spec = _field(strategy, "header_injection")
    name = _field(spec, "header_name")
    value = _field(spec, "header_value")
    env = _field(spec, "header_value_env")
    if env:
        value = os.environ.get(str(env))
        if not value:
            msg = (
                f"outgoingAuth for backend {backend}: header_injection reads ${env}, "
                "which is not set; export it before serving"
            )
            raise InvalidInputError(msg)
    if not name or value is None:
        msg = f"outgoingAuth for backend {backend}: header_injection needs headerName and a value"
        raise InvalidInputError(msg)
    if str(name).lower().encode("latin-1") in RESERVED_HEADERS:
        msg = (
            f"outgoingAuth for backend {backend}: header_injection cannot set {name}: "
            "the gateway sets that header itself"
        )
        raise InvalidInputError(msg)
    header = ((str(name).lower().encode("latin-1"), str(value).encode("latin-1")),)

    def headers() -> Headers:
        return header

    return headers


def check_supported(strategy: Any, backend: str) -> None:
    kind = _field(strategy, "type") if strategy is not None else None
    if kind not in (None, *SUPPORTED):
        msg = (
            f"outgoingAuth for backend {backend}: type {kind!r} is not supported by this gateway "
            f"(use one of {', '.join(SUPPORTED)}); refusing to send requests without it"
        )
        raise InvalidInputError(msg)


def request_headers(strategy: Any, backend: str, hooks: Hooks) -> RequestHeaders | None:
    """``token_exchange``: per request, the caller's token exchanged for ``backend``'s."""
    kind = _field(strategy, "type") if strategy is not None else None
    if kind != "token_exchange":
        return None
    spec = _field(strategy, "token_exchange")
    secret_env = _field(spec, "client_secret_env")
    secret = os.environ.get(str(secret_env), "") if secret_env else ""
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
    scopes = _field(spec, "scopes") or []
    parameters = plugin.config_model.model_validate(
        {
            "token_exchange_config": {
                "token_url": _field(spec, "token_url") or "",
                "client_id": _field(spec, "client_id") or "",
                "client_secret": secret,
                "audience": _field(spec, "audience") or "",
                "scopes": list(scopes),
                "subject_token_type": _field(spec, "subject_token_type") or "",
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
