"""The remote sources against a real HTTP server on 127.0.0.1 (see remote_registry_server.py)."""

from __future__ import annotations

import json
import time

import pytest
import toolhive_registry_remote as plugin
from toolhive.contracts import InvalidInputError
from toolhive.contracts.registry import RegistryError, RegistryUnavailableError
from toolhive.registry.sources import open_registry, resolve
from toolhive_registry_remote.config import FileSourceConfig, RemoteSourceConfig
from toolhive_registry_remote.sources import ApiSource, file_source, url_source

pytestmark = pytest.mark.timeout(60)


def api(url: str, **kw) -> ApiSource:
    return ApiSource.from_config(RemoteSourceConfig(location=url, allow_private_ip=True, **kw))


def test_api_lists_every_page_and_caches(registry_server, thv_home):
    source = api(registry_server.url, page_size=3)
    names = [e.name for e in source.list_servers()]
    assert len(names) == 8 and "com.example/weather" in names
    pages = registry_server.api_calls()
    assert len(pages) == 3  # 3 + 3 + 2, following nextCursor
    assert "cursor=3" in pages[1] and "cursor=6" in pages[2]
    # A second source within the TTL reads the cache; --refresh goes to the server again.
    assert len(api(registry_server.url, page_size=3).list_servers()) == 8
    assert len(registry_server.api_calls()) == 3
    assert len(api(registry_server.url, page_size=3, refresh=True).list_servers()) == 8
    assert len(registry_server.api_calls()) == 6
    cached = list((thv_home.cache / "toolhive" / "registry").glob("*.json"))
    assert len(cached) == 1 and json.loads(cached[0].read_text())["key"].startswith("api:")


def test_api_cache_expires(registry_server, thv_home):
    assert api(registry_server.url, cache_ttl=0.2).list_servers()
    time.sleep(0.3)
    assert api(registry_server.url, cache_ttl=0.2).list_servers()
    assert len(registry_server.api_calls()) == 2


def test_api_search_uses_the_server(registry_server, thv_home):
    found = api(registry_server.url).search("weather")
    assert [e.name for e in found] == ["com.example/weather"]
    assert any("search=weather" in r for r in registry_server.api_calls())


def test_api_latest_version_and_404(registry_server, thv_home):
    source = api(registry_server.url)
    entry = source.get("com.example/weather")
    assert entry is not None and entry.image == "ghcr.io/example/weather:2.0"
    assert entry.tags == ["weather"] and entry.tier == "Community"
    assert any(
        r.endswith("com.example%2Fweather/versions/latest") for r in registry_server.requests
    )
    assert source.get("com.example/nope") is None
    # Short names go through the listing.
    assert resolve(source, "weather").name == "com.example/weather"


def test_api_http_500_is_one_clear_error(registry_server, thv_home):
    with pytest.raises(RegistryUnavailableError, match=r"HTTP 500.*database is down"):
        api(registry_server.url + "/error").list_servers()


def test_api_not_an_api(registry_server, thv_home):
    with pytest.raises(RegistryError, match="not an MCP Registry API"):
        api(registry_server.url + "/nothing-here").list_servers()


def test_slow_registry_times_out(registry_server, thv_home):
    started = time.monotonic()
    with pytest.raises(RegistryUnavailableError, match=r"did not answer within 0.5s"):
        api(registry_server.url + "/slow", timeout=0.5).list_servers()
    assert time.monotonic() - started < 2.5  # the server sleeps 3 s


def test_private_addresses_refused_unless_allowed(registry_server, thv_home):
    with pytest.raises(InvalidInputError, match=r"private address 127.0.0.1.*--allow-private-ip"):
        ApiSource.from_config(RemoteSourceConfig(location=registry_server.url))
    with pytest.raises(InvalidInputError, match="private address"):
        url_source(
            RemoteSourceConfig(location=registry_server.url + "/registry.json")
        ).list_servers()
    assert registry_server.requests == []  # refused before any request


def test_url_source_reads_and_caches_a_document(registry_server, thv_home):
    config = RemoteSourceConfig(
        location=registry_server.url + "/registry.json", allow_private_ip=True
    )
    assert len(url_source(config).list_servers()) == 8
    assert len(url_source(config).list_servers()) == 8
    assert registry_server.requests == ["/registry.json"]


