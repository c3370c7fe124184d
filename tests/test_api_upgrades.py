"""The upgrade endpoints through a real ``thv serve``: ``GET /workloads/upgrade-check``,
``GET /workloads/{name}/upgrade-check`` and ``POST /workloads/{name}/upgrade`` on Podman, with the
retagged test image and a local registry file (see tests/test_cli_upgrades.py): 200s, the 400/404
answers, a 422 that leaves the workload running untouched, and a 500 once the restart on a broken
candidate had begun."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from toolhive.testing.api import api_server

from tests.conftest import ENGINE_SOCKETS, MCP_IMAGE, Thv, engine_available, require_or_skip
from tests.test_cli_upgrades import (
    MISSING,
    NEW,
    NEW_ENV,
    OLD,
    REPO,
    SERVER,
    image_entry,
    tag_test_image,
    utc_time,
    write_registry,
)

WORKLOADS = "/api/v1beta/workloads"
CHECK_ALL = f"{WORKLOADS}/upgrade-check"
#: A newer tag of the test repository that is the busybox image: present, but the server cannot
#: start in it (no mcp-server-time there).
BROKEN = f"{REPO}:2.0.0-broken"
BUSYBOX = "localhost/toolhive-test/busybox:latest"


def wait_status(api: httpx.Client, name: str, wanted: str, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        answer = api.get(f"{WORKLOADS}/{name}/status")
        if answer.status_code == 200 and answer.json()["status"] == wanted:
            return dict(api.get(WORKLOADS, params={"all": "true"}).json()["workloads"][0])
        assert time.monotonic() < deadline, f"{name}: {answer.text}, not {wanted}"
        time.sleep(0.25)


def export(api: httpx.Client, name: str) -> dict[str, Any]:
    answer = api.get(f"{WORKLOADS}/{name}/export")
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


@pytest.fixture
def podman_api(thv: Thv, thv_env: dict[str, str], tmp_path: Path) -> Iterator[httpx.Client]:
    if not engine_available("podman"):
        require_or_skip(f"podman engine with {MCP_IMAGE}")
    tag_test_image("podman")
    thv_env["TOOLHIVE_RUNTIME"] = "podman"
    thv_env["TOOLHIVE_PODMAN_SOCKET"] = ENGINE_SOCKETS["podman"]
    write_registry(tmp_path / "registry.json", image_entry(OLD))
    thv("config", "set-registry", str(tmp_path / "registry.json"))
    with api_server(thv_env) as server:
        yield server.client


def test_unknown_workloads_and_groups_are_404_and_invalid_groups_400(thv_env: dict[str, str]):
    with api_server(thv_env) as server:
        api = server.client
        # Not taken for a workload named "upgrade-check": an empty list of results.
        assert api.get(CHECK_ALL).json() == {"results": []}
        assert api.get(CHECK_ALL, params={"group": "default", "all": "true"}).status_code == 200
        missing_group = api.get(CHECK_ALL, params={"group": "nope"})
        assert missing_group.status_code == 404 and "nope" in missing_group.json()["message"]
        bad_group = api.get(CHECK_ALL, params={"group": "Bad Group!"})
        assert (bad_group.status_code, bad_group.json()["field"]) == (400, "group")
        assert api.get(f"{WORKLOADS}/nope/upgrade-check").status_code == 404
        assert api.post(f"{WORKLOADS}/nope/upgrade", json={}).status_code == 404
        assert api.post(f"{WORKLOADS}/nope/upgrade").status_code == 404  # no body: none needed
        bad_secret = api.post(f"{WORKLOADS}/nope/upgrade", json={"secrets": ["no-target"]})
        assert (bad_secret.status_code, bad_secret.json()["field"]) == (400, "secrets.0")
        unknown_field = api.post(f"{WORKLOADS}/nope/upgrade", json={"image": "x"})
        assert unknown_field.status_code == 400


@pytest.mark.engine
@pytest.mark.timeout(600)
def test_a_registry_workload_is_checked_upgraded_and_refused_as_documented(
    podman_api: httpx.Client, tmp_path: Path
) -> None:
    api, registry = podman_api, tmp_path / "registry.json"
    created = api.post(WORKLOADS, json={"registry": "default", "server": SERVER, "name": "upg"})
    assert created.status_code == 201, created.text
    wait_status(api, "upg", "running")
    up_to_date = api.get(CHECK_ALL).json()["results"]
    assert [(r["workload_name"], r["status"]) for r in up_to_date] == [("upg", "up-to-date")]

    write_registry(registry, image_entry(NEW, NEW_ENV))
    one = api.get(f"{WORKLOADS}/upg/upgrade-check")
    assert one.status_code == 200
    result = one.json()["result"]
    assert (result["status"], result["current_image"], result["candidate_image"]) == (
        "upgrade-available",
        OLD,
        NEW,
    )
    assert "s3cret-default" not in one.text
    assert api.get(CHECK_ALL, params={"group": "default"}).json()["results"] == [result]

    before = export(api, "upg")
    write_registry(registry, image_entry(MISSING))
    token = "tok-3f9a-not-to-be-echoed"
    refused = api.post(f"{WORKLOADS}/upg/upgrade", json={"env": {"TOKEN": token}})
    assert refused.status_code == 422, refused.text
    assert "could not be prepared" in refused.json()["message"] and token not in refused.text
    assert export(api, "upg") == before
    utc_time(wait_status(api, "upg", "running")["url"])

    write_registry(registry, image_entry(NEW, NEW_ENV))
    upgraded = api.post(
        f"{WORKLOADS}/upg/upgrade", json={"env": {"EXTRA": "1"}, "secrets": []}, timeout=300
    )
    assert upgraded.status_code == 200, upgraded.text
    assert upgraded.json()["result"] == result  # the check that drove it
    after = export(api, "upg")
    assert after["image"] == NEW and after["env_vars"]["EXTRA"] == "1"
    assert after["port"] == before["port"] and after["cmd_args"] == before["cmd_args"]
    row = wait_status(api, "upg", "running")
    assert row["package"] == NEW
    utc_time(row["url"])
    again = api.post(f"{WORKLOADS}/upg/upgrade", timeout=300)
    assert (again.status_code, again.json()["result"]["status"]) == (200, "up-to-date")


@pytest.mark.engine
@pytest.mark.timeout(600)
def test_a_failure_after_the_restart_began_is_a_500(
    podman_api: httpx.Client, thv: Thv, tmp_path: Path
) -> None:
    import docker

    client = docker.DockerClient(base_url=f"unix://{ENGINE_SOCKETS['podman']}", timeout=30)
    try:
        client.images.get(BUSYBOX).tag(REPO, BROKEN.rsplit(":", 1)[1])
        api = podman_api
        created = api.post(WORKLOADS, json={"registry": "default", "server": SERVER, "name": "brk"})
        assert created.status_code == 201, created.text
        wait_status(api, "brk", "running")
        write_registry(tmp_path / "registry.json", image_entry(BROKEN))
        failed = api.post(f"{WORKLOADS}/brk/upgrade", timeout=300)
        if failed.status_code != 500:  # say why: the status and the supervisor's log
            status = api.get(f"{WORKLOADS}/brk/status").text
            log = api.get(f"{WORKLOADS}/brk/proxy-logs").text[-4000:]
            pytest.fail(f"{failed.status_code} {failed.text}\nstatus: {status}\nproxy log:\n{log}")
        assert "after the recreate began" in failed.json()["message"]
        # No rollback: the workload is on the new configuration, and not running.
        assert export(api, "brk")["image"] == BROKEN
        assert api.get(f"{WORKLOADS}/brk/status").json()["status"] != "running"
    finally:
        thv("rm", "brk", check=False)  # its container holds the tag
        try:
            client.images.remove(BROKEN)
        finally:
            client.close()


def test_the_result_schema_in_the_document_is_gos_check_result() -> None:
    document = json.loads((Path(__file__).parents[1] / "docs/api/openapi.json").read_text())
    schema = document["components"]["schemas"]["CheckResult"]
    assert sorted(schema["properties"]) == sorted(
        [
            "workload_name",
            "registry_server",
            "status",
            "current_image",
            "candidate_image",
            "reason",
            "env_var_drift",
            "config_drift",
        ]
    )
    assert schema["required"] == ["workload_name", "status"]
