"""Network isolation on Podman and Docker, proven by packets (issue 15, item 1).

Each engine gets the same matrix. The test starts its own "outside" HTTP/HTTPS server in a
container on the engine's bridge network (never an address outside this machine), gives it two
names that resolve **only through /etc/hosts** on the host side (``thv`` runs in a private mount
namespace whose /etc/hosts has them, so the machine's file is untouched), and runs a real ``thv
run`` with a profile allowing one of the names on ports 8080 and 8443. A probe executed inside the
MCP container then tries, through the proxy the workload is given and around it:

* the allowed host on an allowed port, over HTTP and over HTTPS (``CONNECT``) → reaches the server;
* the allowed host on a denied port (HTTP and ``CONNECT``), the denied name (which resolves to the
  very same server), the server's IP literal → refused by the proxy;
* a raw TCP connection to the server's IP, bypassing the proxy → no route;
* DNS: the allowed name resolves (to the address the host resolved), the denied one does not;
* the engine's gateway (a listener the test binds on the host's bridge address) → refused, and
  reachable with ``--allow-docker-gateway``.

Then: ``thv list`` shows no sidecar; ``thv rm`` leaves no container, volume or network; a profile
the runtime cannot enforce (isolation with a host network) fails before anything is created; 20
deploy/remove cycles leave nothing behind; and the added start-up time is printed.
"""

from __future__ import annotations

import contextlib
import http.server
import ipaddress
import json
import os
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import engine_checks
from tests.conftest import ENGINE_SOCKETS, MCP_IMAGE, Thv

pytestmark = pytest.mark.engine

PYTHON_BASE = "localhost/toolhive-test/python-base:bookworm"
ENGINES = ["podman", "docker"]
ECHO = ["python", "/opt/fixtures/echo_server.py", "stdio"]

#: The outside server: HTTP on 8080 and 9090, HTTPS on 8443; each answers "outside-<port>".
OUTSIDE = r"""
import http.server, ssl, threading
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = f"outside-{self.server.server_address[1]}".encode()
        self.send_response(200); self.send_header("Content-Length", str(len(body)))
        self.end_headers(); self.wfile.write(body)
    def log_message(self, *a): pass
def serve(port, tls=False):
    srv = http.server.ThreadingHTTPServer(("0.0.0.0", port), H)
    if tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain("/certs/cert.pem", "/certs/key.pem")
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    srv.serve_forever()
for args in ((9090,), (8443, True)):
    threading.Thread(target=serve, args=args, daemon=True).start()
print("outside ready", flush=True)
serve(8080)
"""

#: Runs inside the MCP container (its environment has HTTP(S)_PROXY): one line of JSON results.
PROBE = r"""
import json, socket, ssl, sys, urllib.request, urllib.error
a = json.loads(sys.argv[1])
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=ctx))
def get(url):
    try:
        with opener.open(url, timeout=10) as r:
            return "ok:" + r.read().decode()
    except urllib.error.HTTPError as e:
        return f"http:{e.code}"
    except Exception as e:
        return f"err:{e}"
def tcp(host, port):
    s = socket.socket(); s.settimeout(3)
    try:
        s.connect((host, port)); return "ok:connected"
    except Exception as e:
        return f"err:{e}"
    finally:
        s.close()
def dns(name):
    try:
        return "ok:" + socket.getaddrinfo(name, 80, socket.AF_INET)[0][4][0]
    except Exception as e:
        return f"err:{e}"
A, D, S, IP = a["allowed"], a["denied"], a["suffix"], a["ip"]
GW, GP = a["gateway"], a["gateway_port"]
print(json.dumps({
    "http_allowed": get(f"http://{A}:8080/"),
    "https_allowed": get(f"https://{A}:8443/"),
    "http_domain_entry": get(f"http://{S}:8080/"),
    "http_denied_port": get(f"http://{A}:9090/"),
    "connect_denied_port": get(f"https://{A}:9090/"),
    "http_denied_host": get(f"http://{D}:8080/"),
    "connect_denied_host": get(f"https://{D}:8443/"),
    "http_ip_literal": get(f"http://{IP}:8080/"),
    "raw_tcp": tcp(IP, 8080),
    "dns_allowed": dns(A),
    "dns_denied": dns(D),
    "gateway_proxy": get(f"http://{GW}:{GP}/"),
    "gateway_raw": tcp(GW, GP),
}))
"""


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> Iterator[tuple[str, Any]]:
    with engine_checks.engine_client(request.param, (MCP_IMAGE, PYTHON_BASE)) as client:
        yield request.param, client


