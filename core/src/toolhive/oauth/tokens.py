"""Tokens and the token endpoint (RFC 6749 §4.1.3 code exchange, §6 refresh).

Public clients only (``client_id`` in the body, no secret) unless a ``client_secret`` is given, then
HTTP Basic (§2.3.1). ``resource`` is RFC 8707's indicator, sent on every request when set.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote_plus

import httpx
from pydantic import BaseModel, ConfigDict, SecretStr

from toolhive.oauth.errors import TokenEndpointError

#: Seconds a token request may take.
TOKEN_TIMEOUT = 30.0


class TokenSet(BaseModel):
    """What a token endpoint answered. Token fields are :class:`SecretStr` (``repr`` and JSON
    dumps show ``**********``); ``expires_at`` is UTC, ``None`` when the server gave no
    ``expires_in``."""

    model_config = ConfigDict(frozen=True)

    access_token: SecretStr
    token_type: str = "Bearer"
    refresh_token: SecretStr | None = None
    id_token: SecretStr | None = None
    expires_at: datetime | None = None
    scope: str = ""

    def expired(self, leeway: float = 0.0, now: datetime | None = None) -> bool:
        """True once ``expires_at - leeway`` has passed (never for tokens without expiry)."""
        if self.expires_at is None:
            return False
        now = now or datetime.now(UTC)
        return now >= self.expires_at - timedelta(seconds=leeway)

    @classmethod
    def from_response(cls, data: dict[str, Any], now: datetime | None = None) -> TokenSet:
        access = data.get("access_token")
        if not isinstance(access, str) or not access:
            msg = "the token endpoint answered without an access_token"
            raise TokenEndpointError(msg)
        expires_at = None
        expires_in = data.get("expires_in")
        if isinstance(expires_in, int | float | str) and str(expires_in).strip():
            try:
                seconds = float(expires_in)
            except ValueError:
                seconds = -1.0
            if seconds >= 0:
                expires_at = (now or datetime.now(UTC)) + timedelta(seconds=seconds)
        refresh = data.get("refresh_token")
        id_token = data.get("id_token")
        return cls(
            access_token=SecretStr(access),
            token_type=str(data.get("token_type") or "Bearer"),
            refresh_token=SecretStr(refresh) if isinstance(refresh, str) and refresh else None,
            id_token=SecretStr(id_token) if isinstance(id_token, str) and id_token else None,
            expires_at=expires_at,
            scope=str(data.get("scope") or ""),
        )


def request_tokens(
    token_endpoint: str,
    form: dict[str, str],
    *,
    client_id: str,
    client_secret: str | None = None,
    timeout: float = TOKEN_TIMEOUT,
) -> TokenSet:
    """POST ``form`` to the token endpoint; an error answer is :class:`TokenEndpointError`
    carrying the server's ``error`` code and description (never the request's values)."""
    body = dict(form)
    headers = {"Accept": "application/json"}
    if client_secret:
        # RFC 6749 §2.3.1: both parts form-encoded before the Basic encoding
        pair = f"{quote_plus(client_id)}:{quote_plus(client_secret)}"
        headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode("ascii")
    else:
        body["client_id"] = client_id
    try:
        with httpx.Client(timeout=timeout, follow_redirects=False) as http:
            response = http.post(token_endpoint, data=body, headers=headers)
    except httpx.HTTPError as exc:
        msg = f"cannot reach the token endpoint {token_endpoint}: {exc}"
        raise TokenEndpointError(msg) from None
    try:
        data = response.json()
    except ValueError:
        data = None
    if response.status_code != 200 or not isinstance(data, dict):
        error = str(data.get("error", "")) if isinstance(data, dict) else ""
        described = str(data.get("error_description", "")) if isinstance(data, dict) else ""
        detail = ": ".join(p for p in (error, described) if p) or f"HTTP {response.status_code}"
        msg = f"the token endpoint {token_endpoint} refused the request ({detail})"
        raise TokenEndpointError(msg, error)
    return TokenSet.from_response(data)


def exchange_code(
    token_endpoint: str,
    *,
    client_id: str,
    code: str,
    redirect_uri: str,
    code_verifier: str,
    client_secret: str | None = None,
    resource: str = "",
) -> TokenSet:
    """Trade an authorization code (and the PKCE verifier) for tokens."""
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "code_verifier": code_verifier,
    }
    if resource:
        form["resource"] = resource
    return request_tokens(token_endpoint, form, client_id=client_id, client_secret=client_secret)


def refresh(
    token_endpoint: str,
    *,
    client_id: str,
    refresh_token: str,
    client_secret: str | None = None,
    resource: str = "",
) -> TokenSet:
    """New tokens for a refresh token. A server that does not rotate refresh tokens answers
    without one: the old one is kept in the result."""
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    if resource:
        form["resource"] = resource
    tokens = request_tokens(token_endpoint, form, client_id=client_id, client_secret=client_secret)
    if tokens.refresh_token is None:
        tokens = tokens.model_copy(update={"refresh_token": SecretStr(refresh_token)})
    return tokens
