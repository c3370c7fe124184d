"""Auth on the vMCP gateway, end to end: `thv vmcp serve` in front of real backends, driven as clients
drive it.

Real components only: a real OIDC issuer signing real tokens (:class:`OIDCIssuer`), npm's
oidc-provider for RFC 8693 token exchange (:func:`oauth_server`, a user logged in through headless
Chromium), the SDK echo server as the backend — bare, or behind ToolHive's own auth middleware
(`thv proxy run --oidc-*`) —, the installed middleware plugins (auth, authz, audit, tokenexchange)
found through their entry points by the real `thv`.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from toolhive.testing.oidc import OIDCIssuer

from tests.conftest import Thv, require_or_skip
from tests.vmcp_auth_support import (
    ACCEPT,
    HEADER_SERVER,
    RawClient,
    Running,
    echo_backend,
    free_port,
    message,
    protected_proxy,
    refused_start,
    sdk_session,
    serve_gateway,
)

pytestmark = [pytest.mark.timeout(240)]

AUDIENCE = "vmcp-e2e"
BACKEND_AUDIENCE = "backend-e2e"
#: alice may call echo_echo; bob may call everything of the echo backend.
POLICIES = [
    'permit(principal, action == Action::"call_tool", resource == Tool::"echo_echo");',
    'permit(principal == Client::"bob", action == Action::"call_tool", resource);',
]


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Thv:
    """`thv` with an isolated home, shared by the module's gateways (none creates a workload)."""
    root = tmp_path_factory.mktemp("home")
    env = {
        **os.environ,
        "XDG_CONFIG_HOME": str(root / "config"),
        "XDG_DATA_HOME": str(root / "data"),
        "XDG_STATE_HOME": str(root / "state"),
        "TOOLHIVE_STRICT_PLUGINS": "1",
    }
    env.pop("XDG_CACHE_HOME", None)
    for name in ("BACKEND_TOKEN", "EXCHANGE_SECRET", "TOOLHIVE_DISABLE_PLUGINS"):
        env.pop(name, None)
    return Thv(env)


@pytest.fixture
def thv(home: Thv) -> Thv:
    """The module's `thv` with an environment of the test's own."""
    return Thv(dict(home.env))


@pytest.fixture(scope="module")
def issuer() -> Iterator[OIDCIssuer]:
    with OIDCIssuer(audience=AUDIENCE) as running:
        yield running


@pytest.fixture(scope="module")
def echo_url() -> Iterator[str]:
    with echo_backend() as url:
        yield url


@pytest.fixture(scope="module")
def credentials_url() -> Iterator[str]:
    """A backend whose ``credentials`` tool answers the credential headers it received."""
    with echo_backend((str(HEADER_SERVER),)) as url:
        yield url


@pytest.fixture(scope="module")
def credentials_sse_url() -> Iterator[str]:
    """The same over the legacy SSE transport."""
    with echo_backend((str(HEADER_SERVER), "sse"), "/sse") as url:
        yield url


def write_config(folder: Path, **sections: Any) -> Path:
    """A vMCP config: the required sections (anonymous, unauthenticated, prefix) plus ``sections``."""
    config: dict[str, Any] = {
        "name": "guarded",
        "groupRef": "vmcp-auth-e2e",
        "incomingAuth": {"type": "anonymous"},
        "outgoingAuth": {"source": "inline", "default": {"type": "unauthenticated"}},
        "aggregation": {
            "conflictResolution": "prefix",
            "conflictResolutionConfig": {"prefixFormat": "{workload}_"},
        },
        **sections,
    }
    path = folder / f"vmcp-{len(list(folder.glob('vmcp-*.yaml')))}.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def oidc_incoming(issuer: OIDCIssuer, **extra: Any) -> dict[str, Any]:
    return {"type": "oidc", "oidc": {"issuer": issuer.url, "audience": AUDIENCE}, **extra}


# --------------------------------------------------------------------- incoming: OIDC, Cedar, audit


