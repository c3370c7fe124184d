"""HTTP for registries: private-address refusal, the bearer token of a registry login, and JSON
GETs with clear errors (401, or 403 to a token → :class:`RegistryAuthRequiredError`)."""

from __future__ import annotations

import ipaddress
import socket
from typing import Any
from urllib.parse import urlsplit

import httpx
from pydantic import SecretStr
from toolhive.contracts import InvalidInputError
from toolhive.contracts.registry import (
    RegistryAuthRequiredError,
    RegistryError,
    RegistryUnavailableError,
)
from toolhive.contracts.registry_data import load_json


class NotFound(Exception):
    """The registry answered 404."""


class Unreachable(RegistryUnavailableError):
    """The registry is down or out of reach (DNS, connection, timeout, 5xx, 429): a cached copy,
    even a stale one, may stand in. Other errors (4xx, bad documents) are not outages."""


def check_url(url: str, *, allow_private: bool) -> None:
    """Refuse non-HTTP(S) URLs, and hosts that resolve to private addresses unless allowed."""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        msg = f"registry URL {url!r} must be an http:// or https:// URL"
        raise InvalidInputError(msg)
    if allow_private:
        return
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or 443, proto=socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        msg = f"registry host {parts.hostname} cannot be resolved ({exc.strerror})"
        raise Unreachable(msg) from None
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if not address.is_global:
            msg = (
                f"registry URL {url} resolves to the private address {address}; if you trust it, "
                "set it again with `thv config set-registry --allow-private-ip`"
            )
            raise InvalidInputError(msg)


def get_json(
    client: httpx.Client, url: str, what: str, params: dict[str, Any] | None = None
) -> Any:
    """GET ``url`` and parse JSON; 404 → :class:`NotFound`; other failures → one clear error."""
    try:
        response = client.get(url, params=params)
    except httpx.TimeoutException:
        msg = f"{what} at {url} did not answer within {client.timeout.read}s; try again later"
        raise Unreachable(msg) from None
    except httpx.HTTPError as exc:
        msg = f"cannot reach {what} at {url}: {exc}"
        raise Unreachable(msg) from None
    if response.status_code == 404:
        raise NotFound(url)
    sent_token = "Authorization" in client.headers
    # 401 always means "log in"; 403 does only for a login (without one it is just a refusal).
    if response.status_code == 401 or (response.status_code == 403 and sent_token):
        if sent_token:
            msg = (
                f"{what} at {url} refused the login (HTTP {response.status_code}); "
                "run `thv registry login` again"
            )
        else:
            msg = (
                f"{what} at {url} requires authentication (HTTP {response.status_code}); "
                "configure it with `thv config set-registry <url> --issuer <url> --client-id "
                "<id>`, then run `thv registry login`"
            )
        raise RegistryAuthRequiredError(msg)
    if response.status_code >= 400:
        detail = response.text.strip().splitlines()[0][:200] if response.text.strip() else ""
        msg = f"{what} at {url} answered HTTP {response.status_code}" + (
            f": {detail}" if detail else ""
        )
        transient = response.status_code >= 500 or response.status_code == 429
        raise (Unreachable if transient else RegistryUnavailableError)(msg)
    return load_json(response.text, f"{what} at {response.url}")


def client(timeout: float, bearer_token: SecretStr | None = None) -> httpx.Client:
    """An HTTP client; with ``bearer_token`` every request carries ``Authorization: Bearer``.
    Redirects are followed only without a token (a token never goes to another host)."""
    headers = {"Accept": "application/json", "User-Agent": "toolhive-python"}
    if bearer_token is not None:
        headers["Authorization"] = f"Bearer {bearer_token.get_secret_value()}"
    return httpx.Client(
        timeout=httpx.Timeout(timeout),
        follow_redirects=bearer_token is None,
        headers=headers,
    )


__all__ = ["NotFound", "RegistryError", "Unreachable", "check_url", "client", "get_json"]
