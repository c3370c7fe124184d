"""The ``auth`` middleware's ASGI apps, imported only when a workload that uses it starts.

:class:`OIDCMiddleware` is ToolHive's ``TokenValidator.Middleware`` plus its RFC 9728 handler,
as one plain ASGI wrapper over any app (the workload's proxy, or ``thv serve``'s API):

- ``/.well-known/oauth-protected-resource`` and ``/.well-known/oauth-protected-resource/<path>``
  are answered without a token: the protected-resource metadata (``resource``,
  ``authorization_servers``, ``bearer_methods_supported``, ``scopes_supported``; Go's CORS
  headers; ``OPTIONS`` → 204). Any other ``/.well-known/`` path gets a JSON 404, as ToolHive's
  proxy answers them, so OAuth clients probing for an authorization server read a clean
  "not found" instead of a 401.
- Every other request needs ``Authorization: Bearer <token>``. Without one: 401,
  ``error="invalid_request"``; with a token that fails: 401, ``error="invalid_token"``. The
  challenge is Go's: ``Bearer realm="<issuer>", resource_metadata="<metadata URL>"``, then
  ``scope="…"`` when scopes are configured, then the error and its description; the body is
  RFC 6750's JSON ``{"error", "error_description"}``.
- A valid token's :class:`~toolhive.contracts.Identity` is recorded in the scope
  (:func:`~toolhive.contracts.middleware.set_identity`) for the middleware inside.

:func:`local_user_middleware` is ToolHive's mode without OIDC: every request is the OS user
(``sub`` = the login name, ``iss`` ``toolhive-local``), unauthenticated.
:func:`anonymous_middleware` is Go's ``AnonymousMiddleware`` (``sub`` ``anonymous``); as in Go, no
RunConfig selects it — it is here for hosts and tests that want a fixed anonymous caller.
"""

from __future__ import annotations

import getpass
import json
import logging
import os
import ssl
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit, urlunsplit

from toolhive.contracts import Identity, InvalidInputError
from toolhive.contracts.middleware import set_identity

from toolhive_middleware_auth import SECRET_REFERENCE
from toolhive_middleware_auth.fetch import FetchPolicy
from toolhive_middleware_auth.validator import TokenError, TokenValidator, printable

if TYPE_CHECKING:
    from toolhive.contracts import MiddlewareContext
    from toolhive.contracts.middleware import ASGIApp
    from toolhive.contracts.transport import Receive, Scope, Send

    from toolhive_middleware_auth import OIDCConfig

log = logging.getLogger("toolhive_middleware_auth")

PRM_PATH = "/.well-known/oauth-protected-resource"
#: Go's default ``scopes_supported`` when none are configured.
DEFAULT_SCOPES = ("openid",)
#: Go reads the client secret from here when the config has none.
CLIENT_SECRET_ENV = "TOOLHIVE_OIDC_CLIENT_SECRET"

_JSON = (b"content-type", b"application/json")
_CORS = [
    (b"access-control-allow-methods", b"GET, OPTIONS"),
    (b"access-control-allow-headers", b"mcp-protocol-version, Content-Type, Authorization"),
    (b"access-control-max-age", b"86400"),
]


def metadata_url(resource: str) -> str:
    """RFC 9728 §3.1: the well-known path goes between the host and the resource's path."""
    parts = urlsplit(resource)
    return f"{parts.scheme}://{parts.netloc}{PRM_PATH}{parts.path.rstrip('/')}"


def _ascii_url(url: str) -> str:
    return quote(url, safe=":/?#[]@!$&'()*+,;=%~")


def _quote(value: str) -> str:
    """Go's ``EscapeQuotes`` for a quoted-string, on a value already made printable ASCII."""
    return value.replace("\\", "\\\\").replace('"', '\\"')


def _bearer(headers: list[tuple[bytes, bytes]]) -> tuple[str, str]:
    """``(token, "")`` or ``("", why not)``, with Go's messages (``ExtractBearerToken``)."""
    for name, value in headers:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            # RFC 7235: the scheme is case-insensitive (Go insists on "Bearer").
            if scheme.lower() != "bearer":
                return "", "invalid authorization header format, expected 'Bearer <token>'"
            token = token.strip()
            if not token:
                return "", "empty token in authorization header"
            return token, ""
    return "", "authorization header required"


