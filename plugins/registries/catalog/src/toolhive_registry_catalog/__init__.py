"""toolhive-registry-catalog: the built-in registry, a JSON data file in the upstream MCP registry
format (``data/registry.json``). It is the source used when no registry is configured
(``thv config set-registry``). The entry point imports nothing but the spec types.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from toolhive.contracts import PluginConfig, RegistrySourceSpec, hookimpl

if TYPE_CHECKING:
    from toolhive.contracts.registry_data import DocumentSource, Registry

__all__ = ["DATA_FILE", "load", "read_catalog", "thv_registry_sources"]

DATA_FILE = "data/registry.json"


def read_catalog() -> Registry:
    """The catalog, parsed (errors name the packaged file)."""
    from importlib import resources

    from toolhive.contracts.registry_data import load_json, parse_document

    data = resources.files(__name__).joinpath(DATA_FILE)
    source = f"built-in catalog {data}"
    return parse_document(load_json(data.read_text(encoding="utf-8"), source), source)


def load(_config: PluginConfig) -> DocumentSource:
    from importlib.metadata import PackageNotFoundError, version

    from toolhive.contracts.registry_data import DocumentSource

    try:
        label = f"toolhive-registry-catalog {version('toolhive-registry-catalog')}"
    except PackageNotFoundError:  # imported from a source tree
        label = "toolhive-registry-catalog"
    return DocumentSource(kind="default", location=f"built-in ({label})", read=read_catalog)


@hookimpl
def thv_registry_sources() -> list[RegistrySourceSpec[PluginConfig]]:
    return [
        RegistrySourceSpec(
            name="catalog",
            description="Built-in catalog of widely used MCP servers",
            priority=100,
            config_model=PluginConfig,
            load=load,
        )
    ]
