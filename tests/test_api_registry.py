"""The registry endpoints through a real ``thv serve``: PUT with two sources is a 400, a local
file registry set by PUT is what the API and ``thv`` then read, ``{}`` resets it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from toolhive.testing.api import ApiServer, api_server

from tests.conftest import Thv

DEFAULT = "/api/v1beta/registry/default"


@pytest.fixture
def api(thv_env: dict[str, str]) -> Iterator[ApiServer]:
    with api_server(thv_env) as server:
        yield server


@pytest.fixture
def registry_file(tmp_path: Path) -> Path:
    package = {
        "registryType": "oci",
        "identifier": "localhost/e2e/lone:1",
        "transport": {"type": "stdio"},
    }
    server = {"name": "com.example/lone", "description": "The only one", "version": "1.0.0",
              "packages": [package]}  # fmt: skip
    path = tmp_path / "registry.json"
    path.write_text(json.dumps({"version": "1.0.0", "meta": {}, "data": {"servers": [server]}}))
    return path


def test_put_with_two_sources_is_a_400(api: ApiServer, registry_file: Path):
    answer = api.client.put(
        DEFAULT, json={"url": "https://example.com/registry.json", "local_path": str(registry_file)}
    )
    assert answer.status_code == 400
    assert "more than one registry type" in answer.json()["message"]
    assert api.client.get("/api/v1beta/registry").json()["registries"][0]["type"] == "default"


def test_a_local_file_registry_set_by_put(api: ApiServer, thv: Thv, registry_file: Path):
    answer = api.client.put(DEFAULT, json={"local_path": str(registry_file)})
    assert answer.status_code == 200 and answer.json() == {"type": "file"}
    servers = api.client.get(f"{DEFAULT}/servers").json()
    assert [s["name"] for s in servers["servers"]] == ["com.example/lone"]
    assert api.client.get(f"{DEFAULT}/servers/lone").json()["server"]["image"] == (
        "localhost/e2e/lone:1"
    )
    assert "com.example/lone" in thv("registry", "list").stdout  # the CLI reads the same
    latest = api.client.get("/registry/default/v0.1/servers/com.example%2Flone/versions/latest")
    assert latest.status_code == 200 and latest.json()["name"] == "com.example/lone"

    assert api.client.put(DEFAULT, json={}).json() == {"type": "default"}
    assert "Using the built-in registry" in thv("config", "get-registry").stdout
