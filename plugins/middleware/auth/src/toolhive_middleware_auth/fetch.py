"""Fetching from the issuer: discovery, JWKS and introspection, under ToolHive's network rules.

ToolHive builds one HTTP client for the token validator (``networking.HttpClientBuilder``):
HTTPS only unless ``InsecureAllowHTTP``; no private, loopback or link-local address unless
``AllowPrivateIP`` (checked on the address dialed); ``CACertPath`` as the only trust anchors; and
``AuthTokenFile``'s token as a bearer. We apply the same rules to every request and every
redirect hop (redirects stay on the original host, never HTTPS → HTTP). The address check runs on
the host's resolved addresses just before the request; a DNS answer that changes between that
check and the connection (rebinding) is not caught — Go's dial-time check is.

One short-lived client per fetch: fetches are rare (discovery once, the JWKS hourly or on an
unknown key, introspection once per cached token), and nothing outlives the event loop that made
it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import socket
import ssl
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    import httpx

#: Seconds for one request (Go: 5 s per discovery attempt and JWKS registration).
TIMEOUT = 5.0
#: Largest document read (Go reads at most 64 KiB of an introspection answer).
MAX_BYTES = 256 * 1024
MAX_INTROSPECTION_BYTES = 64 * 1024
MAX_REDIRECTS = 10
USER_AGENT = "ToolHive-Python/auth"

_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


class FetchError(Exception):
    """A fetch failed; the message names the URL's host and why, never a credential."""


def is_private(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Go's ``networking.IsPrivateIP``: anything not globally routable, looking through IPv6
    forms that embed an IPv4 address (mapped, 6to4, NAT64); Teredo is refused outright."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.teredo is not None:
            return True
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            return is_private(embedded)
    return not ip.is_global or ip.is_multicast or ip.is_reserved


@dataclass(frozen=True)
class FetchPolicy:
    """How the validator may reach the issuer (``TokenValidatorConfig``'s network fields)."""

    insecure_allow_http: bool = False
    allow_private_ip: bool = False
    #: An SSL context with ``CACertPath`` as its trust anchors, or ``True`` for the defaults.
    verify: ssl.SSLContext | bool = True
    #: ``AuthTokenFile``'s token, sent as a bearer on discovery and JWKS fetches.
    bearer: str | None = None

    async def check(self, url: httpx.URL | str, original_host: str | None = None) -> None:
        """Refuse a URL the rules forbid (scheme, redirect host, private address)."""
        parts = urlsplit(str(url))
        host = parts.hostname or ""
        if parts.scheme not in ("http", "https") or not host:
            raise FetchError(f"refusing non-HTTP(S) URL for host {host!r}")
        if parts.scheme == "http" and not self.insecure_allow_http:
            raise FetchError(f"refusing plain HTTP to {host} (InsecureAllowHTTP is off)")
        if original_host is not None and host.lower() != original_host.lower():
            raise FetchError(f"refusing redirect from {original_host} to another host ({host})")
        if self.allow_private_ip:
            return
        try:
            addresses = [ipaddress.ip_address(host)]
        except ValueError:
            try:
                port = parts.port or (443 if parts.scheme == "https" else 80)
                loop = asyncio.get_running_loop()
                infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            except OSError as exc:
                raise FetchError(f"cannot resolve {host}: {exc}") from None
            addresses = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]
        for address in addresses:
            if is_private(address):
                raise FetchError(
                    f"refusing private address {address} of {host} (AllowPrivateIP is off)"
                )

    def _client(self, url: str) -> httpx.AsyncClient:
        import httpx

        original = urlsplit(url)
        origin_host = original.hostname or ""

        async def guard(request: httpx.Request) -> None:
            if request.url.scheme == "http" and original.scheme == "https":
                raise FetchError(f"refusing a redirect from HTTPS to HTTP on {origin_host}")
            await self.check(request.url, origin_host)

        return httpx.AsyncClient(
            verify=self.verify,
            timeout=TIMEOUT,
            follow_redirects=True,
            max_redirects=MAX_REDIRECTS,
            event_hooks={"request": [guard]},
            headers={"user-agent": USER_AGENT, "accept": "application/json"},
        )

    async def get_json(self, url: str) -> Any:
        """GET a JSON document (discovery, JWKS) with the bearer from ``AuthTokenFile``."""
        headers = {"authorization": f"Bearer {self.bearer}"} if self.bearer else {}
        status, body = await self._send("GET", url, headers=headers, limit=MAX_BYTES)
        if status != 200:
            raise FetchError(f"{_where(url)} answered HTTP {status}")
        return _json(body, url)

    async def post_form(
        self, url: str, form: dict[str, str], *, basic: tuple[str, str] | None = None
    ) -> tuple[int, Any]:
        """POST a form (introspection); HTTP Basic when ``basic``, else the bearer if any."""
        import httpx

        headers: dict[str, str] = {}
        if basic is None and self.bearer:
            headers["authorization"] = f"Bearer {self.bearer}"
        auth = httpx.BasicAuth(*basic) if basic is not None else None
        status, body = await self._send(
            "POST", url, headers=headers, limit=MAX_INTROSPECTION_BYTES, data=form, auth=auth
        )
        return status, (_json(body, url) if status == 200 else None)

    async def _send(
        self, method: str, url: str, *, headers: dict[str, str], limit: int, **kwargs: Any
    ) -> tuple[int, bytes]:
        import httpx

        try:
            async with (
                self._client(url) as client,
                client.stream(method, url, headers=headers, **kwargs) as response,
            ):
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > limit:
                        raise FetchError(f"{_where(url)} answered more than {limit} bytes")
                return response.status_code, bytes(body)
        except httpx.HTTPError as exc:
            # httpx's messages name the URL at most; the request's headers never appear.
            raise FetchError(f"{_where(url)}: {type(exc).__name__}: {exc}") from None


def _where(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def _json(body: bytes, url: str) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        raise FetchError(f"{_where(url)} did not answer JSON") from None
