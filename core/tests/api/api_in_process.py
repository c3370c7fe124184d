"""The ``thv serve`` app in-process for the groups/clients/secrets/registry API tests."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from toolhive.api.app import build_app
from toolhive.api.state import api_state


class InProcess:
    """A synchronous face over the ASGI app (one event loop per request), so the tests read
    like the subprocess ones."""

    def __init__(self, hooks: Any) -> None:
        self.hooks = hooks
        self.app = build_app(api_state(hooks))

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        async def go() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://thv") as client:
                return await client.request(method, url, **kwargs)

        return asyncio.run(go())

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)

    def put(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("PUT", url, **kwargs)

    def delete(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("DELETE", url, **kwargs)
