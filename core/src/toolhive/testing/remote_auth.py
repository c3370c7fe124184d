"""A real OAuth-protected remote MCP server for remote-authentication tests.

The "remote" server is core's echo server run by ``thv`` (process runtime) behind ToolHive's own
``auth`` middleware: it answers 401 with ``WWW-Authenticate: Bearer realm=…,
resource_metadata=…``, serves the RFC 9728 document naming the test provider as its
authorization server, and accepts only RS256 JWTs of that provider whose ``aud`` is its own URL
(what the provider issues when asked for that RFC 8707 resource). The URL must be known before
the provider starts (it is one of the provider's resources), hence :func:`reserve_url` first::

    port, url = reserve_url()
    with oauth_server(resources=(url,)) as idp, protected_echo(thv, idp, port) as upstream:
        thv("run", upstream, "--name", "remote", "--remote-auth-skip-browser")
"""

from __future__ import annotations

import contextlib
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from toolhive.testing.workloads import Thv

if TYPE_CHECKING:
    from toolhive.testing.oauth_server import OAuthServer

__all__ = ["protected_echo", "reserve_url"]

ECHO = Path(__file__).with_name("echo_server.py")


def reserve_url() -> tuple[int, str]:
    """A free loopback port and the MCP URL a protected server will have there."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    return port, f"http://127.0.0.1:{port}/mcp"


@contextlib.contextmanager
def protected_echo(
    thv: Thv, idp: OAuthServer, port: int, *, name: str = "protected-upstream"
) -> Iterator[str]:
    """Run the echo server as workload ``name`` on ``port``, accepting ``idp``'s tokens for
    its URL only; yields the URL; removes the workload on exit."""
    url = f"http://127.0.0.1:{port}/mcp"
    thv(
        "run",
        sys.executable,
        "--name",
        name,
        "--runtime",
        "process",
        "--transport",
        "stdio",
        "--proxy-port",
        str(port),
        "--oidc-issuer",
        idp.issuer,
        "--oidc-audience",
        url,
        "--oidc-jwks-url",
        idp.jwks_url,
        "--oidc-insecure-allow-http",
        "--jwks-allow-private-ip",
        "--resource-url",
        url,
        "--",
        str(ECHO),
        "stdio",
    )
    try:
        yield url
    finally:
        with contextlib.suppress(Exception):
            thv("rm", name)
