"""A remote workload's upstream credentials against a real authorization server (npm oidc-provider),
a real login in headless Chromium, and a real MCP server that accepts only the provider's JWTs for
its own resource, reached through the real reverse proxy with the official MCP client.

The secrets provider is a plugin of the test over one dict, so the test sees what is stored; the
RunConfig is a real state file in a temporary ToolHive home.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from toolhive.contracts import PluginConfig, SecretsProviderSpec
from toolhive.contracts.secrets import SecretNotFoundError, SecretsProviderBase
from toolhive.models.remote import RemoteAuthConfig
from toolhive.models.runconfig import RunConfig
from toolhive.models.workload import WorkloadStatus
from toolhive.oauth import ClientSettings, SecretsStorage, TokenSession
from toolhive.plugins import Hooks, build_plugin_manager
from toolhive.proxy.app import build_proxy_app
from toolhive.secrets.selection import open_secrets
from toolhive.state import store
from toolhive.testing import echo_server as echo_module
from toolhive.testing import make_plugin
from toolhive.testing.mcp_servers import echo_session, free_port, served
from toolhive.testing.oauth_server import (
    CHROMIUM,
    OAuthServer,
    complete_login,
    node_tools,
    oauth_server,
)
from toolhive.transports.base import TransportOptions, UpstreamAuthError
from toolhive.transports.reverse_proxy import ReverseProxy
from toolhive.workloads.upstream_auth import (
    BEARER_REFUSED,
    OAuthUpstream,
    RetryPolicy,
    StaticBearer,
    go_duration,
    upstream_auth_for,
)

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(180)]
S = WorkloadStatus
NAME = "remote-oauth"
KEY = f"OAUTH_REFRESH_TOKEN_{NAME}"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def require_or_skip(reason: str) -> None:
    import os

    if os.environ.get("TOOLHIVE_TEST_REQUIRE_ENGINES") == "1":
        pytest.fail(f"required component missing: {reason}")
    pytest.skip(reason)


# --------------------------------------------------------------------------- components


class MemorySecrets(SecretsProviderBase):
    """A real writable provider over one dict shared by every instance (like a file would be)."""

    name = "memory"
    values: dict[str, str] = {}

    def get_secret(self, name: str) -> str:
        if name not in self.values:
            raise SecretNotFoundError(name)
        return self.values[name]

    def set_secret(self, name: str, value: str) -> None:
        self.values[name] = value

    def delete_secret(self, name: str) -> None:
        self.values.pop(name, None)


ENV = {"TOOLHIVE_SECRETS_PROVIDER": "memory"}


@pytest.fixture
def hooks(thv_home: Any) -> Hooks:
    MemorySecrets.values = {}
    spec = SecretsProviderSpec(
        name="memory", config_model=PluginConfig, load=lambda _c: MemorySecrets()
    )
    plugin = make_plugin("memory-secrets", thv_secrets_providers=lambda: [spec])
    return Hooks(build_plugin_manager(autoload=False, plugins=[plugin]))


def echo_app() -> Any:
    """A fresh copy of core's echo MCP server as a streamable-HTTP ASGI app (each copy has its
    own session manager)."""
    from mcp.server.transport_security import TransportSecuritySettings

    spec = importlib.util.spec_from_file_location(
        f"echo_{time.monotonic_ns()}", echo_module.__file__
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.server.streamable_http_app(
        streamable_http_path="/mcp",
        transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
    )


@dataclass
class ProtectedServer:
    """The echo MCP server behind a resource server's check: an RS256 JWT from ``idp`` whose
    ``aud`` is this server's URL, else 401 with a ``WWW-Authenticate`` challenge."""

    idp: OAuthServer
    url: str
    inner: Any = field(default_factory=echo_app)
    accepted: list[str] = field(default_factory=list)
    refused: int = 0
    #: Tokens this server stops accepting (as if revoked behind the provider's back).
    distrusted: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        import jwt

        self._jwks = jwt.PyJWKClient(self.idp.jwks_url)

    def verify(self, token: str) -> bool:
        import jwt

        if not token or token in self.distrusted:
            return False
        try:
            key = self._jwks.get_signing_key_from_jwt(token)
            jwt.decode(
                token, key.key, algorithms=["RS256"], audience=self.url, issuer=self.idp.issuer
            )
        except jwt.PyJWTError:
            return False
        return True

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            headers = dict(scope["headers"])
            token = headers.get(b"authorization", b"").decode().removeprefix("Bearer ")
            if not await asyncio.to_thread(self.verify, token):
                self.refused += 1
                challenge = b'Bearer resource_metadata="http://example.invalid/prm"'
                await send(
                    {
                        "type": "http.response.start",
                        "status": 401,
                        "headers": [(b"www-authenticate", challenge)],
                    }
                )
                await send({"type": "http.response.body", "body": b"unauthorized"})
                return
            self.accepted.append(token)
        await self.inner(scope, receive, send)


