"""`thv upgrade check|apply` and `thv list --check-upgrades` end to end, on real runtimes.

No container registry is reachable: the locally built test image is tagged twice (``1.0.0`` and
``1.1.0``, the same image) and a local registry file (``thv config set-registry``) first offers the
older tag, then the newer one. A tag nobody built (``9.9.9``) is a candidate that cannot be pulled.
On the process runtime the entry is a PyPI package (mcp-server-time) at an older, then the current
release, installed from PyPI.
"""

from __future__ import annotations

import contextlib
import json
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import (
    ENGINE_SOCKETS,
    MCP_IMAGE,
    Thv,
    engine_available,
    process_runtime_available,
    require_or_skip,
)
from tests.mcp_client import call_tool
from tests.test_run_errors import one_line_error

META = "io.modelcontextprotocol.registry/publisher-provided"
SERVER = "io.github.upg-test/upg-time"
REPO = MCP_IMAGE.rsplit(":", 1)[0]
OLD, NEW, MISSING = f"{REPO}:1.0.0", f"{REPO}:1.1.0", f"{REPO}:9.9.9"
NO_NETWORK = {"network": {"outbound": {"insecure_allow_all": False}}}
HOST_CA = "/etc/ssl/certs/ca-certificates.crt"
PYTHON_BASE = "localhost/toolhive-test/python-base:bookworm"
#: What the newer entry declares besides: a defaulted variable and a secret one with a default.
NEW_ENV = [
    {"name": "NEW_FLAG", "description": "turns the new thing on", "default": "on"},
    {"name": "API_TOKEN", "isSecret": True, "default": "s3cret-default"},
]


def tag_test_image(engine: str) -> None:
    """``OLD`` and ``NEW`` as further tags of the test image (idempotent, no pull)."""
    import docker

    client = docker.DockerClient(base_url=f"unix://{ENGINE_SOCKETS[engine]}", timeout=30)
    try:
        image = client.images.get(MCP_IMAGE)
        for ref in (OLD, NEW):
            image.tag(REPO, ref.rsplit(":", 1)[1])
    finally:
        client.close()


