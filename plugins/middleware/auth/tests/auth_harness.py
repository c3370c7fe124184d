"""Sending requests through the auth middleware in front of a small app that records the caller."""

from __future__ import annotations

import asyncio
import json
import re
import time
from typing import Any

import httpx
from toolhive.contracts import Identity, MiddlewareContext
from toolhive.contracts.middleware import identity
from toolhive.testing.oidc import OIDCIssuer
from toolhive_middleware_auth import AuthParameters, factory
from toolhive_middleware_auth.fetch import FetchPolicy
from toolhive_middleware_auth.middleware import OIDCMiddleware
from toolhive_middleware_auth.validator import TokenValidator

CONTEXT = MiddlewareContext(
    workload="w", transport="stdio", proxy_mode="streamable-http", url="http://127.0.0.1:8080/mcp"
)
TOOL_CALL = b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo"}}'
LOOPBACK = FetchPolicy(insecure_allow_http=True, allow_private_ip=True)


class Inner:
    """The protected app: answers 200 and records who the middleware said was calling."""

    def __init__(self) -> None:
        self.callers: list[Identity | None] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        while (await receive()).get("more_body"):
            pass
        self.callers.append(identity(scope))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b'{"ok":true}'})


class Clock:
    """Wall and monotonic time that a test can move forward."""

    def __init__(self) -> None:
        self.offset = 0.0

    def wall(self) -> float:
        return time.time() + self.offset

    def monotonic(self) -> float:
        return time.monotonic() + self.offset


def protect(oidc_config: dict[str, Any], context: MiddlewareContext = CONTEXT) -> tuple[Any, Inner]:
    """The middleware as a workload gets it: parameters validated, built by the factory."""
    inner = Inner()
    parameters = AuthParameters.model_validate({"oidc_config": oidc_config})
    return factory(inner, parameters, context), inner


def protect_with_clock(
    issuer: OIDCIssuer, clock: Clock, **validator: Any
) -> tuple[OIDCMiddleware, Inner]:
    """The same middleware over a validator whose clocks the test controls."""
    inner = Inner()
    tokens = TokenValidator(
        issuer=issuer.url,
        audience=issuer.audience,
        policy=LOOPBACK,
        clock=clock.wall,
        monotonic=clock.monotonic,
        **validator,
    )
    return OIDCMiddleware(inner, tokens, resource=CONTEXT.url), inner


async def send(
    app: Any,
    token: str | None = None,
    *,
    method: str = "POST",
    path: str = "/mcp",
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    sent = {"content-type": "application/json", **(headers or {})}
    if token is not None:
        sent["authorization"] = f"Bearer {token}"
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8080") as client:
        content = TOOL_CALL if method == "POST" else None
        return await client.request(method, path, content=content, headers=sent)


def call(app: Any, *tokens: str | None) -> list[httpx.Response]:
    """Each token in turn, in one event loop (as one proxy serves them)."""

    async def all_of() -> list[httpx.Response]:
        return [await send(app, token) for token in tokens]

    return asyncio.run(all_of())


def challenge(response: httpx.Response) -> dict[str, str]:
    """The ``WWW-Authenticate: Bearer k="v", …`` parameters, in order."""
    value = response.headers["www-authenticate"]
    assert value.startswith("Bearer "), value
    return {k: v for k, v in re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', value)}


def refusal(response: httpx.Response) -> dict[str, Any]:
    """A 401's JSON body (RFC 6750), after checking it is one."""
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == "application/json"
    body: dict[str, Any] = json.loads(response.content)
    return body
