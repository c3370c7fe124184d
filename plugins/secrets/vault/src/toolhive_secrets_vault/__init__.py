"""toolhive-secrets-vault: ToolHive secrets in HashiCorp Vault's KV v2 engine (via ``hvac``).

This module only declares the provider; ``hvac`` is imported on first use.
"""

from __future__ import annotations

from toolhive import hookimpl
from toolhive.specs import PluginConfig, SecretsCapabilities, SecretsProviderSpec

from toolhive_secrets_vault.config import VaultConfig

__all__ = ["VaultConfig", "load", "thv_secrets_providers"]


def load(config: PluginConfig) -> object:
    from toolhive_secrets_vault.provider import VaultProvider

    return VaultProvider(config if isinstance(config, VaultConfig) else VaultConfig())


@hookimpl
def thv_secrets_providers() -> list[SecretsProviderSpec]:
    return [
        SecretsProviderSpec(
            name="vault",
            description="HashiCorp Vault KV v2 (token or AppRole auth)",
            capabilities=SecretsCapabilities(
                can_read=True, can_write=True, can_delete=True, can_list=True, can_cleanup=True
            ),
            config_model=VaultConfig,
            load=load,
        )
    ]
