"""A workload's proxy with the audit middleware, for the tests: the chain the supervisor builds from
a RunConfig's ``audit_config`` (audit > mcp-parser > recovery, from the installed plugin; served by
``toolhive.testing.chains.workload_proxy``) in front of the stdio bridge and a real MCP server,
with stand-ins for ``auth`` and ``authorization`` just inside audit that answer 401/403 the way
those plugins do (``test_audit_full_chain`` runs the real ones).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import httpx
from toolhive.contracts.middleware import (
    Identity,
    read_mcp_request,
    send_jsonrpc_error,
    set_identity,
)
from toolhive.testing.chains import RawSession
from toolhive.testing.mcp_servers import ECHO_SERVER

TOKEN = "eyJhbGciOiJSUzI1NiJ9.c2VjcmV0LXBheWxvYWQ.c2lnbmF0dXJlLXZhbHVlLTk4NzY1"
WORKLOAD = "audited"
INIT_PARAMS = {
    "protocolVersion": "2025-06-18",
    "capabilities": {"roots": {"listChanged": True}},
    "clientInfo": {"name": "audit-tests", "version": "3.1.4"},
}
ACCEPT = "application/json, text/event-stream"


def fake_auth(app: Any) -> Any:
    """Inside audit, like ``auth``: the test token → an identity in the scope; else 401."""

    async def auth(scope: Any, receive: Any, send: Any) -> None:
        headers = dict(scope["headers"])
        if headers.get(b"authorization") != f"Bearer {TOKEN}".encode():
            challenge = [(b"www-authenticate", b'Bearer resource_metadata="http://x/.well-known"')]
            await send_jsonrpc_error(send, 401, None, -32001, "unauthorized", headers=challenge)
            return
        claims = {
            "sub": "user-1",
            "preferred_username": "alice",
            "act": {"sub": "agent-2", "act": {"sub": "agent-1", "iss": "https://issuer.test"}},
        }
        set_identity(scope, Identity(subject="user-1", claims=claims, name="Alice Doe"))
        await app(scope, receive, send)

    return auth


def fake_authz(app: Any) -> Any:
    """Inside audit, like ``authorization``: ``tools/call add`` is forbidden (403)."""

    async def authz(scope: Any, receive: Any, send: Any) -> None:
        parsed, receive = await read_mcp_request(scope, receive)
        if parsed is not None and parsed.method == "tools/call" and parsed.resource_id == "add":
            await send_jsonrpc_error(send, 403, parsed.id, 403, "Unauthorized")
            return
        await app(scope, receive, send)

    return authz


def node_everything() -> list[str] | None:
    """``node server-everything`` where ``scripts/install-node.sh`` put it, if it did."""
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    for root in (
        os.environ.get("TOOLHIVE_NODE_TOOLS", ""),
        "/var/cache/toolhive-test/node-tools",
        f"{cache}/toolhive-test/node-tools",
    ):
        if not root:
            continue
        node = Path(root, "bin", "node")
        script = Path(root, "node_modules/@modelcontextprotocol/server-everything/dist/index.js")
        if node.exists() and script.exists():
            return [str(node), str(script)]
    return None


@contextlib.asynccontextmanager
async def audited_proxy(
    audit_config: dict[str, Any] | None,
    *,
    inner: Sequence[Any] = (),
    server: Sequence[str] = ECHO_SERVER,
    audit_config_path: str = "",
    proxy_mode: str = "streamable-http",
) -> AsyncIterator[str]:
    """Serve the workload's proxy, ``inner`` stand-ins just inside audit; yield its MCP URL
    (``…/mcp``, or ``…/sse`` in SSE mode)."""
    from toolhive.models.runconfig import RunConfig
    from toolhive.testing.chains import workload_proxy
    from toolhive.testing.plugin_contract import plugin_hooks_for

    config = RunConfig(
        name=WORKLOAD,
        transport="stdio",
        port=0,
        target_port=0,
        audit_config=audit_config,
        audit_config_path=audit_config_path,
    )
    async with workload_proxy(
        plugin_hooks_for("middleware-audit"),
        config,
        server=server,
        proxy_mode=proxy_mode,
        arrange=lambda chain: [chain[0], *inner, *chain[1:]],
    ) as proxy:
        assert proxy.chain == ["audit", "mcp-parser", "recovery"]
        yield proxy.url


class Client(RawSession):
    """Raw MCP over streamable HTTP, one JSON-RPC message per POST (what each event is about), with
    the headers events record (user agent, request id) and the test token unless ``token`` is
    ``None``; ``session``: join an open session (another caller's)."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        url: str,
        *,
        token: str | None = TOKEN,
        session: str | None = None,
    ) -> None:
        headers = {"user-agent": "audit-tests/1.0", "x-request-id": "req-42"}
        if token:
            headers["authorization"] = f"Bearer {token}"
        if session:
            headers["mcp-session-id"] = session
            headers["mcp-protocol-version"] = INIT_PARAMS["protocolVersion"]
        super().__init__(http, url, headers, INIT_PARAMS)

    @property
    def session(self) -> str | None:
        return self.headers.get("mcp-session-id")

    async def initialize(self) -> None:
        response = await self.start()
        assert response.status_code == 200, response.text

    async def notify(self, method: str, params: dict[str, Any] | None = None) -> httpx.Response:
        message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            message["params"] = params
        return await self.post(message)


def read_events(path: Path) -> list[dict[str, Any]]:
    """Every event in an NDJSON file (each line must be one JSON object)."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def of_type(events: list[dict[str, Any]], event_type: str) -> list[dict[str, Any]]:
    return [e for e in events if e["type"] == event_type]
