"""Settings of the remote sources: location and private-IP consent come from config.yaml's
registry keys; the rest from ``plugins: {registry_sources: {api|url|file: {...}}}``."""

from __future__ import annotations

from pydantic import Field
from toolhive.contracts.registry import SourceSettings


class FileSourceConfig(SourceSettings):
    pass


class RemoteSourceConfig(SourceSettings):
    timeout: float = Field(30.0, gt=0, description="Seconds to wait for the registry to answer.")
    cache_ttl: float = Field(3600.0, ge=0, description="Seconds a cached answer stays fresh.")
    page_size: int = Field(100, ge=1, le=1000, description="Servers per v0.1 API page.")
