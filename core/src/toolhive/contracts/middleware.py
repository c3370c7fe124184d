"""The middleware contract: what a ``thv_middleware`` plugin declares and what its factory gets.

A workload's chain is a list of ToolHive middleware entries ``{"type": …, "parameters": {…}}``
(``RunConfig.middleware_configs``, or derived from ``oidc_config``, ``authz_config``, … the way
ToolHive derives them). The first entry is outermost. For each entry the host finds the
:class:`MiddlewareSpec` whose ``name`` is the entry's ``type``, validates ``parameters`` against
``config_model`` (ToolHive's JSON parameter names) and calls ``factory(app, config, context)``, which
returns the wrapped ASGI app. A type no installed plugin provides is refused before the workload
starts — never skipped.

Requests reach a middleware as raw ASGI. Middleware placed inside ``mcp-parser`` (ToolHive's
order puts telemetry and authorization there) find the decoded JSON-RPC request with
:func:`parsed_request`. Middleware outside it (audit, the tool filters) call
:func:`read_mcp_request`, which decodes the body once per request, caches the result in the scope
(the parser then reuses it) and hands back a ``receive`` that replays the body unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from toolhive.contracts.config import PluginConfig
from toolhive.mcp import methods
from toolhive.web.asgi import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "IDENTITY_KEY",
    "PARSED_REQUEST_KEY",
    "ASGIApp",
    "Identity",
    "MiddlewareContext",
    "MiddlewareParameters",
    "MiddlewareSpec",
    "Mount",
    "ParsedMCPRequest",
    "describe_mcp_request",
    "identity",
    "parsed_request",
    "read_body",
    "read_mcp_request",
    "replaying_receive",
    "send_jsonrpc_error",
    "set_identity",
]

#: Where :func:`parsed_request` finds the decoded request (the ``mcp-parser`` middleware puts it).
PARSED_REQUEST_KEY = "toolhive.mcp_request"
#: Where :func:`identity` finds who is calling (the ``auth`` middleware puts it).
IDENTITY_KEY = "toolhive.identity"

#: Serve an ASGI app at an exact path beside ``/health``, outside the chain (no auth, no audit):
#: ``mount("/metrics", app)``. Refused (``ValueError``) for a path already taken.
Mount = Callable[[str, ASGIApp], None]

C = TypeVar("C", bound=BaseModel)


class MiddlewareParameters(PluginConfig):
    """Base for a middleware's ``config_model`` (the entry's ``parameters``, ToolHive's JSON
    names): unknown keys are errors, values are frozen."""


@dataclass(frozen=True)
class MiddlewareContext:
    """What the host knows about the workload when it builds the chain (narrow on purpose)."""

    #: The workload's name (``RunConfig.name``); ToolHive calls it the server name.
    workload: str
    #: The workload's transport (``stdio``, ``sse``, ``streamable-http``, or a plugin's).
    transport: str
    #: The HTTP protocol clients speak to the proxy (``streamable-http`` or ``sse``).
    proxy_mode: str
    #: The URL clients connect to, e.g. ``http://127.0.0.1:8123/mcp`` (for RFC 9728 metadata).
    url: str
    group: str = "default"
    #: A remote server (``thv run https://…``): no container, the proxy forwards upstream.
    remote: bool = False
    #: Resolves a secret name through the configured secrets provider (values stay in memory).
    resolve_secret: Callable[[str], str] | None = None
    #: Free for later additions without breaking factories (append-only, like the specs).
    extra: Mapping[str, Any] = field(default_factory=dict)
    #: Serves an app at a path outside the chain (Prometheus ``/metrics``); ``None`` where the
    #: host has no such routes (then a factory that needs one fails with a clear error).
    mount: Mount | None = None
    #: ``--trust-proxy-headers``: a reverse proxy in front sets ``X-Forwarded-*`` truthfully, so
    #: a middleware may take the client's address from them (otherwise they are the client's word).
    trust_proxy_headers: bool = False


@dataclass(frozen=True)
class Identity:
    """Who made a request, as the ``auth`` middleware established it (ToolHive's ``Identity``).

    Later middleware read it with :func:`identity`: authorization (``Client::"<subject>"`` with
    ``claim_*`` attributes), audit (``subjects``), telemetry. The bearer token itself is never
    kept here, so nothing that logs an identity can leak it.
    """

    subject: str
    claims: Mapping[str, Any] = field(default_factory=dict)
    name: str = ""
    email: str = ""
    groups: tuple[str, ...] = ()
    #: How it was established: ``jwt``, ``introspection``, ``local`` or ``anonymous``.
    method: str = "jwt"


def identity(scope: Scope) -> Identity | None:
    """The caller the ``auth`` middleware established for this request, if any."""
    value = scope.get(IDENTITY_KEY)
    return value if isinstance(value, Identity) else None


def set_identity(scope: Scope, who: Identity) -> None:
    """Record the caller for the middleware inside this one (the ``auth`` middleware's job)."""
    scope[IDENTITY_KEY] = who


async def send_jsonrpc_error(
    send: Send,
    status: int,
    request_id: str | int | None,
    code: int,
    message: str,
    *,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    """Answer with HTTP ``status`` and a JSON-RPC error object for ``request_id``."""
    body = json.dumps(
        {"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": message}},
        separators=(",", ":"),
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body, "more_body": False})


class MiddlewareSpec(BaseModel, Generic[C]):
    """A middleware type (ToolHive's names: ``auth``, ``authorization``, ``audit``, …).

    ``factory`` is called once per workload start with the validated parameters; it should import
    heavy libraries (cedarpy, the OpenTelemetry SDK …) only then, never at hook time.
    """

    model_config = ConfigDict(
        frozen=True, arbitrary_types_allowed=True, extra="forbid", defer_build=True
    )

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$", description="The middleware type.")
    description: str = ""
    config_model: type[C]
    factory: Callable[[ASGIApp, C, MiddlewareContext], ASGIApp]


@dataclass
class ParsedMCPRequest:
    """One decoded JSON-RPC message from a client, as ToolHive's ``mcp-parser`` describes it.

    ``resource_id`` is the tool name (``tools/call``), prompt name (``prompts/get``) or resource URI
    (``resources/read``/``subscribe``/``unsubscribe``); ``arguments`` are a tool's or prompt's
    arguments. ``message`` is the whole decoded object (do not mutate it: the body is forwarded as
    received unless a middleware replaces it explicitly).
    """

    method: str
    id: str | int | None
    params: dict[str, Any]
    message: dict[str, Any]
    resource_id: str = ""
    arguments: dict[str, Any] = field(default_factory=dict)
    #: False for notifications (no ``id``).
    is_request: bool = True
    #: The raw request body exactly as received.
    body: bytes = b""


def parsed_request(scope: Scope) -> ParsedMCPRequest | None:
    """The request ``mcp-parser`` decoded for this HTTP request, if it was a JSON-RPC message."""
    value = scope.get(PARSED_REQUEST_KEY)
    return value if isinstance(value, ParsedMCPRequest) else None


#: Methods whose target is named by ``params.name`` (ToolHive's resource id).
_BY_NAME = frozenset({methods.TOOLS_CALL, methods.PROMPTS_GET})
#: Methods whose target is ``params.uri``.
_BY_URI = frozenset(
    {methods.RESOURCES_READ, methods.RESOURCES_SUBSCRIBE, methods.RESOURCES_UNSUBSCRIBE}
)


def describe_mcp_request(body: bytes) -> ParsedMCPRequest | None:
    """What ``body`` asks for, or ``None`` when it is not one JSON-RPC request or notification."""
    try:
        msg = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    if type(msg) is not dict or msg.get("jsonrpc") != "2.0":
        return None
    method = msg.get("method")
    if type(method) is not str:
        return None
    params = msg.get("params")
    if not isinstance(params, dict):
        params = {}
    resource_id = ""
    arguments: dict[str, Any] = {}
    if method in _BY_NAME:
        name = params.get("name")
        resource_id = name if isinstance(name, str) else ""
        args = params.get("arguments")
        arguments = args if isinstance(args, dict) else {}
    elif method in _BY_URI:
        uri = params.get("uri")
        resource_id = uri if isinstance(uri, str) else ""
    elif method == methods.INITIALIZE:
        info = params.get("clientInfo")
        if isinstance(info, dict) and isinstance(info.get("name"), str):
            resource_id = info["name"]
    request_id = msg.get("id")
    return ParsedMCPRequest(
        method=method,
        id=request_id if type(request_id) in (str, int) else None,
        params=params,
        message=msg,
        resource_id=resource_id,
        arguments=arguments,
        is_request="id" in msg,
        body=body,
    )


def replaying_receive(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that yields ``body`` (a whole request body, already read) once, then defers to
    the real one (disconnects): what a middleware that read the body passes to the inner app."""
    pending = True

    async def replay() -> Message:
        nonlocal pending
        if pending:
            pending = False
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _is_json_post(scope: Scope) -> bool:
    if scope["type"] != "http" or scope["method"] != "POST":
        return False
    for key, value in scope["headers"]:
        if key == b"content-type":
            return b"json" in value.lower()  # media types are case-insensitive (RFC 9110)
    return False


async def read_mcp_request(
    scope: Scope, receive: Receive
) -> tuple[ParsedMCPRequest | None, Receive]:
    """Decode this request's JSON-RPC body (once per request) and a ``receive`` that replays it.

    Pass the returned ``receive`` to the inner app. Not a JSON POST, or not a JSON-RPC message:
    ``(None, receive)`` with the body untouched or replayed. A client that disconnects before its
    body arrives gets ``(None, receive)`` too; the inner app sees the disconnect.
    """
    cached = parsed_request(scope)
    if cached is not None:
        return cached, replaying_receive(cached.body, receive)
    if not _is_json_post(scope):
        return None, receive
    body, rest = await read_body(receive)
    if body is None:
        return None, rest
    parsed = describe_mcp_request(body)
    if parsed is not None:
        scope[PARSED_REQUEST_KEY] = parsed
    return parsed, replaying_receive(body, receive)


async def read_body(receive: Receive) -> tuple[bytes | None, Receive]:
    """The whole request body and the ``receive`` that follows it; ``(None, receive)`` answering
    the disconnect again when the client leaves before its body arrived. Pass
    :func:`replaying_receive` ``(body, receive)`` to an inner app that must read the body too."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None, _repeating(message)
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks), receive


def _repeating(message: Message) -> Receive:
    async def again() -> Message:
        return message

    return again
