"""Stale-cache fallback: a registry that was reachable, then is not (stopped, DNS, timeout, 5xx).

The registry is a real HTTP server on 127.0.0.1 (remote_registry_server.py) that is stopped
between calls, so the second call meets a closed port, as when offline.
"""

from __future__ import annotations

import json
import os
import time

import httpx
import pytest
import toolhive_registry_remote as plugin
from remote_registry_server import running_registry
from toolhive.contracts.registry import RegistryUnavailableError
from toolhive.registry.sources import resolve
from toolhive_registry_remote import cache, sources
from toolhive_registry_remote.config import RemoteSourceConfig
from toolhive_registry_remote.sources import ApiSource, url_source

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(autouse=True)
def _fresh_warnings():
    sources._warned.clear()


def config(location: str, **kw) -> RemoteSourceConfig:
    return RemoteSourceConfig(location=location, allow_private_ip=True, **kw)


def warnings(capsys) -> list[str]:
    err = capsys.readouterr().err
    return [line for line in err.splitlines() if line.startswith("warning:")]


def backdate(key: str, seconds: float) -> None:
    """Make the cached copy of ``key`` look ``seconds`` old (past any TTL)."""
    path = cache._path(key)
    record = json.loads(path.read_text())
    record["fetched_at"] -= seconds
    path.write_text(json.dumps(record))


def test_url_registry_stopped_uses_the_stale_copy(thv_home, capsys):
    with running_registry() as server:
        location = server.url + "/registry.json"
        assert len(url_source(config(location)).list_servers()) == 8
    backdate(f"url:{location}", 3 * 3600 + 300)  # older than the 1 h TTL
    capsys.readouterr()

    entries = url_source(config(location)).list_servers()
    assert len(entries) == 8
    (line,) = warnings(capsys)
    assert "cannot reach registry" in line and location in line
    assert "cached copy from 3 h 5 min ago" in line and "thv registry list --refresh" in line

    # --refresh while offline: the cache, and a warning that says the refresh failed.
    sources._warned.clear()
    assert len(url_source(config(location, refresh=True)).list_servers()) == 8
    (line,) = warnings(capsys)
    assert line.startswith("warning: --refresh could not update the registry")
    assert "cached copy from 3 h 5 min ago instead" in line


def test_no_cache_and_unreachable_is_the_clear_error(thv_home, capsys):
    with running_registry() as server:
        location = server.url + "/registry.json"
    with pytest.raises(RegistryUnavailableError, match=r"cannot reach registry at .*registry.json"):
        url_source(config(location)).list_servers()
    assert warnings(capsys) == []
    assert not list((thv_home.cache / "toolhive" / "registry").glob("*.json"))


def test_api_registry_stopped_lists_gets_and_searches_from_the_stale_copy(thv_home, capsys):
    with running_registry() as server:
        base = server.url
        assert len(ApiSource.from_config(config(base, page_size=3)).list_servers()) == 8
    backdate(f"api:{base}", 2 * 86400)
    capsys.readouterr()

    source = ApiSource.from_config(config(base))
    assert source.get("com.example/weather").image == "ghcr.io/example/weather:2.0"
    assert source.get("com.example/nope") is None
    assert resolve(source, "weather").name == "com.example/weather"
    assert [e.name for e in source.search("forecasts")] == ["com.example/weather"]
    assert len(source.list_servers()) == 8
    (line,) = warnings(capsys)  # one warning per registry, however many calls
    assert "cached copy from 2 days ago" in line


@pytest.mark.parametrize("outage", ["http-503", "timeout"])
def test_outages_that_still_answer_use_the_stale_copy(thv_home, capsys, outage):
    with running_registry() as server:
        location = server.url + "/registry.json"
        assert len(url_source(config(location, timeout=0.5)).list_servers()) == 8
        backdate(f"url:{location}", 7200)
        if outage == "http-503":
            server.fail_status = 503
        else:
            server.delay = 1.5
        capsys.readouterr()
        started = time.monotonic()
        assert len(url_source(config(location, timeout=0.5)).list_servers()) == 8
        assert time.monotonic() - started < 1.4
        (line,) = warnings(capsys)
        assert ("HTTP 503" if outage == "http-503" else "did not answer within 0.5s") in line
        assert "cached copy from 2 h ago" in line


def test_a_refusal_is_not_an_outage(thv_home, capsys):
    """HTTP 403 is the registry's answer, not an outage: no silent fallback."""
    with running_registry() as server:
        location = server.url + "/registry.json"
        url_source(config(location)).list_servers()
        backdate(f"url:{location}", 7200)
        server.fail_status = 403
        with pytest.raises(RegistryUnavailableError, match="HTTP 403"):
            url_source(config(location)).list_servers()
    assert warnings(capsys) == []


def test_dns_failure_uses_the_stale_copy(thv_home, capsys):
    location = "https://thvrem-registry.invalid/registry.json"
    with running_registry() as server:  # a valid document to seed the cache with
        doc = httpx.get(server.url + "/registry.json").json()
    cache.put(f"url:{location}", doc)
    backdate(f"url:{location}", 7200)
    entries = url_source(RemoteSourceConfig(location=location)).list_servers()
    assert len(entries) == 8
    (line,) = warnings(capsys)
    assert "cannot be resolved" in line and "cached copy from 2 h ago" in line
    # The API source is built offline too (its address check waits for the first request).
    cache.put("api:https://thvrem-registry.invalid", [])
    assert ApiSource.from_config(RemoteSourceConfig(location="https://thvrem-registry.invalid"))


def test_cache_writes_are_atomic_and_leave_no_temp_files(thv_home):
    cache.put("url:https://example.com/r.json", {"data": {"servers": []}})
    folder = thv_home.cache / "toolhive" / "registry"
    names = [p.name for p in folder.iterdir()]
    assert len(names) == 1 and names[0].endswith(".json"), names
    assert oct(os.stat(folder / names[0]).st_mode & 0o777) == "0o600"
    assert cache.get_stale("url:https://example.com/r.json")[0] == {"data": {"servers": []}}


@pytest.mark.parametrize("thv_plugins", [[plugin]])
def test_cli_registry_list_offline(thv_cli, thv_home):
    with running_registry() as server:
        location = server.url + "/registry.json"
        assert thv_cli("config", "set-registry", location, "-p").exit_code == 0
        assert thv_cli("registry", "list").exit_code == 0
    backdate(f"url:{location}", 5400)
    sources._warned.clear()
    result = thv_cli("registry", "list", "--format", "json")
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.stdout)) == 8
    assert "cached copy from 1 h 30 min ago" in result.stderr
    sources._warned.clear()
    found = thv_cli("search", "weather", "--refresh")
    assert found.exit_code == 0 and "com.example/weather" in found.stdout
    assert "--refresh could not update the registry" in found.stderr
