"""Remote MCP servers behind OAuth: what the server asks for, and which authorization server
(AS) to log in to. The protocol pieces only; the caller runs the login.

- :func:`parse_www_authenticate` — the ``Bearer`` challenge of a ``WWW-Authenticate`` value
  (RFC 7235 syntax, RFC 6750 / RFC 9728 parameters), among possibly several schemes.
- :func:`fetch_resource_metadata` — an RFC 9728 protected-resource metadata (PRM) document;
  :func:`well_known_urls` — where it lives for a server URL (path-specific first, then root).
- :func:`probe` — ToolHive's detection: ``GET`` the server, then ``POST`` an MCP ``initialize``
  when the GET was not a 401 (MCP servers often answer 405/400 to GET). A 401 is an
  :class:`AuthRequirement`: its Bearer challenge, and the PRM named by ``resource_metadata``
  or found at the well-known URLs (``None`` when neither gives one). Anything else: ``None``.
- :func:`discover_authorization_server` — the AS, its metadata, the RFC 8707 ``resource`` and
  the scopes to ask for.

Choices (ToolHive's Go is the reference; where this differs it is said here):

- AS priority: a configured issuer; the PRM's ``authorization_servers`` (the first that
  discovers); the issuer derived from the challenge's ``realm`` (an https — or loopback http —
  URL, path cleaned, query and fragment dropped); the well-known PRM (when the requirement did
  not carry one); the server's origin (``https://host[:port]``, the original scheme on
  loopback). Go tries the realm before the PRM; the PRM is the MCP spec's mechanism, and a realm
  that does not lead to an AS falls through here instead of ending the search as in Go.
- AS metadata is fetched in the MCP spec's order (:func:`~toolhive.oauth.discovery.discover`
  with ``mcp_order=True``). A document that names another issuer (Stripe's MCP server hosts the
  metadata of ``marketplace.stripe.com``) is accepted as Go accepts it, but only once that
  issuer's own metadata names itself: endpoints always come from a document of the issuer they
  are used for.
- ``resource``: the caller's (validated, not modified); else the PRM's ``resource`` when it is
  on the server's origin (RFC 9728 §7.3: a document may not claim another origin's resource);
  else the normalized server URL (Go's ``DefaultResourceIndicator``: lower-case scheme and host,
  no fragment, query and trailing slash kept).
- scopes: the caller's; else the challenge's ``scope`` (MCP spec); else the PRM's
  ``scopes_supported``; else none (the ``scope`` parameter is omitted and the AS applies its
  default — Go would send ``openid profile``). Derived scopes get ``offline_access`` added when
  the AS lists it in ``scopes_supported``, so that logins survive the access token's expiry.
- HTTPS is required for metadata and AS URLs except on loopback. Redirects are followed only
  within the same origin (ToolHive's SameHostRedirectPolicy).
"""

from __future__ import annotations

import contextlib
import json
import logging
import posixpath
import string
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from toolhive.errors import InvalidInputError
from toolhive.oauth.discovery import (
    DISCOVERY_TIMEOUT,
    ProviderMetadata,
    check_issuer_url,
    check_secure_url,
    discover,
    is_loopback,
)
from toolhive.oauth.errors import DiscoveryError, InvalidIssuerError, IssuerMismatchError

log = logging.getLogger("toolhive.oauth")

#: RFC 9728 §3's well-known path suffix.
WELL_KNOWN_PRM = "/.well-known/oauth-protected-resource"
#: Seconds the detection requests may take (ToolHive: 10).
PROBE_TIMEOUT = 10.0
#: What the probe's ``initialize`` says about itself.
_INITIALIZE: dict[str, Any] = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "toolhive-auth-probe", "version": "1"},
    },
}
_MAX_REDIRECTS = 5
#: Bytes a metadata document may have (ToolHive: 1 MiB).
MAX_DOCUMENT = 1024 * 1024

# -- WWW-Authenticate --------------------------------------------------------------------------


@dataclass(frozen=True)
class BearerChallenge:
    """The parameters of a ``Bearer`` challenge (``""`` when absent)."""

    realm: str = ""
    resource_metadata: str = ""
    scope: str = ""
    error: str = ""
    error_description: str = ""

    @property
    def scopes(self) -> tuple[str, ...]:
        return tuple(self.scope.split())


_TCHAR = frozenset("!#$%&'*+-.^_`|~" + string.ascii_letters + string.digits)
_TOKEN68_CHARS = string.ascii_letters + string.digits + "-._~+/"
_TOKEN68 = frozenset(_TOKEN68_CHARS)
_WS = " \t"


