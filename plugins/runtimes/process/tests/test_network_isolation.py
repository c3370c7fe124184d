"""Network isolation on the process runtime, proven by real traffic.

An "outside" network namespace (outside_net.py) serves HTTP/HTTPS; a probe runs as the workload in
a real bubblewrap sandbox whose only way out is the egress proxy, and tries allowed and denied
destinations (egress_probe.py).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import sys
import textwrap
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from outside_net import Outside, available, outside_network
from process_helpers import HERE, launch_elsewhere, profile, python_request
from toolhive.contracts import InvalidInputError, PermissionProfileError
from toolhive.contracts.runtime import (
    DeployRequest,
    NetworkPermissions,
    OutboundNetwork,
    PermissionProfile,
)
from toolhive_runtime_process import procfs
from toolhive_runtime_process.egress import Denied, Policy
from toolhive_runtime_process.records import ProcessRecord, RecordStore
from toolhive_runtime_process.runtime import ProcessRuntime

pytestmark = pytest.mark.process_runtime

PROBE = HERE / "egress_probe.py"
IDLE = "import time\nwhile True: time.sleep(1)"


@pytest.fixture(scope="module")
def outside(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Outside]:
    why = available()
    if why:
        pytest.skip(why)
    with outside_network(tmp_path_factory.mktemp("outside")) as net:
        yield net


@pytest.fixture
def host_loopback() -> Iterator[int]:
    """A service on the host's loopback that no sandbox may reach."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        yield server.getsockname()[1]


def allow_list(outside: Outside, *, ports: list[int] | None = None) -> PermissionProfile:
    hosts = [outside.allowed, outside.suffix, outside.loopback_name, outside.host_addr_name]
    return PermissionProfile(
        name="allow-list",
        network=NetworkPermissions(
            outbound=OutboundNetwork(allow_host=hosts, allow_port=ports or [8080, 8443])
        ),
    )


def run_probe(
    runtime: ProcessRuntime, outside: Outside, tmp_path: Path, loopback_port: int
) -> dict[str, str]:
    out_dir = tmp_path / "probe"
    out_dir.mkdir()
    shutil.copy(outside.ca_file, out_dir / "ca.pem")
    config = {
        "ca_file": str(out_dir / "ca.pem"),
        "allowed": outside.allowed,
        "denied": outside.denied,
        "sub": outside.sub,
        "ip": outside.ip,
        "host_ip": outside.host_ip,
        "loopback_name": outside.loopback_name,
        "host_addr_name": outside.host_addr_name,
        "host_loopback_port": loopback_port,
    }
    prof = allow_list(outside).model_copy(update={"write": [str(out_dir)]})
    request = DeployRequest(
        name="probe",
        image=sys.executable,
        command=[str(PROBE), json.dumps(config), str(out_dir / "results.json")],
        permission_profile=prof,
    )
    runtime.deploy(request)
    status = runtime.wait("probe")
    log = b"".join(runtime.logs("probe")).decode()
    assert status == 0, log
    results: dict[str, str] = json.loads((out_dir / "results.json").read_text())
    return results


def test_isolated_sandbox_reaches_allowed_destinations_and_nothing_else(
    runtime: ProcessRuntime, outside: Outside, tmp_path: Path, host_loopback: int
) -> None:
    results = run_probe(runtime, outside, tmp_path, host_loopback)
    reached = {
        "http_allowed": "ok: 200 outside 8080",
        "https_allowed": "ok: 200 outside 8443",
        "http_subdomain": "ok: 200 outside 8080",
    }
    for check, expected in reached.items():
        assert results[check].startswith(expected), (check, results)
    refused_by_proxy = {
        "http_denied_port": "port 8081 is not in allow_port",
        "https_denied_port": "Tunnel connection failed: 403",
        "http_denied_host": "is not in allow_host",
        "https_denied_host": "Tunnel connection failed: 403",
        "http_ip_literal": "is not in allow_host",
        "allowed_name_on_loopback": "resolves to this host",
        "allowed_name_on_host_address": "resolves to this host",
    }
    for check, reason in refused_by_proxy.items():
        assert results[check].startswith("failed:") and reason in results[check], (check, results)
    assert results["host_loopback_via_proxy"].startswith("refused: HTTP 403"), results
    # No route, no resolver, no host loopback: these never reach the proxy at all.
    assert "Network is unreachable" in results["raw_tcp_to_allowed_ip"], results
    assert "Network is unreachable" in results["host_veth_address_direct"], results
    assert "Connection refused" in results["host_loopback_direct"], results
    for check in ("dns_denied_name", "dns_allowed_name"):
        assert results[check].startswith("failed: gaierror"), (check, results)
    # Refusals are logged for `thv logs`.
    log = b"".join(runtime.logs("probe")).decode()
    assert "[thv-egress] refused" in log and outside.denied in log


