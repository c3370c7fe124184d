"""The ``stdio`` transport: a relay to the server, and the HTTP face of the workload's proxy mode."""

from __future__ import annotations

from typing import Final

from toolhive.errors import InvalidInputError
from toolhive.transports.base import TransportOptions
from toolhive.transports.stdio.event_log import priming_delay_from_env
from toolhive.transports.stdio.face import Face
from toolhive.transports.stdio.legacy_sse import LegacySseFace
from toolhive.transports.stdio.relay import Relay
from toolhive.transports.stdio.streamable_http import StreamableHttpFace
from toolhive.web.asgi import Receive, Scope, Send
from toolhive.web.durations import env_seconds

DEFAULT_REQUEST_TIMEOUT: Final = 60.0
REQUEST_TIMEOUT_ENV: Final = "TOOLHIVE_PROXY_REQUEST_TIMEOUT"
#: An SSE comment on every GET stream this often keeps idle connections (and proxies) alive.
KEEPALIVE_INTERVAL: Final = 25.0
KEEPALIVE_ENV: Final = "TOOLHIVE_PROXY_SSE_KEEPALIVE"


class ProxyModeNotSupportedError(InvalidInputError):
    """The requested proxy mode for stdio servers does not exist."""


class StdioBridge:
    """The ``stdio`` transport: many HTTP client sessions over one stdio server."""

    def __init__(
        self,
        options: TransportOptions,
        *,
        request_timeout: float | None = None,
        keepalive_interval: float | None = None,
    ) -> None:
        if options.proxy_mode not in ("streamable-http", "sse"):
            raise ProxyModeNotSupportedError(
                f"unknown proxy mode {options.proxy_mode!r}; use streamable-http or sse"
            )
        if options.stdio is None:
            raise InvalidInputError(
                f"workload {options.workload!r}: the stdio transport needs the server's stdin/stdout"
            )
        self.relay = relay = Relay(
            options.stdio,
            workload=options.workload,
            request_timeout=request_timeout
            or env_seconds(REQUEST_TIMEOUT_ENV, DEFAULT_REQUEST_TIMEOUT),
            keepalive_interval=keepalive_interval or env_seconds(KEEPALIVE_ENV, KEEPALIVE_INTERVAL),
            session_ttl=options.session_ttl,
        )
        self.face: Face
        if options.proxy_mode == "sse":
            self.face = LegacySseFace(
                relay,
                strict_protocol=options.strict_protocol_validation,
                endpoint_prefix=options.endpoint_prefix,
                trust_proxy_headers=options.trust_proxy_headers,
            )
        else:
            self.face = StreamableHttpFace(
                relay,
                strict_protocol=options.strict_protocol_validation,
                priming_delay=priming_delay_from_env(),
            )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1003})
            return
        await self.face(scope, receive, send)

    async def start(self) -> None:
        """Start reading the server's stdout (idempotent)."""
        await self.relay.start()

    async def drain(self) -> None:
        """Prepare for shutdown: end every ``GET`` stream so the HTTP server can finish."""
        self.relay.drain()

    async def aclose(self) -> None:
        """Stop relaying: waiting clients get an error; the server's stdin is closed (idempotent)."""
        await self.relay.aclose()

    async def ping(self, timeout: float = 5.0) -> None:
        """Send an MCP ``ping`` with a bridge-owned id; any answer proves the server is alive."""
        await self.relay.ping(timeout)