async def _respond(
    send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes = b""
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*headers, (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body, "more_body": False})


class OIDCMiddleware:
    """Bearer-token authentication in front of ``app`` (see the module's description)."""

    def __init__(
        self,
        app: ASGIApp,
        validator: TokenValidator,
        *,
        resource: str = "",
        scopes: tuple[str, ...] = (),
    ) -> None:
        self.app = app
        self.validator = validator
        self.resource = resource
        parts = []
        # A header value must be ASCII whatever the configuration holds: URLs are
        # percent-encoded (RFC 3987 §3.1), anything else made printable.
        if validator.issuer:
            parts.append(f'realm="{_quote(_ascii_url(validator.issuer))}"')
        if resource:
            parts.append(f'resource_metadata="{_quote(_ascii_url(metadata_url(resource)))}"')
        if scopes:
            parts.append(f'scope="{_quote(printable(" ".join(scopes), 2048))}"')
        self._challenge = parts
        metadata: dict[str, Any] = {"resource": resource}
        if validator.issuer:
            metadata["authorization_servers"] = [validator.issuer]
        metadata["bearer_methods_supported"] = ["header"]
        metadata["scopes_supported"] = list(scopes or DEFAULT_SCOPES)
        self._metadata = json.dumps(metadata).encode() if resource else b""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind != "http":
            if kind == "websocket":
                # No bearer check is defined for WebSockets: refuse rather than let one through.
                await send({"type": "websocket.close", "code": 1008})
                return
            await self.app(scope, receive, send)
            return
        if scope["path"].startswith("/.well-known/"):
            await self._well_known(scope, send)
            return
        token, problem = _bearer(scope["headers"])
        if problem:
            await self._unauthorized(send, "invalid_request", problem, problem)
            return
        try:
            who = await self.validator.validate(token)
        except TokenError as exc:
            reason = str(exc)
            log.debug("request refused: %s", reason)
            await self._unauthorized(send, "invalid_token", reason, f"Invalid token: {reason}")
            return
        set_identity(scope, who)
        await self.app(scope, receive, send)

    def challenge(self, code: str, description: str) -> str:
        """The ``WWW-Authenticate`` value for a refusal."""
        parts = [*self._challenge, f'error="{code}"']
        if description:
            parts.append(f'error_description="{_quote(printable(description, 200))}"')
        return "Bearer " + ", ".join(parts)

    async def _unauthorized(self, send: Send, code: str, reason: str, description: str) -> None:
        body = json.dumps({"error": code, "error_description": description}).encode()
        headers = [(b"www-authenticate", self.challenge(code, reason).encode("latin-1")), _JSON]
        await _respond(send, 401, headers, body)

    async def _well_known(self, scope: Scope, send: Send) -> None:
        path = scope["path"]
        if path != PRM_PATH and not path.startswith(PRM_PATH + "/"):
            await _respond(send, 404, [_JSON], b'{"error":"not_found"}')
            return
        origin = next((v for k, v in scope["headers"] if k == b"origin"), b"*")
        cors = [(b"access-control-allow-origin", origin), *_CORS]
        if scope["method"] == "OPTIONS":
            await _respond(send, 204, cors)
        elif not self._metadata:
            await _respond(send, 404, cors)  # Go: no resource URL, no metadata to presume
        else:
            await _respond(send, 200, [*cors, _JSON], self._metadata)


class FixedIdentityMiddleware:
    """Every HTTP request is the same caller (ToolHive's local-user and anonymous modes)."""

    def __init__(self, app: ASGIApp, subject: str, name: str, method: str) -> None:
        self.app = app
        self.subject, self.name, self.method = subject, name, method
        self.email = f"{subject}@localhost"

    def identity(self) -> Identity:
        # Go makes these claims per request (a day of validity from now).
        now = int(time.time())
        claims = {
            "sub": self.subject,
            "iss": "toolhive-local",
            "aud": "toolhive",
            "exp": now + 86400,
            "iat": now,
            "nbf": now,
            "email": self.email,
            "name": self.name,
        }
        return Identity(self.subject, claims, self.name, self.email, method=self.method)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            set_identity(scope, self.identity())
        await self.app(scope, receive, send)


