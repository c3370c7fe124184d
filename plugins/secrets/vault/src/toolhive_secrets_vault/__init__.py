"""toolhive-secrets-vault: ToolHive secrets in HashiCorp Vault's KV v2 engine (via ``hvac``).

This module only declares the provider; ``hvac`` is imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from toolhive.contracts import SecretsCapabilities, SecretsProviderSpec, hookimpl

from toolhive_secrets_vault.config import VaultConfig

if TYPE_CHECKING:
    from toolhive_secrets_vault.provider import VaultProvider

__all__ = ["VaultConfig", "load", "thv_secrets_providers"]


def load(config: VaultConfig) -> VaultProvider:
    from toolhive_secrets_vault.provider import VaultProvider

    return VaultProvider(config)


@hookimpl
def thv_secrets_providers() -> list[SecretsProviderSpec[VaultConfig]]:
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
