"""A tiny MCP server for tests and the contract suites (built on the official ``mcp`` SDK, 2.x, a
dependency of core), shipped in core so that a plugin's tests outside this repository have one too.
The workspace's ``tests/fixtures/echo_server.py`` is a symlink to this file (the test images carry it).

Tools:
    echo(text: str) -> str       returns ``text`` unchanged
    add(a: int, b: int) -> int   returns ``a + b``

Usage:
    python -m toolhive.testing.echo_server [stdio | sse | streamable-http]     (default: stdio)
    python echo_server.py [stdio | sse | streamable-http]

HTTP transports listen on ``$MCP_HOST`` (default 127.0.0.1) and ``$MCP_PORT`` (default 8080).
Streamable HTTP is served at ``/mcp``; SSE at ``/sse`` (messages are POSTed to ``/messages/``).

DNS-rebinding protection (Host/Origin header checks) is turned off on purpose: the SDK enables it by
default when bound to 127.0.0.1, which would reject requests that reach the server through a proxy
(ToolHive's) or a published container port with a different Host header.

In the 2.x SDK ``FastMCP`` was renamed ``MCPServer`` (``mcp.server.mcpserver``); ``mcp<2`` is not
supported by this file.
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


def serve(mcp: MCPServer, argv: list[str]) -> int:
    """Run ``mcp`` over the transport ``argv[1]`` names (the usage above); other test servers
    built on the SDK reuse this."""
    transport = argv[1] if len(argv) > 1 else "stdio"
    if transport not in TRANSPORTS:
        print(f"usage: {argv[0]} [{' | '.join(TRANSPORTS)}]", file=sys.stderr)
        return 2
    if transport == "stdio":
        mcp.run("stdio")
        return 0

    host = os.environ.get("MCP_HOST", "127.0.0.1")
    port = int(os.environ.get("MCP_PORT", "8080"))
    security = TransportSecuritySettings(enable_dns_rebinding_protection=False)
    if transport == "sse":
        mcp.run("sse", host=host, port=port, sse_path="/sse", transport_security=security)
    else:
        mcp.run(
            "streamable-http",
            host=host,
            port=port,
            streamable_http_path="/mcp",
            transport_security=security,
        )
    return 0


def main(argv: list[str]) -> int:
    return serve(server, argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