def local_user_middleware(app: ASGIApp) -> FixedIdentityMiddleware:
    """ToolHive without OIDC: the OS user (``local`` if it cannot be found), unauthenticated."""
    try:
        username = getpass.getuser()
    except (OSError, KeyError):
        username = "local"
    log.warning(
        "no authentication configured: every request is accepted as the local user %r with no "
        "token check; configure OIDC (--oidc-issuer …) to authenticate callers",
        username,
    )
    return FixedIdentityMiddleware(app, username, f"Local User: {username}", "local")


def anonymous_middleware(app: ASGIApp) -> FixedIdentityMiddleware:
    """Go's ``AnonymousMiddleware``: every request is ``anonymous``."""
    return FixedIdentityMiddleware(app, "anonymous", "Anonymous User", "anonymous")


# -- building it from a workload's config ----------------------------------------------------


def _client_secret(config: OIDCConfig, context: MiddlewareContext) -> str:
    value = config.client_secret or os.environ.get(CLIENT_SECRET_ENV, "")
    reference = SECRET_REFERENCE.match(value)
    if reference is None:
        return value
    if context.resolve_secret is None:
        msg = "oidc_config.ClientSecret is a secret reference, but this host cannot read secrets"
        raise InvalidInputError(msg)
    try:
        return context.resolve_secret(reference.group(1))
    except Exception as exc:  # the provider's own error type; its message names no value
        msg = f"oidc_config.ClientSecret: cannot read secret {reference.group(1)!r}: {exc}"
        raise InvalidInputError(msg) from None


def _policy(config: OIDCConfig) -> FetchPolicy:
    verify: ssl.SSLContext | bool = True
    if config.ca_cert_path:
        try:
            # Go: the bundle replaces the system roots for these requests.
            verify = ssl.create_default_context(cafile=config.ca_cert_path)
        except (OSError, ssl.SSLError) as exc:
            msg = f"oidc_config.CACertPath {config.ca_cert_path!r}: {exc}"
            raise InvalidInputError(msg) from None
    else:
        import httpx

        verify = httpx.create_ssl_context()  # once, not per fetch
    bearer = None
    if config.auth_token_file:
        try:
            with open(config.auth_token_file, encoding="utf-8") as handle:
                bearer = handle.read().strip()
        except OSError as exc:
            msg = f"oidc_config.AuthTokenFile: failed to read auth token file: {exc}"
            raise InvalidInputError(msg) from None
        if not bearer:
            raise InvalidInputError("oidc_config.AuthTokenFile: auth token file is empty")
    return FetchPolicy(
        insecure_allow_http=config.insecure_allow_http,
        allow_private_ip=config.allow_private_ip,
        verify=verify,
        bearer=bearer,
    )


def _resource(config: OIDCConfig, context: MiddlewareContext) -> str:
    """``ResourceURL``, else the URL clients use (Go presumes none and serves no metadata;
    MCP clients need the challenge's ``resource_metadata`` to find the issuer)."""
    if config.resource_url:
        return config.resource_url
    if not context.url:
        return ""
    parts = urlsplit(context.url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def oidc_middleware(app: ASGIApp, config: OIDCConfig, context: MiddlewareContext) -> ASGIApp:
    """The ``auth`` middleware for ``oidc_config``: fetches nothing until the first token."""
    if config.insecure_allow_http:
        log.warning("OIDC over plain HTTP is allowed (InsecureAllowHTTP): never in production")
    validator = TokenValidator(
        issuer=config.issuer,
        audience=config.audience,
        jwks_url=config.jwks_url,
        introspection_url=config.introspection_url,
        client_id=config.client_id,
        client_secret=_client_secret(config, context),
        policy=_policy(config),
    )
    return OIDCMiddleware(app, validator, resource=_resource(config, context), scopes=config.scopes)
