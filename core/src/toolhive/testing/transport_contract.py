"""The transport contract suite: a transport turns a running server into the ASGI app the proxy
serves, and real MCP clients talk through it.

Each test does what the supervisor does (:mod:`toolhive.workloads.supervisor`): load the spec's
factory, build the transport from :class:`~toolhive.contracts.transport.TransportOptions` (the
server's stdin/stdout when ``needs_stdio``, else its URL), ``start()`` it, serve it behind the proxy
app on a real port, and ``aclose()`` it at the end. The server is the SDK echo server
(:mod:`toolhive.testing.echo_server`), a real child process.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, ClassVar

import pytest

from toolhive.testing.mcp_servers import (
    ECHO_SERVER_NAME,
    echo_session,
    http_echo_server,
    served,
    stdio_echo_server,
)
from toolhive.testing.plugin_contract import PluginContract

if TYPE_CHECKING:
    from toolhive.contracts.transport import Transport, TransportFactory
    from toolhive.plugins import Hooks


class TransportContract(PluginContract):
    """Subclass it, set ``name`` (and ``entry_point``), and if needed:

    ``server_mode``
        What the echo server speaks for a transport without ``needs_stdio``: ``sse`` or
        ``streamable-http`` (default: the transport's own name).
    ``proxy_modes``
        The ``proxy_mode`` values to serve clients with (a stdio bridge offers ``sse`` too).

    A transport for another kind of server overrides :meth:`server` (an async context manager
    yielding the ``TransportOptions`` fields that reach it, plus a ``kill`` callable).
    """

    kind = "transports"
    server_mode: ClassVar[str | None] = None
    proxy_modes: ClassVar[tuple[str, ...]] = ("streamable-http",)

    @pytest.fixture
    def factory(self, plugin_hooks: Hooks) -> TransportFactory:
        return plugin_hooks.load("transports", self.name)

    @contextlib.asynccontextmanager
    async def server(self, spec: Any) -> AsyncIterator[dict[str, Any]]:
        """A running echo server: ``stdio`` or ``target_url`` for the options, and ``kill``."""
        if spec.needs_stdio:
            async with stdio_echo_server() as stdio:
                yield {"stdio": stdio.channel, "kill": stdio.kill}
        else:
            async with http_echo_server(self.server_mode or self.name) as http:
                yield {"target_url": http.url, "kill": http.kill}

    def client_path(self, proxy_mode: str) -> tuple[str, bool]:
        """Where a client connects on the proxy, and whether it speaks legacy SSE."""
        sse = proxy_mode == "sse" or (self.server_mode or self.name) == "sse"
        return ("/sse" if sse else "/mcp"), sse

    @contextlib.asynccontextmanager
    async def running(
        self, factory: TransportFactory, spec: Any, proxy_mode: str = "streamable-http"
    ) -> AsyncIterator[tuple[str, Transport, dict[str, Any]]]:
        """The transport over a fresh server, started and served: (client URL, transport, server)."""
        from toolhive.contracts.transport import TransportOptions
        from toolhive.proxy.app import build_proxy_app

        async with self.server(spec) as server:
            fields = {k: v for k, v in server.items() if k != "kill"}
            options = TransportOptions(
                workload="contract", transport=self.name, proxy_mode=proxy_mode, **fields
            )
            transport = factory(options)
            await transport.start()
            try:
                app = build_proxy_app(
                    transport, transport_name=self.name, health_interval=0.0, manage_lifespan=False
                )
                async with served(app) as base:
                    path, _ = self.client_path(proxy_mode)
                    yield f"{base}{path}", transport, server
            finally:
                await asyncio.wait_for(transport.aclose(), 15)

    # -- the tests ----------------------------------------------------------------------------

    def test_its_factory_builds_a_transport(
        self, factory: TransportFactory, plugin_spec: Any
    ) -> None:
        from toolhive.contracts.transport import Transport

        assert callable(factory)

        async def build() -> Transport:
            async with self.server(plugin_spec) as server:
                from toolhive.contracts.transport import TransportOptions

                fields = {k: v for k, v in server.items() if k != "kill"}
                transport = factory(TransportOptions(workload="contract", **fields))
                assert isinstance(transport, Transport), type(transport)
                for method in ("__call__", "start", "aclose", "ping"):
                    assert inspect.iscoroutinefunction(getattr(transport, method)), method
                return transport

        asyncio.run(build())

    def test_a_client_session_runs_through_it(
        self, factory: TransportFactory, plugin_spec: Any
    ) -> None:
        async def check(proxy_mode: str) -> None:
            async with self.running(factory, plugin_spec, proxy_mode) as (url, transport, _):
                _, sse = self.client_path(proxy_mode)
                session = await echo_session(url, sse=sse, text=f"{proxy_mode} ✓")
                assert session.server_name == ECHO_SERVER_NAME
                assert {"echo", "add"} <= session.tools
                assert (session.echoed, session.added) == (f"{proxy_mode} ✓", "42")
                await transport.ping(5.0)

        for mode in self.proxy_modes:
            asyncio.run(check(mode))

    def test_concurrent_sessions_each_get_their_own_answers(
        self, factory: TransportFactory, plugin_spec: Any
    ) -> None:
        async def check() -> None:
            async with self.running(factory, plugin_spec, self.proxy_modes[0]) as (url, _, _):
                _, sse = self.client_path(self.proxy_modes[0])
                texts = [f"session {n} ✓" for n in range(4)]
                sessions = await asyncio.gather(
                    *(echo_session(url, sse=sse, text=t) for t in texts)
                )
                assert [s.echoed for s in sessions] == texts

        asyncio.run(check())

    def test_ping_fails_promptly_once_the_server_is_gone(
        self, factory: TransportFactory, plugin_spec: Any
    ) -> None:
        """The health loop marks a workload unhealthy from failed pings: a dead server must make
        ``ping`` raise, not hang or pass."""

        async def check() -> None:
            async with self.running(factory, plugin_spec) as (_, transport, server):
                await transport.ping(5.0)
                await server["kill"]()
                loop = asyncio.get_running_loop()
                started = loop.time()
                try:
                    await asyncio.wait_for(transport.ping(2.0), 10)
                except Exception:  # any failure will do, as long as it comes in time
                    elapsed = loop.time() - started
                else:
                    pytest.fail("ping succeeded with the server gone")
                assert elapsed < 8, f"ping(timeout=2) took {elapsed:.1f} s to fail"

        asyncio.run(check())

    def test_aclose_ends_it_promptly_and_twice_is_harmless(
        self, factory: TransportFactory, plugin_spec: Any
    ) -> None:
        async def check() -> None:
            async with self.running(factory, plugin_spec) as (url, transport, _):
                _, sse = self.client_path(self.proxy_modes[0])
                await echo_session(url, sse=sse)
                await asyncio.wait_for(transport.aclose(), 15)
            # ``running`` closed it a second time on the way out.

        asyncio.run(check())
