"""Which host names are loopback (the proxy's DNS-rebinding checks, a remote's Host header)."""

from __future__ import annotations

import ipaddress
from typing import Final

_LOOPBACK_NAMES: Final = frozenset({"localhost", "localhost."})


def is_loopback_host(host: str) -> bool:
    """``localhost`` (and ``*.localhost``, RFC 6761) or a loopback IP; ``[::1]`` brackets allowed."""
    host = host.strip().lower().removeprefix("[").removesuffix("]")
    if host in _LOOPBACK_NAMES or host.endswith((".localhost", ".localhost.")):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
