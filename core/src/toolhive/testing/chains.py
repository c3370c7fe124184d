"""A workload's proxy with its middleware chain, in-process, for middleware tests.

:func:`workload_proxy` builds what the supervisor builds for a RunConfig — the checked chain
(``checked_chain``: the plugin's entries plus core's ``mcp-parser`` and ``recovery``, in ToolHive's
order), each factory called with a :class:`MiddlewareContext`, routes a middleware mounts — in
front of the stdio bridge and a real MCP server on stdio (or, with ``transport="sse"`` /
``"streamable-http"``, the server speaking HTTP behind core's reverse proxy), served on a free
loopback port; the context's ``url`` is the served MCP endpoint. :class:`RawSession` speaks streamable HTTP by hand, so a test sees statuses and bodies exactly::

    hooks = plugin_hooks_for("middleware-authz")
    async with workload_proxy(hooks, RunConfig(name="w", authz_config=...)) as proxy:
        async with raw_session(proxy.url, headers={"authorization": "Bearer ..."}) as mcp:
            status, answer = await mcp.rpc("tools/list")
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from toolhive.testing.mcp_servers import (
    ECHO_SERVER,
    INITIALIZE_PARAMS,
    http_echo_server,
    served,
    stdio_echo_server,
)

if TYPE_CHECKING:
    import httpx

    from toolhive.contracts.middleware import ASGIApp, MiddlewareContext
    from toolhive.models.runconfig import RunConfig
    from toolhive.plugins import Hooks

__all__ = ["ProxiedWorkload", "RawSession", "answer_of", "raw_session", "workload_proxy"]

#: ``arrange(chain) -> chain``: insert test stand-ins between the chain's wrappers.
Arrange = Callable[[list[Callable[["ASGIApp"], "ASGIApp"]]], list[Callable[["ASGIApp"], "ASGIApp"]]]
#: ``factory(app, config, context) -> app``: builds one chain entry instead of its plugin's factory
#: (e.g. with test exporters); ``config`` is the entry's validated parameters.
Factory = Callable[["ASGIApp", Any, "MiddlewareContext"], "ASGIApp"]


@dataclass
class ProxiedWorkload:
    """A served proxy: ``base`` (``http://127.0.0.1:PORT``), ``url`` (the MCP endpoint clients
    use: ``/mcp``, or ``/sse`` in SSE proxy mode) and the chain's types, outermost first."""

    base: str
    url: str
    chain: list[str] = field(default_factory=list)


@contextlib.asynccontextmanager
async def workload_proxy(
    hooks: Hooks,
    config: RunConfig,
    *,
    server: Sequence[str] = ECHO_SERVER,
    proxy_mode: str = "streamable-http",
    transport: str = "stdio",
    arrange: Arrange | None = None,
    factories: Mapping[str, Factory] | None = None,
) -> AsyncIterator[ProxiedWorkload]:
    """Serve ``config``'s chain (from the plugins ``hooks`` load) in front of ``server``.

    ``transport`` other than ``stdio``: ``server`` speaks it on a free port behind core's reverse
    proxy (clients then speak the server's protocol: ``/sse`` for ``sse``). ``factories`` builds
    the entries of the named types instead of their plugins' factories."""
    from toolhive.contracts.middleware import MiddlewareContext
    from toolhive.contracts.transport import TransportOptions
    from toolhive.middleware.chain import checked_chain, mounter, wrappers
    from toolhive.proxy.app import build_proxy_app
    from toolhive.proxy.server import bind_socket

    chain = checked_chain(config, hooks.middleware())
    mode = "sse" if transport == "sse" else proxy_mode if transport == "stdio" else transport
    # Bound before the chain is built, so the context's url is the endpoint clients use.
    sock = bind_socket("127.0.0.1", 0)
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    url = f"{base}/sse" if mode == "sse" else f"{base}/mcp"
    routes: dict[str, ASGIApp] = {}
    context = MiddlewareContext(
        workload=config.name,
        transport=transport,
        proxy_mode=mode,
        url=url,
        group=config.group or "default",
        mount=mounter(routes),
    )
    middleware = wrappers(chain, context)
    for index, item in enumerate(chain):
        factory = (factories or {}).get(item.entry.type)
        if factory is not None:
            middleware[index] = _bound(factory, item.config, context)
    if arrange is not None:
        middleware = arrange(middleware)
    bridge_factory = hooks.load("transports", transport)
    async with contextlib.AsyncExitStack() as stack:
        stack.callback(sock.close)
        if transport == "stdio":
            process = await stack.enter_async_context(stdio_echo_server(server))
            options = TransportOptions(
                workload=config.name, stdio=process.channel, proxy_mode=proxy_mode
            )
        else:
            http = await stack.enter_async_context(http_echo_server(transport, server))
            options = TransportOptions(
                workload=config.name, transport=transport, target_url=http.url
            )
        bridge = bridge_factory(options)
        await bridge.start()
        try:
            app = build_proxy_app(
                bridge,
                transport_name=transport,
                middleware=middleware,
                health_interval=0.0,
                manage_lifespan=False,
                routes=routes,
            )
            async with served(app, sock=sock):
                types = [item.entry.type for item in chain]
                yield ProxiedWorkload(base=base, url=url, chain=types)
        finally:
            await bridge.aclose()


