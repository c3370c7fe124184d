"""The built-in catalog runs the registry-source contract suite, loaded through its entry point."""

from __future__ import annotations

from toolhive.testing import RegistrySourceContract


class TestCatalogSource(RegistrySourceContract):
    name = "catalog"
    entry_point = "registry-catalog"
    known_server = "io.github.stacklok/fetch"
