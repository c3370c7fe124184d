"""Edge protection in front of every proxy: DNS-rebinding checks and a request body limit.

A browser page can reach a proxy on 127.0.0.1 by rebinding its own domain name to 127.0.0.1; the
request then carries the attacker's ``Host`` (and, for ``fetch``, its ``Origin``). So:

* ``Origin``: absent → allowed (non-browser clients send none). Present → it must be in the allowlist:
  ``--allowed-origins``, plus, on a loopback bind, any ``http(s)://localhost|127.0.0.1|[::1]`` origin
  with any port. A non-loopback bind with no ``--allowed-origins`` does not check Origin (the
  operator exposed it on purpose and nothing sensible could be the default). Bad Origin → 403.
* ``Host`` (loopback binds only): must be a loopback name or address (any port) or the host of an
  allowed origin; else 421 Misdirected Request (what the MCP SDK answers too).
* Body: ``Content-Length`` above the limit → 413 before anything is read; a chunked body is counted
  while it streams and cut at the limit (the inner app sees a disconnect, the client gets 413).

Every refusal has a JSON-RPC error body, so MCP clients show the reason.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any, Final
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict

from toolhive.errors import InvalidInputError
from toolhive.mcp.jsonrpc import INVALID_REQUEST, error_bytes
from toolhive.web.asgi import ASGIApp, Receive, Scope, Send, send_body
from toolhive.web.hosts import is_loopback_host
from toolhive.web.limits import DEFAULT_MAX_BODY, MAX_BODY_ENV, max_body_from_env

log = logging.getLogger("toolhive.proxy.edge")

#: A refused body is read and discarded up to this size / time so the client sees the 413.
_DRAIN_CAP: Final = 64 * 1024 * 1024
_DRAIN_SECONDS: Final = 10.0
_CACHE_SIZE: Final = 256


def normalize_origin(origin: str) -> str:
    """``scheme://host[:port]`` lower-cased, default ports dropped; ``""`` if not an origin."""
    try:
        parts = urlsplit(origin.strip())
        port = parts.port
    except ValueError:
        return ""
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if scheme not in ("http", "https") or not host:
        return ""
    if ":" in host:
        host = f"[{host}]"
    if port is None or (scheme, port) in (("http", 80), ("https", 443)):
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def split_origins(values: Iterable[str]) -> list[str]:
    """Repeated and comma-separated ``--allowed-origins`` values, validated and normalized."""
    out: list[str] = []
    for value in values:
        for item in value.split(","):
            if not item.strip():
                continue
            if item.strip() == "*":
                out.append("*")
                continue
            origin = normalize_origin(item)
            if not origin:
                msg = f"invalid origin {item.strip()!r}: expected e.g. https://app.example.com"
                raise InvalidInputError(msg)
            out.append(origin)
    return out


def _host_of(authority: str) -> str:
    """The host part of a ``Host`` header value (``[::1]:8080`` → ``::1``)."""
    authority = authority.strip().lower()
    if authority.startswith("["):
        return authority[1 : authority.find("]")] if "]" in authority else authority
    return authority.rsplit(":", 1)[0] if authority.count(":") == 1 else authority


class EdgeConfig(BaseModel):
    """What the edge layer enforces; ``bind_host`` decides the loopback defaults."""

    model_config = ConfigDict(frozen=True)

    bind_host: str = "127.0.0.1"
    allowed_origins: tuple[str, ...] = ()
    max_body: int = DEFAULT_MAX_BODY
    #: Check ``Host`` on loopback binds (off only for tests of the other checks).
    validate_host: bool = True

    @classmethod
    def for_bind(cls, host: str, allowed_origins: Iterable[str] = ()) -> EdgeConfig:
        """The config for a proxy bound to ``host``; the body limit comes from the environment."""
        return cls(
            bind_host=host,
            allowed_origins=tuple(split_origins(allowed_origins)),
            max_body=max_body_from_env(),
        )


