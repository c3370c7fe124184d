"""Registry entries in ToolHive's in-memory (legacy) shape: what the API returns and what
``thv registry convert`` reads. Field names match ToolHive (Go); unknown fields are kept.

The on-disk format is the upstream MCP registry format (:mod:`toolhive.registry.upstream`).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

ServerType = Literal["container", "remote"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class EnvVar(_Model):
    name: str
    description: str = ""
    required: bool = False
    secret: bool = False
    default: str = ""

    def to_json(self) -> dict[str, Any]:
        """ToolHive's JSON for it, without empty values."""
        return self.model_dump(mode="json", exclude_defaults=True) | {"name": self.name}


class Header(EnvVar):
    choices: list[str] = Field(default_factory=list)


class OAuthConfig(_Model):
    issuer: str = ""
    authorize_url: str = ""
    token_url: str = ""
    client_id: str = ""
    scopes: list[str] = Field(default_factory=list)
    use_pkce: bool = True
    oauth_params: dict[str, str] = Field(default_factory=dict)
    callback_port: int = 0
    resource: str = ""


class Metadata(_Model):
    stars: int = 0
    pulls: int = 0
    last_updated: str = ""


class ServerMetadata(_Model):
    """Fields every entry has. ``name`` is the full reverse-DNS name once loaded."""

    name: str = ""
    title: str = ""
    description: str = ""
    overview: str = ""
    tier: str = ""
    status: str = "Active"
    transport: str = "stdio"
    tools: list[str] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    metadata: Metadata | None = None
    repository_url: str = ""
    custom_metadata: dict[str, Any] = Field(default_factory=dict)
    proxy_port: int = 0
    stateless: bool = False
    env_vars: list[EnvVar] = Field(default_factory=list)

    @property
    def server_type(self) -> ServerType:
        return "container"

    @property
    def short_name(self) -> str:
        return self.name.rsplit("/", 1)[-1]

    @property
    def deprecated(self) -> bool:
        return self.status.strip().lower() == "deprecated"

    @property
    def stars(self) -> int:
        return self.metadata.stars if self.metadata else 0

    def to_json(self) -> dict[str, Any]:
        """The legacy JSON shape, without empty values."""
        return self.model_dump(mode="json", exclude_defaults=True) | {"name": self.name}


class ImageMetadata(ServerMetadata):
    """A server run from an image or a ``uvx://`` / ``npx://`` package."""

    image: str
    target_port: int = 0
    args: list[str] = Field(default_factory=list)
    permissions: dict[str, Any] | None = None
    docker_tags: list[str] = Field(default_factory=list)
    provenance: dict[str, Any] | None = None


class RemoteServerMetadata(ServerMetadata):
    """A server someone else runs, reached by URL."""

    transport: str = "streamable-http"
    url: str
    headers: list[Header] = Field(default_factory=list)
    oauth_config: OAuthConfig | None = None

    @property
    def server_type(self) -> ServerType:
        return "remote"


ServerEntry = ImageMetadata | RemoteServerMetadata


class Group(_Model):
    name: str
    description: str = ""
    servers: dict[str, ImageMetadata] = Field(default_factory=dict)
    remote_servers: dict[str, RemoteServerMetadata] = Field(default_factory=dict)


class Registry(_Model):
    """A whole registry, legacy-shaped: entries keyed by name."""

    version: str = "1.0.0"
    last_updated: str = ""
    servers: dict[str, ImageMetadata] = Field(default_factory=dict)
    remote_servers: dict[str, RemoteServerMetadata] = Field(default_factory=dict)
    groups: list[Group] = Field(default_factory=list)

    def entries(self) -> list[ServerEntry]:
        """Every entry, names filled in from the keys, sorted by name."""
        out: list[ServerEntry] = []
        for key, image in self.servers.items():
            out.append(image if image.name else image.model_copy(update={"name": key}))
        for key, remote in self.remote_servers.items():
            out.append(remote if remote.name else remote.model_copy(update={"name": key}))
        return sorted(out, key=lambda e: e.name)