class _Scanner:
    """RFC 7235 §4.1: ``challenge = scheme [ 1*SP ( token68 / #auth-param ) ]``, challenges
    separated by commas. Lenient where servers are sloppy (unquoted URLs as values)."""

    def __init__(self, text: str) -> None:
        self.s = text
        self.i = 0

    def skip(self, chars: str = _WS) -> None:
        while self.i < len(self.s) and self.s[self.i] in chars:
            self.i += 1

    def peek(self) -> str:
        return self.s[self.i] if self.i < len(self.s) else ""

    def token(self) -> str:
        start = self.i
        while self.i < len(self.s) and self.s[self.i] in _TCHAR:
            self.i += 1
        return self.s[start : self.i]

    def value(self) -> str:
        if self.peek() == '"':
            self.i += 1
            out: list[str] = []
            while self.i < len(self.s):
                char = self.s[self.i]
                if char == "\\" and self.i + 1 < len(self.s):
                    out.append(self.s[self.i + 1])
                    self.i += 2
                elif char == '"':
                    self.i += 1
                    break
                else:
                    out.append(char)
                    self.i += 1
            return "".join(out)
        start = self.i
        while self.i < len(self.s) and self.s[self.i] not in ", \t":
            self.i += 1
        return self.s[start : self.i]

    def token68_ahead(self) -> bool:
        """A token68 (``Basic dXNlcg==``) rather than ``name=value`` pairs."""
        j = self.i
        while j < len(self.s) and self.s[j] in _TOKEN68:
            j += 1
        if j == self.i:
            return False
        while j < len(self.s) and self.s[j] == "=":
            j += 1
        while j < len(self.s) and self.s[j] in _WS:
            j += 1
        return j == len(self.s) or self.s[j] == ","

    def challenges(self) -> Iterator[tuple[str, dict[str, str]]]:
        while self.i < len(self.s):
            self.skip(_WS + ",")
            scheme = self.token()
            if not scheme:
                self.i += 1  # not a token: skip the stray character
                continue
            params: dict[str, str] = {}
            had_space = self.peek() in tuple(_WS)
            self.skip()
            if had_space and self.peek() not in ("", ","):
                if self.token68_ahead():
                    self.skip(_TOKEN68_CHARS + "=")
                else:
                    self._params(params)
            yield scheme, params

    def _params(self, params: dict[str, str]) -> None:
        while self.i < len(self.s):
            start = self.i
            name = self.token()
            self.skip()
            if not name or self.peek() != "=":
                self.i = start  # the next challenge's scheme (or junk) starts here
                return
            self.i += 1
            self.skip()
            params.setdefault(name.lower(), self.value())
            self.skip()
            if self.peek() != ",":
                return
            self.skip(_WS + ",")


def parse_www_authenticate(value: str) -> BearerChallenge | None:
    """The first ``Bearer`` challenge in ``value`` (several header fields may be joined with
    ``", "``); scheme and parameter names are case-insensitive; ``None`` when there is none."""
    for scheme, params in _Scanner(value).challenges():
        if scheme.lower() == "bearer":
            return BearerChallenge(
                realm=params.get("realm", ""),
                resource_metadata=params.get("resource_metadata", ""),
                scope=params.get("scope", ""),
                error=params.get("error", ""),
                error_description=params.get("error_description", ""),
            )
    return None


# -- RFC 9728 protected-resource metadata ------------------------------------------------------


class ProtectedResourceMetadata(BaseModel):
    """An RFC 9728 document; fields this client does not use are kept as extras."""

    model_config = ConfigDict(extra="allow", frozen=True)

    resource: str = Field(min_length=1)
    authorization_servers: list[str] = Field(default_factory=list)
    scopes_supported: list[str] = Field(default_factory=list)
    bearer_methods_supported: list[str] = Field(default_factory=list)
    resource_name: str = ""


@contextlib.contextmanager
def _client(http: httpx.Client | None, timeout: float) -> Iterator[httpx.Client]:
    if http is not None:
        yield http
        return
    with httpx.Client(timeout=timeout, follow_redirects=False) as client:
        yield client


