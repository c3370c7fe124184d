"""The registry's data, for registry source plugins: entries, documents and their parsing.

A document in either format (the upstream MCP registry format, or ToolHive's legacy one) becomes a
:class:`Registry` with :func:`parse_document`; :class:`DocumentSource` is a complete
:class:`~toolhive.contracts.registry.RegistrySource` over one such document, read once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from toolhive.contracts.registry import SourceKind
from toolhive.registry.lookup import find, search
from toolhive.registry.models import (
    EnvVar,
    Header,
    ImageMetadata,
    Registry,
    RemoteServerMetadata,
    ServerEntry,
)
from toolhive.registry.upstream import (
    NAMESPACE,
    PUBLISHER_KEY,
    SERVER_SCHEMA,
    load_json,
    parse_document,
    read_registry_file,
    server_to_entry,
    upstream_to_registry,
)

__all__ = [
    "NAMESPACE",
    "PUBLISHER_KEY",
    "SERVER_SCHEMA",
    "DocumentSource",
    "EnvVar",
    "Header",
    "ImageMetadata",
    "Registry",
    "RemoteServerMetadata",
    "ServerEntry",
    "find",
    "load_json",
    "parse_document",
    "read_registry_file",
    "search",
    "server_to_entry",
    "upstream_to_registry",
]


@dataclass
class DocumentSource:
    """A source backed by one registry document, read once (file, URL, built-in catalog)."""

    kind: SourceKind
    location: str
    read: Callable[[], Registry] = field(repr=False)
    _registry: Registry | None = field(default=None, init=False, repr=False)

    def registry(self) -> Registry:
        if self._registry is None:
            self._registry = self.read()
        return self._registry

    def list_servers(self) -> list[ServerEntry]:
        return self.registry().entries()

    def get(self, name: str) -> ServerEntry | None:
        return next((e for e in self.list_servers() if e.name == name), None)

    def search(self, query: str) -> list[ServerEntry]:
        return search(self.list_servers(), query)
