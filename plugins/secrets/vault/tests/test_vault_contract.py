"""The vault provider runs the secrets-provider contract suite, loaded through its entry point,
through the real ``hvac`` client against the Vault-API-compatible server of ``fake_vault.py`` (no
Vault can be installed on this machine; see that module)."""

from __future__ import annotations

from typing import Any

import pytest
from fake_vault import FakeVault
from toolhive.testing import SecretsProviderContract


class TestVaultProvider(SecretsProviderContract):
    name = "vault"
    entry_point = "secrets-vault"
    heavy_modules = ("hvac",)

    @pytest.fixture
    def plugin_config(self, fake_vault: FakeVault) -> dict[str, Any]:
        return {"address": fake_vault.url, "token": fake_vault.add_token()}
