"""The registry-source contract suite: what ``thv registry``, ``thv search`` and ``thv run <name>``
rely on (:mod:`toolhive.registry.sources`).

A source is loaded with ``Hooks.load("registry_sources", …)`` and must list valid entries (image
entries with an image, remote entries with a URL, names unique, sorted), together forming a valid
registry document; find a listed server by its full name (and by its short name through core's
lookup); say ``None`` for a name it does not have; and search.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import pytest

from toolhive.testing.plugin_contract import SettingsContract

if TYPE_CHECKING:
    from toolhive.contracts.registry import RegistrySource
    from toolhive.contracts.registry_data import ServerEntry
    from toolhive.plugins import Hooks

KINDS = {"api", "url", "file", "default"}
TRANSPORTS = {"stdio", "sse", "streamable-http"}


class RegistrySourceContract(SettingsContract):
    """Subclass it, set ``name`` (and ``entry_point``), override ``plugin_config`` with what
    points the source at its data (``location`` …), and set:

    ``known_server``
        The full name of one server the source lists (e.g. ``io.github.example/fetch``).
    """

    kind = "registry_sources"
    known_server: ClassVar[str]

    @pytest.fixture
    def source(self, plugin_hooks: Hooks, plugin_config: dict[str, Any]) -> RegistrySource:
        return plugin_hooks.load("registry_sources", self.name, plugin_config)

    @pytest.fixture
    def listing(self, source: RegistrySource) -> list[ServerEntry]:
        return source.list_servers()

    def test_it_loads_as_a_registry_source(self, source: RegistrySource) -> None:
        from toolhive.contracts.registry import RegistrySource

        assert isinstance(source, RegistrySource)
        assert source.kind in KINDS, source.kind
        assert isinstance(source.location, str) and source.location

    def test_it_lists_valid_entries_sorted_by_unique_name(self, listing: list[ServerEntry]) -> None:
        from toolhive.contracts.registry_data import ImageMetadata, RemoteServerMetadata

        assert listing, "the source lists no server"
        names = [entry.name for entry in listing]
        assert all(names), "every entry has a name"
        assert len(set(names)) == len(names), "names are unique"
        assert names == sorted(names), "entries are sorted by name"
        for entry in listing:
            assert isinstance(entry, ImageMetadata | RemoteServerMetadata), type(entry)
            assert entry.transport in TRANSPORTS, (entry.name, entry.transport)
            if isinstance(entry, ImageMetadata):
                assert entry.image, entry.name
            else:
                assert entry.url.startswith(("http://", "https://")), (entry.name, entry.url)
            again = type(entry).model_validate(entry.to_json())
            assert again.to_json() == entry.to_json(), entry.name

    def test_its_entries_form_a_valid_registry_document(self, listing: list[ServerEntry]) -> None:
        """What ``thv registry convert`` and the API serve: entries keyed by name round-trip."""
        from toolhive.contracts.registry_data import ImageMetadata, Registry

        document = {
            "servers": {e.name: e.to_json() for e in listing if isinstance(e, ImageMetadata)},
            "remote_servers": {
                e.name: e.to_json() for e in listing if not isinstance(e, ImageMetadata)
            },
        }
        registry = Registry.model_validate(document)
        assert [e.name for e in registry.entries()] == [e.name for e in listing]

    def test_a_listed_server_is_found_by_full_and_short_name(
        self, source: RegistrySource, listing: list[ServerEntry]
    ) -> None:
        from toolhive.registry.sources import resolve

        assert self.known_server in {e.name for e in listing}, self.known_server
        found = source.get(self.known_server)
        assert found is not None and found.name == self.known_server
        listed = next(e for e in listing if e.name == self.known_server)
        assert found.to_json() == listed.to_json()
        short = self.known_server.rsplit("/", 1)[-1]
        if sum(e.short_name == short for e in listing) == 1:
            by_short = resolve(source, short)
            assert by_short is not None and by_short.name == self.known_server

    def test_an_unknown_server_is_not_found(self, source: RegistrySource) -> None:
        assert source.get("io.github.toolhive-contract/no-such-server") is None
        assert source.search("no-such-server-zq9x") == []

    def test_search_finds_a_server_by_its_short_name(self, source: RegistrySource) -> None:
        short = self.known_server.rsplit("/", 1)[-1]
        assert self.known_server in {e.name for e in source.search(short)}
