"""Core's built-in ``environment`` secrets provider runs the secrets-provider contract suite."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from toolhive.testing import SecretsProviderContract


class TestEnvironmentProvider(SecretsProviderContract):
    name = "environment"

    @pytest.fixture
    def seed_secret(self, monkeypatch: pytest.MonkeyPatch) -> Callable[[str, str], None]:
        """Read only: a secret is a ``TOOLHIVE_SECRET_<NAME>`` variable the user set."""

        def seed(name: str, value: str) -> None:
            monkeypatch.setenv(f"TOOLHIVE_SECRET_{name}", value)

        return seed