@pytest.fixture(scope="module")
def guarded(
    home: Thv,
    issuer: OIDCIssuer,
    echo_url: str,
    credentials_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Running, Path]]:
    """The gateway with OIDC, Cedar and audit in front of the echo backend and the credentials
    backend (both unauthenticated); and its audit file."""
    folder = tmp_path_factory.mktemp("guarded")
    audit = folder / "audit.log"
    config = write_config(
        folder,
        backends=[
            {"name": "echo", "url": echo_url, "transport": "streamable-http"},
            {"name": "creds", "url": credentials_url, "transport": "streamable-http"},
        ],
        incomingAuth=oidc_incoming(issuer, authz={"type": "cedar", "policies": POLICIES}),
        audit={"enabled": True, "logFile": str(audit)},
        telemetry={"enablePrometheusMetricsPath": True},
    )
    with serve_gateway(home, config) as running:
        yield running, audit


def test_a_caller_without_a_valid_token_gets_401_and_the_rfc9728_metadata(
    guarded: tuple[Running, Path], issuer: OIDCIssuer
) -> None:
    gateway, _audit = guarded
    anonymous = RawClient(gateway.url).rpc("tools/list")
    assert anonymous.status_code == 401, anonymous.text
    # The GET event stream is guarded as well.
    stream = httpx.get(gateway.url, headers={"accept": "text/event-stream"}, timeout=10)
    assert stream.status_code == 401
    challenge = anonymous.headers["www-authenticate"]
    assert challenge.startswith("Bearer ")
    assert f'realm="{issuer.url}"' in challenge
    base = gateway.url.rsplit("/", 1)[0]
    assert f'resource_metadata="{base}/.well-known/oauth-protected-resource' in challenge
    metadata = httpx.get(f"{base}/.well-known/oauth-protected-resource", timeout=10).json()
    assert metadata["authorization_servers"] == [issuer.url]
    assert metadata["resource"] == gateway.url

    # Another audience, a key nobody published, an expired token: refused the same way.
    for bad in (
        issuer.token(sub="alice", aud="someone-else"),
        issuer.foreign_token(sub="alice"),
        issuer.token(sub="alice", exp=1_000_000_000),
    ):
        refused = RawClient(gateway.url, bad).rpc("tools/list")
        assert refused.status_code == 401, refused.text
        assert "invalid_token" in refused.headers["www-authenticate"]


def test_a_valid_token_lists_and_calls_through_the_gateway_with_the_official_client(
    guarded: tuple[Running, Path], issuer: OIDCIssuer
) -> None:
    gateway, _audit = guarded
    token = issuer.token(sub="bob")
    session = sdk_session(
        gateway.url,
        token,
        {"echo_echo": {"text": "through ✓"}, "echo_add": {"a": 2, "b": 3}, "creds_credentials": {}},
    )
    assert session.tools == ["creds_credentials", "echo_add", "echo_echo"]
    assert session.results["echo_echo"] == "through ✓"
    assert session.results["echo_add"] == "5"
    # The caller's token is the gateway's, never passed through to an unauthenticated backend.
    assert json.loads(session.results["creds_credentials"]) == {
        "authorization": None,
        "x-api-key": None,
    }


def test_cedar_lists_only_what_the_caller_may_call_and_refuses_the_rest(
    guarded: tuple[Running, Path], issuer: OIDCIssuer
) -> None:
    gateway, _audit = guarded
    alice = RawClient(gateway.url, issuer.token(sub="alice")).initialize()
    listed = message(alice.rpc("tools/list"))
    assert [t["name"] for t in listed["result"]["tools"]] == ["echo_echo"]

    denied = alice.rpc("tools/call", {"name": "echo_add", "arguments": {"a": 1, "b": 2}})
    assert denied.status_code == 403, denied.text
    assert denied.json()["error"] == {"code": 403, "message": "Unauthorized"}
    # A tool that does not exist is refused exactly the same way (nothing is revealed).
    ghost = alice.rpc("tools/call", {"name": "echo_ghost", "arguments": {}})
    assert (ghost.status_code, ghost.json()["error"]) == (403, denied.json()["error"])

    allowed = message(alice.rpc("tools/call", {"name": "echo_echo", "arguments": {"text": "ok"}}))
    assert allowed["result"]["content"][0]["text"] == "ok"
    # The official client, as alice: the same single decision for the list and the call.
    assert sdk_session(gateway.url, issuer.token(sub="alice"), {}).tools == ["echo_echo"]