def _egress_record(name: str) -> ProcessRecord:
    record = RecordStore().read(name)
    assert record is not None and record.egress_pid and record.net_dir
    return record


def _egress_running(record: ProcessRecord) -> bool:
    assert record.egress_pid is not None
    return procfs.is_running(record.egress_pid, record.egress_start_ticks, record.boot_id)


def _wait_for(predicate: Callable[[], bool], timeout: float = 5) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_egress_proxy_and_its_sockets_are_gone_after_remove_from_another_process(
    runtime: ProcessRuntime, outside: Outside
) -> None:
    spec = {"name": "idle", "code": IDLE, "profile": allow_list(outside).model_dump()}
    launcher = launch_elsewhere(dict(os.environ), spec)
    try:
        record = _egress_record("idle")
        assert "egress only via the proxy" in record.network
        assert _egress_running(record)
        assert Path(record.net_dir or "", "egress.sock").is_socket()
        relays = [
            m.pid
            for m in procfs.group_members(record.pgid)
            if b"netns_relay.py" in Path(f"/proc/{m.pid}/cmdline").read_bytes()
        ]
        assert relays, "the forwarder inside the sandbox is running"
        runtime.remove("idle")  # what `thv rm` does after stopping the supervisor
        assert not _egress_running(record)
        assert procfs.group_members(record.pgid) == []  # the forwarder went with the sandbox
        assert not Path(record.net_dir or "").exists()
    finally:
        launcher.kill()
        launcher.communicate()


def test_egress_proxy_exits_when_its_sandbox_does(outside: Outside) -> None:
    code = "import time; time.sleep(0.5)"
    spec = {"name": "brief", "code": code, "profile": allow_list(outside).model_dump()}
    launcher = launch_elsewhere(dict(os.environ), spec)
    try:
        record = _egress_record("brief")
        # Nobody waits for the server here: the proxy notices its sandbox's end by itself,
        # and removes its socket directory.
        assert _wait_for(lambda: not _egress_running(record)), "the proxy outlived its sandbox"
        assert _wait_for(lambda: not Path(record.net_dir or "").exists())
    finally:
        launcher.kill()
        launcher.communicate()


def test_egress_proxy_dies_with_the_process_that_started_it(outside: Outside) -> None:
    spec = {"name": "orphan", "code": IDLE, "profile": allow_list(outside).model_dump()}
    launcher = launch_elsewhere(dict(os.environ), spec)
    record = _egress_record("orphan")
    launcher.kill()  # the supervisor is gone: so are the sandbox and its proxy
    launcher.communicate()
    assert _wait_for(lambda: not _egress_running(record))
    ProcessRuntime(bwrap=shutil.which("bwrap")).remove("orphan")
    assert not Path(record.net_dir or "").exists()


