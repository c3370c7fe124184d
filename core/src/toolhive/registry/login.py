"""``thv registry login|logout`` and ``POST /api/v1beta/registry/auth/login|logout``: ToolHive's
``Login`` and ``Logout`` over :mod:`toolhive.registry.auth` (the primitives) and
:mod:`toolhive.registry.settings` (which registry is configured)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from toolhive.errors import InvalidInputError
from toolhive.registry.auth import (
    OAuthSettings,
    apply,
    forget_reference,
    oauth_config,
    registry_url,
    session,
    validated,
)
from toolhive.registry.settings import KEYS, kind_and_value

if TYPE_CHECKING:
    from toolhive.appconfig import AppConfig
    from toolhive.plugins import Hooks


def login(
    hooks: Hooks,
    *,
    registry: str = "",
    settings: OAuthSettings | None = None,
    allow_private_ip: bool = False,
    skip_browser: bool = False,
    announce: Callable[[str], None] | None = None,
) -> None:
    """ToolHive's ``Login``: save what the flags give (a new ``registry`` clears old auth), then
    the browser flow; the tokens go to the secrets provider."""
    from toolhive.appconfig import load_config, update_config
    from toolhive.secrets.selection import open_secrets, require_capability

    config = load_config()
    if config.local_registry_path and not registry_url(config) and not registry:
        msg = (
            f"OAuth login is not supported for local file registries (path: "
            f"{config.local_registry_path}); use a remote registry URL with --registry"
        )
        raise InvalidInputError(msg)
    has_registry = any(getattr(config, k) for k in KEYS)
    has_oauth = oauth_config(config) is not None
    missing = []
    if not has_registry and not registry:
        missing.append("--registry <url>")
    if not has_oauth and not (settings and settings.issuer):
        missing.append("--issuer <url>")
    if not has_oauth and not (settings and settings.client_id):
        missing.append("--client-id <id>")
    if missing:
        msg = (
            f"missing required configuration: {', '.join(missing)} (for example `thv registry "
            "login --registry <url> --issuer <url> --client-id <id>`)"
        )
        raise InvalidInputError(msg)
    new_oauth = validated(settings) if settings and settings.issuer else None
    if registry:
        key, value = kind_and_value(registry)
        if key == "local_registry_path":
            msg = f"OAuth login is not supported for local file registries ({value})"
            raise InvalidInputError(msg)

        def use_registry(cfg: AppConfig) -> None:
            for name in KEYS:
                setattr(cfg, name, "")
            setattr(cfg, key, value)
            cfg.allow_private_registry_ip = allow_private_ip
            apply(cfg, new_oauth)  # a registry given anew never keeps old auth

        config = update_config(use_registry)
    elif new_oauth is not None:
        config = update_config(lambda cfg: apply(cfg, new_oauth))
    tokens = session(hooks, config)
    # Fail before the browser step, not after it, when the tokens could not be kept.
    require_capability(open_secrets(hooks), "can_write", "store registry tokens as")
    tokens.login(skip_browser=skip_browser, announce=announce)


def logout(hooks: Hooks) -> None:
    """Delete the registry's tokens and forget the reference; 400-class error when no OAuth is
    configured."""
    from toolhive.appconfig import load_config

    config = load_config()
    if oauth_config(config) is None:
        msg = "registry OAuth authentication is not configured; nothing to log out of"
        raise InvalidInputError(msg)
    session(hooks, config).logout()
    forget_reference()