@pytest.fixture
def upstream_port() -> int:
    return free_port()


@pytest.fixture
def resource(upstream_port: int) -> str:
    return f"http://127.0.0.1:{upstream_port}/mcp"


@pytest.fixture
def token_ttl() -> int:
    """Access tokens live this many seconds (a few: refreshes happen during the test)."""
    return 6


@pytest.fixture
def idp(resource: str, token_ttl: int) -> Iterator[OAuthServer]:
    if node_tools() is None:
        require_or_skip("Node and oidc-provider (scripts/install-node.sh)")
    if not Path(CHROMIUM).exists():
        require_or_skip(f"Chromium at {CHROMIUM} (scripts/install-chromium.sh)")
    with oauth_server(access_token_ttl=token_ttl, resources=(resource,)) as server:
        yield server


@contextlib.asynccontextmanager
async def protected(idp: OAuthServer, port: int, resource: str) -> AsyncIterator[ProtectedServer]:
    from toolhive.proxy.server import bind_socket

    server = ProtectedServer(idp, resource)
    async with served(server, sock=bind_socket("127.0.0.1", port)):
        yield server


@contextlib.asynccontextmanager
async def proxy_to(resource: str, auth: Any) -> AsyncIterator[str]:
    """The reverse proxy (as a remote workload's) to ``resource`` with ``auth``; its MCP URL."""
    proxy = ReverseProxy(
        TransportOptions(workload=NAME, target_url=resource, remote=True, upstream_auth=auth)
    )
    app = build_proxy_app(proxy, transport_name="streamable-http", health_interval=0.0)
    try:
        async with served(app) as base:
            yield f"{base}/mcp"
    finally:
        await proxy.aclose()


def sign_in(hooks: Hooks, idp: OAuthServer, resource: str) -> None:
    """What the lead's ``thv run`` sign-in leaves: the login's tokens under ``KEY`` / ``KEY_AT``
    in the secrets provider (a real browser login, PKCE, RFC 8707 resource)."""
    session = TokenSession(
        issuer=idp.issuer,
        client=ClientSettings(
            client_id=idp.client_id, scopes=("openid", "offline_access"), resource=resource
        ),
        storage=SecretsStorage(open_secrets(hooks, environ=ENV)),
        key=KEY,
    )
    done: list[str] = []
    browsers: list[threading.Thread] = []

    def announce(line: str) -> None:
        url = line[line.index("http") :]
        browser = threading.Thread(target=lambda: done.append(complete_login(url)), daemon=True)
        browsers.append(browser)
        browser.start()

    session.login(skip_browser=True, announce=announce)
    browsers[0].join(30)
    assert done and "Login complete" in done[0]
    assert set(MemorySecrets.values) == {KEY, f"{KEY}_AT"}


def save_workload(resource: str, **auth: Any) -> RunConfig:
    config = RunConfig(
        name=NAME,
        base_name=NAME,
        remote_url=resource,
        transport="streamable-http",
        remote_auth_config=RemoteAuthConfig(**auth),
    )
    store.save_runconfig(config)
    return config


