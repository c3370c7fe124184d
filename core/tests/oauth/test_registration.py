"""RFC 7591 registration and a full remote-server login (discovery, registration, PKCE, RFC 8707
resource) against the real provider, a real headless browser and a real protected server."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest
from toolhive.oauth import (
    AuthorizationError,
    CallbackServer,
    ClientSettings,
    RegistrationError,
    TokenEndpointError,
    TokenSet,
    authorization_url,
    discover,
    discover_authorization_server,
    login,
    probe,
    redirect_uri,
    register_client,
)
from toolhive.oauth.pkce import Pkce
from toolhive.oauth.tokens import refresh
from toolhive.testing.oauth_server import OAuthServer, complete_login

if TYPE_CHECKING:
    from conftest import Protected


def call(protected: Protected, token: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    return httpx.post(protected.url, json=body, headers=headers, timeout=10)


def test_registration_at_the_real_provider_asks_for_the_refresh_token_grant(
    idp: OAuthServer,
) -> None:
    client = register_client(
        idp.metadata()["registration_endpoint"],
        redirect_uris=[redirect_uri(8666, "localhost")],
        scopes=["openid", "offline_access"],
    )
    assert client.client_id
    assert client.client_secret is None  # a public PKCE client
    assert client.token_endpoint_auth_method == "none"
    assert client.grant_types == ["authorization_code", "refresh_token"]
    assert client.redirect_uris == ["http://localhost:8666/callback"]
    assert client.scope == "openid offline_access"
    assert client.registration_client_uri.startswith(f"{idp.issuer}/reg/")
    assert client.registration_access_token is not None
    shown = repr(client) + client.model_dump_json()
    assert client.registration_access_token.get_secret_value() not in shown


def test_a_confidential_registration_keeps_its_secret_out_of_repr_and_dumps(
    idp: OAuthServer,
) -> None:
    client = register_client(
        idp.metadata()["registration_endpoint"],
        redirect_uris=[redirect_uri(8666, "localhost")],
        token_endpoint_auth_method="client_secret_basic",
    )
    assert client.client_secret is not None and client.client_secret.get_secret_value()
    assert client.secret_expires is None  # oidc-provider's secrets do not expire
    shown = repr(client) + str(client) + client.model_dump_json()
    assert client.client_secret.get_secret_value() not in shown


def test_a_refused_registration_reports_the_servers_error_and_description(
    idp: OAuthServer,
) -> None:
    with pytest.raises(RegistrationError, match="invalid_redirect_uri: redirect_uris") as caught:
        register_client(idp.metadata()["registration_endpoint"], redirect_uris=["not a uri"])
    assert caught.value.error == "invalid_redirect_uri"


def test_registration_without_an_endpoint_there_says_dcr_is_unsupported(
    idp: OAuthServer,
) -> None:
    with pytest.raises(RegistrationError, match="does not support RFC 7591"):
        register_client(f"{idp.issuer}/no-such-endpoint", redirect_uris=[redirect_uri(1)])


@pytest.mark.parametrize(
    ("endpoint", "uris", "scopes", "reason"),
    [
        ("http://id.example.com/register", ["http://localhost:1/callback"], (), "HTTPS"),
        ("https://id.example.com/register", [], (), "redirect URI"),
        ("https://id.example.com/register", ["http://localhost:1/callback"], ["a b"], "spaces"),
    ],
)
def test_registration_refuses_bad_input_before_sending_anything(
    endpoint: str, uris: list[str], scopes: list[str], reason: str
) -> None:
    with pytest.raises(RegistrationError, match=reason):
        register_client(endpoint, redirect_uris=uris, scopes=scopes)


def test_the_scope_parameter_name_and_the_resource_go_into_the_authorization_url() -> None:
    from toolhive.oauth import ProviderMetadata

    metadata = ProviderMetadata(
        issuer="https://id.example.com",
        authorization_endpoint="https://id.example.com/authorize?tenant=1",
        token_endpoint="https://id.example.com/token",
    )
    client = ClientSettings(
        client_id="c",
        scopes=("chat:write", "users:read"),
        resource="https://mcp.example.com/mcp",
        scope_param_name="user_scope",
    )
    url = authorization_url(
        metadata, client, redirect_uri=redirect_uri(8666, "localhost"), state="s", pkce=Pkce()
    )
    query = parse_qs(urlsplit(url).query)
    assert query["user_scope"] == ["chat:write users:read"]
    assert "scope" not in query
    assert query["resource"] == ["https://mcp.example.com/mcp"]
    assert query["redirect_uri"] == ["http://localhost:8666/callback"]
    assert query["tenant"] == ["1"]


def test_a_localhost_redirect_still_listens_on_127_0_0_1_only() -> None:
    with CallbackServer("s", redirect_host="localhost") as callback:
        assert callback.redirect_uri == f"http://localhost:{callback.port}/callback"
        assert callback.host == "127.0.0.1"
        answer = httpx.get(
            f"http://127.0.0.1:{callback.port}/callback", params={"state": "s", "code": "c"}
        )
        assert answer.status_code == 200 and callback.wait(5) == "c"


def test_a_registered_client_logs_in_for_the_servers_resource_and_the_server_accepts_it(
    protected: Protected, resource_idp: OAuthServer, background: Any
) -> None:
    assert call(protected, None).status_code == 401
    found = discover_authorization_server(protected.url, requirement=probe(protected.url))
    with CallbackServer("unset", redirect_host="localhost") as listener:
        registered = register_client(
            found.metadata.registration_endpoint,
            redirect_uris=[listener.redirect_uri],
            scopes=found.scopes,
        )
        client = ClientSettings(
            client_id=registered.client_id,
            scopes=found.scopes,
            resource=found.resource,
            redirect_host="localhost",
        )
        job = background(
            lambda announce: login(
                found.metadata, client, skip_browser=True, announce=announce, listener=listener
            )
        )
        url = job.url()
        assert url.startswith(f"{resource_idp.issuer}/auth?")
        query = parse_qs(urlsplit(url).query)
        assert query["resource"] == [protected.url]
        assert query["redirect_uri"] == [listener.redirect_uri]
        assert "Login complete" in complete_login(url)
        tokens: TokenSet = job.join()
    access = tokens.access_token.get_secret_value()
    claims = jwt.decode(access, options={"verify_signature": False})
    assert claims["aud"] == protected.url
    assert claims["iss"] == resource_idp.issuer
    answer = call(protected, access)
    assert answer.status_code == 200 and answer.json()["result"]["sub"] == "alice"
    # The refresh token (the registered client asked for the grant) keeps the resource.
    assert tokens.refresh_token is not None
    fresh = refresh(
        found.metadata.token_endpoint,
        client_id=registered.client_id,
        refresh_token=tokens.refresh_token.get_secret_value(),
        resource=found.resource,
    )
    assert fresh.access_token.get_secret_value() != access
    assert call(protected, fresh.access_token.get_secret_value()).status_code == 200
    # Another resource is not the grant's: refused.
    assert fresh.refresh_token is not None
    with pytest.raises(TokenEndpointError) as caught:
        refresh(
            found.metadata.token_endpoint,
            client_id=registered.client_id,
            refresh_token=fresh.refresh_token.get_secret_value(),
            resource="http://127.0.0.1:1/elsewhere",
        )
    assert caught.value.error == "invalid_target"


def test_a_login_for_a_resource_the_provider_does_not_serve_is_refused(
    protected: Protected, resource_idp: OAuthServer, background: Any
) -> None:
    metadata = discover(resource_idp.issuer)
    client = ClientSettings(
        client_id=resource_idp.client_id,
        scopes=("mcp:tools",),
        resource="http://127.0.0.1:1/not-served",
    )
    job = background(lambda announce: login(metadata, client, skip_browser=True, announce=announce))
    assert "Login failed" in complete_login(job.url())
    with pytest.raises(AuthorizationError, match="invalid_target"):
        job.join()


def test_a_session_given_the_metadata_uses_it_without_discovering() -> None:
    from toolhive.oauth import ProviderMetadata, TokenSession

    metadata = ProviderMetadata(
        issuer="",  # manual endpoints: nothing to discover
        authorization_endpoint="https://id.example.com/authorize",
        token_endpoint="https://id.example.com/token",
    )

    class Nowhere:
        def read(self, name: str) -> str | None:
            return None

        def write(self, name: str, value: str) -> None:
            raise AssertionError("nothing to store")

        def delete(self, name: str) -> None:
            pass

    session = TokenSession("", ClientSettings(client_id="c"), Nowhere(), "K", metadata=metadata)
    assert session.provider() is metadata
    assert session.current is None
