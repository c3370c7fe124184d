"""A small OAuth 2.0 / OpenID Connect client for ToolHive's own logins.

What it does, and nothing more (registry login uses it; remote-server OAuth extends it):

- :mod:`~toolhive.oauth.discovery` — the provider's metadata: OIDC discovery
  (``<issuer>/.well-known/openid-configuration``), else RFC 8414
  (``/.well-known/oauth-authorization-server<path>``) — or, with ``mcp_order=True``, the MCP
  spec's order; the issuer must be HTTPS (HTTP only on loopback) and the document's ``issuer``
  must be the one asked for.
- :mod:`~toolhive.oauth.resource_metadata` — remote MCP servers: the ``Bearer`` challenge of a
  401 (:func:`parse_www_authenticate`), RFC 9728 protected-resource metadata, :func:`probe`
  (does the server need OAuth?) and :func:`discover_authorization_server` (which AS, which
  RFC 8707 ``resource``, which scopes).
- :mod:`~toolhive.oauth.registration` — RFC 7591 dynamic client registration
  (:func:`register_client`).
- :mod:`~toolhive.oauth.pkce` — PKCE S256 verifier/challenge and the ``state`` value.
- :mod:`~toolhive.oauth.callback` — the loopback redirect target: ``http://127.0.0.1:<port>/callback``
  (or ``http://localhost:…`` with ``redirect_host``; the listener binds 127.0.0.1 either way) on a
  chosen or ephemeral port, which checks ``state`` and waits with a timeout.
- :mod:`~toolhive.oauth.flow` — the authorization-code flow with PKCE: opens the browser (or
  prints the URL when told to skip it or when there is no display), waits for the callback,
  exchanges the code.
- :mod:`~toolhive.oauth.tokens` — :class:`TokenSet` and the token endpoint calls (code exchange,
  refresh).
- :mod:`~toolhive.oauth.session` — :class:`TokenSession`: a valid access token on demand from
  tokens kept in a secrets store (cached access token, else a silent refresh), login and logout.

Tokens are secrets: they are :class:`pydantic.SecretStr` in memory, are never logged, and rest only
in the secrets provider; callers keep only the secret's *name* and the expiry.
"""

from __future__ import annotations

from toolhive.oauth.callback import CallbackServer, redirect_uri
from toolhive.oauth.discovery import ProviderMetadata, check_issuer_url, discover
from toolhive.oauth.errors import (
    AuthorizationError,
    DiscoveryError,
    InvalidIssuerError,
    IssuerMismatchError,
    LoginRequiredError,
    OAuthError,
    RegistrationError,
    TokenEndpointError,
)
from toolhive.oauth.flow import ClientSettings, authorization_url, login
from toolhive.oauth.registration import RegisteredClient, register_client
from toolhive.oauth.resource_metadata import (
    AuthRequirement,
    BearerChallenge,
    ProtectedResourceMetadata,
    RemoteAuthServer,
    discover_authorization_server,
    fetch_resource_metadata,
    normalize_resource,
    parse_www_authenticate,
    probe,
    validate_resource,
    well_known_urls,
)
from toolhive.oauth.session import SecretsStorage, TokenSession, TokenStorage
from toolhive.oauth.tokens import TokenSet

__all__ = [
    "AuthRequirement",
    "AuthorizationError",
    "BearerChallenge",
    "CallbackServer",
    "ClientSettings",
    "DiscoveryError",
    "InvalidIssuerError",
    "IssuerMismatchError",
    "LoginRequiredError",
    "OAuthError",
    "ProtectedResourceMetadata",
    "ProviderMetadata",
    "RegisteredClient",
    "RegistrationError",
    "RemoteAuthServer",
    "SecretsStorage",
    "TokenEndpointError",
    "TokenSession",
    "TokenSet",
    "TokenStorage",
    "authorization_url",
    "check_issuer_url",
    "discover",
    "discover_authorization_server",
    "fetch_resource_metadata",
    "login",
    "normalize_resource",
    "parse_www_authenticate",
    "probe",
    "redirect_uri",
    "register_client",
    "validate_resource",
    "well_known_urls",
]
