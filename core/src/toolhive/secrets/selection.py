"""Which provider to use, loading it, and the environment-variable fallback.

Selection follows ToolHive: ``TOOLHIVE_SECRETS_PROVIDER`` wins, then ``config.yaml``
``secrets.provider_type`` once ``setup_completed``. There is no implicit default: using secrets
before ``thv secret setup`` is an error.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from toolhive.contracts.secrets import (
    SecretDescription,
    SecretNotFoundError,
    SecretsNotSetUpError,
    SecretsProvider,
    UnsupportedOperationError,
)
from toolhive.contracts.specs import SecretsProviderSpec
from toolhive.errors import NotFoundError
from toolhive.plugins import Hooks

log = logging.getLogger("toolhive.secrets")

PROVIDER_ENV = "TOOLHIVE_SECRETS_PROVIDER"
DISABLE_FALLBACK_ENV = "TOOLHIVE_DISABLE_ENV_FALLBACK"
ENV_PREFIX = "TOOLHIVE_SECRET_"
ENVIRONMENT = "environment"

NOT_SET_UP = (
    "no secrets provider is configured: run `thv secret setup` (or `thv secret provider <name>`), "
    f"or set {PROVIDER_ENV}"
)


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def configured_name(environ: Mapping[str, str] | None = None) -> str:
    """The selected provider's name, or :class:`SecretsNotSetUpError`."""
    env = os.environ if environ is None else environ
    name = (env.get(PROVIDER_ENV) or "").strip()
    if name:
        return name
    from toolhive.appconfig import load_config

    secrets = load_config().secrets
    if secrets.setup_completed and secrets.provider_type:
        return secrets.provider_type
    raise SecretsNotSetUpError(NOT_SET_UP)


def provider_spec(hooks: Hooks, name: str) -> SecretsProviderSpec[Any]:
    specs = hooks.secrets_providers()
    if name not in specs:
        known = ", ".join(sorted(specs)) or "none installed"
        msg = (
            f"unknown secrets provider {name!r} (available: {known}); "
            f"install toolhive-secrets-{name} or choose another with `thv secret provider`"
        )
        raise NotFoundError(msg)
    return specs[name]


def load_provider(hooks: Hooks, name: str) -> tuple[SecretsProviderSpec[Any], SecretsProvider]:
    """Build provider ``name`` with its ``config.yaml`` section (``plugins.secrets.<name>``)."""
    spec = provider_spec(hooks, name)
    return spec, hooks.load("secrets_providers", name)


@dataclass
class Secrets:
    """The selected provider, with ToolHive's fallback to ``TOOLHIVE_SECRET_<NAME>`` for reads."""

    spec: SecretsProviderSpec[Any]
    provider: SecretsProvider
    environ: Mapping[str, str]

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def fallback(self) -> bool:
        return self.name != ENVIRONMENT and not _truthy(self.environ.get(DISABLE_FALLBACK_ENV))

    def get(self, name: str) -> str:
        try:
            return self.provider.get_secret(name)
        except SecretNotFoundError:
            if not self.fallback:
                raise
            value = self.environ.get(ENV_PREFIX + name)
            if not value:
                raise
            log.debug("secret %s read from %s%s", name, ENV_PREFIX, name)
            return value

    def set(self, name: str, value: str) -> None:
        self.provider.set_secret(name, value)

    def delete(self, name: str) -> None:
        self.provider.delete_secret(name)

    def list(self) -> list[SecretDescription]:
        return self.provider.list_secrets()

    def extra(self, method: str, *args: Any) -> Any:
        """Call an optional provider method (``check``, ``child_environment`` …) if it has it."""
        fn = getattr(self.provider, method, None)
        return fn(*args) if callable(fn) else None

    def child_environment(self) -> dict[str, str]:
        return dict(self.extra("child_environment") or {})


def open_secrets(
    hooks: Hooks, name: str | None = None, environ: Mapping[str, str] | None = None
) -> Secrets:
    """The provider ``name`` (default: the configured one), ready to use."""
    env = os.environ if environ is None else environ
    spec, provider = load_provider(hooks, name or configured_name(env))
    return Secrets(spec, provider, env)


def require_capability(secrets: Secrets, capability: str, what: str) -> None:
    """:class:`UnsupportedOperationError` unless the provider's spec declares ``capability``
    (``can_list``, ``can_write`` …); ``what`` is the verb for the message."""
    if not getattr(secrets.spec.capabilities, capability):
        msg = (
            f"the {secrets.name} secrets provider cannot {what} secrets; "
            "choose another with `thv secret provider <name>`"
        )
        raise UnsupportedOperationError(msg)


def activate(hooks: Hooks, name: str, *, password: str | None = None) -> Secrets:
    """Check that provider ``name`` works, then make it the configured one (``thv secret
    provider``, ``POST /api/v1beta/secrets``).

    ``password`` unlocks (or creates) a password-protected store without a prompt, through the
    provider's optional ``use_password``; providers without one ignore it. Returns the opened
    provider (its ``child_environment()`` carries a given password to workloads started later).
    """
    from toolhive.appconfig import AppConfig, update_config

    provider_spec(hooks, name)  # unknown names fail before anything is asked
    secrets = open_secrets(hooks, name)
    if password:
        secrets.extra("use_password", password)
    secrets.extra("check")

    def change(config: AppConfig) -> None:
        config.secrets.provider_type = name
        config.secrets.setup_completed = True

    update_config(change)
    return secrets
