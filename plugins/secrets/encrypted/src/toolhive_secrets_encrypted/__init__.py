"""toolhive-secrets-encrypted: ToolHive secrets in an AES-256-GCM encrypted file.

The store is ``$XDG_DATA_HOME/toolhive/secrets_encrypted`` (ToolHive's file and format); its key
is the SHA-256 of a password kept in the OS keyring. This module only declares the provider:
``cryptography`` and ``keyring`` are imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from toolhive.contracts import SecretsCapabilities, SecretsProviderSpec, hookimpl

from toolhive_secrets_encrypted.config import EncryptedConfig

if TYPE_CHECKING:
    from toolhive_secrets_encrypted.provider import EncryptedProvider

__all__ = ["EncryptedConfig", "load", "thv_secrets_providers"]


def load(config: EncryptedConfig) -> EncryptedProvider:
    from toolhive_secrets_encrypted.provider import EncryptedProvider

    return EncryptedProvider(config)


@hookimpl
def thv_secrets_providers() -> list[SecretsProviderSpec[EncryptedConfig]]:
    return [
        SecretsProviderSpec(
            name="encrypted",
            description="AES-256-GCM encrypted file; password in the OS keyring",
            capabilities=SecretsCapabilities(
                can_read=True, can_write=True, can_delete=True, can_list=True, can_cleanup=True
            ),
            config_model=EncryptedConfig,
            load=load,
        )
    ]
