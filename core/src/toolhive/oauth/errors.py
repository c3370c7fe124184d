"""OAuth errors; messages never contain a token, a code or a verifier."""

from __future__ import annotations

from toolhive.errors import InvalidInputError, ToolHiveError


class OAuthError(ToolHiveError):
    """Base class: something went wrong talking to an authorization server."""

    http_status = 502


class InvalidIssuerError(InvalidInputError):
    """The issuer URL is malformed, or plain HTTP to a host that is not loopback."""


class DiscoveryError(OAuthError):
    """The provider's metadata cannot be fetched, is not valid, or names another issuer."""


class IssuerMismatchError(DiscoveryError):
    """A metadata document names another issuer than the one asked for (RFC 8414 §3.3);
    ``named_issuer`` is the one it names."""

    def __init__(self, message: str, named_issuer: str = "") -> None:
        super().__init__(message)
        self.named_issuer = named_issuer


class RegistrationError(OAuthError):
    """RFC 7591 dynamic client registration failed; ``error`` is the server's code
    (``invalid_redirect_uri``…) when it gave one. Never carries a secret."""

    def __init__(self, message: str, error: str = "") -> None:
        super().__init__(message)
        self.error = error


class AuthorizationError(OAuthError):
    """The browser step failed: denied, wrong ``state``, no answer before the timeout."""

    http_status = 400


class TokenEndpointError(OAuthError):
    """The token endpoint refused a request; ``error`` is its RFC 6749 code (``invalid_grant``…)."""

    def __init__(self, message: str, error: str = "") -> None:
        super().__init__(message)
        self.error = error


class LoginRequiredError(ToolHiveError):
    """No usable tokens: nobody logged in, or the refresh token was refused or revoked."""

    http_status = 401
