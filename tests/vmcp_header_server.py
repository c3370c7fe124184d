"""An MCP server (official SDK) whose one tool tells which credentials reached it:
``credentials()`` answers JSON ``{"authorization": …, "x-api-key": …}`` (``null`` when absent) from
the HTTP request that carried the call. For checking what the vMCP gateway sends a backend.

    MCP_PORT=8080 python tests/vmcp_header_server.py [streamable-http | sse]

Streamable HTTP is served at ``/mcp``, the legacy SSE transport at ``/sse``.
"""

from __future__ import annotations

import json
import os
import sys

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.transport_security import TransportSecuritySettings

server = MCPServer(name="toolhive-test-credentials", version="1.0.0")


@server.tool()
def credentials(ctx: Context) -> str:
    """The credential headers of the request that carried this call."""
    headers = ctx.headers or {}
    return json.dumps({name: headers.get(name) for name in ("authorization", "x-api-key")})


if __name__ == "__main__":
    port = int(os.environ.get("MCP_PORT", "8080"))
    # A proxy (the gateway) is in front: the SDK's Host check would refuse it.
    security = TransportSecuritySettings(enable_dns_rebinding_protection=False)
    if sys.argv[1:] == ["sse"]:
        server.run("sse", host="127.0.0.1", port=port, sse_path="/sse", transport_security=security)
    else:
        server.run(
            "streamable-http",
            host="127.0.0.1",
            port=port,
            streamable_http_path="/mcp",
            transport_security=security,
        )
