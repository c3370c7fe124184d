"""Runs inside an isolated sandbox as the workload: tries each destination, writes what happened.

``python egress_probe.py CONFIG_JSON OUT_FILE``. Every check records ``ok: <detail>`` or
``failed: <error>``; the test decides which outcome each one must have.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import ssl
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable


def main() -> None:
    config = json.loads(sys.argv[1])
    out = sys.argv[2]
    tls = ssl.create_default_context(cafile=config["ca_file"])
    opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=tls))
    proxy = urllib.parse.urlsplit(os.environ["HTTP_PROXY"])

    def via_proxy(url: str) -> Callable[[], str]:
        """Straight to the proxy even for loopback names (NO_PROXY would send those direct)."""

        def fetch() -> str:
            conn = http.client.HTTPConnection(proxy.hostname or "", proxy.port, timeout=10)
            try:
                conn.request("GET", url)
                response = conn.getresponse()
                body = response.read().decode()
            finally:
                conn.close()
            if response.status != 200:
                return f"refused: HTTP {response.status} {body}"
            return f"{response.status} {body}"

        return fetch

    def get(url: str) -> Callable[[], str]:
        def fetch() -> str:
            with opener.open(url, timeout=10) as response:
                return f"{response.status} {response.read().decode()}"

        return fetch

    def connect(host: str, port: int) -> Callable[[], str]:
        def dial() -> str:
            with socket.create_connection((host, port), timeout=5):
                return "connected"

        return dial

    def resolve(name: str) -> Callable[[], str]:
        return lambda: str(socket.getaddrinfo(name, 80)[0][4][0])

    allowed, ip = config["allowed"], config["ip"]
    checks: dict[str, Callable[[], str]] = {
        "http_allowed": get(f"http://{allowed}:8080/"),
        "https_allowed": get(f"https://{allowed}:8443/"),
        "http_subdomain": get(f"http://{config['sub']}:8080/"),
        "http_denied_port": get(f"http://{allowed}:8081/"),
        "https_denied_port": get(f"https://{allowed}:8081/"),
        "http_denied_host": get(f"http://{config['denied']}:8080/"),
        "https_denied_host": get(f"https://{config['denied']}:8443/"),
        "http_ip_literal": get(f"http://{ip}:8080/"),
        "raw_tcp_to_allowed_ip": connect(ip, 8080),
        "dns_denied_name": resolve(config["denied"]),
        "dns_allowed_name": resolve(allowed),
        "host_loopback_direct": connect("127.0.0.1", config["host_loopback_port"]),
        "host_loopback_via_proxy": via_proxy(f"http://127.0.0.1:{config['host_loopback_port']}/"),
        "allowed_name_on_loopback": get(f"http://{config['loopback_name']}:8080/"),
        "allowed_name_on_host_address": get(f"http://{config['host_addr_name']}:8080/"),
        "host_veth_address_direct": connect(config["host_ip"], 8080),
    }
    results: dict[str, str] = {}
    for name, check in checks.items():
        try:
            answer = check()
            results[name] = answer if answer.startswith("refused") else f"ok: {answer}"
        except urllib.error.HTTPError as exc:
            results[name] = f"failed: HTTP {exc.code} {exc.read().decode(errors='replace')}"
        except Exception as exc:
            results[name] = f"failed: {type(exc).__name__}: {exc}"
    with open(out, "w") as fh:
        json.dump(results, fh, indent=1)


if __name__ == "__main__":
    main()