@dataclass
class Statuses:
    """``on_status`` as the supervisor would get it."""

    seen: list[tuple[WorkloadStatus, str]] = field(default_factory=list)

    def __call__(self, status: WorkloadStatus, context: str) -> None:
        self.seen.append((status, context))

    async def wait_for(self, status: WorkloadStatus, timeout: float = 30) -> str:
        async with asyncio.timeout(timeout):
            while True:
                for got, context in self.seen:
                    if got == status:
                        return context
                await asyncio.sleep(0.05)


def quick_env(**extra: str) -> dict[str, str]:
    return {
        **ENV,
        "TOOLHIVE_TOKEN_REFRESH_INITIAL_RETRY_INTERVAL": "200ms",
        "TOOLHIVE_TOKEN_REFRESH_MAX_TRIES": "1",
        "TOOLHIVE_TOKEN_AUTH_RETRYING_TICK_INTERVAL": "1s",
        **extra,
    }


# --------------------------------------------------------------------------- tests


async def test_tokens_expiring_every_few_seconds_are_refreshed_silently_and_stored(
    hooks: Hooks, idp: OAuthServer, resource: str, upstream_port: int
) -> None:
    sign_in(hooks, idp, resource)
    first_refresh = MemorySecrets.values[KEY]
    save_workload(
        resource, issuer=idp.issuer, client_id=idp.client_id, cached_refresh_token_ref=KEY
    )
    statuses = Statuses()
    auth = upstream_auth_for(hooks, store.load_runconfig(NAME), ENV, statuses)
    assert isinstance(auth, OAuthUpstream)
    await auth.start()
    try:
        async with (
            protected(idp, upstream_port, resource) as server,
            proxy_to(resource, auth) as url,
        ):
            # A client token for the proxy is not forwarded: the upstream sees only ours.
            for n in range(4):  # ~15 s: more than two access-token lifetimes
                session = await echo_session(
                    url, headers={"Authorization": "Bearer client-token"}, text=f"call {n}"
                )
                assert session.echoed == f"call {n}"
                await asyncio.sleep(3.5)
    finally:
        await auth.aclose()
    assert server.refused == 0
    assert "client-token" not in server.accepted
    assert len(set(server.accepted)) >= 3, "the access token was refreshed"
    assert statuses.seen == []
    # The refresh token rotated and the new one is stored; the RunConfig has only the expiry.
    assert MemorySecrets.values[KEY] != first_refresh
    saved = store.load_runconfig(NAME)
    assert saved.remote_auth_config is not None and saved.remote_auth_config.cached_token_expiry
    text = saved.to_json()
    for token in [*server.accepted, first_refresh, MemorySecrets.values[KEY]]:
        assert token not in text


async def test_a_revoked_login_makes_the_workload_unauthenticated_saying_what_to_run(
    hooks: Hooks, idp: OAuthServer, resource: str, upstream_port: int
) -> None:
    sign_in(hooks, idp, resource)
    save_workload(
        resource, issuer=idp.issuer, client_id=idp.client_id, cached_refresh_token_ref=KEY
    )
    statuses = Statuses()
    auth = upstream_auth_for(hooks, store.load_runconfig(NAME), ENV, statuses)
    assert isinstance(auth, OAuthUpstream)
    await auth.start()
    try:
        async with protected(idp, upstream_port, resource), proxy_to(resource, auth) as url:
            assert (await echo_session(url)).echoed == "ok ✓"
            idp.revoke(MemorySecrets.values[KEY])
            context = await statuses.wait_for(S.UNAUTHENTICATED, timeout=20)
            assert f"sign in again: thv restart {NAME}" in context
            assert "revoked" in context
            import httpx

            async with httpx.AsyncClient() as http:
                answer = await http.post(url, json={"jsonrpc": "2.0", "id": 7, "method": "ping"})
            assert answer.status_code == 401
            assert answer.json()["id"] == 7
            assert f"thv restart {NAME}" in answer.json()["error"]["message"]
            with pytest.raises(UpstreamAuthError, match="sign in again"):
                await auth.authorization()
    finally:
        await auth.aclose()
    assert MemorySecrets.values == {}  # the dead login is forgotten
    assert [s for s, _ in statuses.seen] == [S.UNAUTHENTICATED]