def _bound(
    factory: Factory, config: Any, context: MiddlewareContext
) -> Callable[[ASGIApp], ASGIApp]:
    def wrap(app: ASGIApp) -> ASGIApp:
        return factory(app, config, context)

    return wrap


def answer_of(response: httpx.Response) -> dict[str, Any]:
    """The JSON-RPC answer in a JSON body or an SSE stream (server requests skipped)."""
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        for line in response.text.splitlines():
            if line.startswith("data:"):
                data = json.loads(line[5:])
                if "method" not in data:
                    return data  # type: ignore[no-any-return]
        msg = f"no answer in {response.text!r}"
        raise AssertionError(msg)
    return response.json()  # type: ignore[no-any-return]


class RawSession:
    """One streamable-HTTP MCP session by hand (``initialize`` + ``initialized`` on start)."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        url: str,
        headers: Mapping[str, str] | None = None,
        init_params: Mapping[str, Any] | None = None,
    ) -> None:
        self.http = http
        self.url = url
        self.init_params = dict(init_params or INITIALIZE_PARAMS)
        self.headers = {
            "accept": "application/json, text/event-stream",
            "content-type": "application/json",
            **(headers or {}),
        }
        self.next_id = 0

    async def start(self) -> httpx.Response:
        response = await self.post(
            {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": self.init_params}
        )
        if response.status_code != 200:
            return response
        self.headers["mcp-session-id"] = response.headers["mcp-session-id"]
        self.headers["mcp-protocol-version"] = str(self.init_params["protocolVersion"])
        sent = await self.post({"jsonrpc": "2.0", "method": "notifications/initialized"})
        assert sent.status_code == 202, sent.text
        return response

    async def post(self, body: Any, **headers: str) -> httpx.Response:
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        return await self.http.post(self.url, content=content, headers={**self.headers, **headers})

    async def request(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        *,
        id: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """POST one request with ``id`` (else the next id) and the session's headers updated by
        ``headers``; the raw response."""
        if id is None:
            self.next_id += 1
            id = self.next_id
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": id, "method": method}
        if params is not None:
            message["params"] = params
        return await self.post(message, **(headers or {}))

    async def rpc(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        *,
        id: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> tuple[int, dict[str, Any]]:
        """``(HTTP status, the JSON-RPC answer)``."""
        response = await self.request(method, params, id=id, headers=headers)
        return response.status_code, answer_of(response)


@contextlib.asynccontextmanager
async def raw_session(
    url: str,
    headers: Mapping[str, str] | None = None,
    *,
    init_params: Mapping[str, Any] | None = None,
    start: bool = True,
) -> AsyncIterator[RawSession]:
    """A :class:`RawSession` on ``url``, initialized unless ``start`` is false."""
    import httpx

    async with httpx.AsyncClient(timeout=30) as http:
        session = RawSession(http, url, headers, init_params)
        if start:
            response = await session.start()
            assert response.status_code == 200, response.text
        yield session
