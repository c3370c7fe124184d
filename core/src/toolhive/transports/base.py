"""The transport contract: turn a running server into an ASGI app the proxy serves."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict

from toolhive.contracts.runtime import StdioChannel
from toolhive.errors import ToolHiveError
from toolhive.web.asgi import Receive, Scope, Send


class UpstreamAuthError(ToolHiveError):
    """No usable credentials for the upstream. The proxy answers the client ``http_status``
    (default 401) with the message, and ``Retry-After`` when ``retry_after`` is set. Messages
    say what to do and never carry a token."""

    http_status = 401
    retry_after: int | None = None


class UpstreamAuthRetrying(UpstreamAuthError):
    """Refreshing the credentials fails transiently (``auth_retrying``): try again later."""

    http_status = 503
    #: ToolHive's value: the initial token-refresh retry interval.
    retry_after = 10


@runtime_checkable
class UpstreamAuth(Protocol):
    """The ``Authorization`` the proxy sends upstream (a remote server's OAuth login or static
    bearer token), in place of whatever the client sent."""

    async def authorization(self) -> str:
        """The header value (``Bearer …``); :class:`UpstreamAuthError` when none is usable.
        Called for every upstream request: answers from memory while the token is fresh."""
        ...

    async def unauthorized(self, refused: str) -> bool:
        """The upstream answered 401 to a request that carried ``refused`` (the value
        :meth:`authorization` gave): recover if possible (a newer token, one forced refresh)
        and say whether retrying the request makes sense."""
        ...


class TransportOptions(BaseModel):
    """What the supervisor knows about the server when it builds the transport."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    workload: str
    #: The workload's transport (``stdio``, ``sse``, ``streamable-http``); ``""`` when unknown.
    transport: str = ""
    #: Base URL of an HTTP server (``sse``/``streamable-http``), e.g. ``http://127.0.0.1:8080/mcp``.
    target_url: str | None = None
    #: The server's stdin/stdout (``stdio``).
    stdio: StdioChannel | None = None
    #: For stdio: ``streamable-http`` (default) or ``sse``.
    proxy_mode: str = "streamable-http"
    session_ttl: float = 7200.0
    endpoint_prefix: str = ""
    trust_proxy_headers: bool = False
    stateless: bool = False
    strict_protocol_validation: bool = False
    #: A remote URL (no container): the Host header is rewritten, query strings forwarded.
    remote: bool = False
    #: Headers set on every upstream request (RunConfig.header_forward, secrets resolved).
    headers: dict[str, str] = {}
    #: Credentials for a remote server: every upstream request carries their ``Authorization``.
    upstream_auth: UpstreamAuth | None = None


@runtime_checkable
class Transport(Protocol):
    """An ASGI app that reaches one MCP server, plus its lifecycle."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None: ...

    async def start(self) -> None:
        """Begin relaying (e.g. start reading the server's stdout)."""

    async def aclose(self) -> None:
        """Stop relaying; waiting clients get an error, not a hang."""

    async def ping(self, timeout: float = 5.0) -> None:
        """Send an MCP ``ping`` to the server; raise on failure or timeout."""


@runtime_checkable
class Drainable(Protocol):
    """Optional: a transport that can end its long-lived streams (SSE, GET streams) early, so the
    HTTP server's graceful shutdown does not wait for clients to leave. Called before ``aclose``."""

    async def drain(self) -> None: ...


class TransportFactory(Protocol):
    def __call__(self, options: TransportOptions) -> Transport: ...
