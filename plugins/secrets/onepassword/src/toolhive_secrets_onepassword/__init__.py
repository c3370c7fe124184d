"""toolhive-secrets-onepassword: read ToolHive secrets from 1Password (``op://`` references).

Authenticates with a service account (``OP_SERVICE_ACCOUNT_TOKEN``). Read and list only. This
module only declares the provider; ``onepassword-sdk`` is imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from toolhive.contracts import SecretsCapabilities, SecretsProviderSpec, hookimpl

from toolhive_secrets_onepassword.config import OnePasswordConfig

if TYPE_CHECKING:
    from toolhive_secrets_onepassword.provider import OnePasswordProvider

__all__ = ["OnePasswordConfig", "load", "thv_secrets_providers"]


def load(config: OnePasswordConfig) -> OnePasswordProvider:
    from toolhive_secrets_onepassword.provider import OnePasswordProvider

    return OnePasswordProvider(config)


@hookimpl
def thv_secrets_providers() -> list[SecretsProviderSpec[OnePasswordConfig]]:
    return [
        SecretsProviderSpec(
            name="1password",
            description="1Password service account: op://vault/item/field (read only)",
            capabilities=SecretsCapabilities(can_read=True, can_list=True),
            config_model=OnePasswordConfig,
            load=load,
        )
    ]
