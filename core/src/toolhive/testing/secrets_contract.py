"""The secrets-provider contract suite: what ``thv secret`` and the supervisor rely on.

A provider is loaded with ``Hooks.load("secrets_providers", …)``; its spec's ``capabilities`` say
which operations work. Every operation the capabilities exclude must raise
:class:`~toolhive.contracts.secrets.UnsupportedOperationError` (``cleanup`` may instead be a
no-op that removes nothing); a missing secret is a
:class:`~toolhive.contracts.secrets.SecretNotFoundError`; no value ever shows in a listing or an
error. Everything runs in a temporary ToolHive home.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

from toolhive.testing.plugin_contract import SettingsContract

if TYPE_CHECKING:
    from toolhive.contracts.secrets import SecretsProvider
    from toolhive.contracts.specs import SecretsCapabilities
    from toolhive.plugins import Hooks

#: A value with the characters that break naive storage: spaces, ``=``, quotes, non-ASCII, newline.
AWKWARD_VALUE = 'p@ss word = "x" ✓\nsecond line'

Seed = Callable[[str, str], None]


class SecretsProviderContract(SettingsContract):
    """Subclass it, set ``name`` (and ``entry_point``), override ``plugin_config`` when the provider
    needs settings, and for a provider that cannot write (or needs a stand-in backend):

    ``seed_secret`` (fixture)
        A function ``(name, value)`` that puts a secret where the provider reads it, by the
        backend's own means (an environment variable, a fake server's data …). The default calls
        ``set_secret``, which only a writable provider has.
    ``secret_name(label)``
        A name the provider accepts and holds nothing under yet (default: a unique plain name).
    ``provider`` (fixture)
        Override only when the backend cannot run here and the provider must be built around a
        documented fake; the spec, settings and loading tests still go through ``Hooks``.
    """

    kind = "secrets_providers"

    def secret_name(self, label: str) -> str:
        return f"thv-contract-{label}-{uuid.uuid4().hex[:8]}"

    @pytest.fixture
    def provider(self, plugin_hooks: Hooks, plugin_config: dict[str, Any]) -> SecretsProvider:
        return plugin_hooks.load("secrets_providers", self.name, plugin_config)

    @pytest.fixture
    def capabilities(self, plugin_spec: Any) -> SecretsCapabilities:
        caps: SecretsCapabilities = plugin_spec.capabilities
        return caps

    @pytest.fixture
    def seed_secret(self, provider: SecretsProvider, capabilities: SecretsCapabilities) -> Seed:
        if not capabilities.can_write:
            pytest.fail(
                f"{self.name} cannot write secrets: override the seed_secret fixture to store "
                "one by the backend's own means",
                pytrace=False,
            )
        return provider.set_secret

    # -- loading ------------------------------------------------------------------------------

    def test_it_loads_as_a_secrets_provider(
        self, plugin_hooks: Hooks, plugin_config: dict[str, Any]
    ) -> None:
        from toolhive.contracts.secrets import SecretsProvider

        provider = plugin_hooks.load("secrets_providers", self.name, plugin_config)
        assert isinstance(provider, SecretsProvider)

    # -- reading ------------------------------------------------------------------------------

    def test_a_missing_secret_is_not_found_naming_it(self, provider: SecretsProvider) -> None:
        from toolhive.contracts.secrets import SecretNotFoundError

        name = self.secret_name("missing")
        with pytest.raises(SecretNotFoundError) as caught:
            provider.get_secret(name)
        assert name in str(caught.value)

    def test_a_stored_secret_reads_back_exactly(
        self, provider: SecretsProvider, seed_secret: Seed
    ) -> None:
        name = self.secret_name("read")
        seed_secret(name, AWKWARD_VALUE)
        assert provider.get_secret(name) == AWKWARD_VALUE

    # -- writing, deleting, listing, cleaning up, by capability -------------------------------

    def test_writing_follows_its_capabilities(
        self,
        provider: SecretsProvider,
        capabilities: SecretsCapabilities,
        plugin_hooks: Hooks,
        plugin_config: dict[str, Any],
    ) -> None:
        from toolhive.contracts.secrets import UnsupportedOperationError

        name = self.secret_name("write")
        if not capabilities.can_write:
            with pytest.raises(UnsupportedOperationError):
                provider.set_secret(name, "value")
            return
        provider.set_secret(name, "first")
        provider.set_secret(name, AWKWARD_VALUE)
        assert provider.get_secret(name) == AWKWARD_VALUE
        # `thv secret set` writes, the workload's supervisor reads: another load sees it.
        again = plugin_hooks.load("secrets_providers", self.name, plugin_config)
        assert again.get_secret(name) == AWKWARD_VALUE

    def test_deleting_follows_its_capabilities(
        self, provider: SecretsProvider, capabilities: SecretsCapabilities, seed_secret: Seed
    ) -> None:
        from toolhive.contracts.secrets import SecretNotFoundError, UnsupportedOperationError

        name = self.secret_name("delete")
        if not capabilities.can_delete:
            with pytest.raises(UnsupportedOperationError):
                provider.delete_secret(name)
            return
        seed_secret(name, "doomed")
        provider.delete_secret(name)
        with pytest.raises(SecretNotFoundError):
            provider.get_secret(name)
        with pytest.raises(SecretNotFoundError):
            provider.delete_secret(name)

    def test_listing_follows_its_capabilities(
        self, provider: SecretsProvider, capabilities: SecretsCapabilities, seed_secret: Seed
    ) -> None:
        from toolhive.contracts.secrets import SecretDescription, UnsupportedOperationError

        if not capabilities.can_list:
            with pytest.raises(UnsupportedOperationError):
                provider.list_secrets()
            return
        names = [self.secret_name("list-a"), self.secret_name("list-b")]
        for name in names:
            seed_secret(name, AWKWARD_VALUE)
        listed = provider.list_secrets()
        assert all(isinstance(d, SecretDescription) for d in listed), listed
        assert all(AWKWARD_VALUE not in f"{d.key} {d.description}" for d in listed)
        if capabilities.can_write:  # names it wrote are names it lists
            assert set(names) <= {d.key for d in listed}, listed

    def test_cleanup_follows_its_capabilities(
        self, provider: SecretsProvider, capabilities: SecretsCapabilities, seed_secret: Seed
    ) -> None:
        from toolhive.contracts.secrets import SecretNotFoundError, UnsupportedOperationError

        name = self.secret_name("cleanup")
        seed_secret(name, "kept unless cleaned")
        if not capabilities.can_cleanup:
            # Refused, or a no-op: either way nothing it does not manage disappears.
            with contextlib.suppress(UnsupportedOperationError):
                provider.cleanup()
            assert provider.get_secret(name) == "kept unless cleaned"
            return
        provider.cleanup()
        with pytest.raises(SecretNotFoundError):
            provider.get_secret(name)
        if capabilities.can_list:
            assert name not in {d.key for d in provider.list_secrets()}

    # -- values stay secret -------------------------------------------------------------------

    def test_values_never_show_in_errors_or_its_repr(
        self, provider: SecretsProvider, seed_secret: Seed
    ) -> None:
        value = f"sekrit-{uuid.uuid4().hex}"
        name = self.secret_name("leak")
        seed_secret(name, value)
        assert provider.get_secret(name) == value
        assert value not in repr(provider)
        missing = self.secret_name("leak-missing")
        with pytest.raises(Exception) as caught:  # SecretNotFoundError, checked above
            provider.get_secret(missing)
        assert value not in str(caught.value)
