"""A login's tokens kept in a secrets store, and a valid access token on demand.

:class:`TokenSession` keeps two secrets, named from one ``key`` (ToolHive's layout):

- ``<key>`` — the refresh token;
- ``<key>_AT`` — the current access token and its expiry as ``<token>|<RFC 3339>``, so short-lived
  processes (each ``thv`` command) reuse it instead of all refreshing at once.

:meth:`TokenSession.access_token` answers from memory, else the cached access token while it has
more than ``leeway`` seconds left, else refreshes silently with the refresh token (a rotated refresh
token is stored at once). Nothing usable — never logged in, logged out, or the refresh token
refused (``invalid_grant``: revoked, expired) — is :class:`LoginRequiredError` with the caller's
``login_hint``. :meth:`login` runs the browser flow and stores the result; :meth:`logout` deletes
both secrets. ``on_saved(key, expiry)`` lets the caller record the secret's name and the access
token's expiry (never a token) — registry login keeps them in config.yaml as ToolHive does.
``metadata`` is the provider's metadata when the caller already has it (a remote MCP server's
discovered AS, or manual endpoints); without it the ``issuer`` is discovered on first use
(:meth:`TokenSession.provider`). :attr:`TokenSession.current` is the last token set (its
``expires_at`` is what a caller records).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol

from pydantic import SecretStr

import toolhive.oauth.flow as flow
import toolhive.oauth.tokens as tokens
from toolhive.oauth.discovery import ProviderMetadata, discover
from toolhive.oauth.errors import LoginRequiredError, TokenEndpointError
from toolhive.oauth.tokens import TokenSet

if TYPE_CHECKING:
    from toolhive.oauth.callback import CallbackServer
    from toolhive.secrets.selection import Secrets

log = logging.getLogger("toolhive.oauth")

#: Refresh this many seconds before the access token expires (ToolHive: 30 s).
LEEWAY = 30.0
#: Token-endpoint errors meaning "this refresh token is dead": only a new login helps.
DEAD_GRANT = frozenset({"invalid_grant", "unauthorized_client", "invalid_client"})


class TokenStorage(Protocol):
    """Where tokens rest. Implementations must not log values."""

    def read(self, name: str) -> str | None: ...

    def write(self, name: str, value: str) -> None: ...

    def delete(self, name: str) -> None: ...


@dataclass
class SecretsStorage:
    """A :class:`TokenStorage` over the configured secrets provider; every name gets ``prefix``
    (ToolHive's scopes: ``__thv_registry_`` …)."""

    secrets: Secrets
    prefix: str = ""

    def read(self, name: str) -> str | None:
        from toolhive.contracts.secrets import SecretNotFoundError

        try:
            value = self.secrets.get(self.prefix + name)
        except SecretNotFoundError:
            return None
        return value or None

    def write(self, name: str, value: str) -> None:
        self.secrets.set(self.prefix + name, value)

    def delete(self, name: str) -> None:
        from toolhive.contracts.secrets import SecretNotFoundError

        with contextlib.suppress(SecretNotFoundError):
            self.secrets.delete(self.prefix + name)


def _encode_access(token: TokenSet) -> str | None:
    if token.expires_at is None:
        return None
    stamp = token.expires_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"{token.access_token.get_secret_value()}|{stamp}"


def _decode_access(raw: str) -> TokenSet | None:
    value, sep, stamp = raw.rpartition("|")
    if not sep or not value:
        return None
    try:
        expires = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return None
    if expires.tzinfo is None:
        expires = expires.replace(tzinfo=UTC)
    return TokenSet(access_token=SecretStr(value), expires_at=expires)


@dataclass
class TokenSession:
    """See the module docstring."""

    issuer: str
    client: flow.ClientSettings
    storage: TokenStorage
    key: str
    login_hint: str = "log in again"
    on_saved: Callable[[str, datetime | None], None] | None = None
    leeway: float = LEEWAY
    #: The provider's metadata when the caller has it (a remote server's discovered or manual
    #: endpoints); ``None``: discovered from ``issuer`` on first use.
    metadata: ProviderMetadata | None = field(default=None, repr=False)
    _current: TokenSet | None = field(default=None, init=False, repr=False)

    @property
    def access_key(self) -> str:
        return self.key + "_AT"

    def provider(self) -> ProviderMetadata:
        """The provider's metadata (given, else discovered once)."""
        if self.metadata is None:
            self.metadata = discover(self.issuer)
        return self.metadata

    @property
    def current(self) -> TokenSet | None:
        """The tokens last obtained or loaded by this session (``None`` before any)."""
        return self._current

    # -- tokens --------------------------------------------------------------------------------

    def access_token(self) -> str:
        """A valid access token (see the module docstring)."""
        if self._current is not None and not self._current.expired(self.leeway):
            return self._current.access_token.get_secret_value()
        cached_raw = self.storage.read(self.access_key)
        cached = _decode_access(cached_raw) if cached_raw else None
        if cached is not None and not cached.expired(self.leeway):
            self._current = cached
            return cached.access_token.get_secret_value()
        return self.refresh()

    def refresh(self) -> str:
        """A new access token now, whatever the current one's expiry (a resource server may
        have refused it); the same errors as :meth:`access_token`."""
        refresh_token = self.storage.read(self.key)
        if not refresh_token:
            raise LoginRequiredError(f"not logged in; {self.login_hint}")
        try:
            fresh = tokens.refresh(
                self.provider().token_endpoint,
                client_id=self.client.client_id,
                refresh_token=refresh_token,
                client_secret=self.client.client_secret,
                resource=self.client.resource,
            )
        except TokenEndpointError as exc:
            if exc.error in DEAD_GRANT:
                self.forget()
                msg = f"the login has expired or was revoked ({exc.error}); {self.login_hint}"
                raise LoginRequiredError(msg) from None
            raise
        log.debug("access token refreshed for %s", self.issuer)
        self._save(fresh)
        return fresh.access_token.get_secret_value()

    def has_login(self) -> bool:
        """Whether tokens are stored (they may still turn out to be revoked)."""
        return bool(self.storage.read(self.key) or self.storage.read(self.access_key))

    def login(
        self,
        *,
        skip_browser: bool = False,
        announce: Callable[[str], None] | None = None,
        listener: CallbackServer | None = None,
    ) -> TokenSet:
        """The browser flow; the tokens are stored before this returns. ``listener``: a
        callback server the caller opened (see :func:`toolhive.oauth.flow.login`)."""
        result = flow.login(
            self.provider(),
            self.client,
            skip_browser=skip_browser,
            announce=announce or flow.announce_on_stderr,
            listener=listener,
        )
        self._save(result)
        return result

    def logout(self) -> None:
        """Delete the stored tokens (a no-op when there are none)."""
        self.forget()

    def forget(self) -> None:
        self._current = None
        self.storage.delete(self.key)
        self.storage.delete(self.access_key)

    def _save(self, result: TokenSet) -> None:
        if result.refresh_token is not None:
            self.storage.write(self.key, result.refresh_token.get_secret_value())
        else:
            log.debug("%s returned no refresh token: the login lasts one access token", self.issuer)
        encoded = _encode_access(result)
        if encoded is not None:
            self.storage.write(self.access_key, encoded)
        else:
            self.storage.delete(self.access_key)
        self._current = result
        if self.on_saved is not None:
            self.on_saved(self.key, result.expires_at)