class Relay:
    """A TCP relay to the provider on a fixed port, to take the token endpoint away and bring it
    back (the provider keeps its grants in memory: restarting it would end the login)."""

    def __init__(self, target_port: int) -> None:
        self.port = free_port()
        self.target_port = target_port
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.close()
        await self._server.wait_closed()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        self._writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._writers -= {writer, up_writer}


async def ping_status(url: str) -> tuple[int, dict[str, str], dict[str, Any]]:
    import httpx

    async with httpx.AsyncClient() as http:
        answer = await http.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
    is_json = answer.headers.get("content-type", "").startswith("application/json")
    body = answer.json() if is_json else {"text": answer.text}
    return answer.status_code, dict(answer.headers), body


async def test_a_token_endpoint_outage_is_auth_retrying_then_running_or_unauthenticated_at_the_ceiling(
    hooks: Hooks, idp: OAuthServer, resource: str, upstream_port: int
) -> None:
    sign_in(hooks, idp, resource)
    relay = Relay(int(idp.issuer.rsplit(":", 1)[1]))
    await relay.start()
    token_url = idp.metadata()["token_endpoint"].replace(
        f":{relay.target_port}/", f":{relay.port}/"
    )
    save_workload(
        resource,
        issuer=idp.issuer,
        client_id=idp.client_id,
        token_url=token_url,
        cached_refresh_token_ref=KEY,
    )
    statuses = Statuses()
    env = quick_env(TOOLHIVE_TOKEN_AUTH_RETRYING_MAX_ELAPSED="8s")
    auth = upstream_auth_for(hooks, store.load_runconfig(NAME), env, statuses)
    assert isinstance(auth, OAuthUpstream)
    await auth.start()
    try:
        async with protected(idp, upstream_port, resource), proxy_to(resource, auth) as url:
            assert (await echo_session(url)).echoed == "ok ✓"
            # A short outage: auth_retrying, then running again once the endpoint is back.
            await relay.stop()
            context = await statuses.wait_for(S.AUTH_RETRYING, timeout=20)
            assert "Token refresh failing transiently; retrying every 1s" in context
            await relay.start()
            await statuses.wait_for(S.RUNNING, timeout=20)
            assert (await echo_session(url, text="back")).echoed == "back"
            # A long one: requests fail fast with 503 once the token has expired, and after
            # TOOLHIVE_TOKEN_AUTH_RETRYING_MAX_ELAPSED the workload needs a new sign-in.
            statuses.seen.clear()
            await relay.stop()
            await statuses.wait_for(S.AUTH_RETRYING, timeout=20)
            await asyncio.sleep(6.5)
            status, headers, body = await ping_status(url)
            assert (status, headers["retry-after"]) == (503, "10"), body
            assert "cannot be refreshed now" in body["error"]["message"]
            context = await statuses.wait_for(S.UNAUTHENTICATED, timeout=20)
            assert "failed transiently for over 8s" in context
            assert f"sign in again: thv restart {NAME}" in context
            status, _headers, body = await ping_status(url)
            assert status == 401 and "thv restart" in body["error"]["message"]
    finally:
        await auth.aclose()
        with contextlib.suppress(Exception):
            await relay.stop()
    assert [s for s, _ in statuses.seen] == [S.AUTH_RETRYING, S.UNAUTHENTICATED]


