"""The reverse proxy with upstream credentials (``TransportOptions.upstream_auth``), in front of a
real HTTP upstream that records what it received and refuses tokens it does not accept.

The credentials here are a small implementation of the :class:`UpstreamAuth` protocol that hands
out numbered tokens; the OAuth and bearer implementations are tested against a real
authorization server in ``core/tests/workloads/test_upstream_auth.py``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from harness import serve
from toolhive.proxy.app import build_proxy_app
from toolhive.transports.base import (
    TransportOptions,
    UpstreamAuth,
    UpstreamAuthError,
    UpstreamAuthRetrying,
)
from toolhive.transports.reverse_proxy import ReverseProxy

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]


class Recorder:
    """Answers 201 with what it received, or 401 (with a challenge) to refused tokens."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str | None, int]] = []  # method, authorization, body length
        self.refused: set[str] = set()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                await send({"type": message["type"] + ".complete"})
                if message["type"] == "lifespan.shutdown":
                    return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        authorization = headers.get("authorization")
        self.seen.append((scope["method"], authorization, len(body)))
        if authorization is None or authorization in self.refused:
            await send(
                {
                    "type": "http.response.start",
                    "status": 401,
                    "headers": [(b"www-authenticate", b'Bearer realm="upstream"')],
                }
            )
            await send({"type": "http.response.body", "body": b"refused"})
            return
        data = json.dumps({"authorization": authorization}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 201,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": data})


class NumberedTokens:
    """``Bearer t1``, and ``Bearer t2`` … after each 401 (unless ``recover`` is off)."""

    def __init__(self, *, recover: bool = True, error: UpstreamAuthError | None = None) -> None:
        self.number = 1
        self.recover = recover
        self.error = error
        self.refused: list[str] = []

    async def authorization(self) -> str:
        if self.error is not None:
            raise self.error
        return f"Bearer t{self.number}"

    async def unauthorized(self, refused: str) -> bool:
        self.refused.append(refused)
        if self.recover and refused == f"Bearer t{self.number}":
            self.number += 1
        return self.recover


async def test_the_credentials_implement_the_protocol() -> None:
    assert isinstance(NumberedTokens(), UpstreamAuth)


@pytest.fixture
async def upstream() -> AsyncIterator[tuple[Recorder, str]]:
    recorder = Recorder()
    async with serve(recorder) as base:
        yield recorder, f"{base}/mcp"


def proxied_app(target: str, auth: UpstreamAuth | None) -> tuple[ReverseProxy, Any]:
    proxy = ReverseProxy(
        TransportOptions(workload="t", target_url=target, remote=True, upstream_auth=auth)
    )
    return proxy, build_proxy_app(proxy, transport_name="streamable-http", health_interval=0.0)


async def test_every_upstream_request_carries_the_credentials_never_the_clients(
    upstream: tuple[Recorder, str],
) -> None:
    recorder, target = upstream
    proxy, app = proxied_app(target, NumberedTokens())
    async with serve(app) as base, httpx.AsyncClient() as http:
        mine = {"Authorization": "Bearer for-the-proxy"}
        posted = await http.post(f"{base}/mcp", json={"jsonrpc": "2.0"}, headers=mine)
        got = await http.get(f"{base}/mcp", headers=mine)
        await proxy.ping(5)
    assert posted.status_code == got.status_code == 201
    assert [auth for _m, auth, _n in recorder.seen] == ["Bearer t1"] * 3
    assert [method for method, _a, _n in recorder.seen] == ["POST", "GET", "POST"]


async def test_a_401_is_retried_once_with_the_refreshed_credentials(
    upstream: tuple[Recorder, str],
) -> None:
    recorder, target = upstream
    recorder.refused.add("Bearer t1")
    auth = NumberedTokens()
    _proxy, app = proxied_app(target, auth)
    async with serve(app) as base, httpx.AsyncClient() as http:
        answer = await http.post(f"{base}/mcp", content=b'{"id":1}')
    assert answer.status_code == 201
    assert answer.json() == {"authorization": "Bearer t2"}
    assert auth.refused == ["Bearer t1"]
    assert recorder.seen == [("POST", "Bearer t1", 8), ("POST", "Bearer t2", 8)]


async def test_a_streamed_body_is_not_replayed_and_the_401_loses_the_upstreams_challenge(
    upstream: tuple[Recorder, str],
) -> None:
    recorder, target = upstream
    recorder.refused.add("Bearer t1")
    auth = NumberedTokens()
    _proxy, app = proxied_app(target, auth)

    async def chunks() -> AsyncIterator[bytes]:
        for part in (b'{"id":', b"1}"):
            yield part

    async with serve(app) as base, httpx.AsyncClient() as http:
        answer = await http.post(f"{base}/mcp", content=chunks())
    assert answer.status_code == 401
    assert "www-authenticate" not in answer.headers
    assert auth.refused == ["Bearer t1"]  # told, so the next request has the new token
    assert recorder.seen == [("POST", "Bearer t1", 8)]


async def test_credentials_refused_twice_are_reported_twice_and_the_401_passed_on(
    upstream: tuple[Recorder, str],
) -> None:
    recorder, target = upstream
    recorder.refused |= {"Bearer t1", "Bearer t2"}
    auth = NumberedTokens()
    _proxy, app = proxied_app(target, auth)
    async with serve(app) as base, httpx.AsyncClient() as http:
        answer = await http.post(f"{base}/mcp", content=b"{}")
    assert answer.status_code == 401 and answer.text == "refused"
    assert auth.refused == ["Bearer t1", "Bearer t2"]
    assert len(recorder.seen) == 2


@pytest.mark.parametrize(
    ("error", "status", "retry_after"),
    [
        (UpstreamAuthRetrying("token refresh failing; try later"), 503, "10"),
        (UpstreamAuthError("sign in again: thv restart t"), 401, None),
    ],
)
async def test_without_usable_credentials_the_client_gets_the_reason_and_the_upstream_nothing(
    upstream: tuple[Recorder, str],
    error: UpstreamAuthError,
    status: int,
    retry_after: str | None,
) -> None:
    recorder, target = upstream
    _proxy, app = proxied_app(target, NumberedTokens(error=error))
    async with serve(app) as base, httpx.AsyncClient() as http:
        answer = await http.post(
            f"{base}/mcp", json={"jsonrpc": "2.0", "id": "req-9", "method": "tools/list"}
        )
    assert answer.status_code == status
    assert answer.headers.get("retry-after") == retry_after
    assert answer.json()["id"] == "req-9"
    assert answer.json()["error"]["message"] == str(error)
    assert recorder.seen == []


async def test_without_upstream_credentials_the_clients_authorization_is_forwarded(
    upstream: tuple[Recorder, str],
) -> None:
    _recorder, target = upstream
    _proxy, app = proxied_app(target, None)
    async with serve(app) as base, httpx.AsyncClient() as http:
        answer = await http.post(f"{base}/mcp", headers={"Authorization": "Bearer c"})
        refused = await http.post(f"{base}/mcp")
    assert answer.status_code == 201 and answer.json() == {"authorization": "Bearer c"}
    # Without credentials of its own the proxy leaves the upstream's challenge to the client.
    assert refused.status_code == 401 and "www-authenticate" in refused.headers
