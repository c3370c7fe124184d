"""`thv run <registry name>` end to end on real Podman and Docker.

No container registry is reachable here, so a test-only local registry file (set with
`thv config set-registry`) points at the locally built test image: a stdio entry
(mcp-server-time) and a streamable-HTTP entry (the echo fixture on its target port). A catalog
entry whose image cannot be pulled fails with the runtime's "not available" error.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import ENGINE_SOCKETS, MCP_IMAGE, Thv, engine_available, require_or_skip
from tests.mcp_client import call_tool
from tests.test_run_errors import one_line_error, state_files

pytestmark = pytest.mark.engine
META = "io.modelcontextprotocol.registry/publisher-provided"


def entry(name: str, transport: dict, args: list[str], **ext) -> dict:
    return {
        "name": name,
        "description": f"test entry {name}",
        "version": "1.0.0",
        "packages": [{"registryType": "oci", "identifier": MCP_IMAGE, "transport": transport}],
        "_meta": {
            META: {"io.github.stacklok": {MCP_IMAGE: {"args": args, "tier": "Community", **ext}}}
        },
    }


NO_NETWORK = {"network": {"outbound": {"insecure_allow_all": False}}}


@pytest.fixture(params=["podman", "docker"])
def engine(request, thv: Thv, thv_env, tmp_path: Path) -> str:
    name = request.param
    if not engine_available(name):
        require_or_skip(f"{name} engine with {MCP_IMAGE}")
    thv_env["TOOLHIVE_PODMAN_SOCKET"] = ENGINE_SOCKETS["podman"]
    registry = tmp_path / "test-registry.json"
    servers = [
        entry(
            "io.github.rega-test/rega-time",
            {"type": "stdio"},
            ["mcp-server-time"],
            permissions=NO_NETWORK,
        ),
        entry(
            "io.github.rega-test/rega-echo",
            {"type": "streamable-http", "url": "http://localhost:8080/mcp"},
            ["python", "/opt/fixtures/echo_server.py", "streamable-http"],
        ),
    ]
    registry.write_text(json.dumps({"version": "1.0.0", "meta": {}, "data": {"servers": servers}}))
    thv("config", "set-registry", str(registry))
    return name


def status(thv: Thv, name: str) -> dict:
    return json.loads(thv("status", name, "--format", "json").stdout)


def test_run_stdio_entry_by_short_name(engine: str, thv: Thv, tmp_path: Path):
    name = f"rega-time-{engine}"
    out = thv("run", "rega-time", "--name", name, "--runtime", engine).stdout
    wl = status(thv, name)
    assert wl["status"] == "running" and wl["url"] in out
    text = call_tool(wl["url"], "get_current_time", {"timezone": "UTC"})
    assert json.loads(text)["timezone"] == "UTC"
    exported = tmp_path / "exported.json"
    thv("export", name, str(exported))
    config = json.loads(exported.read_text())
    assert config["registry_server_name"] == "io.github.rega-test/rega-time"
    assert config["registry_url"] == str(tmp_path / "test-registry.json")
    assert (config["image"], config["transport"], config["cmd_args"]) == (
        MCP_IMAGE,
        "stdio",
        ["mcp-server-time"],
    )
    assert config["permission_profile"]["network"]["outbound"]["insecure_allow_all"] is False


def test_run_streamable_http_entry_by_full_name(engine: str, thv: Thv, tmp_path: Path):
    name = f"rega-echo-{engine}"
    thv("run", "io.github.rega-test/rega-echo", "--name", name, "--runtime", engine)
    wl = status(thv, name)
    assert wl["status"] == "running"
    assert call_tool(wl["url"], "echo", {"text": "from the registry"}) == "from the registry"
    exported = tmp_path / "echo.json"
    thv("export", name, str(exported))
    config = json.loads(exported.read_text())
    assert (config["transport"], config["target_port"]) == ("streamable-http", 8080)


def test_catalog_image_not_available(engine: str, thv: Thv, thv_env):
    thv("config", "unset-registry")  # back to the built-in catalog
    # playwright lists its image first (the npm package lacks the browser): no registry here.
    name = f"rega-missing-{engine}"
    proc = thv("run", "playwright", "--name", name, "--runtime", engine, check=False)
    one_line_error(proc, "mcr.microsoft.com/playwright/mcp:latest")
    assert "not available" in proc.stderr
    assert state_files(thv_env) == []


@pytest.mark.timeout(600)
def test_catalog_package_entry_runs_its_pinned_release(thv: Thv, tmp_path: Path):
    """The built-in `time` entry lists the PyPI release first: `thv run time` runs
    uvx://mcp-server-time at the pinned version (fetched from PyPI) in the bubblewrap sandbox,
    under the entry's no-network profile, and the server answers through the proxy."""
    if shutil.which("bwrap") is None:
        require_or_skip("bubblewrap (bwrap) for the process runtime")
    thv("config", "unset-registry")
    name = "rega-catalog-time"
    thv("run", "time", "--name", name, "--runtime", "process", timeout=540)
    wl = status(thv, name)
    assert wl["status"] == "running"
    text = call_tool(wl["url"], "convert_time", {"source_timezone": "UTC", "time": "12:00",
                                                 "target_timezone": "Asia/Tokyo"})  # fmt: skip
    result = json.loads(text)
    assert result["time_difference"] == "+9.0h" and result["target"]["datetime"].endswith(
        "T21:00:00+09:00"
    )
    exported = tmp_path / "time.json"
    thv("export", name, str(exported))
    config = json.loads(exported.read_text())
    assert config["image"] == "uvx://mcp-server-time@2026.10.19"
    assert config["registry_server_name"] == "io.github.stacklok/time"
    assert config["permission_profile"]["network"]["outbound"]["insecure_allow_all"] is False
