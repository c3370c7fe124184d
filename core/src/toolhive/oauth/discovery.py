"""Authorization-server metadata: OIDC discovery, else RFC 8414.

For issuer ``https://id.example.com/tenant`` the documents tried are, in order,
``https://id.example.com/tenant/.well-known/openid-configuration`` (OpenID Connect Discovery 1.0
§4) and ``https://id.example.com/.well-known/oauth-authorization-server/tenant`` (RFC 8414 §3) —
the order registry login uses. With ``mcp_order=True`` (remote MCP servers) the order is the MCP
authorization spec's: RFC 8414 path-inserted, OIDC path-inserted
(``/.well-known/openid-configuration/tenant``), OIDC path-appended; for an issuer without a
path, RFC 8414 then OIDC. In that order a document without ``registration_endpoint`` does not
end the search: a later one of the same issuer that has it is preferred (ToolHive does the same,
since tenant-aware providers publish DCR in only one of them).

The first document that answers 200 with JSON is used; its ``issuer`` must equal the issuer
asked for (a trailing slash aside), or it is refused with :class:`IssuerMismatchError` naming
the issuer it announces (RFC 8414 §3.3: a document may not speak for another issuer). The issuer
and every endpoint must be HTTPS; plain HTTP is allowed only for loopback hosts (``localhost``,
127.0.0.0/8, ``::1``), for development.
"""

from __future__ import annotations

import ipaddress
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from toolhive.oauth.errors import DiscoveryError, InvalidIssuerError, IssuerMismatchError

#: Seconds a discovery request may take (ToolHive gives it 10).
DISCOVERY_TIMEOUT = 10.0


class ProviderMetadata(BaseModel):
    """The fields of the metadata document this client uses; the rest are kept as extras."""

    model_config = ConfigDict(extra="allow", frozen=True)

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str = ""
    registration_endpoint: str = ""
    introspection_endpoint: str = ""
    revocation_endpoint: str = ""
    scopes_supported: list[str] = Field(default_factory=list)
    code_challenge_methods_supported: list[str] = Field(default_factory=list)
    grant_types_supported: list[str] = Field(default_factory=list)
    response_types_supported: list[str] = Field(default_factory=list)
    token_endpoint_auth_methods_supported: list[str] = Field(default_factory=list)


def is_loopback(host: str) -> bool:
    """``localhost`` or a loopback IP literal (no DNS lookup)."""
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_secure_url(url: str, what: str) -> None:
    """HTTPS, or HTTP to a loopback host; :class:`InvalidIssuerError` otherwise."""
    try:
        url.encode("utf-8")  # lone surrogates (from JSON) are not a URL
        parts = urlsplit(url)
        _ = parts.port  # a port out of range is a ValueError here, not later
        host = parts.hostname
    except ValueError:
        host = None
    if host is None or parts.scheme not in {"http", "https"}:
        msg = f"{what} {url!r} must be an https:// URL with a host"
        raise InvalidIssuerError(msg)
    if parts.scheme != "https" and not is_loopback(host):
        msg = f"{what} {url} must use HTTPS (plain HTTP is allowed only for localhost)"
        raise InvalidIssuerError(msg)


def check_issuer_url(issuer: str) -> None:
    """The issuer rules of OIDC Core §3.1.2.1 / RFC 8414 §2: HTTPS (loopback HTTP aside), a host,
    no query or fragment."""
    check_secure_url(issuer, "issuer URL")
    parts = urlsplit(issuer)
    if parts.query or parts.fragment:
        msg = f"issuer URL {issuer} must not have a query or fragment"
        raise InvalidIssuerError(msg)


def candidate_urls(issuer: str, *, mcp_order: bool = False) -> list[str]:
    """The metadata URLs tried for ``issuer``, in order (see the module docstring)."""
    parts = urlsplit(issuer)
    path = parts.path.rstrip("/")

    def url(p: str) -> str:
        return urlunsplit((parts.scheme, parts.netloc, p, "", ""))

    oidc_appended = url(f"{path}/.well-known/openid-configuration")
    rfc8414 = url(f"/.well-known/oauth-authorization-server{path}")
    if not mcp_order:
        return [oidc_appended, rfc8414]
    if not path:
        return [rfc8414, oidc_appended]
    return [rfc8414, url(f"/.well-known/openid-configuration{path}"), oidc_appended]


def _fetch(http: httpx.Client, url: str) -> dict[str, Any] | None:
    """The JSON object at ``url``; ``None`` when it is not there (4xx, not JSON)."""
    try:
        response = http.get(url)
    except (httpx.HTTPError, httpx.InvalidURL, ValueError) as exc:  # ValueError: bad IDNA …
        msg = f"cannot reach the authorization server at {url}: {exc}"
        raise DiscoveryError(msg) from None
    if response.status_code >= 500:
        msg = f"the authorization server answered HTTP {response.status_code} at {url}"
        raise DiscoveryError(msg)
    if response.status_code != 200:
        return None
    try:
        data = response.json()
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def discover(
    issuer: str,
    *,
    timeout: float = DISCOVERY_TIMEOUT,
    http: httpx.Client | None = None,
    mcp_order: bool = False,
) -> ProviderMetadata:
    """The metadata of ``issuer`` (see the module docstring for the rules)."""
    check_issuer_url(issuer)
    own = http is None
    client = http or httpx.Client(
        timeout=timeout, follow_redirects=False, headers={"Accept": "application/json"}
    )
    urls = candidate_urls(issuer, mcp_order=mcp_order)
    found: ProviderMetadata | None = None
    try:
        for url in urls:
            if found is not None:  # only looking for a registration endpoint now
                try:
                    data = _fetch(client, url)
                    later = _validate(issuer, url, data) if data is not None else None
                except DiscoveryError:
                    continue
                if later is None:
                    continue
                if later.registration_endpoint:
                    return later
                continue
            data = _fetch(client, url)
            if data is None:
                continue
            found = _validate(issuer, url, data)
            if not mcp_order or found.registration_endpoint:
                return found
    finally:
        if own:
            client.close()
    if found is not None:
        return found
    tried = " and ".join([", ".join(urls[:-1]), urls[-1]])
    msg = f"no OpenID Connect or OAuth 2.0 metadata found for issuer {issuer} (tried {tried})"
    raise DiscoveryError(msg)


def _validate(issuer: str, url: str, data: dict[str, Any]) -> ProviderMetadata:
    try:
        metadata = ProviderMetadata.model_validate(data)
    except ValidationError as exc:
        missing = ", ".join(str(e["loc"][0]) for e in exc.errors() if e["loc"])
        msg = f"the metadata at {url} is not usable (missing or invalid: {missing})"
        raise DiscoveryError(msg) from None
    if metadata.issuer.rstrip("/") != issuer.rstrip("/"):
        msg = (
            f"the metadata at {url} names issuer {metadata.issuer!r}, not {issuer!r}; "
            "use the issuer URL the provider itself announces"
        )
        raise IssuerMismatchError(msg, metadata.issuer)
    for name in ("authorization_endpoint", "token_endpoint"):
        try:
            check_secure_url(getattr(metadata, name), name)
        except InvalidIssuerError as exc:
            raise DiscoveryError(f"the metadata at {url}: {exc}") from None
    methods = metadata.code_challenge_methods_supported
    if methods and "S256" not in methods:
        msg = f"the authorization server {issuer} does not support PKCE S256 (it offers {methods})"
        raise DiscoveryError(msg)
    return metadata
