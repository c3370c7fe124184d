"""The 1password provider runs the secrets-provider contract suite.

Its spec, settings and loading go through its entry point like any plugin's; the behaviour tests
run the real provider over ``fake_onepassword.py`` (1Password's cloud cannot be reached here; see
that module), with secret names that are ``op://`` references, the only names it accepts.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from fake_onepassword import TOKEN, FakeOnePassword
from toolhive.testing import SecretsProviderContract
from toolhive_secrets_onepassword.provider import OnePasswordProvider


class TestOnePasswordProvider(SecretsProviderContract):
    name = "1password"
    entry_point = "secrets-onepassword"
    heavy_modules = ("onepassword",)

    def secret_name(self, label: str) -> str:
        return f"op://Contract/{label}-{uuid.uuid4().hex[:8]}/password"

    @pytest.fixture
    def backend(self) -> FakeOnePassword:
        return FakeOnePassword()

    @pytest.fixture
    def provider(
        self, plugin_spec: Any, plugin_config: dict[str, Any], backend: FakeOnePassword
    ) -> OnePasswordProvider:
        config = plugin_spec.config_model.model_validate(plugin_config)
        environ = {"OP_SERVICE_ACCOUNT_TOKEN": TOKEN}
        return OnePasswordProvider(config, environ=environ, client_factory=backend.connect)

    @pytest.fixture
    def seed_secret(self, backend: FakeOnePassword) -> Callable[[str, str], None]:
        """Read only: a secret is a field someone stored in 1Password."""
        return backend.put
