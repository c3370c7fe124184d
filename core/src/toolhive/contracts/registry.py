"""The registry-source contract: what ``RegistrySourceSpec.load`` returns.

Kept light (it is imported whenever specs are): the registry's data model, document parsing and
:class:`~toolhive.contracts.registry_data.DocumentSource` are in
:mod:`toolhive.contracts.registry_data`, which a source imports inside its ``load``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

from pydantic import Field, SecretStr

from toolhive.contracts.config import PluginConfig
from toolhive.registry.errors import (
    RegistryAuthRequiredError,
    RegistryError,
    RegistryUnavailableError,
)

if TYPE_CHECKING:
    from toolhive.registry.models import ServerEntry

__all__ = [
    "RegistryAuthRequiredError",
    "RegistryError",
    "RegistrySource",
    "RegistryUnavailableError",
    "SourceKind",
    "SourceSettings",
]

SourceKind = Literal["api", "url", "file", "default"]


class SourceSettings(PluginConfig):
    """Base ``config_model`` for sources configured from config.yaml. The host fills these fields
    (when the model has them) from config.yaml and the command line; the rest comes from the
    plugin's own section ``plugins: {registry_sources: {<name>: {...}}}``."""

    location: str = ""
    allow_private_ip: bool = False
    refresh: bool = False
    #: A valid access token when ``registry_auth`` is configured for this (remote) registry: send
    #: it as ``Authorization: Bearer``; answer a 401/403 with :class:`RegistryAuthRequiredError`,
    #: and keep authenticated answers off the disk. Never logged or dumped.
    bearer_token: SecretStr | None = Field(default=None, repr=False, exclude=True)


@runtime_checkable
class RegistrySource(Protocol):
    """What a registry source plugin's ``load`` returns."""

    @property
    def kind(self) -> SourceKind:
        """``api``, ``url``, ``file`` or ``default`` (built-in), as ToolHive's registryInfo ``type``."""
        ...

    @property
    def location(self) -> str:
        """The URL or path it reads (a label for the built-in catalog)."""
        ...

    def list_servers(self) -> list[ServerEntry]:
        """Every entry, sorted by name."""
        ...

    def get(self, name: str) -> ServerEntry | None:
        """The entry with this exact (full) name, or ``None``."""
        ...

    def search(self, query: str) -> list[ServerEntry]:
        """Entries matching ``query`` (name, description, tags)."""
        ...