def test_the_gateway_audits_each_call_with_its_outcome_to_the_log_file(
    guarded: tuple[Running, Path], issuer: OIDCIssuer
) -> None:
    gateway, audit = guarded
    token = issuer.token(sub="carol", claims={"name": "Carol"})
    carol = RawClient(gateway.url, token).initialize()
    called = message(carol.rpc("tools/call", {"name": "echo_echo", "arguments": {"text": "a"}}))
    assert "result" in called
    assert carol.rpc("tools/call", {"name": "echo_add", "arguments": {}}).status_code == 403

    events = [json.loads(line) for line in audit.read_text().splitlines() if line]
    mine = [e for e in events if e["subjects"].get("user_id") == "carol"]
    outcomes = {(e["type"], e["outcome"]) for e in mine}
    assert ("mcp_initialize", "success") in outcomes
    assert ("mcp_tool_call", "success") in outcomes
    assert ("mcp_tool_call", "denied") in outcomes
    assert {e["component"] for e in events} == {"vmcp-server"}
    assert oct(audit.stat().st_mode & 0o777) == "0o600"
    assert token not in audit.read_text()
    assert token not in gateway.output
    assert "middleware: audit > auth > " in gateway.output, gateway.output  # as `thv run` builds


def test_the_gateway_serves_prometheus_metrics_of_its_requests_without_a_token(
    guarded: tuple[Running, Path], issuer: OIDCIssuer
) -> None:
    gateway, _audit = guarded
    RawClient(gateway.url, issuer.token(sub="erin")).initialize().rpc("tools/list")
    base = gateway.url.rsplit("/", 1)[0]
    metrics = httpx.get(f"{base}/metrics", timeout=10)
    assert metrics.status_code == 200
    assert "toolhive_mcp_requests" in metrics.text
    assert 'server="guarded"' in metrics.text


BLOCKED = {
    "oidc": ("toolhive-middleware-auth", {}),
    "cedar": ("toolhive-middleware-authz", {}),
    "audit": ("toolhive-middleware-audit", {"audit": {"enabled": True}}),
    "token_exchange": (
        "toolhive-middleware-tokenexchange",
        {
            "outgoingAuth": {
                "source": "inline",
                "backends": {
                    "echo": {
                        "type": "token_exchange",
                        "tokenExchange": {
                            "tokenUrl": "http://127.0.0.1:9/token",
                            "clientId": "exchanger",
                            "clientSecretEnv": "EXCHANGE_SECRET",
                            "audience": "backend",
                        },
                    }
                },
            }
        },
    ),
}


@pytest.mark.parametrize("feature", sorted(BLOCKED))
def test_a_gateway_asking_for_a_blocked_plugin_refuses_to_start_and_names_it(
    feature: str, thv: Thv, issuer: OIDCIssuer, echo_url: str, tmp_path: Path
) -> None:
    distribution, sections = BLOCKED[feature]
    thv.env["TOOLHIVE_DISABLE_PLUGINS"] = distribution
    thv.env["EXCHANGE_SECRET"] = "exchange-secret-never-printed"
    incoming: dict[str, Any] = {"type": "anonymous"}
    if feature in ("oidc", "cedar"):
        incoming = oidc_incoming(issuer)
    if feature == "cedar":
        incoming["authz"] = {"type": "cedar", "policies": POLICIES}
    config = write_config(
        tmp_path,
        backends=[{"name": "echo", "url": echo_url, "transport": "streamable-http"}],
        incomingAuth=incoming,
        **sections,
    )
    proc = refused_start(thv, config, free_port())
    assert f"install {distribution}" in proc.stderr
    assert "exchange-secret-never-printed" not in proc.stdout + proc.stderr


# ------------------------------------------------------------------ outgoing: header_injection


@pytest.fixture(scope="module")
def guarded_backend(home: Thv, issuer: OIDCIssuer, echo_url: str) -> Iterator[str]:
    """The echo server behind ToolHive's auth middleware: only ``issuer``'s tokens for
    ``backend-e2e`` get in."""
    flags = [
        "--oidc-issuer", issuer.url, "--oidc-audience", BACKEND_AUDIENCE,
        "--oidc-insecure-allow-http", "--jwks-allow-private-ip",
    ]  # fmt: skip
    with protected_proxy(home, echo_url, flags, "guarded-backend") as running:
        yield running.url


