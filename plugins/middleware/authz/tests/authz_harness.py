"""A real workload chain for the authorization tests (``toolhive.testing.chains``): the test MCP
server (``authz_server.py``) on stdio behind the stdio bridge and the proxy app, the chain built
from a RunConfig's ``authz_config`` the way the supervisor builds it (core's ``mcp-parser`` and
``recovery`` around the plugin), on a real port. The ``auth`` plugin is not used: a tiny outer middleware puts the
caller's :class:`Identity` in the scope from an ``x-test-claims`` header (JSON claims)."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from toolhive.contracts.middleware import Identity, set_identity
from toolhive.testing import chains
from toolhive.testing.chains import RawSession, workload_proxy
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
    ``oidc_config``, the real ``auth`` plugin outside it; else the claims header in front)."""
    from toolhive.models.runconfig import RunConfig
    from toolhive.plugins import Hooks, build_plugin_manager

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
    async with workload_proxy(
        hooks,
        run_config,
        server=SERVER,
        proxy_mode=proxy_mode,
        arrange=lambda chain: [with_identity, *chain],
    ) as proxy:
        expected = ["mcp-parser", "authorization", "recovery"]
        assert proxy.chain == (["auth"] if oidc_config else []) + expected
        yield proxy.base


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


@contextlib.asynccontextmanager
async def raw_session(
    base: str, claims: Mapping[str, Any] | None, headers: Mapping[str, str] | None = None
) -> AsyncIterator[RawSession]:
    """A started :class:`RawSession` on ``base``'s ``/mcp`` as the caller ``claims``."""
    async with chains.raw_session(
        f"{base}/mcp", {**claims_header(claims), **(headers or {})}
    ) as session:
        yield session
