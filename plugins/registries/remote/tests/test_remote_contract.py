"""The remote plugin's three sources run the registry-source contract suite, loaded through its
entry point with the settings ToolHive gives them (``location`` from config.yaml's registry keys),
against the real HTTP registry of ``remote_registry_server.py`` and a file written here."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from remote_registry_server import SERVERS, Registry
from toolhive.testing import RegistrySourceContract

KNOWN = "com.example/weather"


class TestApiSource(RegistrySourceContract):
    name = "api"
    entry_point = "registry-remote"
    heavy_modules = ("httpx",)
    known_server = KNOWN

    @pytest.fixture
    def plugin_config(self, registry_server: Registry) -> dict[str, Any]:
        return {"location": registry_server.url, "allow_private_ip": True, "page_size": 3}


class TestUrlSource(RegistrySourceContract):
    name = "url"
    entry_point = "registry-remote"
    heavy_modules = ("httpx",)
    known_server = KNOWN

    @pytest.fixture
    def plugin_config(self, registry_server: Registry) -> dict[str, Any]:
        return {"location": f"{registry_server.url}/registry.json", "allow_private_ip": True}


class TestFileSource(RegistrySourceContract):
    name = "file"
    entry_point = "registry-remote"
    heavy_modules = ("httpx",)
    known_server = KNOWN

    @pytest.fixture
    def plugin_config(self, tmp_path: Path) -> dict[str, Any]:
        path = tmp_path / "registry.json"
        path.write_text(json.dumps({"version": "1.0.0", "data": {"servers": SERVERS}}))
        return {"location": str(path)}