def header_injection_config(folder: Path, backend: str) -> Path:
    return write_config(
        folder,
        backends=[{"name": "locked", "url": backend, "transport": "streamable-http"}],
        outgoingAuth={
            "source": "inline",
            "default": {"type": "unauthenticated"},
            "backends": {
                "locked": {
                    "type": "header_injection",
                    "headerInjection": {
                        "headerName": "Authorization",
                        "headerValueEnv": "BACKEND_TOKEN",
                    },
                }
            },
        },
    )


def test_header_injection_authenticates_the_gateway_to_a_backend_that_requires_a_token(
    thv: Thv, issuer: OIDCIssuer, guarded_backend: str, tmp_path: Path
) -> None:
    # The backend refuses a caller without a token…
    direct = httpx.post(guarded_backend, json={}, headers=ACCEPT, timeout=30)
    assert direct.status_code == 401
    token = issuer.token(sub="vmcp-gateway", aud=BACKEND_AUDIENCE)
    thv.env["BACKEND_TOKEN"] = f"Bearer {token}"
    config = header_injection_config(tmp_path, guarded_backend)
    with serve_gateway(thv, config) as gateway:
        client = RawClient(gateway.url).initialize()
        listed = message(client.rpc("tools/list"))
        assert sorted(t["name"] for t in listed["result"]["tools"]) == ["locked_add", "locked_echo"]
        called = message(
            client.rpc("tools/call", {"name": "locked_echo", "arguments": {"text": "in ✓"}})
        )
        assert called["result"]["content"][0]["text"] == "in ✓"
    assert token not in gateway.output


def test_a_backend_refusing_the_injected_token_is_reported_without_the_token(
    thv: Thv, issuer: OIDCIssuer, guarded_backend: str, tmp_path: Path
) -> None:
    wrong = issuer.token(sub="vmcp-gateway", aud="not-the-backend")
    thv.env["BACKEND_TOKEN"] = f"Bearer {wrong}"
    with serve_gateway(thv, header_injection_config(tmp_path, guarded_backend)) as gateway:
        answer = RawClient(gateway.url).initialize().rpc("tools/list")
    # partialFailureMode fail (the default): the list fails, saying which backend and why.
    error = message(answer)["error"]
    assert error["code"] == -32603
    assert "locked: cannot connect" in error["message"]
    assert "refused our credentials (HTTP 401)" in error["message"]
    assert wrong not in answer.text
    assert "backend locked: cannot connect" in gateway.output
    assert wrong not in gateway.output


def test_each_backend_gets_its_own_injected_header_in_place_of_the_callers_token(
    thv: Thv, issuer: OIDCIssuer, credentials_url: str, credentials_sse_url: str, tmp_path: Path
) -> None:
    thv.env["BACKEND_TOKEN"] = "Bearer backend-secret-value"
    bearer = {"headerName": "Authorization", "headerValueEnv": "BACKEND_TOKEN"}
    injected = {
        "bearer": bearer,
        "keyed": {"headerName": "X-API-Key", "headerValue": "public-key-1"},
        "legacy": bearer,  # the legacy SSE transport (calls are POSTed to its messages URL)
    }
    config = write_config(
        tmp_path,
        backends=[
            {"name": "bearer", "url": credentials_url, "transport": "streamable-http"},
            {"name": "keyed", "url": credentials_url, "transport": "streamable-http"},
            {"name": "plain", "url": credentials_url, "transport": "streamable-http"},
            {"name": "legacy", "url": credentials_sse_url, "transport": "sse"},
        ],
        incomingAuth=oidc_incoming(issuer),
        outgoingAuth={
            "source": "inline",
            "default": {"type": "unauthenticated"},
            "backends": {
                name: {"type": "header_injection", "headerInjection": spec}
                for name, spec in injected.items()
            },
        },
    )
    caller = issuer.token(sub="dave")
    with serve_gateway(thv, config) as gateway:
        calls = {f"{name}_credentials": {} for name in ("bearer", "keyed", "plain", "legacy")}
        seen = {
            name.removesuffix("_credentials"): json.loads(text)
            for name, text in sdk_session(gateway.url, caller, calls).results.items()
        }
    assert seen == {
        "bearer": {"authorization": "Bearer backend-secret-value", "x-api-key": None},
        "keyed": {"authorization": None, "x-api-key": "public-key-1"},
        "plain": {"authorization": None, "x-api-key": None},
        "legacy": {"authorization": "Bearer backend-secret-value", "x-api-key": None},
    }
    assert "backend-secret-value" not in gateway.output
    assert caller not in gateway.output


