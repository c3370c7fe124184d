"""An "outside" network for isolation tests: a network namespace this test creates, joined to the
host by a veth pair, running HTTP and HTTPS servers; names for it in the host's /etc/hosts.

Nothing leaves this machine: the servers listen on the namespace's own address (10.213.N.2), the
host side of the veth is 10.213.N.1. Each test session picks N from its PID and removes the
namespace, the veth and its /etc/hosts lines (marked with the namespace's name) afterwards.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
import sys
import textwrap
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

HOSTS = Path("/etc/hosts")

#: Runs inside the namespace: HTTP on 8080 and 8081, HTTPS on 8443, each answering "outside PORT".
SERVER = textwrap.dedent(
    """
    import http.server, ssl, sys, threading
    address, cert, key = sys.argv[1:4]
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = f"outside {self.server.server_address[1]} {self.headers.get('Host')}".encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        def log_message(self, *args):
            pass
    servers = [http.server.ThreadingHTTPServer((address, port), Handler) for port in (8080, 8081)]
    tls = http.server.ThreadingHTTPServer((address, 8443), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    tls.socket = context.wrap_socket(tls.socket, server_side=True)
    servers.append(tls)
    for server in servers[1:]:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    print("ready", flush=True)
    servers[0].serve_forever()
    """
)


@dataclass
class Outside:
    namespace: str
    ip: str
    host_ip: str
    #: Names in /etc/hosts → ``ip`` (allowed, denied, a subdomain) and → this host.
    allowed: str
    denied: str
    sub: str
    suffix: str
    loopback_name: str
    host_addr_name: str
    ca_file: Path


def _run(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True, timeout=30)


def _edit_hosts(add: list[str], marker: str) -> None:
    with HOSTS.open("r+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        lines = [line for line in fh.read().splitlines() if not line.endswith(f"# {marker}")]
        lines += [f"{line} # {marker}" for line in add]
        fh.seek(0)
        fh.truncate()
        fh.write("\n".join(lines) + "\n")


def available() -> str | None:
    """Why this machine cannot host the outside network, or ``None``."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    for tool in ("ip", "openssl"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    if not os.access(HOSTS, os.W_OK):
        return "/etc/hosts is not writable"
    return None


@contextlib.contextmanager
def outside_network(workdir: Path) -> Iterator[Outside]:
    n = os.getpid() % 200 + 20
    ns = f"thvnp{os.getpid()}"
    host_if, ns_if = f"thvh{os.getpid() % 100000}", f"thvn{os.getpid() % 100000}"
    ip, host_ip = f"10.213.{n}.2", f"10.213.{n}.1"
    tag = f"np{os.getpid()}"
    names = {
        "allowed": f"allowed.{tag}.test",
        "denied": f"denied.{tag}.test",
        "sub": f"api.sfx-{tag}.test",
        "suffix": f".sfx-{tag}.test",
        "loopback": f"loop.{tag}.test",
        "hostaddr": f"hostaddr.{tag}.test",
    }
    key, cert = workdir / "key.pem", workdir / "cert.pem"
    _run(
        "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        "-keyout", str(key), "-out", str(cert), "-subj", f"/CN={names['allowed']}",
        "-addext", f"subjectAltName=DNS:{names['allowed']},DNS:{names['sub']}",
    )  # fmt: skip
    server: subprocess.Popen[str] | None = None
    try:
        _run("ip", "netns", "add", ns)
        _run("ip", "link", "add", host_if, "type", "veth", "peer", "name", ns_if)
        _run("ip", "link", "set", ns_if, "netns", ns)
        _run("ip", "addr", "add", f"{host_ip}/30", "dev", host_if)
        _run("ip", "link", "set", host_if, "up")
        _run("ip", "-n", ns, "addr", "add", f"{ip}/30", "dev", ns_if)
        _run("ip", "-n", ns, "link", "set", ns_if, "up")
        _run("ip", "-n", ns, "link", "set", "lo", "up")
        server = subprocess.Popen(
            ["ip", "netns", "exec", ns, sys.executable, "-c", SERVER, ip, str(cert), str(key)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert server.stdout is not None
        if server.stdout.readline().strip() != "ready":
            server.kill()
            raise AssertionError(f"outside server failed: {server.communicate()[1]}")
        _edit_hosts(
            [
                f"{ip} {names['allowed']} {names['denied']} {names['sub']}",
                f"127.0.0.1 {names['loopback']}",
                f"{host_ip} {names['hostaddr']}",
            ],
            ns,
        )
        _wait_reachable(f"http://{ip}:8080/")
        yield Outside(
            namespace=ns,
            ip=ip,
            host_ip=host_ip,
            allowed=names["allowed"],
            denied=names["denied"],
            sub=names["sub"],
            suffix=names["suffix"],
            loopback_name=names["loopback"],
            host_addr_name=names["hostaddr"],
            ca_file=cert,
        )
    finally:
        _edit_hosts([], ns)
        if server is not None:
            server.kill()
            server.communicate(timeout=10)
        subprocess.run(["ip", "link", "del", host_if], capture_output=True, check=False)
        subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)


def _wait_reachable(url: str) -> None:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + 10
    while True:
        try:
            with opener.open(url, timeout=2) as response:
                response.read()
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
