"""The built-in ``environment`` secrets provider: ``TOOLHIVE_SECRET_<NAME>``, read only.

Listing is refused on purpose (it would reveal which variables exist), as in ToolHive.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from toolhive.contracts import (
    PluginConfig,
    SecretsCapabilities,
    SecretsProviderBase,
    SecretsProviderSpec,
    hookimpl,
)
from toolhive.contracts.secrets import (
    SecretDescription,
    SecretNotFoundError,
    UnsupportedOperationError,
    require_name,
)

PREFIX = "TOOLHIVE_SECRET_"


class EnvironmentProvider(SecretsProviderBase):
    name = "environment"

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ = environ

    def get_secret(self, name: str) -> str:
        env = os.environ if self._environ is None else self._environ
        value = env.get(PREFIX + require_name(name))
        if not value:
            raise self.not_found(name)
        return value

    def not_found(self, name: str) -> SecretNotFoundError:
        return SecretNotFoundError(
            f"secret {name!r} not found: set the environment variable {PREFIX}{name}"
        )

    def list_secrets(self) -> list[SecretDescription]:
        msg = "the environment secrets provider does not list secrets (it would reveal your environment)"
        raise UnsupportedOperationError(msg)

    def cleanup(self) -> None:
        return None


def _load(_config: PluginConfig) -> EnvironmentProvider:
    return EnvironmentProvider()


@hookimpl
def thv_secrets_providers() -> list[SecretsProviderSpec[PluginConfig]]:
    return [
        SecretsProviderSpec(
            name="environment",
            description="TOOLHIVE_SECRET_<NAME> environment variables (read only)",
            capabilities=SecretsCapabilities(can_read=True),
            config_model=PluginConfig,
            load=_load,
        )
    ]
