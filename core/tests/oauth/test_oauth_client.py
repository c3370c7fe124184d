"""The OAuth client against a real provider (npm oidc-provider) and a real headless browser."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from toolhive.errors import PortInUseError
from toolhive.oauth import (
    AuthorizationError,
    ClientSettings,
    DiscoveryError,
    InvalidIssuerError,
    LoginRequiredError,
    TokenSession,
    TokenSet,
    discover,
    login,
)
from toolhive.oauth.callback import CallbackServer
from toolhive.oauth.pkce import Pkce, challenge_for
from toolhive.testing.oauth_server import OAuthServer, complete_login


class DictStorage:
    """A TokenStorage in memory (the registry tests use the real secrets provider)."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}

    def read(self, name: str) -> str | None:
        return self.values.get(name)

    def write(self, name: str, value: str) -> None:
        self.values[name] = value

    def delete(self, name: str) -> None:
        self.values.pop(name, None)


@pytest.fixture
def metadata_server() -> Iterator[tuple[str, dict[str, Any]]]:
    """A plain HTTP server answering only the RFC 8414 path for issuer ``<base>/tenant``."""
    documents: dict[str, Any] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            doc = documents.get(self.path)
            body = json.dumps(doc).encode() if doc is not None else b"{}"
            self.send_response(200 if doc is not None else 404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield base, documents
    finally:
        server.shutdown()
        server.server_close()


def test_pkce_s256_matches_rfc_7636_appendix_b() -> None:
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert challenge_for(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    fresh = Pkce()
    assert len(fresh.verifier) == 43 and fresh.verifier != Pkce().verifier
    assert fresh.verifier not in repr(fresh)


def test_discovery_reads_the_providers_openid_configuration(idp: OAuthServer) -> None:
    metadata = discover(idp.issuer)
    assert metadata.issuer == idp.issuer
    assert metadata.token_endpoint == f"{idp.issuer}/token"
    assert "S256" in metadata.code_challenge_methods_supported


def test_discovery_refuses_a_document_naming_another_issuer(idp: OAuthServer) -> None:
    # Same server, reached as "localhost": its document says 127.0.0.1, so it is not this issuer.
    other = idp.issuer.replace("127.0.0.1", "localhost")
    with pytest.raises(DiscoveryError, match="names issuer"):
        discover(other)


def test_discovery_falls_back_to_rfc_8414_with_the_path_inserted(
    metadata_server: tuple[str, dict[str, Any]],
) -> None:
    base, documents = metadata_server
    issuer = f"{base}/tenant"
    documents["/.well-known/oauth-authorization-server/tenant"] = {
        "issuer": issuer,
        "authorization_endpoint": f"{base}/authorize",
        "token_endpoint": f"{base}/token",
    }
    assert discover(issuer).token_endpoint == f"{base}/token"


def test_discovery_refuses_plain_http_endpoints_off_loopback(
    metadata_server: tuple[str, dict[str, Any]],
) -> None:
    base, documents = metadata_server
    documents["/.well-known/openid-configuration"] = {
        "issuer": base,
        "authorization_endpoint": f"{base}/authorize",
        "token_endpoint": "http://tokens.example.com/token",
    }
    with pytest.raises(DiscoveryError, match="must use HTTPS"):
        discover(base)


def test_discovery_without_any_document_is_an_error_naming_both_urls(
    metadata_server: tuple[str, dict[str, Any]],
) -> None:
    base, _ = metadata_server
    with pytest.raises(DiscoveryError, match=r"openid-configuration and .*oauth-authorization"):
        discover(base)


@pytest.mark.parametrize(
    "issuer", ["http://id.example.com", "ftp://id.example.com", "https://", "https://x/?a=1"]
)
def test_an_issuer_must_be_https_except_on_loopback(issuer: str) -> None:
    with pytest.raises(InvalidIssuerError):
        discover(issuer)


def test_the_callback_ignores_a_wrong_state_and_takes_the_right_one() -> None:
    with CallbackServer("expected-state") as callback:
        assert callback.redirect_uri.startswith("http://127.0.0.1:")
        wrong = httpx.get(callback.redirect_uri, params={"state": "forged", "code": "evil"})
        assert wrong.status_code == 400
        right = httpx.get(callback.redirect_uri, params={"state": "expected-state", "code": "c1"})
        assert right.status_code == 200
        assert callback.wait(5) == "c1"


def test_the_callback_reports_a_refusal_and_times_out_when_nobody_comes() -> None:
    with CallbackServer("s") as callback:
        httpx.get(callback.redirect_uri, params={"state": "s", "error": "access_denied"})
        with pytest.raises(AuthorizationError, match="access_denied"):
            callback.wait(5)
    with CallbackServer("s") as callback, pytest.raises(AuthorizationError, match=r"within 0\.2 s"):
        callback.wait(0.2)


def test_the_callback_listens_on_the_chosen_port_of_loopback_only() -> None:
    with CallbackServer("s") as first:
        assert first.host == "127.0.0.1"
        with pytest.raises(PortInUseError, match=f"port {first.port}"):
            CallbackServer("s", port=first.port)
        with CallbackServer("s", port=0) as second:
            assert second.port != first.port


def test_login_in_a_real_browser_returns_tokens_the_provider_accepts(
    idp: OAuthServer, background: Any
) -> None:
    metadata = discover(idp.issuer)
    client = ClientSettings(client_id=idp.client_id)
    job = background(lambda announce: login(metadata, client, skip_browser=True, announce=announce))
    url = job.url()
    assert "code_challenge_method=S256" in url and "prompt=consent" in url
    assert "Login complete" in complete_login(url)
    tokens: TokenSet = job.join()
    assert tokens.refresh_token is not None
    assert "offline_access" in tokens.scope.split()
    introspected = idp.introspect(tokens.access_token.get_secret_value())
    assert introspected["active"] is True and introspected["sub"] == "alice"
    # Tokens do not show in repr, str or a JSON dump.
    shown = repr(tokens) + str(tokens) + tokens.model_dump_json()
    assert tokens.access_token.get_secret_value() not in shown
    assert tokens.refresh_token.get_secret_value() not in shown


def test_a_session_reuses_refreshes_and_forgets_its_tokens(
    idp: OAuthServer, background: Any
) -> None:
    storage = DictStorage()
    saved: list[tuple[str, datetime | None]] = []
    session = TokenSession(
        issuer=idp.issuer,
        client=ClientSettings(client_id=idp.client_id),
        storage=storage,
        key="TEST_OAUTH_1",
        login_hint="run `thv test login`",
        on_saved=lambda key, expiry: saved.append((key, expiry)),
    )
    with pytest.raises(LoginRequiredError, match="run `thv test login`"):
        session.access_token()
    job = background(lambda announce: session.login(skip_browser=True, announce=announce))
    complete_login(job.url())
    job.join()
    assert set(storage.values) == {"TEST_OAUTH_1", "TEST_OAUTH_1_AT"}
    assert saved and saved[-1][0] == "TEST_OAUTH_1"
    first = session.access_token()
    # Another process (a fresh session over the same storage) reuses the cached access token.
    other = TokenSession(
        idp.issuer, ClientSettings(client_id=idp.client_id), storage, "TEST_OAUTH_1"
    )
    assert other.access_token() == first
    # Expired (or within the leeway): a silent refresh, which rotates the refresh token.
    old_refresh = storage.values["TEST_OAUTH_1"]
    near = TokenSet(
        access_token=SecretStr(first), expires_at=datetime.now(UTC) + timedelta(seconds=5)
    )
    storage.values["TEST_OAUTH_1_AT"] = f"{first}|{near.expires_at:%Y-%m-%dT%H:%M:%SZ}"
    client = ClientSettings(client_id=idp.client_id)
    fresh = TokenSession(idp.issuer, client, storage, "TEST_OAUTH_1").access_token()
    assert fresh != first
    assert idp.introspect(fresh)["active"] is True
    assert storage.values["TEST_OAUTH_1"] != old_refresh
    # A revoked grant: the next refresh is refused and the session says to log in again.
    idp.revoke(storage.values["TEST_OAUTH_1"])
    storage.values.pop("TEST_OAUTH_1_AT")
    late = TokenSession(
        idp.issuer, ClientSettings(client_id=idp.client_id), storage, "TEST_OAUTH_1"
    )
    with pytest.raises(LoginRequiredError, match="expired or was revoked"):
        late.access_token()
    assert storage.values == {}
