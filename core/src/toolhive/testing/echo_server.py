"""A tiny MCP server for the contract suites (built on the official ``mcp`` SDK, 2.x, a dependency
of core), run as ``python -m toolhive.testing.echo_server [stdio | sse | streamable-http]``.

The same server as the workspace's ``tests/fixtures/echo_server.py`` (which the test images also
carry), shipped in core so that a plugin's tests outside this repository have one too.

Tools:
    echo(text: str) -> str       returns ``text`` unchanged
    add(a: int, b: int) -> int   returns ``a + b``

HTTP transports listen on ``$MCP_HOST`` (default 127.0.0.1) and ``$MCP_PORT`` (default 8080).
Streamable HTTP is served at ``/mcp``; SSE at ``/sse`` (messages are POSTed to ``/messages/``).
DNS-rebinding protection (Host/Origin checks) is off: requests reach it through ToolHive's proxy
or a published container port with another Host header.
"""

from __future__ import annotations

import os
import sys

from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import TransportSecuritySettings

TRANSPORTS = ("stdio", "sse", "streamable-http")

server = MCPServer(name="toolhive-test-echo", version="1.0.0")


@server.tool()
def echo(text: str) -> str:
    """Return the given text unchanged."""
    return text


@server.tool()
def add(a: int, b: int) -> int:
    """Return the sum of two integers."""
    return a + b


def main(argv: list[str]) -> int:
    transport = argv[1] if len(argv) > 1 else "stdio"
    if transport not in TRANSPORTS:
        print(f"usage: {argv[0]} [{' | '.join(TRANSPORTS)}]", file=sys.stderr)
        return 2
    if transport == "stdio":
        server.run("stdio")
        return 0

    host = os.environ.get("MCP_HOST", "127.0.0.1")
    port = int(os.environ.get("MCP_PORT", "8080"))
    security = TransportSecuritySettings(enable_dns_rebinding_protection=False)
    if transport == "sse":
        server.run("sse", host=host, port=port, sse_path="/sse", transport_security=security)
    else:
        server.run(
            "streamable-http",
            host=host,
            port=port,
            streamable_http_path="/mcp",
            transport_security=security,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
