"""toolhive-secrets-onepassword: read ToolHive secrets from 1Password (``op://`` references).

Authenticates with a service account (``OP_SERVICE_ACCOUNT_TOKEN``). Read and list only. This
module only declares the provider; ``onepassword-sdk`` is imported on first use.
"""

from __future__ import annotations

from toolhive import hookimpl
from toolhive.specs import PluginConfig, SecretsCapabilities, SecretsProviderSpec

from toolhive_secrets_onepassword.config import OnePasswordConfig

__all__ = ["OnePasswordConfig", "load", "thv_secrets_providers"]


def load(config: PluginConfig) -> object:
    from toolhive_secrets_onepassword.provider import OnePasswordProvider

    return OnePasswordProvider(
        config if isinstance(config, OnePasswordConfig) else OnePasswordConfig()
    )


@hookimpl
def thv_secrets_providers() -> list[SecretsProviderSpec]:
    return [
        SecretsProviderSpec(
            name="1password",
            description="1Password service account: op://vault/item/field (read only)",
            capabilities=SecretsCapabilities(can_read=True, can_list=True),
            config_model=OnePasswordConfig,
            load=load,
        )
    ]