def _origin(url: str) -> str:
    """``scheme://host[:port]``, lower-cased; ``""`` when ``url`` has no host."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return ""
    host = (parts.hostname or "").lower()
    if not host or parts.scheme.lower() not in ("http", "https"):
        return ""
    shown = f"[{host}]" if ":" in host else host
    default = {"http": 80, "https": 443}[parts.scheme.lower()]
    suffix = f":{port}" if port is not None and port != default else ""
    return f"{parts.scheme.lower()}://{shown}{suffix}"


def _send(
    client: httpx.Client,
    method: str,
    url: str,
    *,
    headers: Mapping[str, str],
    body: bytes | None = None,
    read: bool = False,
) -> tuple[httpx.Response, str, bytes]:
    """One request, following redirects within the same origin only: the (closed) response, the
    URL that answered and — with ``read`` — its body (at most :data:`MAX_DOCUMENT` bytes; the
    detection requests never read one: an unprotected server may stream forever)."""
    for _ in range(_MAX_REDIRECTS + 1):
        request = client.build_request(method, url, headers=dict(headers), content=body)
        response = client.send(request, stream=True)
        try:
            location = response.headers.get("location", "")
            target = urljoin(url, location) if response.is_redirect and location else ""
            follow = bool(target) and _origin(target) == _origin(url)
            if follow and response.status_code in (301, 302, 303) and method != "GET":
                follow = False
            if not follow:
                content = b""
                if read:
                    chunks: list[bytes] = []
                    size = 0
                    for chunk in response.iter_bytes():
                        size += len(chunk)
                        if size > MAX_DOCUMENT:
                            msg = f"the document at {url} is larger than {MAX_DOCUMENT} bytes"
                            raise DiscoveryError(msg)
                        chunks.append(chunk)
                    content = b"".join(chunks)
                return response, url, content
        finally:
            response.close()
        url = target
    msg = f"too many redirects from {url}"
    raise DiscoveryError(msg)


def fetch_resource_metadata(
    url: str, *, http: httpx.Client | None = None, timeout: float = DISCOVERY_TIMEOUT
) -> ProtectedResourceMetadata:
    """The RFC 9728 document at ``url`` (HTTPS, or HTTP on loopback); :class:`DiscoveryError`
    when it cannot be fetched, is not JSON or has no ``resource``."""
    try:
        check_secure_url(url, "resource metadata URL")
    except InvalidIssuerError as exc:
        raise DiscoveryError(str(exc)) from None
    with _client(http, timeout) as client:
        try:
            response, _, content = _send(
                client, "GET", url, headers={"Accept": "application/json"}, read=True
            )
        except (httpx.HTTPError, httpx.InvalidURL, ValueError) as exc:
            msg = f"cannot fetch the resource metadata at {url}: {exc}"
            raise DiscoveryError(msg) from None
    if response.status_code != 200:
        msg = f"the resource metadata at {url} answered HTTP {response.status_code}"
        raise DiscoveryError(msg)
    if "json" not in response.headers.get("content-type", "").lower():
        msg = f"the resource metadata at {url} is not JSON"
        raise DiscoveryError(msg)
    try:
        return ProtectedResourceMetadata.model_validate_json(content)
    except ValidationError:
        msg = f"the resource metadata at {url} is not an RFC 9728 document (it needs 'resource')"
        raise DiscoveryError(msg) from None


def well_known_urls(server_url: str) -> list[str]:
    """RFC 9728 §3.1 locations for ``server_url``: ``{origin}/.well-known/oauth-protected-
    resource{path}`` (when it has a path), then ``{origin}/.well-known/oauth-protected-resource``.
    Query and fragment are dropped, as ToolHive does."""
    origin = _origin(server_url)
    if not origin:
        return []
    path = urlsplit(server_url).path
    path = posixpath.normpath(path) if path else ""
    urls = []
    if path not in ("", "/", "."):
        urls.append(f"{origin}{WELL_KNOWN_PRM}{path}")
    urls.append(f"{origin}{WELL_KNOWN_PRM}")
    return urls


# -- detection ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuthRequirement:
    """A server's 401: its Bearer challenge (``None`` without one) and its protected-resource
    metadata (``None`` when none was found), with the URL it came from."""

    challenge: BearerChallenge | None
    metadata: ProtectedResourceMetadata | None
    metadata_url: str = ""

    @property
    def oauth_discoverable(self) -> bool:
        """Whether the server points at OAuth (PRM, or a challenge with ``realm`` or
        ``resource_metadata``). Go refuses a bare ``Bearer`` without these when no issuer is
        configured: the server then wants a static bearer token."""
        if self.metadata is not None:
            return True
        return self.challenge is not None and bool(
            self.challenge.realm or self.challenge.resource_metadata
        )


def _check_server_url(server_url: str) -> None:
    if not _origin(server_url):
        msg = f"remote server URL {server_url!r} must be an http:// or https:// URL with a host"
        raise InvalidInputError(msg)


def _knock(
    client: httpx.Client, method: str, url: str, headers: Mapping[str, str]
) -> tuple[int, str]:
    """Status and the joined ``WWW-Authenticate`` of one detection request."""
    base = {"Accept": "application/json, text/event-stream", **headers}
    body = None
    if method == "POST":
        body = json.dumps(_INITIALIZE).encode()
        base["Content-Type"] = "application/json"
    try:
        response, answered, _ = _send(client, method, url, headers=base, body=body)
    except (httpx.HTTPError, httpx.InvalidURL, ValueError) as exc:
        msg = f"cannot reach the remote server at {url}: {exc}"
        raise DiscoveryError(msg) from None
    session = response.headers.get("mcp-session-id", "")
    if method == "POST" and response.status_code == 200 and session:
        # Not protected after all: end the session the probe opened.
        with contextlib.suppress(httpx.HTTPError):
            client.delete(answered, headers={**headers, "Mcp-Session-Id": session})
    return response.status_code, ", ".join(response.headers.get_list("www-authenticate"))


def probe(
    server_url: str,
    *,
    headers: Mapping[str, str] | None = None,
    timeout: float = PROBE_TIMEOUT,
    http: httpx.Client | None = None,
) -> AuthRequirement | None:
    """Whether ``server_url`` needs OAuth (see the module docstring). ``headers`` are sent with
    the detection requests (a remote's configured headers). An unreachable server is
    :class:`DiscoveryError`."""
    _check_server_url(server_url)
    extra = dict(headers or {})
    with _client(http, timeout) as client:
        status, header = _knock(client, "GET", server_url, extra)
        challenge = parse_www_authenticate(header) if status == 401 else None
        if challenge is None:
            # MCP servers often refuse GET (405/400), or challenge only on POST.
            post_status, post_header = _knock(client, "POST", server_url, extra)
            if post_status == 401:
                status, challenge = 401, parse_www_authenticate(post_header)
        if status != 401:
            return None
        metadata: ProtectedResourceMetadata | None = None
        metadata_url = ""
        candidates = (
            [challenge.resource_metadata] if challenge and challenge.resource_metadata else []
        )
        for url in candidates + well_known_urls(server_url):
            try:
                metadata = fetch_resource_metadata(url, http=client)
            except DiscoveryError as exc:
                log.debug("no protected-resource metadata: %s", exc)
                continue
            metadata_url = url
            break
    return AuthRequirement(challenge=challenge, metadata=metadata, metadata_url=metadata_url)


# -- the authorization server ------------------------------------------------------------------


@dataclass(frozen=True)
class RemoteAuthServer:
    """Where and how to log in for a remote server. ``source`` says how the AS was found:
    ``configured``, ``resource_metadata``, ``realm``, ``well_known`` or ``server_origin``."""

    issuer: str
    metadata: ProviderMetadata
    resource: str
    scopes: tuple[str, ...]
    source: str = ""


def normalize_resource(server_url: str) -> str:
    """ToolHive's default RFC 8707 resource for a server URL: scheme and host lower-cased, the
    fragment dropped; path, query and a trailing slash kept."""
    _check_server_url(server_url)
    parts = urlsplit(server_url)
    netloc = parts.netloc
    userinfo, at, hostport = netloc.rpartition("@")
    netloc = f"{userinfo}{at}{hostport.lower()}"
    return urlunsplit((parts.scheme.lower(), netloc, parts.path, parts.query, ""))


def validate_resource(resource: str) -> None:
    """An explicit resource indicator (MCP spec): a scheme, a host, no fragment;
    :class:`InvalidInputError` otherwise."""
    parts = urlsplit(resource)
    if not parts.scheme:
        raise InvalidInputError(f"invalid resource {resource!r}: it must include a scheme")
    if not parts.netloc:
        raise InvalidInputError(f"invalid resource {resource!r}: it must include a host")
    if parts.fragment or resource.endswith("#"):
        raise InvalidInputError(f"invalid resource {resource!r}: it must not contain a fragment")


def issuer_from_realm(realm: str) -> str:
    """The issuer a ``realm`` names (RFC 8414 rules: https, or http on loopback; path cleaned;
    query and fragment dropped); ``""`` when the realm is not such a URL."""
    try:
        parts = urlsplit(realm)
        host = parts.hostname
    except ValueError:
        return ""
    if not host or not (parts.scheme == "https" or (parts.scheme == "http" and is_loopback(host))):
        return ""
    path = posixpath.normpath(parts.path) if parts.path else ""
    if path == ".":
        path = ""
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def issuer_from_url(server_url: str) -> str:
    """ToolHive's last resort: the server's own origin as the issuer, ``https`` unless the host
    is loopback (then the server's scheme)."""
    origin = _origin(server_url)
    if not origin:
        return ""
    host = urlsplit(origin).hostname or ""
    if is_loopback(host):
        return origin
    return "https" + origin[origin.index("://") :]


def _authoritative(candidate: str, client: httpx.Client) -> ProviderMetadata:
    """The AS metadata for ``candidate``; a document naming another issuer is followed once, to
    that issuer's own (which must name itself)."""
    try:
        return discover(candidate, http=client, mcp_order=True)
    except IssuerMismatchError as exc:
        named = exc.named_issuer
        try:
            check_issuer_url(named)
        except InvalidIssuerError as bad:
            raise DiscoveryError(f"{exc} ({bad})") from None
        log.debug("%s announces issuer %s; following it", candidate, named)
        return discover(named, http=client, mcp_order=True)


def discover_authorization_server(
    server_url: str,
    *,
    issuer: str = "",
    requirement: AuthRequirement | None = None,
    resource: str = "",
    scopes: Sequence[str] = (),
    http: httpx.Client | None = None,
    timeout: float = DISCOVERY_TIMEOUT,
) -> RemoteAuthServer:
    """The AS to log in to for ``server_url``, the ``resource`` and the scopes (see the module
    docstring for the priorities). A configured ``issuer`` that cannot be discovered is an
    error (:class:`DiscoveryError` / :class:`InvalidIssuerError`); otherwise every candidate is
    tried and :class:`DiscoveryError` lists them when none worked."""
    _check_server_url(server_url)
    if resource:
        validate_resource(resource)
    challenge = requirement.challenge if requirement else None
    prm = requirement.metadata if requirement else None
    tried: list[str] = []
    found: tuple[ProviderMetadata, str] | None = None

    def attempt(candidate: str, source: str, client: httpx.Client) -> bool:
        nonlocal found
        try:
            found = (_authoritative(candidate, client), source)
        except (DiscoveryError, InvalidIssuerError) as exc:
            log.debug("authorization server candidate %s (%s) failed: %s", candidate, source, exc)
            tried.append(f"{candidate} ({source})")
            return False
        return True

    with _client(http, timeout) as client:
        if issuer:
            found = (_authoritative(issuer, client), "configured")
        if found is None and prm is not None:
            for candidate in prm.authorization_servers:
                if attempt(candidate, "resource_metadata", client):
                    break
        if found is None and challenge is not None and challenge.realm:
            realm_issuer = issuer_from_realm(challenge.realm)
            if realm_issuer:
                attempt(realm_issuer, "realm", client)
        if found is None and prm is None:
            for url in well_known_urls(server_url):
                try:
                    prm = fetch_resource_metadata(url, http=client)
                except DiscoveryError:
                    continue
                for candidate in prm.authorization_servers:
                    if attempt(candidate, "well_known", client):
                        break
                break
        if found is None:
            origin_issuer = issuer_from_url(server_url)
            if origin_issuer:
                attempt(origin_issuer, "server_origin", client)
    if found is None:
        msg = (
            f"could not find the authorization server of {server_url} "
            f"(tried: {', '.join(tried) or 'nothing'}); configure its issuer "
            "(--remote-auth-issuer) or its endpoints"
        )
        raise DiscoveryError(msg)
    metadata, source = found
    return RemoteAuthServer(
        issuer=metadata.issuer,
        metadata=metadata,
        resource=resource or _default_resource(server_url, prm),
        scopes=_scopes(scopes, challenge, prm, metadata),
        source=source,
    )


def _default_resource(server_url: str, prm: ProtectedResourceMetadata | None) -> str:
    normalized = normalize_resource(server_url)
    if prm is not None and prm.resource:
        try:
            validate_resource(prm.resource)
        except InvalidInputError:
            return normalized
        if _origin(prm.resource) == _origin(server_url):
            return prm.resource
        log.debug("ignoring resource %s of another origin than %s", prm.resource, server_url)
    return normalized


def _scopes(
    configured: Sequence[str],
    challenge: BearerChallenge | None,
    prm: ProtectedResourceMetadata | None,
    metadata: ProviderMetadata,
) -> tuple[str, ...]:
    if configured:
        return tuple(configured)
    chosen: tuple[str, ...] = ()
    if challenge is not None and challenge.scopes:
        chosen = challenge.scopes
    elif prm is not None and prm.scopes_supported:
        chosen = tuple(prm.scopes_supported)
    if chosen and "offline_access" in metadata.scopes_supported and "offline_access" not in chosen:
        chosen = (*chosen, "offline_access")
    return chosen