@pytest.mark.parametrize("token_ttl", [3600])  # no background refresh during the test
async def test_an_upstream_401_forces_one_refresh_and_a_token_refused_again_is_unauthenticated(
    hooks: Hooks, idp: OAuthServer, resource: str, upstream_port: int
) -> None:
    sign_in(hooks, idp, resource)
    save_workload(
        resource, issuer=idp.issuer, client_id=idp.client_id, cached_refresh_token_ref=KEY
    )
    statuses = Statuses()
    auth = upstream_auth_for(hooks, store.load_runconfig(NAME), ENV, statuses)
    assert isinstance(auth, OAuthUpstream)
    await auth.start()
    try:
        async with (
            protected(idp, upstream_port, resource) as server,
            proxy_to(resource, auth) as url,
        ):
            assert (await echo_session(url)).echoed == "ok ✓"
            # The server stops trusting the current token: one refresh, the request retried.
            current = (await auth.authorization()).removeprefix("Bearer ")
            server.distrusted.add(current)
            refused = server.refused
            assert (await echo_session(url, text="again")).echoed == "again"
            assert server.refused > refused
            assert statuses.seen == []
            # It refuses every token: the refreshed one too, so a new sign-in is needed; the
            # 401 goes back without the upstream's challenge (it is not the client's to answer).
            server.verify = lambda token: False  # type: ignore[method-assign]
            status, headers, _body = await ping_status(url)
            assert status == 401 and "www-authenticate" not in headers
            context = await statuses.wait_for(S.UNAUTHENTICATED, timeout=10)
            assert "refused a freshly refreshed access token" in context
            assert f"thv restart {NAME}" in context
    finally:
        await auth.aclose()


class StaticTokenServer(ProtectedServer):
    """The echo server accepting one fixed bearer token."""

    def __post_init__(self) -> None:
        pass

    def verify(self, token: str) -> bool:
        return token == "the-right-token"


async def test_a_refused_bearer_token_makes_the_workload_unauthenticated_with_toolhives_message(
    hooks: Hooks, upstream_port: int, resource: str, tmp_path: Path
) -> None:
    MemorySecrets.values["BEARER_TOKEN_remote-oauth"] = "the-right-token"
    config = save_workload(resource, bearer_token=f"BEARER_TOKEN_{NAME},target=bearer_token")
    statuses = Statuses()
    auth = upstream_auth_for(hooks, config, ENV, statuses)
    assert isinstance(auth, StaticBearer)
    from toolhive.proxy.server import bind_socket

    server = StaticTokenServer(None, resource)  # type: ignore[arg-type]
    async with (
        served(server, sock=bind_socket("127.0.0.1", upstream_port)),
        proxy_to(resource, auth) as url,
    ):
        assert (await echo_session(url)).echoed == "ok ✓"
        assert statuses.seen == []
        # A file instead of a secret, with a token the server refuses.
        token_file = tmp_path / "token"
        token_file.write_text("a-wrong-token\n")
        wrong = upstream_auth_for(
            hooks, save_workload(resource, bearer_token_file=str(token_file)), ENV, statuses
        )
        async with proxy_to(resource, wrong) as wrong_url:
            for _ in range(2):
                status, headers, _body = await ping_status(wrong_url)
                assert status == 401 and "www-authenticate" not in headers
    assert statuses.seen == [(S.UNAUTHENTICATED, BEARER_REFUSED)]
    assert BEARER_REFUSED == (
        "Bearer token authentication failed. Please restart the server with a new token"
    )


def test_no_credentials_without_a_bearer_token_or_a_stored_login(hooks: Hooks) -> None:
    url = "https://mcp.example.com/mcp"
    for auth in (None, RemoteAuthConfig(issuer="https://idp.example.com", client_id="c")):
        config = RunConfig(name="r", base_name="r", remote_url=url, remote_auth_config=auth)
        assert upstream_auth_for(hooks, config, ENV, Statuses()) is None
    local = RunConfig(name="l", base_name="l", image="img:1", remote_auth_config=RemoteAuthConfig())
    assert upstream_auth_for(hooks, local, ENV, Statuses()) is None
    missing = RunConfig(
        name="r",
        base_name="r",
        remote_url=url,
        remote_auth_config=RemoteAuthConfig(bearer_token="GONE,target=bearer_token"),
    )
    with pytest.raises(Exception, match=r"secret 'GONE'\) is not in the memory secrets provider"):
        upstream_auth_for(hooks, missing, ENV, Statuses())