def test_header_injection_from_an_unset_variable_refuses_to_start(
    thv: Thv, guarded_backend: str, tmp_path: Path
) -> None:
    config = header_injection_config(tmp_path, guarded_backend)
    proc = refused_start(thv, config, free_port())
    assert (
        "outgoingAuth.backends.locked.headerInjection.headerValueEnv: environment variable "
        "BACKEND_TOKEN is not set or empty"
    ) in proc.stderr


# ------------------------------------------------------------------ outgoing: token_exchange

FRONT = "https://vmcp.example/mcp"
EXCHANGED = "exchanged-backend"


@pytest.fixture(scope="module")
def idp() -> Iterator[Any]:
    from toolhive.testing.oauth_server import CHROMIUM, node_tools, oauth_server

    if node_tools() is None or not Path(CHROMIUM).exists():
        require_or_skip("Node and oidc-provider (scripts/install-node.sh) and Chromium")
    with oauth_server(resources=(FRONT,)) as server:
        yield server


def claims_of(jwt: str) -> dict[str, Any]:
    """A JWT's payload, unverified (the backend in front of it has verified it)."""
    payload = jwt.split(".")[1]
    decoded: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return decoded


@pytest.fixture(scope="module")
def users(idp: Any) -> dict[str, str]:
    """alice's and bob's tokens for the gateway (aud = FRONT), from real logins."""
    from toolhive.testing.user_token import user_access_token

    return {login: user_access_token(idp, FRONT, login=login) for login in ("alice", "bob")}


@pytest.fixture(scope="module")
def exchanged_backend(home: Thv, idp: Any, credentials_url: str) -> Iterator[Running]:
    """The credentials backend behind ToolHive's auth middleware: only ``EXCHANGED`` tokens of
    ``idp`` get in."""
    flags = [
        "--oidc-issuer", idp.issuer, "--oidc-audience", EXCHANGED,
        "--oidc-jwks-url", idp.jwks_url,
        "--oidc-insecure-allow-http", "--jwks-allow-private-ip",
    ]  # fmt: skip
    with protected_proxy(home, credentials_url, flags, "exchanged-backend") as running:
        yield running


def exchange_config(folder: Path, idp: Any, backend: str, incoming: dict[str, Any]) -> Path:
    return write_config(
        folder,
        backends=[{"name": "far", "url": backend, "transport": "streamable-http"}],
        incomingAuth=incoming,
        outgoingAuth={
            "source": "inline",
            "backends": {
                "far": {
                    "type": "token_exchange",
                    "tokenExchange": {
                        "tokenUrl": idp.metadata()["token_endpoint"],
                        "clientId": idp.exchange_client_id,
                        "clientSecretEnv": "EXCHANGE_SECRET",
                        "audience": EXCHANGED,
                    },
                }
            },
        },
    )


def exchanged_subject(gateway: Running, token: str | None) -> str:
    """Call ``far_credentials`` as ``token``'s owner; the ``sub`` of the token the backend got."""
    client = RawClient(gateway.url, token).initialize()
    assert "result" in message(client.rpc("tools/list"))
    answer = message(client.rpc("tools/call", {"name": "far_credentials", "arguments": {}}))
    assert "result" in answer, answer
    scheme, _, exchanged = json.loads(answer["result"]["content"][0]["text"])[
        "authorization"
    ].partition(" ")
    assert scheme == "Bearer"
    claims = claims_of(exchanged)
    assert claims["aud"] == EXCHANGED
    subject: str = claims["sub"]
    return subject