HTTP_SERVER = textwrap.dedent(
    """
    import http.server, os, socket
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            names = [n for _, n in socket.if_nameindex()]
            body = ("inside " + ",".join(names)).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        def log_message(self, *args):
            pass
    port = int(os.environ["MCP_PORT"])
    http.server.HTTPServer(("127.0.0.1", port), Handler).serve_forever()
    """
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _get(url: str, timeout: float = 10) -> str:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + timeout
    while True:
        try:
            with opener.open(url, timeout=2) as response:
                return str(response.read().decode())
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@pytest.mark.parametrize("profile_name", ["none", "allow-list"])
def test_http_server_in_an_isolated_sandbox_is_reached_through_the_ingress_relay(
    runtime: ProcessRuntime, outside: Outside, profile_name: str
) -> None:
    port = _free_port()
    prof = profile("none") if profile_name == "none" else allow_list(outside)
    request = python_request(
        "web",
        HTTP_SERVER,
        prof,
        transport="streamable-http",
        target_port=port,
        env={"MCP_PORT": str(port)},
    )
    deployment = runtime.deploy(request)
    assert deployment.target_port == port
    body = _get(f"http://127.0.0.1:{port}/")
    # The server's own namespace has loopback only: it is not on the host's network.
    assert body == "inside lo"


def test_allow_list_with_host_network_mode_is_refused_and_nothing_starts(
    runtime: ProcessRuntime,
) -> None:
    prof = PermissionProfile(
        name="host-mode",
        network=NetworkPermissions(mode="host", outbound=OutboundNetwork(allow_host=["x.test"])),
    )
    request = python_request("hostmode", "print(1)", prof)
    with pytest.raises(PermissionProfileError, match="could not be enforced"):
        runtime.deploy(request)
    assert runtime.inspect("hostmode") is None
    assert RecordStore().read("hostmode") is None


# ------------------------------------------------------------------------------ the policy alone


@pytest.mark.parametrize(
    ("host", "port", "allowed"),
    [
        ("api.example.com", 443, True),
        ("API.Example.COM.", 443, True),
        ("example.com", 443, False),
        ("github.com", 443, True),
        ("raw.github.com", 443, True),
        ("notgithub.com", 443, False),
        ("api.example.com", 80, False),
        ("10.0.0.5", 443, True),
        ("10.0.0.6", 443, False),
    ],
)
def test_policy_matches_exact_names_domain_suffixes_ports_and_listed_ips(
    host: str, port: int, allowed: bool
) -> None:
    policy = Policy.from_lists(["api.example.com", ".github.com", "10.0.0.5"], [443])
    if allowed:
        policy.check(host, port)
    else:
        with pytest.raises(Denied):
            policy.check(host, port)


def test_policy_with_only_ports_allows_any_host_but_never_this_host() -> None:
    import ipaddress

    policy = Policy.from_lists([], [443])
    policy.check("anything.test", 443)
    local = frozenset({ipaddress.ip_address("192.0.2.1")})
    for address in (
        "127.0.0.1",
        "::1",
        "0.0.0.0",
        "169.254.169.254",
        "192.0.2.1",
        "::ffff:127.0.0.1",
    ):
        assert not policy.address_allowed(ipaddress.ip_address(address), local), address
    assert policy.address_allowed(ipaddress.ip_address("198.51.100.7"), local)
    listed = Policy.from_lists(["127.0.0.1"], [])
    assert listed.address_allowed(ipaddress.ip_address("127.0.0.1"), local)


def test_policy_with_no_rules_allows_nothing() -> None:
    with pytest.raises(Denied, match="no outbound destination"):
        Policy.from_lists([], []).check("example.com", 443)


def test_start_up_cost_of_isolation_is_small(runtime: ProcessRuntime, outside: Outside) -> None:
    """Deploy-to-answer of an HTTP server, isolated vs on the host network (figures printed)."""
    timings: dict[str, list[float]] = {"host network": [], "isolated": []}
    for round_ in range(3):
        for label, prof in (
            ("host network", profile("network")),
            ("isolated", allow_list(outside)),
        ):
            port = _free_port()
            name = f"t{round_}{'i' if label == 'isolated' else 'h'}"
            start = time.perf_counter()
            runtime.deploy(
                python_request(
                    name, HTTP_SERVER, prof, transport="sse", target_port=port,
                    env={"MCP_PORT": str(port)},
                )
            )  # fmt: skip
            _get(f"http://127.0.0.1:{port}/")
            timings[label].append(time.perf_counter() - start)
            runtime.remove(name)
    medians = {k: sorted(v)[1] for k, v in timings.items()}
    print(f"\nstart-up to first answer (median of 3): {medians}")
    assert medians["isolated"] - medians["host network"] < 2.0, medians
    assert os.environ.get("CI") or True


def test_policy_takes_ip_networks_and_refuses_wildcards_and_junk() -> None:
    import ipaddress

    policy = Policy.from_lists(["10.0.0.0/8"], [])
    policy.check("10.1.2.3", 80)
    with pytest.raises(Denied):
        policy.check("11.0.0.1", 80)
    assert policy.address_allowed(ipaddress.ip_address("10.0.0.1"), frozenset())
    for entry, reason in (("*.github.com", "'.github.com'"), ("exa mple", "not a host name")):
        with pytest.raises(ValueError, match=reason):
            Policy.from_lists([entry], [])


def test_wildcard_allow_host_is_refused_before_anything_starts(runtime: ProcessRuntime) -> None:
    prof = PermissionProfile(
        name="wild",
        network=NetworkPermissions(outbound=OutboundNetwork(allow_host=["*.example.com"])),
    )
    with pytest.raises(PermissionProfileError, match=r"'\.example\.com' for the domain"):
        runtime.deploy(python_request("wild", "print(1)", prof))
    assert runtime.inspect("wild") is None


def test_an_allowed_ip_network_is_reached_by_address(
    runtime: ProcessRuntime, outside: Outside, tmp_path: Path
) -> None:
    prof = PermissionProfile(
        name="cidr",
        network=NetworkPermissions(
            outbound=OutboundNetwork(allow_host=[f"{outside.ip}/32"], allow_port=[8080])
        ),
    )
    code = textwrap.dedent(
        f"""
        import sys, urllib.request
        body = urllib.request.urlopen("http://{outside.ip}:8080/", timeout=10).read().decode()
        print(body, file=sys.stderr)
        """
    )
    runtime.deploy(python_request("cidr", "import time; time.sleep(0.3)\n" + code, prof))
    assert runtime.wait("cidr") == 0, b"".join(runtime.logs("cidr"))
    assert f"outside 8080 {outside.ip}:8080" in b"".join(runtime.logs("cidr")).decode()


def test_isolate_network_false_leaves_the_allow_list_unenforced_as_on_containers(
    runtime: ProcessRuntime, outside: Outside, host_loopback: int
) -> None:
    code = textwrap.dedent(
        f"""
        import socket, time
        time.sleep(0.3)
        socket.create_connection(("127.0.0.1", {host_loopback}), timeout=5).close()
        """
    )
    request = python_request("open", code, allow_list(outside)).model_copy(
        update={"isolate_network": False}
    )
    runtime.deploy(request)
    assert runtime.wait("open") == 0, b"".join(runtime.logs("open"))
    log = b"".join(runtime.logs("open")).decode()
    assert "allow_host/allow_port are NOT enforced" in log
    record = RecordStore().read("open")
    assert record is not None and record.egress_pid is None


def test_twenty_run_rm_cycles_leave_no_proxy_or_socket_directory(
    runtime: ProcessRuntime, outside: Outside
) -> None:
    seen: list[ProcessRecord] = []
    for round_ in range(20):
        port = _free_port()
        name = f"cycle{round_}"
        runtime.deploy(
            python_request(
                name, HTTP_SERVER, allow_list(outside), transport="sse", target_port=port,
                env={"MCP_PORT": str(port)},
            )
        )  # fmt: skip
        seen.append(_egress_record(name))
        runtime.remove(name)
    for record in seen:
        assert not _egress_running(record), record.name
        assert not Path(record.net_dir or "").exists(), record.name
    assert RecordStore().names() == []


def test_allow_docker_gateway_is_refused_with_what_to_do_instead(
    runtime: ProcessRuntime, outside: Outside
) -> None:
    request = python_request("gw", "print(1)", allow_list(outside)).model_copy(
        update={"allow_docker_gateway": True}
    )
    with pytest.raises(InvalidInputError, match="list the host's address"):
        runtime.deploy(request)
    assert runtime.inspect("gw") is None