@pytest.fixture
def iso_env(thv_env: dict[str, str], engine: tuple[str, Any]) -> dict[str, str]:
    name, _client = engine
    thv_env["TOOLHIVE_RUNTIME"] = name
    thv_env["TOOLHIVE_PODMAN_SOCKET"] = ENGINE_SOCKETS["podman"]
    # The sidecar image is built on first use from the Debian base the tests already have.
    thv_env["TOOLHIVE_EGRESS_BASE_IMAGE"] = PYTHON_BASE
    return thv_env


def gateway_ip(client: Any) -> str:
    for network in ("bridge", "podman"):
        with contextlib.suppress(Exception):
            for config in client.api.inspect_network(network)["IPAM"]["Config"] or []:
                if config.get("Gateway"):
                    return str(config["Gateway"])
                # dockerd may drop Gateway from the IPAM config: the bridge has the first address.
                return str(next(ipaddress.ip_network(config["Subnet"], strict=False).hosts()))
    raise AssertionError("no bridge gateway found")


@contextlib.contextmanager
def outside_server(client: Any, tmp_path: Path) -> Iterator[str]:
    """The outside HTTP/HTTPS server in a container on the bridge network; yields its IP."""
    certs = tmp_path / "certs"
    certs.mkdir()
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=outside", "-keyout", str(certs / "key.pem"), "-out", str(certs / "cert.pem")],
        check=True, capture_output=True,
    )  # fmt: skip
    os.chmod(certs / "key.pem", 0o644)
    container = client.containers.run(
        PYTHON_BASE,
        ["python3", "-u", "-c", OUTSIDE],
        name=f"thv-outside-{uuid.uuid4().hex[:8]}",
        detach=True,
        volumes={str(certs): {"bind": "/certs", "mode": "ro"}},
        security_opt=["label=disable"],
    )
    try:
        deadline = time.monotonic() + 30
        while b"outside ready" not in container.logs():
            assert time.monotonic() < deadline, container.logs()
            time.sleep(0.1)
        container.reload()
        networks = container.attrs["NetworkSettings"]["Networks"]
        ip = next(n["IPAddress"] for n in networks.values() if n.get("IPAddress"))
        yield str(ip)
    finally:
        container.remove(force=True)


