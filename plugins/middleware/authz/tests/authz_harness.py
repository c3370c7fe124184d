"""A real workload chain for the authorization tests: the test MCP server (``authz_server.py``) on
stdio behind the stdio bridge and the proxy app, the chain built from a RunConfig's
``authz_config`` the way the supervisor builds it (core's ``mcp-parser`` and ``recovery`` around
the plugin), on a real port. The ``auth`` plugin is not used: a tiny outer middleware puts the
caller's :class:`Identity` in the scope from an ``x-test-claims`` header (JSON claims)."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from toolhive.contracts.middleware import Identity, MiddlewareContext, set_identity
from toolhive.testing.mcp_servers import INITIALIZE_PARAMS, served, stdio_echo_server
from toolhive.testing.plugin_contract import plugin_hooks_for

if TYPE_CHECKING:
    from toolhive.contracts.middleware import ASGIApp
    from toolhive.contracts.transport import Receive, Scope, Send

SERVER = (sys.executable, str(Path(__file__).with_name("authz_server.py")))
WORKLOAD = "authz-test"
ALL_TOOLS = frozenset({"echo", "add", "lookup", "wipe"})


def authz_config(*policies: str, **options: Any) -> dict[str, Any]:
    return {
        "version": "1.0",
        "type": "cedarv1",
        "cedar": {"policies": list(policies), "entities_json": "[]", **options},
    }


def with_identity(app: ASGIApp) -> ASGIApp:
    """What the auth middleware does, minus the token: the claims header becomes the caller."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        for key, value in scope.get("headers", []):
            if key == b"x-test-claims":
                claims = json.loads(value)
                set_identity(scope, Identity(subject=claims.get("sub", ""), claims=claims))
        await app(scope, receive, send)

    return wrapped


@contextlib.asynccontextmanager
async def proxied(
    config: Mapping[str, Any],
    *,
    proxy_mode: str = "streamable-http",
    oidc_config: Mapping[str, Any] | None = None,
) -> AsyncIterator[str]:
    """The proxy's base URL, with ``config`` as the workload's ``authz_config`` (and, with
    ``oidc_config``, the real ``auth`` plugin outside it)."""
    from toolhive.contracts.transport import TransportOptions
    from toolhive.middleware.chain import checked_chain, wrappers
    from toolhive.models.runconfig import RunConfig
    from toolhive.plugins import Hooks, build_plugin_manager
    from toolhive.proxy.app import build_proxy_app

    if oidc_config is None:
        hooks = plugin_hooks_for("middleware-authz")
    else:
        allow = {"TOOLHIVE_LOAD_PLUGINS": "middleware-authz,middleware-auth"}
        hooks = Hooks(build_plugin_manager(autoload=True, environ=allow))
    run_config = RunConfig(
        name=WORKLOAD,
        transport="stdio",
        port=0,
        target_port=0,
        authz_config=dict(config),
        oidc_config=dict(oidc_config) if oidc_config else None,
    )
    chain = checked_chain(run_config, hooks.middleware())
    expected = ["mcp-parser", "authorization", "recovery"]
    assert [item.entry.type for item in chain] == (["auth"] if oidc_config else []) + expected
    context = MiddlewareContext(
        workload=WORKLOAD, transport="stdio", proxy_mode=proxy_mode, url="http://127.0.0.1/mcp"
    )
    bridge_factory = hooks.load("transports", "stdio")
    async with stdio_echo_server(SERVER) as server:
        options = TransportOptions(workload=WORKLOAD, stdio=server.channel, proxy_mode=proxy_mode)
        bridge = bridge_factory(options)
        await bridge.start()
        try:
            app = build_proxy_app(
                bridge,
                transport_name="stdio",
                middleware=[with_identity, *wrappers(chain, context)],
                health_interval=0.0,
                manage_lifespan=False,
            )
            async with served(app) as base:
                yield base
        finally:
            await bridge.aclose()


def claims_header(claims: Mapping[str, Any] | None) -> dict[str, str]:
    return {"x-test-claims": json.dumps(claims)} if claims is not None else {}


@contextlib.asynccontextmanager
async def sdk_client(
    base: str,
    claims: Mapping[str, Any] | None,
    *,
    sse: bool = False,
    headers: Mapping[str, str] | None = None,
) -> AsyncIterator[Any]:
    """An initialized official MCP client session through the proxy."""
    import httpx2
    from mcp import Client
    from mcp.client.sse import sse_client
    from mcp.client.streamable_http import streamable_http_client

    headers = {**claims_header(claims), **(headers or {})}
    async with contextlib.AsyncExitStack() as stack:
        if sse:
            transport = sse_client(f"{base}/sse", headers=headers)
        else:
            http = await stack.enter_async_context(
                httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30, read=60))
            )
            transport = streamable_http_client(f"{base}/mcp", http_client=http)
        yield await stack.enter_async_context(Client(transport))


class RawSession:
    """A streamable-HTTP MCP session by hand, to see statuses and bodies as they are."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        base: str,
        claims: Mapping[str, Any] | None,
        headers: Mapping[str, str] | None = None,
    ):
        self.http = http
        self.url = f"{base}/mcp"
        self.headers = {
            "accept": "application/json, text/event-stream",
            "content-type": "application/json",
            **claims_header(claims),
            **(headers or {}),
        }

    async def start(self) -> None:
        response = await self.post(
            {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": INITIALIZE_PARAMS}
        )
        assert response.status_code == 200, response.text
        self.headers["mcp-session-id"] = response.headers["mcp-session-id"]
        self.headers["mcp-protocol-version"] = INITIALIZE_PARAMS["protocolVersion"]
        sent = await self.post({"jsonrpc": "2.0", "method": "notifications/initialized"})
        assert sent.status_code == 202, sent.text

    async def post(self, body: Any, **headers: str) -> httpx.Response:
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        return await self.http.post(self.url, content=content, headers={**self.headers, **headers})

    async def rpc(
        self, method: str, params: dict[str, Any] | None = None, id: int = 1
    ) -> tuple[int, dict[str, Any]]:
        """``(HTTP status, the JSON-RPC answer)`` (from a JSON body or an SSE stream)."""
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": id, "method": method}
        if params is not None:
            message["params"] = params
        response = await self.post(message)
        return response.status_code, answer_of(response)


def answer_of(response: httpx.Response) -> dict[str, Any]:
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        for line in response.text.splitlines():
            if line.startswith("data:"):
                data = json.loads(line[5:])
                if "method" not in data:
                    return data  # type: ignore[no-any-return]
        raise AssertionError(f"no answer in {response.text!r}")
    return response.json()  # type: ignore[no-any-return]


@contextlib.asynccontextmanager
async def raw_session(
    base: str, claims: Mapping[str, Any] | None, headers: Mapping[str, str] | None = None
) -> AsyncIterator[RawSession]:
    async with httpx.AsyncClient(timeout=30) as http:
        session = RawSession(http, base, claims, headers)
        await session.start()
        yield session