def test_retry_timings_come_from_toolhives_variables_as_go_durations() -> None:
    assert RetryPolicy.from_env({}) == RetryPolicy(10, 120, 5, 300, 600, 86400)
    policy = RetryPolicy.from_env(
        {
            "TOOLHIVE_TOKEN_AUTH_RETRYING_TICK_INTERVAL": "5m",
            "TOOLHIVE_TOKEN_AUTH_RETRYING_MAX_ELAPSED": "1h30m",
            "TOOLHIVE_TOKEN_REFRESH_INITIAL_RETRY_INTERVAL": "250ms",
            "TOOLHIVE_TOKEN_REFRESH_MAX_TRIES": "3",
            "TOOLHIVE_TOKEN_REFRESH_MAX_RETRY_INTERVAL": "nonsense",
        }
    )
    assert (policy.tick, policy.ceiling, policy.initial, policy.max_tries) == (300, 5400, 0.25, 3)
    assert policy.max_interval == 120
    assert [RetryPolicy().short_delay(n) for n in (1, 2, 3, 9)] == [10, 15, 22.5, 120]
    assert [go_duration(x) for x in (600, 86400, 1.5, 0.2, 5400)] == [
        "10m0s",
        "24h0m0s",
        "1.5s",
        "200ms",
        "1h30m0s",
    ]


async def test_the_supervisor_keeps_unauthenticated_at_start_and_its_proxy_says_what_to_run(
    hooks: Hooks,
) -> None:
    """A stored login that is gone (here: never there): the supervisor serves, but the status
    stays ``unauthenticated`` (ToolHive's runner does not overwrite it with ``running``)."""
    import httpx
    from toolhive.workloads.events import EventType, WorkloadEvents
    from toolhive.workloads.supervisor import Supervisor

    port = free_port()
    config = RunConfig(
        name=NAME,
        base_name=NAME,
        remote_url="http://127.0.0.1:9/mcp",
        transport="streamable-http",
        port=port,
        remote_auth_config=RemoteAuthConfig(
            issuer="http://127.0.0.1:9", client_id="c", cached_refresh_token_ref=KEY
        ),
    )
    store.save_runconfig(config)
    events = WorkloadEvents()
    seen: list[tuple[EventType, WorkloadStatus]] = []
    events.subscribe(lambda event: seen.append((event.type, event.status)))
    supervisor = Supervisor(hooks, config, events=events, environ=ENV)
    running = asyncio.create_task(supervisor.run())
    try:
        async with asyncio.timeout(30), httpx.AsyncClient() as http:
            while True:
                with contextlib.suppress(httpx.HTTPError):
                    answer = await http.post(
                        f"http://127.0.0.1:{port}/mcp",
                        json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
                    )
                    break
                await asyncio.sleep(0.1)
        assert answer.status_code == 401
        message = answer.json()["error"]["message"]
        assert message == f"not logged in; sign in again: thv restart {NAME}"
        await asyncio.sleep(0.5)  # past the start's own status write
        record = store.read_status(NAME)
        assert record is not None
        assert (record.status, record.status_context) == (S.UNAUTHENTICATED, message)
        assert (EventType.UNAUTHENTICATED, S.UNAUTHENTICATED) in seen
        assert (EventType.RUNNING, S.UNAUTHENTICATED) in seen  # serving, but not "running"
    finally:
        supervisor.request_stop()
        assert await asyncio.wait_for(running, 30) == 0
    record = store.read_status(NAME)
    assert record is not None and record.status == S.STOPPED