def image_entry(image: str, env: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    package = {"registryType": "oci", "identifier": image, "transport": {"type": "stdio"}}
    if env:
        package["environmentVariables"] = env
    ext = {"args": ["mcp-server-time"], "tier": "Community", "permissions": NO_NETWORK}
    return {
        "name": SERVER,
        "description": "upgrade test entry",
        "version": "1.0.0",
        "packages": [package],
        "_meta": {META: {"io.github.stacklok": {image: ext}}},
    }


def package_entry(version: str) -> dict[str, Any]:
    package = {
        "registryType": "pypi",
        "identifier": "mcp-server-time",
        "version": version,
        "transport": {"type": "stdio"},
    }
    ext = {"tier": "Community", "permissions": NO_NETWORK}
    return {
        "name": SERVER,
        "description": "upgrade test entry",
        "version": version,
        "packages": [package],
        "_meta": {META: {"io.github.stacklok": {"mcp-server-time": ext}}},
    }


def write_registry(path: Path, entry: dict[str, Any]) -> None:
    path.write_text(json.dumps({"version": "1.0.0", "meta": {}, "data": {"servers": [entry]}}))


def exported(thv: Thv, name: str) -> dict[str, Any]:
    return dict(json.loads(thv("export", name, "-").stdout))


def status(thv: Thv, name: str) -> dict[str, Any]:
    return dict(json.loads(thv("status", name, "--format", "json").stdout))


def utc_time(url: str) -> None:
    assert json.loads(call_tool(url, "get_current_time", {"timezone": "UTC"}))["timezone"] == "UTC"


def wait_running(thv: Thv, name: str, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while (wl := status(thv, name))["status"] != "running":
        assert time.monotonic() < deadline, wl
        time.sleep(0.25)
    return wl


@pytest.fixture(params=["podman", "docker"])
def engine(request: pytest.FixtureRequest, thv: Thv, thv_env: dict[str, str]) -> str:
    name = str(request.param)
    if not engine_available(name):
        require_or_skip(f"{name} engine with {MCP_IMAGE}")
    tag_test_image(name)
    thv_env["TOOLHIVE_PODMAN_SOCKET"] = ENGINE_SOCKETS["podman"]
    return name


@pytest.mark.engine
@pytest.mark.timeout(600)
def test_an_engine_workload_is_checked_and_upgraded_to_the_newer_tag(
    engine: str, thv: Thv, tmp_path: Path
) -> None:
    registry = tmp_path / "registry.json"
    write_registry(registry, image_entry(OLD))
    thv("config", "set-registry", str(registry))
    name = f"upg-{engine}"
    thv("run", "upg-time", "--name", name, "--runtime", engine)
    assert "up-to-date" in thv("upgrade", "check").stdout

    write_registry(registry, image_entry(NEW, NEW_ENV))
    table = thv("upgrade", "check").stdout.splitlines()
    assert table[0].split() == ["NAME", "STATUS", "CURRENT", "CANDIDATE", "NEW-ENV", "POSTURE"]
    assert table[1].split() == [name, "upgrade-available", OLD, NEW, "2", "-"]
    [result] = json.loads(thv("upgrade", "check", "--format", "json").stdout)
    assert result == {
        "workload_name": name,
        "registry_server": SERVER,
        "status": "upgrade-available",
        "current_image": OLD,
        "candidate_image": NEW,
        "env_var_drift": {
            "added": [
                {"name": "NEW_FLAG", "description": "turns the new thing on",
                 "required": False, "default": "on"},
                {"name": "API_TOKEN", "required": False, "secret": True},
            ]
        },
    }  # fmt: skip
    detail = thv("upgrade", "check", name).stdout
    assert f"Candidate: {NEW}" in detail and "NEW_FLAG [default: on]" in detail
    assert "s3cret-default" not in detail
    listed = thv("list", "--check-upgrades").stdout.splitlines()
    assert listed[0].split()[-1] == "UPGRADE" and listed[1].split()[-1] == "upgrade-available"
    [row] = json.loads(thv("list", "--check-upgrades", "--format", "json").stdout)
    assert row["name"] == name and row["upgrade"]["status"] == "upgrade-available"

    before = exported(thv, name)
    dry = thv("upgrade", "apply", name, "--dry-run").stdout
    assert dry.startswith(f"Dry run: {name} would be upgraded.") and NEW in dry
    assert exported(thv, name) == before

    write_registry(registry, image_entry(MISSING))
    refused = thv("upgrade", "apply", name, "-y", check=False)
    one_line_error(refused, "could not be prepared")
    assert "not available locally" in refused.stderr
    assert exported(thv, name) == before and status(thv, name)["status"] == "running"
    utc_time(status(thv, name)["url"])

    write_registry(registry, image_entry(NEW, NEW_ENV))
    out = thv("upgrade", "apply", name, "-y", "-e", "EXTRA=1").stdout
    assert out.strip() == f"{name} upgraded to {NEW}"
    after = exported(thv, name)
    assert after["image"] == NEW
    assert after["env_vars"] == {"NEW_FLAG": "on", "API_TOKEN": "s3cret-default", "EXTRA": "1"}
    changed = {"image", "env_vars", "registry_url", "registry_api_url"}
    assert {k: v for k, v in after.items() if k not in changed} == {
        k: v for k, v in before.items() if k not in changed
    }
    wl = wait_running(thv, name)
    assert wl["package"] == NEW and wl["port"] == before["port"]
    utc_time(wl["url"])
    assert "up-to-date" in thv("upgrade", "check", name).stdout
    assert thv("upgrade", "apply", name, "-y").stdout.strip() == f"{name} is already up to date."


@pytest.mark.engine
def test_stopped_workloads_are_checked_and_unknown_names_fail(
    engine: str, thv: Thv, thv_env: dict[str, str], tmp_path: Path
) -> None:
    thv_env["TOOLHIVE_SECRETS_PROVIDER"] = "environment"
    thv_env["TOOLHIVE_SECRET_UPG_TOKEN"] = "token-from-the-environment"
    registry = tmp_path / "registry.json"
    write_registry(registry, image_entry(OLD))
    thv("config", "set-registry", str(registry))
    thv("run", "upg-time", "--name", "upg-stopped", "--runtime", engine)
    plain = ["--name", "upg-plain", "--runtime", engine, "--transport", "stdio"]
    thv("run", MCP_IMAGE, *plain, "--", "mcp-server-time")
    thv("stop", "upg-stopped")
    write_registry(registry, image_entry(NEW, NEW_ENV))
    rows = {
        line.split()[0]: line.split()[1] for line in thv("upgrade", "check").stdout.splitlines()
    }
    assert rows == {
        "NAME": "STATUS",
        "upg-plain": "not-registry-sourced",
        "upg-stopped": "upgrade-available",
    }
    message = thv("upgrade", "apply", "upg-plain", "-y").stdout.strip()
    assert message == "upg-plain was not created from a registry entry; no upgrade can be applied."
    one_line_error(thv("upgrade", "check", "nope", check=False), "nope")
    one_line_error(thv("upgrade", "apply", "nope", "-y", check=False), "nope")
    refused = thv("upgrade", "apply", "upg-stopped", "-y", "--image-verification", "enabled",
                  check=False)  # fmt: skip
    one_line_error(refused, "no provenance information")
    assert status(thv, "upg-stopped")["status"] == "stopped"
    unreadable = thv("upgrade", "apply", "upg-stopped", "-y", "--ca-cert", str(tmp_path / "none"),
                     check=False)  # fmt: skip
    one_line_error(unreadable, "cannot read CA certificate")
    not_a_build = thv("upgrade", "apply", "upg-stopped", "-y", "--ca-cert", HOST_CA, check=False)
    one_line_error(not_a_build, "--ca-cert applies to uvx://")
    missing = thv("upgrade", "apply", "upg-stopped", "-y", "--secret", "NOPE,target=API_TOKEN",
                  check=False)  # fmt: skip
    one_line_error(missing, "secret 'NOPE'")
    # An upgrade recreates the workload on the new image: it ends up running, as ToolHive's.
    thv("upgrade", "apply", "upg-stopped", "-y", "--secret", "UPG_TOKEN,target=API_TOKEN")
    assert wait_running(thv, "upg-stopped")["package"] == NEW
    after = exported(thv, "upg-stopped")
    assert after["secrets"] == ["UPG_TOKEN,target=API_TOKEN"]
    assert after["env_vars"] == {"NEW_FLAG": "on"}  # API_TOKEN comes from the secret


def test_list_check_upgrades_is_refused_with_the_mcpservers_format(thv: Thv) -> None:
    proc = thv("list", "--check-upgrades", "--format", "mcpservers", check=False)
    assert proc.returncode == 2 and "--check-upgrades is not supported" in proc.stderr


@pytest.mark.process_runtime
@pytest.mark.timeout(900)
def test_a_package_workload_on_the_process_runtime_is_upgraded_to_the_newer_release(
    thv: Thv, tmp_path: Path
) -> None:
    if not process_runtime_available():
        require_or_skip("bubblewrap and uv for the process runtime")
    registry = tmp_path / "registry.json"
    write_registry(registry, package_entry("2026.10.10"))
    thv("config", "set-registry", str(registry))
    name = "upg-package"
    thv("run", "upg-time", "--name", name, "--runtime", "process", timeout=600)
    before = exported(thv, name)
    assert before["image"] == "uvx://mcp-server-time@2026.10.10"
    write_registry(registry, package_entry("2026.10.19"))
    [result] = json.loads(thv("upgrade", "check", name, "--format", "json").stdout)
    assert (result["status"], result["candidate_image"]) == (
        "upgrade-available",
        "uvx://mcp-server-time@2026.10.19",
    )
    out = thv("upgrade", "apply", name, "--yes", timeout=600).stdout
    assert out.strip() == f"{name} upgraded to uvx://mcp-server-time@2026.10.19"
    after = exported(thv, name)
    assert after["image"] == "uvx://mcp-server-time@2026.10.19"
    assert after["permission_profile"] == before["permission_profile"]
    wl = wait_running(thv, name)
    assert wl["port"] == before["port"]
    utc_time(wl["url"])


@pytest.mark.engine
@pytest.mark.timeout(900)
def test_a_package_workload_on_an_engine_is_rebuilt_from_the_newer_release(
    thv: Thv, thv_env: dict[str, str], tmp_path: Path
) -> None:
    """On Podman a package runs as an image built from it: the package source is compared, and
    the upgrade builds the newer release (trusting --ca-cert) before the workload restarts."""
    import docker

    if not engine_available("podman"):
        require_or_skip(f"podman engine with {MCP_IMAGE}")
    thv_env["TOOLHIVE_PODMAN_SOCKET"] = ENGINE_SOCKETS["podman"]
    client = docker.DockerClient(base_url=f"unix://{ENGINE_SOCKETS['podman']}", timeout=60)
    try:
        client.images.get(PYTHON_BASE)
    except docker.errors.ImageNotFound:
        client.close()
        require_or_skip(f"{PYTHON_BASE} on podman")
    thv("config", "set-runtime-config", "uvx", "--builder-image", PYTHON_BASE,
        "--runtime-image", PYTHON_BASE)  # fmt: skip
    registry = tmp_path / "registry.json"
    write_registry(registry, package_entry("2026.10.10"))
    thv("config", "set-registry", str(registry))
    name, images = "upg-built", []
    try:
        thv("run", "upg-time", "--name", name, "--runtime", "podman", "--ca-cert", HOST_CA,
            timeout=600)  # fmt: skip
        before = exported(thv, name)
        images.append(before["image"])
        assert before["image"].startswith("toolhivelocal/uvx-")
        write_registry(registry, package_entry("2026.10.19"))
        [result] = json.loads(thv("upgrade", "check", name, "--format", "json").stdout)
        assert (result["status"], result["current_image"], result["candidate_image"]) == (
            "upgrade-available",
            "uvx://mcp-server-time@2026.10.10",
            "uvx://mcp-server-time@2026.10.19",
        )
        thv("upgrade", "apply", name, "-y", "--ca-cert", HOST_CA, timeout=600)
        after = exported(thv, name)
        images.append(after["image"])
        assert after["image"].startswith("toolhivelocal/uvx-") and after["image"] != before["image"]
        assert after["runtime_config"]["source"] == "uvx://mcp-server-time@2026.10.19"
        assert after["runtime_config"]["ca_cert_path"] == HOST_CA
        wl = wait_running(thv, name)
        assert wl["port"] == before["port"]
        utc_time(wl["url"])
        assert "up-to-date" in thv("upgrade", "check", name).stdout
    finally:
        thv("rm", name, check=False)
        for image in images:
            with contextlib.suppress(docker.errors.APIError):
                client.images.remove(image)
        client.close()
