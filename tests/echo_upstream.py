"""The echo fixture's MCP server (official SDK, streamable HTTP) on a free 127.0.0.1 port, served by
uvicorn on a thread of the test process, behind a hook that sees every request first.

Tests subclass :class:`EchoUpstream` and override :meth:`EchoUpstream.refuse` to record what reached
the upstream and to answer an error instead of the server (503 on demand, 401 without a key, …).
"""

from __future__ import annotations

import asyncio
import importlib.util
import threading
from typing import Any, Self

from tests.conftest import FIXTURES


class EchoUpstream:
    def __init__(self) -> None:
        self.port = 0
        self._ready = threading.Event()
        self._server: Any = None
        self._thread = threading.Thread(target=self._run, name=type(self).__name__, daemon=True)

    def refuse(self, scope: dict[str, Any]) -> tuple[int, bytes] | None:
        """Called for every HTTP request: ``(status, body)`` to answer instead of the server."""
        return None

    def _app(self) -> Any:
        from mcp.server.transport_security import TransportSecuritySettings

        name = f"echo_upstream_{id(self)}"
        spec = importlib.util.spec_from_file_location(name, FIXTURES / "echo_server.py")
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        inner = module.server.streamable_http_app(
            streamable_http_path="/mcp",
            transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
        )

        async def app(scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] == "http":
                refusal = self.refuse(scope)
                if refusal is not None:
                    status, body = refusal
                    await send({"type": "http.response.start", "status": status, "headers": []})
                    await send({"type": "http.response.body", "body": body})
                    return
            await inner(scope, receive, send)

        return app

    def _run(self) -> None:
        from toolhive.proxy.server import ProxyServer, bind_socket

        sock = bind_socket("127.0.0.1", 0)
        self.port = sock.getsockname()[1]
        self._server = ProxyServer(self._app(), sock, handle_signals=False, lifespan="on")

        async def main() -> None:
            task = asyncio.create_task(self._server.serve())
            await self._server.wait_started(task)
            self._ready.set()
            await task

        asyncio.run(main())

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/mcp"

    def __enter__(self) -> Self:
        self._thread.start()
        assert self._ready.wait(30), "the upstream did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.request_stop()
        self._thread.join(15)
