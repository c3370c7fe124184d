"""The middleware contract suite: a middleware type validates its parameters, wraps an ASGI app
without touching it, lets an acceptable request through unchanged, and works in a real chain.

Parameters are validated the way the host validates a RunConfig's ``middleware_configs`` entry
(:func:`toolhive.middleware.plan.resolve`); the chain test builds a workload's chain as the
supervisor does (``checked_chain`` + ``wrappers``, with core's ``mcp-parser`` and ``recovery``
around it) in front of the stdio bridge and the SDK echo server, and runs an MCP session through it.
"""

from __future__ import annotations

import asyncio
import inspect
import json
from typing import TYPE_CHECKING, Any, ClassVar

import pytest

from toolhive.testing.mcp_servers import echo_session
from toolhive.testing.plugin_contract import SettingsContract

if TYPE_CHECKING:
    from toolhive.contracts.middleware import MiddlewareContext
    from toolhive.middleware.plan import Resolved
    from toolhive.plugins import Hooks
    from toolhive.web.asgi import Message, Receive, Scope, Send

#: A JSON-RPC tools/call, as a client would POST it.
TOOL_CALL = (
    b'{"jsonrpc":"2.0","id":7,"method":"tools/call",'
    b'"params":{"name":"echo","arguments":{"text":"through \\u2713"}}}'
)


class InnerApp:
    """The app a middleware wraps: records each request and answers with what it received."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        self.requests.append({"path": scope["path"], "body": body, "headers": headers})
        answer = json.dumps({"received": len(body)}).encode()
        start: Message = {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"), (b"x-inner", b"yes")],
        }
        await send(start)
        await send({"type": "http.response.body", "body": answer})


class MiddlewareContract(SettingsContract):
    """Subclass it, set ``name`` (and ``entry_point``), and:

    ``parameters``
        A valid ``parameters`` object for the middleware entry, used by every test.
    ``invalid_parameters``
        Objects the middleware must refuse (besides unknown keys, always checked).
    ``request_headers``
        Headers a request needs to be let through (a token for an auth middleware …); a suite
        whose headers are made per test (a token from a test issuer) overrides the
        ``middleware_request_headers`` fixture instead.
    ``rewrites_requests``
        True if the middleware may change the body it passes on.
    """

    kind = "middleware"
    parameters: ClassVar[dict[str, Any]] = {}
    invalid_parameters: ClassVar[tuple[dict[str, Any], ...]] = ()
    request_headers: ClassVar[dict[str, str]] = {}
    rewrites_requests: ClassVar[bool] = False

    @pytest.fixture
    def plugin_config(self) -> dict[str, Any]:
        return dict(self.parameters)

    def load_with(self, hooks: Hooks, config: dict[str, Any]) -> Resolved:
        from toolhive.middleware.plan import Entry, resolve

        (resolved,) = resolve([Entry(self.name, config, "the contract test")], hooks.middleware())
        return resolved

    def context(self, url: str = "http://127.0.0.1:8080/mcp") -> MiddlewareContext:
        """What the supervisor tells a factory about the workload."""
        from toolhive.contracts.middleware import MiddlewareContext

        return MiddlewareContext(
            workload="contract", transport="stdio", proxy_mode="streamable-http", url=url
        )

    @pytest.fixture
    def middleware_request_headers(self) -> dict[str, str]:
        return dict(self.request_headers)

    @pytest.fixture
    def resolved(self, plugin_hooks: Hooks, plugin_config: dict[str, Any]) -> Resolved:
        return self.load_with(plugin_hooks, plugin_config)

    # -- parameters ---------------------------------------------------------------------------

    def test_its_parameters_validate_into_its_model(
        self, resolved: Resolved, plugin_spec: Any
    ) -> None:
        assert isinstance(resolved.config, plugin_spec.config_model)

    def test_invalid_parameters_are_refused(self, plugin_hooks: Hooks) -> None:
        from toolhive.errors import InvalidInputError

        for bad in self.invalid_parameters:
            with pytest.raises(InvalidInputError, match=f"{self.name} middleware"):
                self.load_with(plugin_hooks, bad)

    # -- the factory --------------------------------------------------------------------------

    def test_its_factory_wraps_an_app_without_calling_it(self, resolved: Resolved) -> None:
        inner = InnerApp()
        app = resolved.spec.factory(inner, resolved.config, self.context())
        assert app is not inner and callable(app)
        call = app if inspect.isfunction(app) else type(app).__call__
        assert inspect.iscoroutinefunction(call), "an ASGI app is an async callable"
        assert inner.requests == []

    def test_an_acceptable_request_passes_through(
        self, resolved: Resolved, middleware_request_headers: dict[str, str]
    ) -> None:
        import httpx

        inner = InnerApp()
        app = resolved.spec.factory(inner, resolved.config, self.context())
        headers = {
            "content-type": "application/json",
            "accept": "application/json, text/event-stream",
            **middleware_request_headers,
        }

        async def post() -> httpx.Response:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
                return await http.post("/mcp", content=TOOL_CALL, headers=headers)

        response = asyncio.run(post())
        assert response.status_code == 200, response.text
        assert response.headers.get("x-inner") == "yes", "the inner app's answer was replaced"
        (seen,) = inner.requests
        assert seen["path"] == "/mcp"
        if not self.rewrites_requests:
            assert seen["body"] == TOOL_CALL
        assert response.json() == {"received": len(seen["body"])}

    def test_each_workload_start_gets_its_own_app(self, resolved: Resolved) -> None:
        first = resolved.spec.factory(InnerApp(), resolved.config, self.context())
        second = resolved.spec.factory(InnerApp(), resolved.config, self.context())
        assert first is not second

    # -- a real chain -------------------------------------------------------------------------

    def test_it_runs_in_a_workloads_chain(
        self,
        plugin_hooks: Hooks,
        plugin_config: dict[str, Any],
        middleware_request_headers: dict[str, str],
    ) -> None:
        """``middleware_configs`` names it; the supervisor's chain (with core's parser and
        recovery) wraps the stdio bridge; an MCP client session goes through."""
        from toolhive.models.runconfig import RunConfig
        from toolhive.testing.chains import workload_proxy

        config = RunConfig(
            name="contract",
            transport="stdio",
            port=0,
            target_port=0,
            middleware_configs=[{"type": self.name, "parameters": plugin_config}],
        )

        async def session() -> str:
            async with workload_proxy(plugin_hooks, config) as proxy:
                assert self.name in proxy.chain and "recovery" in proxy.chain, proxy.chain
                result = await echo_session(
                    proxy.url, headers=middleware_request_headers, text="chained ✓"
                )
                return result.echoed

        assert asyncio.run(session()) == "chained ✓"