class EdgeProtection:
    """Raw-ASGI guard for HTTP requests; other scope types pass straight through."""

    __slots__ = (
        "_allow_any",
        "_app",
        "_check_host",
        "_host_ok",
        "_hosts",
        "_loopback",
        "_max",
        "_origin_ok",
        "_origins",
    )

    def __init__(self, app: ASGIApp, config: EdgeConfig) -> None:
        self._app = app
        self._loopback = is_loopback_host(config.bind_host) or config.bind_host in ("", "localhost")
        origins = set(config.allowed_origins)
        self._allow_any = "*" in origins or (not self._loopback and not origins)
        self._origins = frozenset(origins - {"*"})
        self._hosts = frozenset(
            (urlsplit(o).hostname or "").lower() for o in self._origins if o != "*"
        )
        self._check_host = config.validate_host and self._loopback
        self._max = config.max_body
        # Verdicts per raw header value: clients send the same Host/Origin on every request, and
        # parsing them (ipaddress, urlsplit) would cost more than the rest of the proxy's hot path.
        self._host_ok: dict[bytes, bool] = {}
        self._origin_ok: dict[bytes, bool] = {}

    def origin_allowed(self, origin: str) -> bool:
        if self._allow_any:
            return True
        normalized = normalize_origin(origin)
        if not normalized:
            return False  # "null", garbage, non-http schemes
        if normalized in self._origins:
            return True
        return self._loopback and is_loopback_host(urlsplit(normalized).hostname or "")

    def host_allowed(self, authority: str) -> bool:
        host = _host_of(authority)
        return is_loopback_host(host) or host in self._hosts

    def _cached_host(self, value: bytes) -> bool:
        verdict = self._host_ok.get(value)
        if verdict is None:
            if len(self._host_ok) >= _CACHE_SIZE:
                self._host_ok.clear()
            verdict = self._host_ok[value] = self.host_allowed(value.decode("latin-1"))
        return verdict

    def _cached_origin(self, value: bytes) -> bool:
        verdict = self._origin_ok.get(value)
        if verdict is None:
            if len(self._origin_ok) >= _CACHE_SIZE:
                self._origin_ok.clear()
            verdict = self._origin_ok[value] = self.origin_allowed(value.decode("latin-1"))
        return verdict

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        host = origin = length = None
        for key, value in scope["headers"]:
            if key == b"host":
                host = value
            elif key == b"origin":
                origin = value
            elif key == b"content-length":
                length = value
        if host is not None and self._check_host and not self._cached_host(host):
            log.warning("refused a request for Host %r (DNS rebinding protection)", host)
            await send_body(
                send,
                421,
                error_bytes(
                    None,
                    INVALID_REQUEST,
                    f"Misdirected request: Host {host.decode('latin-1')!r} is not this proxy "
                    "(it only answers loopback names such as localhost and 127.0.0.1)",
                ),
            )
            return
        if origin is not None and not self._allow_any and not self._cached_origin(origin):
            log.warning("refused a request from Origin %r", origin)
            await send_body(
                send,
                403,
                error_bytes(
                    None,
                    INVALID_REQUEST,
                    f"Forbidden: Origin {origin.decode('latin-1')!r} is not allowed; "
                    "add it with --allowed-origins",
                ),
            )
            return
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                declared = -1
            if declared > self._max:
                drained = declared <= _DRAIN_CAP and await _drain(receive)
                await self._too_large(send, keep_alive=drained)
                return
            # The server frames the body by Content-Length: it cannot exceed what was declared.
            await self._app(scope, receive, send)
            return
        if scope["method"] in ("GET", "HEAD", "DELETE", "OPTIONS"):
            await self._app(scope, receive, send)
            return
        await self._limited(scope, receive, send)

    async def _limited(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Count a chunked body as it streams; past the limit the app sees a disconnect."""
        limit = self._max
        seen = 0
        exceeded = False
        started = False

        async def counted_receive() -> Any:
            nonlocal seen, exceeded
            if exceeded:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    exceeded = True
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Any) -> None:
            nonlocal started
            if exceeded and not started:
                return  # the 413 below answers instead
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        await self._app(scope, counted_receive, guarded_send)
        if exceeded and not started:
            await self._too_large(send, keep_alive=await _drain(receive, seen))

    async def _too_large(self, send: Send, *, keep_alive: bool) -> None:
        await send_body(
            send,
            413,
            error_bytes(
                None,
                INVALID_REQUEST,
                f"Request body too large: the limit is {self._max} bytes ({MAX_BODY_ENV})",
            ),
            extra=None if keep_alive else [(b"connection", b"close")],
        )


async def _drain(receive: Receive, seen: int = 0) -> bool:
    """Read and discard the rest of a refused body, so a client still uploading it gets to read
    the 413 instead of a reset connection; gives up (False: close the connection) past
    ``_DRAIN_CAP`` bytes or ``_DRAIN_SECONDS``."""
    try:
        async with asyncio.timeout(_DRAIN_SECONDS):
            while True:
                message = await receive()
                if message["type"] != "http.request":
                    return False
                seen += len(message.get("body", b""))
                if not message.get("more_body", False):
                    return True
                if seen > _DRAIN_CAP:
                    return False
    except TimeoutError:
        return False
