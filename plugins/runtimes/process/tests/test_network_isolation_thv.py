"""Network isolation through the real ``thv`` on the process runtime: an MCP server in an isolated
sandbox fetches from an outside network namespace, with the profile from a ``--permission-profile``
file or from a RunConfig (``--from-config``); an unenforceable profile starts nothing; ``thv rm``
leaves no proxy behind.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from outside_net import Outside, available, outside_network
from toolhive.testing.workloads import ThvConsole, thv_console
from toolhive_runtime_process import procfs

pytestmark = pytest.mark.process_runtime

#: An MCP server whose tools fetch a URL (through the environment's proxy) and resolve a name.
SERVER = textwrap.dedent(
    """
    import os, socket, ssl, sys, urllib.error, urllib.request
    from mcp.server.mcpserver import MCPServer
    from mcp.server.transport_security import TransportSecuritySettings

    tls = ssl.create_default_context(cafile=sys.argv[1])
    opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=tls))
    server = MCPServer(name="net-probe")

    @server.tool()
    def fetch(url: str) -> str:
        try:
            with opener.open(url, timeout=10) as response:
                return f"{response.status} {response.read().decode()}"
        except urllib.error.HTTPError as exc:
            return f"refused {exc.code} {exc.read().decode()}"
        except Exception as exc:
            return f"failed {type(exc).__name__}: {exc}"

    @server.tool()
    def resolve(name: str) -> str:
        try:
            return socket.getaddrinfo(name, 443)[0][4][0]
        except OSError as exc:
            return f"failed {type(exc).__name__}"

    security = TransportSecuritySettings(enable_dns_rebinding_protection=False)
    server.run("streamable-http", host=os.environ["MCP_HOST"], port=int(os.environ["MCP_PORT"]),
               streamable_http_path="/mcp", transport_security=security)
    """
)


@pytest.fixture(scope="module")
def outside(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Outside]:
    why = available()
    if why:
        pytest.skip(why)
    with outside_network(tmp_path_factory.mktemp("outside")) as net:
        yield net


@pytest.fixture
def thv(tmp_path: Path) -> Iterator[ThvConsole]:
    home = tmp_path / "home"
    env = {
        **os.environ,
        "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_DATA_HOME": str(home / "data"),
        "XDG_STATE_HOME": str(home / "state"),
    }
    with thv_console(env) as runner:
        yield runner


def profile_json(outside: Outside) -> dict[str, Any]:
    return {
        "name": "outside-only",
        "network": {
            "outbound": {"allow_host": [outside.allowed], "allow_port": [8443]},
        },
    }


def server_files(outside: Outside, tmp_path: Path) -> tuple[Path, Path]:
    server = tmp_path / "net_probe.py"
    server.write_text(SERVER)
    ca = tmp_path / "ca.pem"
    ca.write_bytes(outside.ca_file.read_bytes())
    return server, ca


def call(url: str, tool: str, arguments: dict[str, Any]) -> str:
    async def go() -> str:
        with anyio.fail_after(60):
            async with Client(url) as client:
                result = await client.call_tool(tool, arguments)
        return "".join(c.text for c in result.content if c.type == "text")

    return anyio.run(go)


def url_of(output: str) -> str:
    found = re.search(r"(http://127\.0\.0\.1:\d+/mcp)", output)
    assert found, output
    return found.group(1)


def check_isolation(url: str, outside: Outside) -> None:
    assert call(url, "fetch", {"url": f"https://{outside.allowed}:8443/"}).startswith(
        "200 outside 8443"
    )
    denied_host = call(url, "fetch", {"url": f"https://{outside.denied}:8443/"})
    assert "403" in denied_host, denied_host
    denied_port = call(url, "fetch", {"url": f"http://{outside.allowed}:8080/"})
    assert denied_port.startswith("refused 403") and "allow_port" in denied_port, denied_port
    assert call(url, "resolve", {"name": outside.denied}).startswith("failed gaierror")


def egress_of(thv: ThvConsole, name: str) -> tuple[int, int, str, str]:
    record = json.loads(
        Path(thv.env["XDG_DATA_HOME"], "toolhive/processes", f"{name}.json").read_text()
    )
    return record["egress_pid"], record["egress_start_ticks"], record["boot_id"], record["net_dir"]


def test_thv_run_with_a_profile_file_enforces_it_and_rm_removes_the_proxy(
    thv: ThvConsole, outside: Outside, tmp_path: Path
) -> None:
    server, ca = server_files(outside, tmp_path)
    prof = tmp_path / "profile.json"
    prof.write_text(json.dumps(profile_json(outside)))
    out = thv(
        "run", "--name", "netprobe", "--runtime", "process", "--transport", "streamable-http",
        "--permission-profile", str(prof), sys.executable, "--", str(server), str(ca),
    )  # fmt: skip
    check_isolation(url_of(out), outside)
    status = thv("status", "netprobe")
    assert f"isolated: only {outside.allowed} on 8443, through the egress proxy" in status, status
    pid, ticks, boot, net_dir = egress_of(thv, "netprobe")
    assert procfs.is_running(pid, ticks, boot)
    logs = thv("logs", "netprobe")
    assert "[thv-egress] refused" in logs and outside.denied in logs
    assert (
        f"[thv-sandbox] network: isolated: egress only via the proxy to {outside.allowed}" in logs
    )
    thv("rm", "netprobe")
    assert not procfs.is_running(pid, ticks, boot)
    assert not Path(net_dir).exists()


def test_a_runconfig_profile_is_enforced_the_same_way(
    thv: ThvConsole, outside: Outside, tmp_path: Path
) -> None:
    server, ca = server_files(outside, tmp_path)
    thv(
        "run", "--name", "fromfile", "--runtime", "process", "--transport", "streamable-http",
        sys.executable, "--", str(server), str(ca),
    )  # fmt: skip
    config = json.loads(thv("export", "fromfile", "-"))
    thv("rm", "fromfile")
    config |= {"name": "fromconfig", "base_name": "fromconfig", "container_name": "fromconfig"}
    config |= {"port": 0, "permission_profile": profile_json(outside)}
    path = tmp_path / "fromconfig.json"
    path.write_text(json.dumps(config))
    out = thv("run", "--from-config", str(path))
    check_isolation(url_of(out), outside)


def test_an_unenforceable_profile_is_refused_and_nothing_starts(
    thv: ThvConsole, tmp_path: Path
) -> None:
    prof = tmp_path / "host.json"
    prof.write_text(
        json.dumps({"network": {"mode": "host", "outbound": {"allow_host": ["x.test"]}}})
    )
    result = thv.run(
        "run", "--name", "hostmode", "--runtime", "process", "--permission-profile", str(prof),
        sys.executable, "--", "-c", "pass",
    )  # fmt: skip
    assert result.returncode != 0
    assert "could not be enforced" in result.stderr + result.stdout
    assert "hostmode" not in thv("list", "--all")


@pytest.mark.skipif(
    importlib.util.find_spec("toolhive_registry_remote") is None,
    reason="a local registry file is read by toolhive-registry-remote (runs in the whole suite)",
)
def test_a_registry_entrys_profile_holds_for_a_server_no_one_here_wrote(
    thv: ThvConsole, outside: Outside, tmp_path: Path
) -> None:
    """mcp-server-fetch from PyPI, run by its registry entry whose permissions allow one host."""
    meta = "io.modelcontextprotocol.registry/publisher-provided"
    permissions = {"network": {"outbound": {"allow_host": [outside.allowed], "allow_port": [8080]}}}
    entry = {
        "name": "io.github.np-test/np-fetch",
        "description": "fetch, allowed one host",
        "version": "1.0.0",
        "packages": [
            {
                "registryType": "pypi",
                "identifier": "mcp-server-fetch",
                "transport": {"type": "stdio"},
            }
        ],
        "_meta": {
            meta: {
                "io.github.stacklok": {
                    "mcp-server-fetch": {
                        "args": ["--ignore-robots-txt"],
                        "tier": "Community",
                        "permissions": permissions,
                    }
                }
            }
        },
    }
    registry = tmp_path / "registry.json"
    registry.write_text(json.dumps({"version": "1.0.0", "meta": {}, "data": {"servers": [entry]}}))
    thv("config", "set-registry", str(registry))
    thv.timeout = 540  # the first run installs mcp-server-fetch from PyPI
    out = thv("run", "np-fetch", "--name", "npfetch", "--runtime", "process")
    url = re.search(r"(http://127\.0\.0\.1:\d+/mcp)", out)
    assert url, out
    allowed = call(url.group(1), "fetch", {"url": f"http://{outside.allowed}:8080/", "raw": True})
    assert "outside 8080" in allowed, allowed
    denied = call(url.group(1), "fetch", {"url": f"http://{outside.denied}:8080/", "raw": True})
    assert "outside 8080" not in denied and "403" in denied, denied
    config = json.loads(thv("export", "npfetch", "-"))
    assert config["permission_profile"]["network"]["outbound"]["allow_host"] == [outside.allowed]
