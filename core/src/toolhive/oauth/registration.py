"""RFC 7591 dynamic client registration, as ToolHive does it for remote MCP servers.

:func:`register_client` POSTs ToolHive's request — ``client_name`` "ToolHive MCP Client", the
loopback ``redirect_uris``, ``token_endpoint_auth_method`` ``none`` (a public PKCE client),
``grant_types`` ``authorization_code`` **and** ``refresh_token`` (ToolHive once omitted the
latter, stacklok/toolhive#3078, and strict servers then issued no refresh token),
``response_types`` ``code``, and ``scope`` (space-separated) when given. The endpoint must be
HTTPS, or HTTP on loopback. The answer is a :class:`RegisteredClient`: its secrets
(``client_secret``, ``registration_access_token``) are :class:`~pydantic.SecretStr`; a refusal
is :class:`RegistrationError` with the server's ``error`` / ``error_description`` only.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from toolhive.oauth.discovery import check_secure_url
from toolhive.oauth.errors import InvalidIssuerError, RegistrationError

#: ToolHive's ``client_name``.
CLIENT_NAME = "ToolHive MCP Client"
#: What ToolHive asks for (with ``refresh_token``: stacklok/toolhive#3078).
GRANT_TYPES = ("authorization_code", "refresh_token")
#: Seconds the registration may take (ToolHive: 30).
REGISTRATION_TIMEOUT = 30.0
_MAX_DESCRIPTION = 300


class RegisteredClient(BaseModel):
    """The RFC 7591 §3.2.1 answer (the fields a client keeps); secrets never show in ``repr`` or
    dumps. ``client_secret_expires_at``: seconds since the epoch, 0 or ``None`` for never."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    client_id: str = Field(min_length=1)
    client_secret: SecretStr | None = None
    client_id_issued_at: int | None = None
    client_secret_expires_at: int | None = None
    registration_access_token: SecretStr | None = None
    registration_client_uri: str = ""
    token_endpoint_auth_method: str = ""
    redirect_uris: list[str] = Field(default_factory=list)
    grant_types: list[str] = Field(default_factory=list)
    scope: str = ""

    @field_validator("scope", mode="before")
    @classmethod
    def _scope_string(cls, value: Any) -> Any:
        # RFC 7591 says a space-separated string; some servers answer a list.
        if isinstance(value, list):
            return " ".join(str(v).strip() for v in value if str(v).strip())
        return "" if value is None else value

    @field_validator("client_secret", "registration_access_token", mode="before")
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        return None if value == "" else value

    @property
    def secret_expires(self) -> datetime | None:
        """When the client secret expires (UTC), ``None`` when it does not."""
        if not self.client_secret_expires_at:
            return None
        return datetime.fromtimestamp(self.client_secret_expires_at, UTC)


def register_client(
    registration_endpoint: str,
    *,
    redirect_uris: Sequence[str],
    scopes: Sequence[str] = (),
    client_name: str = CLIENT_NAME,
    token_endpoint_auth_method: str = "none",
    grant_types: Sequence[str] = GRANT_TYPES,
    http: httpx.Client | None = None,
    timeout: float = REGISTRATION_TIMEOUT,
) -> RegisteredClient:
    """Register a client (see the module docstring)."""
    try:
        check_secure_url(registration_endpoint, "registration endpoint")
    except InvalidIssuerError as exc:
        raise RegistrationError(str(exc)) from None
    if not redirect_uris:
        msg = "dynamic client registration needs at least one redirect URI"
        raise RegistrationError(msg)
    for scope in scopes:
        if not scope or any(c.isspace() for c in scope):
            msg = f"invalid scope {scope!r}: scope values cannot be empty or contain spaces"
            raise RegistrationError(msg)
    body: dict[str, Any] = {
        "redirect_uris": list(redirect_uris),
        "client_name": client_name,
        "token_endpoint_auth_method": token_endpoint_auth_method,
        "grant_types": list(grant_types),
        "response_types": ["code"],
    }
    if scopes:
        body["scope"] = " ".join(scopes)
    headers = {"Accept": "application/json", "Content-Type": "application/json"}
    try:
        if http is not None:
            response = http.post(registration_endpoint, json=body, headers=headers)
        else:
            with httpx.Client(timeout=timeout, follow_redirects=False) as client:
                response = client.post(registration_endpoint, json=body, headers=headers)
    except (httpx.HTTPError, httpx.InvalidURL, ValueError) as exc:
        msg = f"cannot reach the registration endpoint {registration_endpoint}: {exc}"
        raise RegistrationError(msg) from None
    try:
        data = response.json()
    except ValueError:
        data = None
    if response.status_code not in (200, 201):
        raise _refusal(registration_endpoint, response.status_code, data)
    if not isinstance(data, dict):
        msg = f"the registration endpoint {registration_endpoint} answered without a JSON object"
        raise RegistrationError(msg)
    try:
        return RegisteredClient.model_validate(data)
    except ValidationError:
        msg = (
            f"the registration endpoint {registration_endpoint} answered without a usable client_id"
        )
        raise RegistrationError(msg) from None


def _refusal(endpoint: str, status: int, data: Any) -> RegistrationError:
    error = str(data.get("error", "")) if isinstance(data, dict) else ""
    described = str(data.get("error_description", "")) if isinstance(data, dict) else ""
    if len(described) > _MAX_DESCRIPTION:
        described = described[:_MAX_DESCRIPTION] + "…"
    detail = ": ".join(p for p in (error, described) if p) or f"HTTP {status}"
    if status in (404, 405, 501) and not error:
        msg = (
            f"the authorization server does not support RFC 7591 dynamic client registration "
            f"at {endpoint} (HTTP {status}); register a client there and configure its id"
        )
    else:
        msg = f"the registration endpoint {endpoint} refused the client ({detail})"
    return RegistrationError(msg, error)
