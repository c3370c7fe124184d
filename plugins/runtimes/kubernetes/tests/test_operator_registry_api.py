"""The MCPRegistry's registry API app (v0.1) over a real file source, through HTTP in process."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from starlette.testclient import TestClient
from toolhive_runtime_kubernetes.operator.registry_api import (
    ConfigError,
    RegistryData,
    build_app,
    main,
    parse_config,
)

PUBLISHER = "io.modelcontextprotocol.registry/publisher-provided"


def server(name: str, version: str, image: str, tags: list[str]) -> dict[str, Any]:
    return {
        "name": name,
        "description": f"{name} {version}",
        "version": version,
        "packages": [{"registryType": "oci", "identifier": image, "transport": {"type": "stdio"}}],
        "_meta": {PUBLISHER: {"io.github.example": {image: {"tags": tags}}}},
    }


SERVERS = [
    server("io.github.example/fetch", "1.2.0", "ghcr.io/example/fetch:1.2.0", ["production"]),
    server("io.github.example/fetch", "1.10.0", "ghcr.io/example/fetch:1.10.0", ["production"]),
    server("io.github.example/fetch", "1.10.0-rc1", "ghcr.io/example/fetch:rc", ["production"]),
    server("io.github.example/github", "2.0.0", "ghcr.io/github/mcp:2", ["production"]),
    server("io.github.example/lab", "0.1.0", "docker.io/mcp/lab:0.1", ["experimental"]),
]


def document(servers: list[dict[str, Any]]) -> str:
    return json.dumps(
        {
            "version": "1.0.0",
            "meta": {"last_updated": "2026-01-01T00:00:00Z"},
            "data": {"servers": servers},
        }
    )


@pytest.fixture
def data_file(tmp_path: Path) -> Path:
    path = tmp_path / "production" / "registry.json"
    path.parent.mkdir()
    path.write_text(document(SERVERS))
    return path


def client_for(config_yaml: str) -> TestClient:
    return TestClient(build_app(RegistryData(parse_config(config_yaml))))


def config(path: Path, extra: str = "") -> str:
    return f"""
sources:
  - name: production
    file:
      path: {path}
    syncPolicy:
      interval: 1h
{extra}
registries:
  - name: default
    sources: ["production"]
database:
  host: postgres
  port: 5432
auth:
  mode: anonymous
"""


def test_lists_every_version_and_marks_the_latest(data_file: Path) -> None:
    with client_for(config(data_file)) as client:
        answer = client.get("/v0.1/servers")
    assert answer.status_code == 200
    body = answer.json()
    rows = [
        (i["server"]["name"], i["server"]["version"], i["_meta"][
            "io.modelcontextprotocol.registry/official"
        ]["isLatest"])
        for i in body["servers"]
    ]  # fmt: skip
    assert rows == [
        ("io.github.example/fetch", "1.2.0", False),
        ("io.github.example/fetch", "1.10.0-rc1", False),
        ("io.github.example/fetch", "1.10.0", True),
        ("io.github.example/github", "2.0.0", True),
        ("io.github.example/lab", "0.1.0", True),
    ]
    assert body["metadata"] == {"count": 5}
    # The server.json objects are served as the file has them.
    assert body["servers"][3]["server"] == SERVERS[3]


def test_cursor_pages_search_and_latest_only(data_file: Path) -> None:
    with client_for(config(data_file)) as client:
        first = client.get("/v0.1/servers", params={"limit": 2}).json()
        second = client.get(
            "/v0.1/servers", params={"limit": 2, "cursor": first["metadata"]["nextCursor"]}
        ).json()
        latest = client.get("/v0.1/servers", params={"version": "latest"}).json()
        found = client.get("/v0.1/servers", params={"search": "LAB"}).json()
        bad = client.get("/v0.1/servers", params={"cursor": "nope"})
        too_many = client.get("/v0.1/servers", params={"limit": 1000})
    assert [i["server"]["version"] for i in first["servers"]] == ["1.2.0", "1.10.0-rc1"]
    assert [i["server"]["version"] for i in second["servers"]] == ["1.10.0", "2.0.0"]
    assert "nextCursor" in second["metadata"]
    assert [(i["server"]["name"], i["server"]["version"]) for i in latest["servers"]] == [
        ("io.github.example/fetch", "1.10.0"),
        ("io.github.example/github", "2.0.0"),
        ("io.github.example/lab", "0.1.0"),
    ]
    assert [i["server"]["name"] for i in found["servers"]] == ["io.github.example/lab"]
    assert bad.status_code == 400
    assert too_many.status_code == 400


def test_versions_of_one_server_by_its_encoded_name(data_file: Path) -> None:
    name = quote("io.github.example/fetch", safe="")
    with client_for(config(data_file)) as client:
        versions = client.get(f"/v0.1/servers/{name}/versions").json()
        latest = client.get(f"/v0.1/servers/{name}/versions/latest").json()
        exact = client.get(f"/v0.1/servers/{name}/versions/1.2.0").json()
        missing = client.get(
            f"/v0.1/servers/{quote('io.github.example/nope', safe='')}/versions/latest"
        )
        no_version = client.get(f"/v0.1/servers/{name}/versions/9.9.9")
    assert [v["server"]["version"] for v in versions["servers"]] == [
        "1.2.0",
        "1.10.0-rc1",
        "1.10.0",
    ]
    assert latest["server"]["version"] == "1.10.0"
    assert exact["server"]["description"] == "io.github.example/fetch 1.2.0"
    assert missing.status_code == 404
    assert missing.json()["status"] == 404
    assert no_version.status_code == 404


def test_tag_filter_and_named_registries(data_file: Path, tmp_path: Path) -> None:
    extra_file = tmp_path / "extra.json"
    extra_file.write_text(document([server("com.example/other", "1.0.0", "x/other:1", [])]))
    text = f"""
