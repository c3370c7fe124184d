"""OAuth login to an authenticated registry (ToolHive's registry auth, ``pkg/registry/auth``).

config.yaml keeps ``registry_auth: {type: oauth, oauth: {issuer, client_id, scopes, audience,
callback_port, cached_refresh_token_ref, cached_token_expiry}}`` — Go's keys. The tokens live in the
configured secrets provider under ToolHive's registry scope: ``__thv_registry_<key>`` (refresh
token) and ``__thv_registry_<key>_AT`` (access token with expiry), where ``<key>`` is
``REGISTRY_OAUTH_`` + the first 4 bytes of ``sha256(registry URL + NUL + issuer)`` in hex; the
config records only that key and the expiry.

The token is sent to the remote sources (registry API and registry JSON URL) as
``Authorization: Bearer``; registry reads never start a browser: a missing, expired or refused
login is :class:`RegistryAuthRequiredError` saying to run ``thv registry login`` (the REST API
answers it as 503 ``registry_auth_required``). Changing or unsetting the registry clears its auth,
so a token is never sent to another server.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Literal

from toolhive.errors import InvalidInputError
from toolhive.registry.errors import RegistryAuthRequiredError

if TYPE_CHECKING:
    from toolhive.appconfig import AppConfig, RegistryOAuthConfig
    from toolhive.oauth import TokenSession
    from toolhive.plugins import Hooks

OAUTH = "oauth"
#: ToolHive's defaults: ``offline_access`` brings the refresh token.
DEFAULT_SCOPES = ("openid", "offline_access")
#: ToolHive's login callback port (``remote.DefaultCallbackPort``).
DEFAULT_CALLBACK_PORT = 8666
#: Secret names of the registry scope (ToolHive's ``__thv_registry_``).
SECRET_PREFIX = "__thv_registry_"
KEY_PREFIX = "REGISTRY_OAUTH_"
LOGIN_HINT = "run `thv registry login`"

AuthStatus = Literal["none", "configured", "authenticated"]


def derive_key(registry_url: str, issuer: str) -> str:
    digest = hashlib.sha256(f"{registry_url}\x00{issuer}".encode()).digest()
    return KEY_PREFIX + digest[:4].hex()


def registry_url(config: AppConfig) -> str:
    """The remote registry tokens are for (API first, as ToolHive)."""
    return config.registry_api_url or config.registry_url


def oauth_config(config: AppConfig) -> RegistryOAuthConfig | None:
    auth = config.registry_auth
    return auth.oauth if auth.type == OAUTH and auth.oauth is not None else None


@dataclass(frozen=True)
class OAuthSettings:
    """What ``--issuer --client-id --audience --scopes`` / the API's ``auth`` object say."""

    issuer: str
    client_id: str
    audience: str = ""
    scopes: Sequence[str] = ()


def validated(settings: OAuthSettings) -> RegistryOAuthConfig:
    """The config section for ``settings`` once the issuer passed OIDC discovery (ToolHive's
    ``ConfigureOAuth``); raises InvalidIssuerError (400) or DiscoveryError (502)."""
    from toolhive.appconfig import RegistryOAuthConfig
    from toolhive.oauth import discover

    if not settings.issuer.strip() or not settings.client_id.strip():
        msg = "registry OAuth needs both an issuer and a client ID (--issuer and --client-id)"
        raise InvalidInputError(msg)
    discover(settings.issuer)
    return RegistryOAuthConfig(
        issuer=settings.issuer,
        client_id=settings.client_id,
        audience=settings.audience,
        scopes=list(settings.scopes) or list(DEFAULT_SCOPES),
        callback_port=DEFAULT_CALLBACK_PORT,
    )


def apply(config: AppConfig, oauth: RegistryOAuthConfig | None) -> None:
    """Set (or with ``None`` clear) ``registry_auth`` in ``config``."""
    from toolhive.appconfig import RegistryAuthConfig

    config.registry_auth = (
        RegistryAuthConfig(type=OAUTH, oauth=oauth) if oauth else RegistryAuthConfig()
    )