@contextlib.contextmanager
def gateway_listener(address: str) -> Iterator[int]:
    """An HTTP server on the host's bridge address (the engine's gateway), answering "gateway-ok"."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "10")
            self.end_headers()
            self.wfile.write(b"gateway-ok")

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer((address, 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


def thv_with_hosts(
    thv: Thv, hosts: dict[str, str], tmp_path: Path, *args: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """``thv ARGS`` in a private mount namespace whose /etc/hosts also maps ``hosts`` (the
    detached supervisor it starts inherits it), so these names resolve only on "the host side"."""
    hosts_file = tmp_path / f"hosts-{uuid.uuid4().hex[:6]}"
    extra = "".join(f"{ip}\t{name}\n" for name, ip in hosts.items())
    hosts_file.write_text(Path("/etc/hosts").read_text() + extra)
    script = 'mount --bind "$1" /etc/hosts && shift && exec "$@"'
    proc = subprocess.run(
        ["unshare", "--mount", "sh", "-c", script, "sh", str(hosts_file), thv.exe, *args],
        env=thv.env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    if check and proc.returncode != 0:
        raise AssertionError(
            f"thv {' '.join(args)}: {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
        )
    return proc


def write_profile(tmp_path: Path, allow_host: list[str], ports: list[int], mode: str = "") -> str:
    path = tmp_path / f"profile-{uuid.uuid4().hex[:6]}.json"
    network: dict[str, Any] = {"outbound": {"allow_host": allow_host, "allow_port": ports}}
    if mode:
        network["mode"] = mode
    path.write_text(json.dumps({"name": "isolation-test", "network": network}))
    return str(path)


def resources(client: Any, name: str) -> dict[str, list[str]]:
    """Containers, volumes and networks of workload ``name`` that exist on the engine."""
    containers = [
        c.name
        for c in client.containers.list(all=True)
        if c.name in {name, f"{name}-dns", f"{name}-egress"}
    ]
    volumes = [v.name for v in client.volumes.list() if v.name == f"toolhive-{name}-net"]
    networks = [n.name for n in client.networks.list() if name in n.name]
    return {"containers": containers, "volumes": volumes, "networks": networks}


def probe(client: Any, name: str, args: dict[str, Any]) -> dict[str, str]:
    code, out = client.containers.get(name).exec_run(["python3", "-c", PROBE, json.dumps(args)])
    assert code == 0, out
    return dict(json.loads(out.decode().strip().splitlines()[-1]))


def test_an_isolated_workload_reaches_only_the_allowed_host_and_ports(
    engine: tuple[str, Any], iso_env: dict[str, str], thv: Thv, tmp_path: Path
) -> None:
    engine_name, client = engine
    tag = uuid.uuid4().hex[:6]
    allowed, denied = f"allowed-{tag}.thv.test", f"denied-{tag}.thv.test"
    suffix = f"sfx-{tag}.thv.test"  # allowed as ".sfx-…": the domain and its subdomains
    name, gw_name = f"iso-{engine_name}-{tag}", f"isogw-{engine_name}-{tag}"
    networks_before = {n.name for n in client.networks.list()}
    gateway = gateway_ip(client)
    with outside_server(client, tmp_path) as ip, gateway_listener(gateway) as gateway_port:
        hosts = {allowed: ip, denied: ip, suffix: ip}
        profile = write_profile(tmp_path, [allowed, f".{suffix}"], [8080, 8443])
        run = ["run", "--name", name, "--transport", "stdio", "--permission-profile", profile, MCP_IMAGE, "--", *ECHO]  # fmt: skip
        thv_with_hosts(thv, hosts, tmp_path, *run)
        args = {"allowed": allowed, "denied": denied, "suffix": suffix, "ip": ip, "gateway": gateway, "gateway_port": gateway_port}  # fmt: skip
        seen = probe(client, name, args)
        assert seen["http_allowed"] == "ok:outside-8080", seen
        assert seen["https_allowed"] == "ok:outside-8443", seen
        assert seen["http_domain_entry"] == "ok:outside-8080", seen
        assert seen["http_denied_port"] == "http:403", seen
        assert (
            seen["connect_denied_port"].startswith("err:") and "403" in seen["connect_denied_port"]
        ), seen
        assert seen["http_denied_host"] == "http:403", seen
        assert (
            seen["connect_denied_host"].startswith("err:") and "403" in seen["connect_denied_host"]
        ), seen
        assert seen["http_ip_literal"] == "http:403", seen
        assert seen["raw_tcp"].startswith("err:"), seen
        assert seen["dns_allowed"] == f"ok:{ip}", seen
        assert seen["dns_denied"].startswith("err:"), seen
        assert seen["gateway_proxy"] == "http:403", seen
        assert seen["gateway_raw"].startswith("err:"), seen

        # What was enforced is on the server's container; thv list shows no sidecar.
        labels = client.containers.get(name).labels
        assert labels["toolhive-network-isolation"] == "true"
        assert labels["toolhive-egress-allow-hosts"] == f"{allowed},.{suffix}"
        assert labels["toolhive-egress-allow-ports"] == "8080,8443"
        status = thv("status", name).stdout
        network = next(line for line in status.splitlines() if line.startswith("Network:"))
        expected = f"isolated: only {allowed}, .{suffix} on 8080, 8443, through the egress proxy"
        assert network.split(None, 1)[1] == expected, status
        listed = json.loads(thv("list", "--all", "--format", "json").stdout)
        assert [w["name"] for w in listed] == [name]

        # --allow-docker-gateway: the host's bridge address answers through the proxy, any port.
        gw_run = ["run", "--name", gw_name, "--transport", "stdio", "--allow-docker-gateway", "--permission-profile", profile, MCP_IMAGE, "--", *ECHO]  # fmt: skip
        thv_with_hosts(thv, hosts, tmp_path, *gw_run)
        seen = probe(client, gw_name, args)
        assert seen["gateway_proxy"] == "ok:gateway-ok", seen
        assert seen["gateway_raw"].startswith("err:"), seen  # still only through the proxy
        assert seen["http_denied_host"] == "http:403", seen

    thv("rm", name)
    thv("rm", gw_name)
    assert resources(client, name) == {"containers": [], "volumes": [], "networks": []}
    assert resources(client, gw_name) == {"containers": [], "volumes": [], "networks": []}
    assert {n.name for n in client.networks.list()} == networks_before


def test_a_registry_entrys_permissions_and_an_exported_runconfig_are_enforced_alike(
    engine: tuple[str, Any], iso_env: dict[str, str], thv: Thv, tmp_path: Path
) -> None:
    """The profile comes from the registry entry here, then from the exported RunConfig."""
    engine_name, client = engine
    tag = uuid.uuid4().hex[:6]
    allowed, denied = f"allowed-{tag}.thv.test", f"denied-{tag}.thv.test"
    name = f"isoreg-{engine_name}-{tag}"
    meta = "io.modelcontextprotocol.registry/publisher-provided"
    permissions = {"network": {"outbound": {"allow_host": [allowed], "allow_port": [8080]}}}
    server = {
        "name": "io.github.iso-test/iso-echo",
        "description": "an echo server allowed one host",
        "version": "1.0.0",
        "packages": [{"registryType": "oci", "identifier": MCP_IMAGE, "transport": {"type": "stdio"}}],
        "_meta": {meta: {"io.github.stacklok": {MCP_IMAGE: {"args": ECHO, "tier": "Community", "permissions": permissions}}}},
    }  # fmt: skip
    registry = tmp_path / "registry.json"
    registry.write_text(json.dumps({"version": "1.0.0", "meta": {}, "data": {"servers": [server]}}))
    thv("config", "set-registry", str(registry))
    exported = tmp_path / "exported.json"
    with outside_server(client, tmp_path) as ip:
        hosts = {allowed: ip, denied: ip}
        args = {"allowed": allowed, "denied": denied, "suffix": allowed, "ip": ip, "gateway": "192.0.2.1", "gateway_port": 9}  # fmt: skip
        for how in (["iso-echo", "--name", name], ["--from-config", str(exported)]):
            thv_with_hosts(thv, hosts, tmp_path, "run", *how)
            seen = probe(client, name, args)
            assert seen["http_allowed"] == "ok:outside-8080", (how, seen)
            assert seen["https_allowed"].startswith("err:") and "403" in seen["https_allowed"], seen
            assert seen["http_denied_host"] == "http:403", (how, seen)
            assert seen["raw_tcp"].startswith("err:"), (how, seen)
            assert client.containers.get(name).labels["toolhive-egress-allow-hosts"] == allowed
            if how[0] == "iso-echo":
                thv("export", name, str(exported))
                assert json.loads(exported.read_text())["permission_profile"]["network"] == {
                    "mode": "",
                    "outbound": {"insecure_allow_all": False, **permissions["network"]["outbound"]},
                }
            thv("rm", name)
            assert resources(client, name) == {"containers": [], "volumes": [], "networks": []}


def test_an_isolated_http_server_is_published_on_loopback_only(
    engine: tuple[str, Any], iso_env: dict[str, str], thv: Thv, tmp_path: Path
) -> None:
    from tests.mcp_client import call_tool

    engine_name, client = engine
    name = f"isohttp-{engine_name}-{uuid.uuid4().hex[:6]}"
    profile = write_profile(tmp_path, ["example.invalid"], [443])
    http_echo = ["python", "/opt/fixtures/echo_server.py", "streamable-http"]
    thv("run", "--name", name, "--transport", "streamable-http", "--target-port", "8000", "--permission-profile", profile, MCP_IMAGE, "--", *http_echo)  # fmt: skip
    try:
        url = json.loads(thv("status", name, "--format", "json").stdout)["url"]
        assert "hello" in call_tool(url, "echo", {"text": "hello"})
        # The server has no published port; the egress sidecar publishes one, on 127.0.0.1.
        assert not client.containers.get(name).attrs["HostConfig"].get("PortBindings")
        bindings = client.containers.get(f"{name}-egress").attrs["HostConfig"]["PortBindings"]
        assert [b["HostIp"] for spec in bindings.values() for b in spec] == ["127.0.0.1"]
        # thv stop stops the sidecars with the server.
        thv("stop", name)
        for container in (name, f"{name}-dns", f"{name}-egress"):
            assert client.containers.get(container).attrs["State"]["Running"] is False, container
    finally:
        thv("rm", name)
    assert resources(client, name) == {"containers": [], "volumes": [], "networks": []}


def test_isolation_with_a_host_network_is_refused_before_anything_is_created(
    engine: tuple[str, Any], iso_env: dict[str, str], thv: Thv, tmp_path: Path
) -> None:
    engine_name, client = engine
    name = f"isohost-{engine_name}-{uuid.uuid4().hex[:6]}"
    in_profile = write_profile(tmp_path, ["example.com"], [443], mode="host")
    restricted = write_profile(tmp_path, ["example.com"], [443])
    for how in (["--permission-profile", in_profile], ["--network", "host", "--permission-profile", restricted]):  # fmt: skip
        proc = thv("run", "--name", name, "--transport", "stdio", *how, MCP_IMAGE, "--", *ECHO, check=False)  # fmt: skip
        assert proc.returncode != 0
        assert "network mode 'host' is not supported" in proc.stderr, proc.stderr
        assert "network isolation needs the engine's bridge networking" in proc.stderr, proc.stderr
        assert resources(client, name) == {"containers": [], "volumes": [], "networks": []}
    assert json.loads(thv("list", "--all", "--format", "json").stdout) == []


def test_twenty_isolated_deploys_and_removals_leave_nothing_and_cost_this_much(
    engine: tuple[str, Any], iso_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """Through the runtime itself (what ``thv run``/``thv rm`` call), so 20 cycles stay short;
    the same deploys without isolation give the added start-up time."""
    from toolhive.contracts.runtime import DeployRequest, PermissionProfile, builtin_profile

    engine_name, client = engine
    runtime = _runtime(engine_name)
    restricted = PermissionProfile.model_validate(
        {"name": "r", "network": {"outbound": {"allow_host": ["example.com"], "allow_port": [443]}}}
    )
    unrestricted = builtin_profile("network")
    assert unrestricted is not None
    networks_before = {n.name for n in client.networks.list()}
    volumes_before = {v.name for v in client.volumes.list()}
    base = f"isocyc-{engine_name}-{uuid.uuid4().hex[:6]}"
    timings: dict[str, list[float]] = {"isolated": [], "plain": []}
    try:
        for i in range(20):
            for kind, profile in (("isolated", restricted), ("plain", unrestricted)):
                if kind == "plain" and i % 4:
                    continue  # a few plain deploys are enough for the comparison
                request = DeployRequest(
                    name=f"{base}-{kind}", image=MCP_IMAGE, command=["sleep", "60"],
                    transport="stdio", permission_profile=profile,
                )  # fmt: skip
                start = time.monotonic()
                runtime.deploy(request)
                timings[kind].append(time.monotonic() - start)
                runtime.remove(request.name)
                assert resources(client, request.name)["containers"] == []
    finally:
        for kind in timings:
            runtime.remove(f"{base}-{kind}")
        runtime.close()
    assert {n.name for n in client.networks.list()} == networks_before
    assert {v.name for v in client.volumes.list()} == volumes_before
    iso = sorted(timings["isolated"])[len(timings["isolated"]) // 2]
    plain = sorted(timings["plain"])[len(timings["plain"]) // 2]
    with capsys.disabled():
        print(
            f"\n[{engine_name}] deploy (median): isolated {iso:.2f}s, plain {plain:.2f}s, "
            f"added {iso - plain:.2f}s; {len(timings['isolated'])} isolated cycles left no "
            "container, volume or network"
        )


def _runtime(engine_name: str) -> Any:
    """The runtime as ``thv`` loads it, building the sidecar image from the test's Debian base."""
    from toolhive.contracts import RuntimeDetection

    detection = RuntimeDetection(
        name=engine_name, available=True, endpoint=f"unix://{ENGINE_SOCKETS[engine_name]}"
    )
    if engine_name == "podman":
        from toolhive_runtime_podman.config import PodmanConfig
        from toolhive_runtime_podman.runtime import PodmanRuntime

        return PodmanRuntime.from_detection(detection, PodmanConfig(egress_base_image=PYTHON_BASE))
    from toolhive_runtime_docker.config import DockerConfig
    from toolhive_runtime_docker.runtime import DockerRuntime

    return DockerRuntime.from_detection(detection, DockerConfig(egress_base_image=PYTHON_BASE))