sources:
  - name: production
    file: {{path: {data_file}}}
    filter:
      tags: {{include: [production], exclude: [experimental]}}
  - name: extra
    file: {{path: {extra_file}}}
registries:
  - name: prod
    sources: [production]
  - name: all
    sources: [production, extra]
"""
    with client_for(text) as client:
        prod = client.get("/registry/prod/v0.1/servers").json()
        every = client.get("/v0.1/servers", params={"version": "latest"}).json()
        unknown = client.get("/registry/nope/v0.1/servers")
    assert {i["server"]["name"] for i in prod["servers"]} == {
        "io.github.example/fetch",
        "io.github.example/github",
    }
    assert [i["server"]["name"] for i in every["servers"]] == [
        "com.example/other",
        "io.github.example/fetch",
        "io.github.example/github",
    ]
    assert unknown.status_code == 404


def test_an_edited_file_is_served_without_a_restart_and_a_broken_one_is_unready(
    data_file: Path,
) -> None:
    with client_for(config(data_file)) as client:
        assert client.get("/readiness").status_code == 200
        # A ConfigMap update swaps the mounted file: new inode, new content.
        replacement = data_file.with_suffix(".new")
        replacement.write_text(document(SERVERS[3:4]))
        os.replace(replacement, data_file)
        after = client.get("/v0.1/servers").json()
        data_file.write_text("{not json")
        broken = client.get("/v0.1/servers")
        ready = client.get("/readiness")
        health = client.get("/health")
    assert [i["server"]["name"] for i in after["servers"]] == ["io.github.example/github"]
    assert broken.status_code == 503
    assert "production" in broken.json()["detail"]
    assert ready.status_code == 503
    assert health.status_code == 200


def test_legacy_documents_are_refused_with_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "legacy.json"
    path.write_text(json.dumps({"version": "1.0.0", "servers": {"old": {"image": "x/y:1"}}}))
    with client_for(config(path)) as client:
        answer = client.get("/v0.1/servers")
    assert answer.status_code == 503
    assert "thv registry convert" in answer.json()["detail"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("sources:\n  - name: g\n    git: {repository: https://x}\n", "only file sources"),
        ("sources:\n  - name: k\n    kubernetes: {}\n", "got kubernetes"),
        ("sources: []\n", "sources"),
        (
            "sources:\n  - name: a\n    file: {path: /x}\nregistries:\n  - name: r\n    sources: [b]\n",
            "no source named 'b'",
        ),
        ("sources:\n  - name: a\n    file: {path: /x}\nauth: {mode: oauth}\n", "only anonymous"),
        (
            "sources:\n  - name: a\n    file: {path: /x}\n    format: toolhive\n",
            "thv registry convert",
        ),
    ],
)
def test_configs_it_cannot_serve_are_refused(text: str, expected: str) -> None:
    with pytest.raises(ConfigError, match=expected):
        parse_config(text)


def test_main_refuses_a_bad_config_with_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("sources:\n  - name: g\n    git: {repository: https://x}\n")
    assert main(["serve", "--config", str(path)]) == 1
    assert "only file sources" in capsys.readouterr().err


def test_thv_reads_the_served_api_as_its_registry(data_file: Path, tmp_path: Path) -> None:
    """The module as the pod runs it (uvicorn on a real port), read by ``thv``'s registry client."""
    config_path = tmp_path / "config.yaml"
    config_path.write_text(config(data_file))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    api = subprocess.Popen(
        [sys.executable, "-m", "toolhive_runtime_kubernetes.operator.registry_api", "serve",
         f"--config={config_path}", "--host=127.0.0.1", f"--port={port}"],
        stdout=subprocess.DEVNULL,
        stderr=(log := (tmp_path / "api.log").open("wb")),
    )  # fmt: skip
    home = tmp_path / "home"
    env = {
        **os.environ,
        **{f"XDG_{d}_HOME": str(home / d.lower()) for d in ("CONFIG", "DATA", "STATE", "CACHE")},
    }
    thv = [sys.executable, "-m", "toolhive"]
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                assert api.poll() is None, (tmp_path / "api.log").read_text()
                assert time.monotonic() < deadline, "the registry API did not listen"
                time.sleep(0.1)
        url = f"http://127.0.0.1:{port}"
        subprocess.run(
            [*thv, "config", "set-registry", url, "--allow-private-ip"],
            env=env, check=True, capture_output=True, timeout=120,
        )  # fmt: skip
        listing = subprocess.run(
            [*thv, "registry", "list", "--format", "json"],
            env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    finally:
        api.terminate()
        api.wait(timeout=10)
        log.close()
    assert listing.returncode == 0, listing.stderr
    names = sorted({row["name"] for row in json.loads(listing.stdout)})
    assert names == ["io.github.example/fetch", "io.github.example/github", "io.github.example/lab"]
