"""Host ports for proxies and servers."""

from __future__ import annotations

import socket

from toolhive.errors import PortInUseError


def port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def require_free(host: str, port: int, *, what: str = "proxy port") -> None:
    if not port_is_free(host, port):
        msg = (
            f"{what} {port} on {host} is already in use; pick another with --proxy-port or omit it"
        )
        raise PortInUseError(msg)


def pick_free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])
