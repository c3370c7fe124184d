"""The registry endpoints in-process: the built-in catalog, a local file registry set with PUT,
the PUT validation (two sources 400, other names 404, bad file 502, unreachable 504, ``{}``
resets), servers by full and short name, and the v0.1 view with its paging."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
import toolhive_registry_catalog
import toolhive_registry_remote
from api_in_process import InProcess

REGISTRY = "/api/v1beta/registry"
DEFAULT = f"{REGISTRY}/default"
V01 = "/registry/default/v0.1/servers"


@pytest.fixture
def thv_plugins():
    return [toolhive_registry_catalog, toolhive_registry_remote]


@pytest.fixture
def api(thv_home, thv_hooks) -> InProcess:
    return InProcess(thv_hooks)


def image_server(name: str, image: str, description: str = "") -> dict:
    package = {"registryType": "oci", "identifier": image, "transport": {"type": "stdio"}}
    return {
        "name": name,
        "description": description or name,
        "version": "1.0.0",
        "packages": [package],
    }


def remote_server(name: str, url: str) -> dict:
    return {
        "name": name,
        "description": f"{name} (remote)",
        "version": "1.0.0",
        "remotes": [{"type": "streamable-http", "url": url}],
    }


@pytest.fixture
def local_file(tmp_path: Path) -> Path:
    path = tmp_path / "registry.json"
    servers = [
        image_server("com.example/fetch", "localhost/example/fetch:1", "Fetches web pages"),
        image_server("com.example/time", "localhost/example/time:1", "Tells the time"),
        remote_server("com.example/weather", "https://weather.example.com/mcp"),
    ]
    doc = {"version": "1.0.0", "meta": {"last_updated": "2026-01-02T03:04:05Z"}}
    path.write_text(json.dumps({**doc, "data": {"servers": servers}}))
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_the_builtin_catalog_is_the_only_registry(api):
    answer = api.get(REGISTRY)
    assert answer.status_code == 200
    (info,) = answer.json()["registries"]
    assert info["name"] == "default" and info["type"] == "default" and info["source"] == ""
    assert info["server_count"] > 10 and info["auth_status"] == "none"


def test_get_returns_the_info_and_the_legacy_shaped_registry(api):
    answer = api.get(DEFAULT)
    assert answer.status_code == 200
    body = answer.json()
    assert body["type"] == "default"
    assert "io.github.stacklok/fetch" in body["registry"]["servers"]
    assert body["server_count"] == len(body["registry"]["servers"]) + len(
        body["registry"]["remote_servers"]
    )


def test_other_registry_names_are_404_and_adding_one_is_501(api):
    for method, path in [
        ("GET", f"{REGISTRY}/other"),
        ("POST", f"{REGISTRY}/other/refresh"),
        ("DELETE", f"{REGISTRY}/other"),
        ("GET", f"{REGISTRY}/other/servers"),
        ("GET", f"{REGISTRY}/other/servers/fetch"),
        ("GET", "/registry/other/v0.1/servers"),
    ]:
        assert api.request(method, path).status_code == 404, (method, path)
    assert api.put(f"{REGISTRY}/other", json={}).status_code == 404
    assert api.post(REGISTRY).status_code == 501
    refused = api.delete(DEFAULT)
    assert refused.status_code == 400 and "cannot be removed" in refused.json()["message"]


@pytest.mark.parametrize(
    "body",
    [
        {"url": "https://example.com/r.json", "local_path": "/tmp/r.json"},
        {"url": "https://example.com/r.json", "api_url": "https://example.com"},
        {"api_url": "https://example.com", "local_path": "/tmp/r.json"},
    ],
)
def test_put_with_two_sources_is_a_400_and_changes_nothing(api, body):
    answer = api.put(DEFAULT, json=body)
    assert answer.status_code == 400
    assert "more than one registry type" in answer.json()["message"]
    assert api.get(REGISTRY).json()["registries"][0]["type"] == "default"


def test_put_a_local_file_then_reset_with_an_empty_body(api, local_file):
    answer = api.put(DEFAULT, json={"local_path": str(local_file)})
    assert answer.status_code == 200 and answer.json() == {"type": "file"}
    (info,) = api.get(REGISTRY).json()["registries"]
    assert info["type"] == "file" and info["source"] == str(local_file)
    assert info["server_count"] == 3 and info["last_updated"] == "2026-01-02T03:04:05Z"

    servers = api.get(f"{DEFAULT}/servers").json()
    assert [s["name"] for s in servers["servers"]] == ["com.example/fetch", "com.example/time"]
    assert [s["url"] for s in servers["remote_servers"]] == ["https://weather.example.com/mcp"]

    by_short = api.get(f"{DEFAULT}/servers/fetch").json()
    assert by_short["is_remote"] is False
    assert by_short["server"]["image"] == "localhost/example/fetch:1"
    by_full = api.get(f"{DEFAULT}/servers/com.example/weather").json()
    assert by_full["is_remote"] is True and by_full["server"] is None
    assert api.get(f"{DEFAULT}/servers/nope").status_code == 404
    assert api.post(f"{DEFAULT}/refresh").json() == {"status": "refreshed"}

    reset = api.put(DEFAULT, json={})
    assert reset.status_code == 200 and reset.json() == {"type": "default"}
    assert api.get(REGISTRY).json()["registries"][0]["type"] == "default"


def test_the_cli_sees_what_the_api_set(api, local_file, thv_cli):
    api.put(DEFAULT, json={"local_path": f"file://{local_file}"})
    shown = json.loads(thv_cli("config", "get-registry", "--format", "json").stdout)
    assert shown == {
        "type": "file",
        "source": str(local_file),
        "allow_private_ip": False,
        "auth_status": "none",
        "auth_type": "",
        "auth_config": None,
    }


def test_put_a_broken_or_legacy_file_is_a_502_and_changes_nothing(api, tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    answer = api.put(DEFAULT, json={"local_path": str(broken)})
    assert answer.status_code == 502 and "is not valid JSON" in answer.json()["message"]
    legacy = tmp_path / "legacy.json"
    legacy.write_text(json.dumps({"servers": {"x": {"image": "x:1"}}}))
    answer = api.put(DEFAULT, json={"local_path": str(legacy)})
    assert answer.status_code == 502 and "thv registry convert" in answer.json()["message"]
    missing = api.put(DEFAULT, json={"local_path": str(tmp_path / "absent.json")})
    assert missing.status_code == 502 and "does not exist" in missing.json()["message"]
    assert api.get(REGISTRY).json()["registries"][0]["type"] == "default"


def test_put_an_unreachable_registry_is_a_504(api):
    url = f"http://127.0.0.1:{free_port()}"
    answer = api.put(DEFAULT, json={"api_url": url, "allow_private_ip": True})
    assert answer.status_code == 504 and url in answer.json()["message"]
    assert api.get(REGISTRY).json()["registries"][0]["type"] == "default"


def test_put_a_private_address_without_allow_private_ip_is_a_400(api):
    answer = api.put(DEFAULT, json={"url": f"http://127.0.0.1:{free_port()}/r.json"})
    assert answer.status_code == 400 and "private address" in answer.json()["message"]


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"url": ""}, "url cannot be empty"),
        ({"api_url": "ftp://example.com"}, "api_url must be an http"),
        (
            {"url": "https://e.com/r.json", "auth": {"issuer": "", "client_id": "c"}},
            "auth.issuer and auth.client_id are required",
        ),
        (
            {"local_path": "/tmp/r.json", "auth": {"issuer": "https://i", "client_id": "c"}},
            "auth applies to a remote registry",
        ),
        # pathlib raises RuntimeError for a ~user that does not exist (was a 500)
        ({"local_path": "~thv-no-such-user/r.json"}, "names no user on this machine"),
    ],
)
def test_put_refuses_empty_urls_non_http_urls_and_incomplete_auth(api, body, says):
    answer = api.put(DEFAULT, json=body)
    assert answer.status_code == 400 and says in answer.json()["message"]


def test_v01_lists_server_json_with_search_and_paging(api, local_file):
    api.put(DEFAULT, json={"local_path": str(local_file)})
    everything = api.get(V01).json()
    assert everything["metadata"] == {"total": 3, "page": 1, "limit": 50}
    names = [s["name"] for s in everything["servers"]]
    assert names == ["com.example/fetch", "com.example/time", "com.example/weather"]
    assert everything["servers"][0]["packages"][0]["identifier"] == "localhost/example/fetch:1"

    assert [s["name"] for s in api.get(V01, params={"q": "TIME"}).json()["servers"]] == [
        "com.example/time"
    ]
    page2 = api.get(V01, params={"page": 2, "limit": 2}).json()
    assert [s["name"] for s in page2["servers"]] == ["com.example/weather"]
    assert page2["metadata"] == {"total": 3, "page": 2, "limit": 2}
    assert api.get(V01, params={"page": 9}).json()["servers"] == []
    assert api.get(V01, params={"limit": 1000}).json()["metadata"]["limit"] == 200
    bad = api.get(V01, params={"page": "zero"})
    assert bad.status_code == 400 and bad.json()["field"] == "page"


def test_v01_latest_version_of_one_server(api, local_file):
    api.put(DEFAULT, json={"local_path": str(local_file)})
    answer = api.get(f"{V01}/com.example%2Fweather/versions/latest")
    assert answer.status_code == 200
    assert answer.json()["remotes"] == [
        {"type": "streamable-http", "url": "https://weather.example.com/mcp"}
    ]
    assert api.get(f"{V01}/com.example/time/versions/latest").json()["name"] == "com.example/time"
    missing = api.get(f"{V01}/com.example%2Fnope/versions/latest")
    assert missing.status_code == 404


def test_a_registry_file_that_breaks_later_is_a_502_on_read(api, local_file):
    api.put(DEFAULT, json={"local_path": str(local_file)})
    local_file.write_text('{"data": ')
    for path in [REGISTRY, DEFAULT, f"{DEFAULT}/servers", V01]:
        answer = api.get(path)
        assert answer.status_code == 502, path
        assert str(local_file) in answer.json()["message"]


def test_a_configured_registry_that_stops_answering_is_a_503_on_read(api, thv_home):
    from toolhive.appconfig import update_config

    url = f"http://127.0.0.1:{free_port()}"

    def point_at_nothing(config) -> None:
        config.registry_api_url = url
        config.allow_private_registry_ip = True

    update_config(point_at_nothing)
    for path in [REGISTRY, f"{DEFAULT}/servers", V01]:
        answer = api.get(path)
        assert answer.status_code == 503, path
        assert url in answer.json()["message"]


def test_an_ambiguous_short_name_is_a_400_listing_the_candidates(api, tmp_path):
    path = tmp_path / "twins.json"
    servers = [
        image_server("com.a/fetch", "localhost/a:1"),
        image_server("org.b/fetch", "localhost/b:1"),
    ]
    path.write_text(json.dumps({"version": "1.0.0", "meta": {}, "data": {"servers": servers}}))
    api.put(DEFAULT, json={"local_path": str(path)})
    answer = api.get(f"{DEFAULT}/servers/fetch")
    assert answer.status_code == 400
    assert "com.a/fetch, org.b/fetch" in answer.json()["message"]