def test_token_exchange_gives_the_backend_a_token_for_itself_in_place_of_each_callers(
    thv: Thv,
    idp: Any,
    users: dict[str, str],
    exchanged_backend: Running,
    tmp_path: Path,
) -> None:
    thv.env["EXCHANGE_SECRET"] = idp.exchange_client_secret
    incoming = {
        "type": "oidc",
        "oidc": {"issuer": idp.issuer, "audience": FRONT, "jwksUrl": idp.jwks_url},
    }
    config = exchange_config(tmp_path, idp, exchanged_backend.url, incoming)
    with serve_gateway(thv, config) as gateway:
        # alice opens the backend's session; bob's calls must still carry bob's token.
        for login in ("alice", "bob", "alice"):
            session = sdk_session(gateway.url, users[login], {"far_credentials": {}})
            assert session.tools == ["far_credentials"]
            sent = json.loads(session.results["far_credentials"])["authorization"]
            scheme, _, exchanged = sent.partition(" ")
            assert scheme == "Bearer"
            assert exchanged not in users.values()
            claims = claims_of(exchanged)
            assert (claims["sub"], claims["aud"]) == (login, EXCHANGED)
            assert claims["client_id"] == idp.exchange_client_id
        # No token at the gateway: refused before any exchange.
        assert RawClient(gateway.url).rpc("tools/list").status_code == 401

    # A caller's own token is not good at the backend: only the exchanged one gets in.
    direct = RawClient(exchanged_backend.url, users["alice"]).rpc("tools/list")
    assert direct.status_code == 401, direct.text
    assert "invalid audience" in direct.headers["www-authenticate"]
    for text in (gateway.output, exchanged_backend.output):
        for token in (*users.values(), idp.exchange_client_secret):
            assert token not in text


def test_a_caller_without_a_token_never_borrows_the_identity_that_opened_the_backend_session(
    thv: Thv,
    idp: Any,
    users: dict[str, str],
    exchanged_backend: Running,
    tmp_path: Path,
) -> None:
    # Anonymous clients: the gateway checks no token, so one caller may bring a token and the
    # next none at all. Only a caller's own token may be exchanged (ToolHive: "no identity found
    # in context"), so the tokenless call must fail rather than reach the backend as alice.
    thv.env["EXCHANGE_SECRET"] = idp.exchange_client_secret
    config = exchange_config(tmp_path, idp, exchanged_backend.url, {"type": "anonymous"})
    with serve_gateway(thv, config) as gateway:
        assert exchanged_subject(gateway, users["alice"]) == "alice"  # opens the session
        anonymous = RawClient(gateway.url).initialize()
        answer = message(anonymous.rpc("tools/call", {"name": "far_credentials", "arguments": {}}))
    sent = None
    if "result" in answer and not answer["result"].get("isError"):
        sent = json.loads(answer["result"]["content"][0]["text"])["authorization"]
    borrowed = sent is not None and claims_of(sent.split()[-1]).get("sub") == "alice"
    assert not borrowed, "a caller without a token reached the backend as alice"
    assert sent is None


def test_a_first_call_without_a_list_reaches_a_token_exchange_backend(
    thv: Thv,
    idp: Any,
    users: dict[str, str],
    exchanged_backend: Running,
    tmp_path: Path,
) -> None:
    # A client that knows the tool (it listed before a gateway restart) calls it straight away;
    # ToolHive discovers a session's backends at initialize, with the caller's identity. The
    # backend waits for a caller at start-up; bob's first request opens it as bob.
    thv.env["EXCHANGE_SECRET"] = idp.exchange_client_secret
    incoming = {
        "type": "oidc",
        "oidc": {"issuer": idp.issuer, "audience": FRONT, "jwksUrl": idp.jwks_url},
    }
    config = exchange_config(tmp_path, idp, exchanged_backend.url, incoming)
    with serve_gateway(thv, config) as gateway:
        bob = RawClient(gateway.url, users["bob"]).initialize()
        answer = message(bob.rpc("tools/call", {"name": "far_credentials", "arguments": {}}))
        assert "result" in answer, answer
        assert not answer["result"].get("isError"), answer
        sent = json.loads(answer["result"]["content"][0]["text"])["authorization"]
        assert claims_of(sent.split()[-1])["sub"] == "bob"
        # A second caller's first request is a call too: it goes out as that caller.
        alice = RawClient(gateway.url, users["alice"]).initialize()
        answer = message(alice.rpc("tools/call", {"name": "far_credentials", "arguments": {}}))
        sent = json.loads(answer["result"]["content"][0]["text"])["authorization"]
        assert claims_of(sent.split()[-1])["sub"] == "alice"


