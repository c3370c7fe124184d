"""The encrypted provider runs the secrets-provider contract suite, loaded through its entry point,
with a real AES-256-GCM store in a temporary ToolHive home and its password in the environment
(as a detached supervisor gets it; this machine has no OS keyring)."""

from __future__ import annotations

import pytest
from toolhive.testing import SecretsProviderContract


class TestEncryptedProvider(SecretsProviderContract):
    name = "encrypted"
    entry_point = "secrets-encrypted"
    heavy_modules = ("cryptography", "keyring")

    @pytest.fixture(autouse=True)
    def password(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("TOOLHIVE_SECRETS_PASSWORD", "correct horse battery staple")
        monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