def status(config: AppConfig) -> tuple[AuthStatus, str]:
    """``auth_status`` and ``auth_type`` as ToolHive's API reports them: ``authenticated`` once a
    login recorded its token reference."""
    oauth = oauth_config(config)
    if oauth is None:
        return "none", ""
    return ("authenticated" if oauth.cached_refresh_token_ref else "configured"), OAUTH


def public_config(config: AppConfig) -> dict[str, object] | None:
    """The non-secret part for API answers (Go's ``OAuthPublicConfig``)."""
    oauth = oauth_config(config)
    if oauth is None:
        return None
    return {
        "issuer": oauth.issuer,
        "client_id": oauth.client_id,
        "audience": oauth.audience,
        "scopes": list(oauth.scopes),
    }


def _record(key: str, expiry: datetime | None) -> None:
    """Keep the token's secret name and expiry in config.yaml (ToolHive's token reference)."""
    from toolhive.appconfig import update_config

    def change(config: AppConfig) -> None:
        oauth = oauth_config(config)
        if oauth is not None:
            oauth.cached_refresh_token_ref = key
            oauth.cached_token_expiry = expiry

    update_config(change)


def forget_reference() -> None:
    """Drop the token reference and expiry from config.yaml (after a logout or a dead login)."""
    from toolhive.appconfig import update_config

    def change(config: AppConfig) -> None:
        oauth = oauth_config(config)
        if oauth is not None:
            oauth.cached_refresh_token_ref = ""
            oauth.cached_token_expiry = None

    update_config(change)


def session(hooks: Hooks, config: AppConfig, *, hint: str = LOGIN_HINT) -> TokenSession:
    """The token session of the configured registry login (tokens in the secrets provider)."""
    from toolhive.oauth import ClientSettings, SecretsStorage, TokenSession
    from toolhive.secrets.selection import open_secrets

    oauth = oauth_config(config)
    if oauth is None:
        msg = (
            "registry OAuth authentication is not configured; set it with `thv config "
            "set-registry <url> --issuer <url> --client-id <id>` or `thv registry login`"
        )
        raise InvalidInputError(msg)
    key = oauth.cached_refresh_token_ref or derive_key(registry_url(config), oauth.issuer)
    scopes = list(oauth.scopes) or list(DEFAULT_SCOPES)
    if "offline_access" not in scopes:
        scopes.append("offline_access")  # as ToolHive: no refresh token, no silent refresh
    client = ClientSettings(
        client_id=oauth.client_id,
        scopes=tuple(scopes),
        resource=oauth.audience,
        callback_port=oauth.callback_port,
    )
    return TokenSession(
        issuer=oauth.issuer,
        client=client,
        storage=SecretsStorage(open_secrets(hooks), SECRET_PREFIX),
        key=key,
        login_hint=hint,
        on_saved=_record,
    )


def bearer_token(hooks: Hooks, config: AppConfig) -> str | None:
    """A valid access token for the registry, ``None`` when it has no auth configured; a missing
    or dead login is :class:`RegistryAuthRequiredError`."""
    from toolhive.contracts.secrets import SecretsNotSetUpError
    from toolhive.oauth import LoginRequiredError, OAuthError

    oauth = oauth_config(config)
    if oauth is None:
        return None
    where = registry_url(config) or "the registry"
    try:
        return session(hooks, config).access_token()
    except (LoginRequiredError, SecretsNotSetUpError) as exc:
        if isinstance(exc, LoginRequiredError) and oauth.cached_refresh_token_ref:
            forget_reference()  # the tokens are gone: auth_status is "configured" again
        msg = f"registry {where} requires authentication: {exc}"
        if LOGIN_HINT not in msg:
            msg += f"; then {LOGIN_HINT}"
        raise RegistryAuthRequiredError(msg) from None
    except OAuthError as exc:
        msg = f"registry {where}: cannot refresh the login ({exc}); {LOGIN_HINT}"
        raise RegistryAuthRequiredError(msg) from None
