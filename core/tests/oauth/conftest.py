"""A real OpenID Connect provider (npm oidc-provider) and a headless Chromium for the OAuth tests."""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from toolhive.testing.oauth_server import CHROMIUM, OAuthServer, node_tools, oauth_server


def require_or_skip(reason: str) -> None:
    """Skip locally; fail in CI (TOOLHIVE_TEST_REQUIRE_ENGINES=1), where everything is installed."""
    if os.environ.get("TOOLHIVE_TEST_REQUIRE_ENGINES") == "1":
        pytest.fail(f"required component missing: {reason}")
    pytest.skip(reason)


@pytest.fixture
def idp() -> Iterator[OAuthServer]:
    if node_tools() is None:
        require_or_skip("Node and oidc-provider (scripts/install-node.sh)")
    if not Path(CHROMIUM).exists():
        require_or_skip(f"Chromium at {CHROMIUM} (scripts/install-chromium.sh)")
    with oauth_server(access_token_ttl=3600) as server:
        yield server


@dataclass
class Background:
    """A call run on a thread, with the lines it announced (the login URL) on a queue."""

    lines: queue.Queue[str] = field(default_factory=queue.Queue)
    result: Any = None
    error: BaseException | None = None
    thread: threading.Thread | None = None

    def start(self, fn: Callable[[Callable[[str], None]], Any]) -> Background:
        def run() -> None:
            try:
                self.result = fn(self.lines.put)
            except BaseException as exc:  # handed to the test by join()
                self.error = exc

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        return self

    def url(self, timeout: float = 20) -> str:
        line = self.lines.get(timeout=timeout)
        return line[line.index("http") :]

    def join(self, timeout: float = 60) -> Any:
        assert self.thread is not None
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the login did not finish"
        if self.error is not None:
            raise self.error
        return self.result


@pytest.fixture
def background() -> Callable[[Callable[[Callable[[str], None]], Any]], Background]:
    """``background(fn)`` runs ``fn(announce)`` on a thread: ``.url()`` is the login URL it
    announced, ``.join()`` its result (or its exception)."""
    return lambda fn: Background().start(fn)


# -- a protected MCP-like resource server ------------------------------------------------------


@dataclass
class Protected:
    """A small MCP-like resource server on 127.0.0.1 that validates RS256 JWT access tokens
    (issuer, audience = its resource) against the provider's JWKS.

    ``mode`` says what an unauthenticated POST /mcp gets: ``resource_metadata`` (401, Bearer
    challenge naming the path-specific document), ``well_known`` (401, Bearer without it),
    ``realm`` (401, Bearer realm=<issuer>), ``bare`` (401 without WWW-Authenticate), ``open``
    (200, no authentication). GET /mcp answers 405, as many MCP servers do, unless
    ``challenge_on_get``. ``documents`` holds which RFC 9728 documents are served: ``path``
    (/.well-known/oauth-protected-resource/mcp, resource = :attr:`url`) and ``root``
    (/.well-known/oauth-protected-resource, resource = :attr:`base`)."""

    base: str
    issuer: str = ""
    mode: str = "resource_metadata"
    challenge_on_get: bool = False
    documents: set[str] = field(default_factory=lambda: {"path", "root"})
    scope: str = ""
    path_resource: str = ""
    seen: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"{self.base}/mcp"

    @property
    def path_document(self) -> str:
        return f"{self.base}/.well-known/oauth-protected-resource/mcp"

    def challenge(self, error: str = "") -> dict[str, str]:
        params: list[str] = []
        if self.mode == "resource_metadata":
            params = ['realm="mcp"', f'resource_metadata="{self.path_document}"']
        elif self.mode == "realm":
            params = [f'realm="{self.issuer}"']
        if self.scope and self.mode != "bare":
            params.append(f'scope="{self.scope}"')
        if error and self.mode != "bare":
            params.append(f'error="{error}"')
        if self.mode == "bare":
            return {}
        return {"WWW-Authenticate": ("Bearer " + ", ".join(params)).strip()}

    def document(self, which: str) -> dict[str, Any] | None:
        if which not in self.documents:
            return None
        resource = (self.path_resource or self.url) if which == "path" else self.base
        return {
            "resource": resource,
            "authorization_servers": [self.issuer],
            "scopes_supported": ["mcp:tools"],
            "bearer_methods_supported": ["header"],
        }

    def verify(self, authorization: str) -> dict[str, Any] | None:
        import jwt

        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token or not self.issuer:
            return None
        try:
            key = jwt.PyJWKClient(f"{self.issuer}/jwks").get_signing_key_from_jwt(token)
            claims: dict[str, Any] = jwt.decode(
                token, key.key, algorithms=["RS256"], audience=self.url, issuer=self.issuer
            )
        except jwt.PyJWTError:
            return None
        return claims


@pytest.fixture
def protected() -> Iterator[Protected]:
    import socket

    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    state = Protected(base=f"http://127.0.0.1:{sock.getsockname()[1]}")

    def mcp(request: Request) -> Response:
        state.seen.append(request.method)
        if state.mode == "open":
            return JSONResponse({"jsonrpc": "2.0", "id": 1, "result": {}})
        if request.method == "GET" and not state.challenge_on_get:
            return Response(status_code=405, headers={"Allow": "POST"})
        header = request.headers.get("authorization", "")
        claims = state.verify(header)
        if claims is None:
            error = "invalid_token" if header else ""
            return Response(status_code=401, headers=state.challenge(error))
        return JSONResponse({"jsonrpc": "2.0", "id": 1, "result": {"sub": claims["sub"]}})

    def document(which: str) -> Callable[[Request], Response]:
        def serve(request: Request) -> Response:
            doc = state.document(which)
            return JSONResponse(doc) if doc is not None else Response(status_code=404)

        return serve

    app = Starlette(
        routes=[
            Route("/mcp", mcp, methods=["GET", "POST", "DELETE"]),
            Route("/.well-known/oauth-protected-resource/mcp", document("path")),
            Route("/.well-known/oauth-protected-resource", document("root")),
        ]
    )
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the protected server did not start"
        time.sleep(0.02)
    try:
        yield state
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@pytest.fixture
def resource_idp(protected: Protected) -> Iterator[OAuthServer]:
    """The provider, issuing JWT access tokens for the protected server's resource."""
    if node_tools() is None:
        require_or_skip("Node and oidc-provider (scripts/install-node.sh)")
    if not Path(CHROMIUM).exists():
        require_or_skip(f"Chromium at {CHROMIUM} (scripts/install-chromium.sh)")
    with oauth_server(access_token_ttl=3600, resources=(protected.url,)) as server:
        protected.issuer = server.issuer
        yield server