def test_url_source_errors(registry_server, thv_home):
    def load(path: str):
        return url_source(
            RemoteSourceConfig(location=registry_server.url + path, allow_private_ip=True)
        ).list_servers()

    with pytest.raises(RegistryError, match=r"registry at .*/broken.json is not valid JSON"):
        load("/broken.json")
    with pytest.raises(
        RegistryError, match=r"legacy ToolHive registry format.*thv registry convert"
    ):
        load("/legacy.json")
    with pytest.raises(RegistryError, match="404"):
        load("/missing.json")


def test_broken_file_names_the_file(tmp_path, thv_home):
    bad = tmp_path / "bad.json"
    bad.write_text('{"data": {"servers": [')
    with pytest.raises(RegistryError, match=f"registry file {bad} is not valid JSON"):
        file_source(FileSourceConfig(location=str(bad))).list_servers()
    missing = tmp_path / "missing.json"
    with pytest.raises(RegistryError, match=f"registry file {missing} does not exist"):
        file_source(FileSourceConfig(location=f"file://{missing}")).list_servers()
    nameless = tmp_path / "nameless.json"
    nameless.write_text('{"data": {"servers": [{"description": "x"}]}}')
    with pytest.raises(RegistryError, match=rf"{nameless}: data.servers\[0\]"):
        file_source(FileSourceConfig(location=str(nameless))).list_servers()


@pytest.mark.parametrize("thv_plugins", [[plugin]])
def test_config_keys_choose_the_source(registry_server, thv_home, thv_hooks):
    from toolhive.appconfig import AppConfig

    cfg = AppConfig(
        registry_api_url=registry_server.url,
        registry_url="https://example.invalid/r.json",
        allow_private_registry_ip=True,
    )
    source = open_registry(thv_hooks, config=cfg)
    assert source.kind == "api" and source.location == registry_server.url
    source = open_registry(thv_hooks, config=AppConfig(local_registry_path="/x.json"))
    assert source.kind == "file"
    # Nothing configured and no catalog installed: a clear error.
    from toolhive.contracts import PluginError

    with pytest.raises(PluginError, match="no registry source is installed"):
        open_registry(thv_hooks, config=AppConfig())


@pytest.mark.parametrize("thv_plugins", [[plugin]])
def test_cli_against_the_api(registry_server, thv_cli, thv_home):
    refused = thv_cli("config", "set-registry", registry_server.url)
    assert refused.exit_code == 1 and "private address" in str(refused.exception)
    ok = thv_cli("config", "set-registry", registry_server.url, "--allow-private-ip")
    assert ok.exit_code == 0, ok.output
    assert "(api, 8 servers)" in ok.stdout
    got = json.loads(thv_cli("config", "get-registry", "--format", "json").stdout)
    assert got == {
        "type": "api",
        "source": registry_server.url,
        "allow_private_ip": True,
        "auth_status": "none",
        "auth_type": "",
        "auth_config": None,
    }
    listed = json.loads(thv_cli("registry", "list", "--format", "json").stdout)
    assert len(listed) == 8
    found = thv_cli("search", "weather")
    assert "com.example/weather" in found.stdout and "server-01" not in found.stdout
    info = json.loads(thv_cli("registry", "info", "weather", "--format", "json").stdout)
    assert info["image"] == "ghcr.io/example/weather:2.0"
    before = len(registry_server.api_calls())
    thv_cli("registry", "list", "--refresh")
    assert len(registry_server.api_calls()) > before
    assert thv_cli("config", "unset-registry").exit_code == 0
    assert "built-in" in thv_cli("config", "get-registry").stdout


@pytest.mark.parametrize("thv_plugins", [[plugin]])
def test_set_registry_refuses_a_broken_source(registry_server, thv_cli, thv_home):
    result = thv_cli("config", "set-registry", registry_server.url + "/broken.json", "-p")
    assert result.exit_code == 1 and "not valid JSON" in str(result.exception)
    assert "built-in" in thv_cli("config", "get-registry").stdout  # nothing saved