@pytest.fixture(scope="module")
def bob_only_backend(
    home: Thv, idp: Any, credentials_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Running]:
    """The credentials backend behind ToolHive's auth and Cedar middleware: exchanged tokens only,
    and only bob may use (so only bob's tools/list shows) its tool."""
    policy = tmp_path_factory.mktemp("cedar") / "authz.json"
    policy.write_text(
        json.dumps(
            {
                "version": "1.0",
                "type": "cedarv1",
                "cedar": {
                    "policies": ['permit(principal == Client::"bob", action, resource);'],
                    "entities_json": "[]",
                },
            }
        )
    )
    flags = [
        "--oidc-issuer", idp.issuer, "--oidc-audience", EXCHANGED,
        "--oidc-jwks-url", idp.jwks_url,
        "--oidc-insecure-allow-http", "--jwks-allow-private-ip",
        "--authz-config", str(policy),
    ]  # fmt: skip
    with protected_proxy(home, credentials_url, flags, "bob-only-backend") as running:
        yield running


def test_each_caller_sees_what_its_own_token_may_list_on_a_token_exchange_backend(
    thv: Thv,
    idp: Any,
    users: dict[str, str],
    bob_only_backend: Running,
    tmp_path: Path,
) -> None:
    # As ToolHive, discovery runs with each caller's identity: alice opens the backend's
    # session, but what bob sees (and may call) is what the backend lists for bob.
    thv.env["EXCHANGE_SECRET"] = idp.exchange_client_secret
    incoming = {
        "type": "oidc",
        "oidc": {"issuer": idp.issuer, "audience": FRONT, "jwksUrl": idp.jwks_url},
    }
    config = exchange_config(tmp_path, idp, bob_only_backend.url, incoming)

    def tools(client: RawClient) -> list[str]:
        return [t["name"] for t in message(client.rpc("tools/list"))["result"]["tools"]]

    with serve_gateway(thv, config) as gateway:
        alice = RawClient(gateway.url, users["alice"]).initialize()
        assert tools(alice) == []
        bob = RawClient(gateway.url, users["bob"]).initialize()
        assert tools(bob) == ["far_credentials"]
        answer = message(bob.rpc("tools/call", {"name": "far_credentials", "arguments": {}}))
        sent = json.loads(answer["result"]["content"][0]["text"])["authorization"]
        assert claims_of(sent.split()[-1])["sub"] == "bob"
        # alice's view stays hers: not listed, and not routed either.
        assert tools(alice) == []
        answer = message(alice.rpc("tools/call", {"name": "far_credentials", "arguments": {}}))
        assert "Unknown tool: far_credentials" in json.dumps(answer), answer


# ------------------------------------------------------------------ unsupported strategies


def test_an_unsupported_outgoing_strategy_refuses_to_start_naming_it(
    thv: Thv, echo_url: str, tmp_path: Path
) -> None:
    config = write_config(
        tmp_path,
        backends=[{"name": "echo", "url": echo_url, "transport": "streamable-http"}],
        outgoingAuth={
            "source": "inline",
            "backends": {"echo": {"type": "aws_sts", "awsSts": {"region": "eu-west-1"}}},
        },
    )
    proc = refused_start(thv, config, free_port())
    assert "outgoingAuth.backends.echo.type: 'aws_sts' is not supported by this gateway" in (
        proc.stderr
    )


def test_the_gateway_itself_refuses_an_unsupported_strategy_when_the_cli_checks_are_bypassed(
    echo_url: str, tmp_path: Path
) -> None:
    # `thv run vmcp://…` and Python callers reach the gateway without `thv vmcp serve`'s checks.
    from toolhive.errors import InvalidInputError
    from toolhive.vmcp.config import load_config
    from toolhive.vmcp.gateway import Gateway

    config = write_config(
        tmp_path,
        backends=[{"name": "echo", "url": echo_url, "transport": "streamable-http"}],
        outgoingAuth={"source": "inline", "default": {"type": "obo"}},
    )
    with pytest.raises(InvalidInputError, match="type 'obo' is not supported by this gateway"):
        Gateway(load_config(config))
