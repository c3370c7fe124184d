"""toolhive-registry-remote: registry sources configured with ``thv config set-registry``.

- ``api``  (``registry_api_url``): an MCP Registry API v0.1 server;
- ``url``  (``registry_url``): a registry JSON document served over HTTP(S);
- ``file`` (``local_registry_path``): a registry JSON file on this machine.

The entry point is light: ``httpx`` and the sources are imported only when a source is loaded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from toolhive.contracts import RegistrySourceSpec, hookimpl

# pydantic only: the config models are the specs' config_model.
from toolhive_registry_remote.config import FileSourceConfig, RemoteSourceConfig

if TYPE_CHECKING:
    from toolhive.contracts.registry_data import DocumentSource

    from toolhive_registry_remote.sources import ApiSource

__all__ = ["load_api", "load_file", "load_url", "thv_registry_sources"]


def load_api(config: RemoteSourceConfig) -> ApiSource:
    from toolhive_registry_remote.sources import ApiSource

    return ApiSource.from_config(config)


def load_url(config: RemoteSourceConfig) -> DocumentSource:
    from toolhive_registry_remote.sources import url_source

    return url_source(config)


def load_file(config: FileSourceConfig) -> DocumentSource:
    from toolhive_registry_remote.sources import file_source

    return file_source(config)


@hookimpl
def thv_registry_sources() -> list[RegistrySourceSpec[Any]]:
    return [
        RegistrySourceSpec(
            name="api",
            description="MCP Registry API v0.1 server (registry_api_url)",
            priority=10,
            config_model=RemoteSourceConfig,
            load=load_api,
        ),
        RegistrySourceSpec(
            name="url",
            description="Registry JSON document by URL (registry_url)",
            priority=20,
            config_model=RemoteSourceConfig,
            load=load_url,
        ),
        RegistrySourceSpec(
            name="file",
            description="Registry JSON file on this machine (local_registry_path)",
            priority=30,
            config_model=FileSourceConfig,
            load=load_file,
        ),
    ]
