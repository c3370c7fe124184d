"""Remote-server detection and authorization-server discovery against a real protected server
(Starlette + uvicorn, validating JWTs) and the real provider (npm oidc-provider)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

import pytest
from toolhive.errors import InvalidInputError
from toolhive.oauth import (
    AuthRequirement,
    DiscoveryError,
    InvalidIssuerError,
    discover,
    discover_authorization_server,
    fetch_resource_metadata,
    normalize_resource,
    probe,
    validate_resource,
    well_known_urls,
)
from toolhive.oauth.discovery import candidate_urls
from toolhive.testing.oauth_server import OAuthServer

if TYPE_CHECKING:
    from conftest import Protected


@pytest.fixture
def documents() -> Iterator[tuple[str, dict[str, Any]]]:
    """A plain HTTP server on 127.0.0.1 answering JSON documents by path (404 otherwise; an
    int value is a status to answer with)."""
    served: dict[str, Any] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            doc = served.get(self.path)
            status = 200 if doc is not None else 404
            if isinstance(doc, int):  # a status to answer with
                status, doc = doc, None
            body = json.dumps(doc).encode() if doc is not None else b"{}"
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", served
    finally:
        server.shutdown()
        server.server_close()


def as_metadata(issuer: str, base: str, **more: Any) -> dict[str, Any]:
    return {
        "issuer": issuer,
        "authorization_endpoint": f"{base}/authorize",
        "token_endpoint": f"{base}/token",
        **more,
    }


# -- probe -------------------------------------------------------------------------------------


def test_probe_reads_the_challenge_and_the_resource_metadata_it_names(
    protected: Protected,
) -> None:
    protected.issuer = "https://id.example.com"
    protected.scope = "mcp:tools"
    requirement = probe(protected.url)
    assert requirement is not None
    assert protected.seen[:2] == ["GET", "POST"]  # GET answered 405: the initialize POST asks
    assert requirement.challenge is not None
    assert requirement.challenge.resource_metadata == protected.path_document
    assert requirement.challenge.scopes == ("mcp:tools",)
    assert requirement.metadata_url == protected.path_document
    assert requirement.metadata is not None
    assert requirement.metadata.resource == protected.url
    assert requirement.metadata.authorization_servers == ["https://id.example.com"]
    assert requirement.oauth_discoverable


def test_probe_takes_a_challenge_on_get_without_posting(protected: Protected) -> None:
    protected.challenge_on_get = True
    requirement = probe(protected.url)
    assert requirement is not None and requirement.metadata is not None
    assert protected.seen == ["GET"]


def test_probe_without_resource_metadata_uses_the_path_specific_well_known_document(
    protected: Protected,
) -> None:
    protected.mode = "well_known"
    requirement = probe(protected.url)
    assert requirement is not None and requirement.challenge is not None
    assert requirement.challenge.resource_metadata == ""
    assert requirement.metadata_url == protected.path_document
    assert requirement.metadata is not None and requirement.metadata.resource == protected.url


def test_probe_falls_back_to_the_root_document_when_there_is_no_path_specific_one(
    protected: Protected,
) -> None:
    protected.mode = "well_known"
    protected.documents = {"root"}
    requirement = probe(protected.url)
    assert requirement is not None and requirement.metadata is not None
    assert requirement.metadata_url == f"{protected.base}/.well-known/oauth-protected-resource"
    assert requirement.metadata.resource == protected.base


def test_a_401_without_anything_usable_is_a_requirement_without_metadata(
    protected: Protected,
) -> None:
    protected.mode = "bare"
    protected.documents = set()
    requirement = probe(protected.url)
    assert requirement == AuthRequirement(challenge=None, metadata=None)
    assert not requirement.oauth_discoverable


def test_probe_of_a_server_that_answers_without_401_is_none(protected: Protected) -> None:
    protected.mode = "open"
    assert probe(protected.url) is None


def test_probe_of_an_unreachable_server_is_a_discovery_error(protected: Protected) -> None:
    with pytest.raises(DiscoveryError, match="cannot reach the remote server"):
        probe("http://127.0.0.1:1/mcp", timeout=2)
    with pytest.raises(InvalidInputError):
        probe("ftp://example.com/mcp")


def test_well_known_urls_put_the_path_specific_document_before_the_root() -> None:
    assert well_known_urls("https://MCP.example.com:443/api/v1/mcp/?x=1#f") == [
        "https://mcp.example.com/.well-known/oauth-protected-resource/api/v1/mcp",
        "https://mcp.example.com/.well-known/oauth-protected-resource",
    ]
    assert well_known_urls("http://127.0.0.1:8080/") == [
        "http://127.0.0.1:8080/.well-known/oauth-protected-resource"
    ]


def test_resource_metadata_must_be_https_off_loopback_and_carry_a_resource(
    documents: tuple[str, dict[str, Any]],
) -> None:
    with pytest.raises(DiscoveryError, match="must use HTTPS"):
        fetch_resource_metadata("http://mcp.example.com/.well-known/oauth-protected-resource")
    base, served = documents
    served["/prm"] = {"authorization_servers": ["https://id.example.com"]}
    with pytest.raises(DiscoveryError, match="needs 'resource'"):
        fetch_resource_metadata(f"{base}/prm")
    with pytest.raises(DiscoveryError, match="HTTP 404"):
        fetch_resource_metadata(f"{base}/missing")


# -- the authorization server ------------------------------------------------------------------


def test_discovery_follows_the_resource_metadata_to_the_authorization_server(
    protected: Protected, resource_idp: OAuthServer
) -> None:
    requirement = probe(protected.url)
    found = discover_authorization_server(protected.url, requirement=requirement)
    assert found.source == "resource_metadata"
    assert found.issuer == resource_idp.issuer == found.metadata.issuer
    assert found.metadata.registration_endpoint == f"{resource_idp.issuer}/reg"
    assert found.resource == protected.url
    # The PRM's scopes, and offline_access because the provider offers it.
    assert found.scopes == ("mcp:tools", "offline_access")


def test_the_challenges_scope_comes_before_the_documents_and_configured_scopes_before_both(
    protected: Protected, resource_idp: OAuthServer
) -> None:
    protected.scope = "profile"
    requirement = probe(protected.url)
    found = discover_authorization_server(protected.url, requirement=requirement)
    assert found.scopes == ("profile", "offline_access")
    mine = discover_authorization_server(protected.url, requirement=requirement, scopes=["openid"])
    assert mine.scopes == ("openid",)


def test_discovery_derives_the_issuer_from_a_realm_when_there_is_no_metadata(
    protected: Protected, resource_idp: OAuthServer
) -> None:
    protected.mode = "realm"
    protected.documents = set()
    requirement = probe(protected.url)
    assert requirement is not None and requirement.metadata is None
    found = discover_authorization_server(protected.url, requirement=requirement)
    assert (found.source, found.issuer) == ("realm", resource_idp.issuer)
    assert found.resource == protected.url
    assert found.scopes == ()  # nothing said which: the provider's default applies


def test_discovery_reads_the_well_known_document_when_given_no_requirement(
    protected: Protected, resource_idp: OAuthServer
) -> None:
    found = discover_authorization_server(protected.url)
    assert (found.source, found.issuer) == ("well_known", resource_idp.issuer)
    assert found.resource == protected.url


def test_discovery_falls_back_to_the_servers_origin(idp: OAuthServer) -> None:
    server = f"{idp.issuer.replace('http:', 'HTTP:')}/Some/MCP#frag"
    found = discover_authorization_server(
        server, requirement=AuthRequirement(challenge=None, metadata=None)
    )
    assert (found.source, found.issuer) == ("server_origin", idp.issuer)
    assert found.resource == f"{idp.issuer}/Some/MCP"


def test_a_configured_issuer_wins_and_must_be_discoverable(
    protected: Protected, resource_idp: OAuthServer, documents: tuple[str, dict[str, Any]]
) -> None:
    requirement = probe(protected.url)
    found = discover_authorization_server(
        protected.url, issuer=resource_idp.issuer, requirement=requirement
    )
    assert (found.source, found.issuer) == ("configured", resource_idp.issuer)
    base, _ = documents
    with pytest.raises(DiscoveryError, match=r"no OpenID Connect or OAuth 2\.0 metadata"):
        discover_authorization_server(protected.url, issuer=base, requirement=requirement)
    with pytest.raises(InvalidIssuerError, match="must use HTTPS"):
        discover_authorization_server(protected.url, issuer="http://id.example.com")


def test_resource_metadata_naming_another_origins_resource_is_not_used_as_the_resource(
    protected: Protected, resource_idp: OAuthServer
) -> None:
    protected.path_resource = "https://elsewhere.example.com/mcp"
    found = discover_authorization_server(protected.url, requirement=probe(protected.url))
    assert found.resource == protected.url


def test_an_explicit_resource_is_validated_and_kept_as_given(
    protected: Protected, resource_idp: OAuthServer
) -> None:
    found = discover_authorization_server(
        protected.url, requirement=probe(protected.url), resource="https://Other.example/x/"
    )
    assert found.resource == "https://Other.example/x/"
    with pytest.raises(InvalidInputError, match="fragment"):
        discover_authorization_server(protected.url, resource="https://x.example/a#b")


def test_without_any_authorization_server_the_error_lists_what_was_tried(
    protected: Protected,
) -> None:
    protected.issuer = "http://127.0.0.1:1"  # named by the documents, but nobody answers there
    with pytest.raises(DiscoveryError) as caught:
        discover_authorization_server(protected.url, requirement=probe(protected.url))
    message = str(caught.value)
    assert "http://127.0.0.1:1 (resource_metadata)" in message
    assert f"{protected.base} (server_origin)" in message
    assert "--remote-auth-issuer" in message


def test_normalized_resources_lower_case_scheme_and_host_and_drop_the_fragment() -> None:
    assert normalize_resource("HTTPS://MCP.Example.COM/Api/?q=1#x") == (
        "https://mcp.example.com/Api/?q=1"
    )
    for bad, reason in (("mcp.example.com", "scheme"), ("https:///x", "host")):
        with pytest.raises(InvalidInputError, match=reason):
            validate_resource(bad)


# -- authorization-server metadata in the MCP spec's order -------------------------------------


def test_the_mcp_order_tries_rfc_8414_then_oidc_path_inserted_then_appended() -> None:
    assert candidate_urls("https://id.example.com/tenant", mcp_order=True) == [
        "https://id.example.com/.well-known/oauth-authorization-server/tenant",
        "https://id.example.com/.well-known/openid-configuration/tenant",
        "https://id.example.com/tenant/.well-known/openid-configuration",
    ]
    assert candidate_urls("https://id.example.com/", mcp_order=True) == [
        "https://id.example.com/.well-known/oauth-authorization-server",
        "https://id.example.com/.well-known/openid-configuration",
    ]
    # Registry login keeps its order.
    assert candidate_urls("https://id.example.com/tenant") == [
        "https://id.example.com/tenant/.well-known/openid-configuration",
        "https://id.example.com/.well-known/oauth-authorization-server/tenant",
    ]


def test_an_oidc_path_inserted_document_is_found_in_the_mcp_order_only(
    documents: tuple[str, dict[str, Any]],
) -> None:
    base, served = documents
    issuer = f"{base}/tenant"
    served["/.well-known/openid-configuration/tenant"] = as_metadata(issuer, base)
    assert discover(issuer, mcp_order=True).token_endpoint == f"{base}/token"
    with pytest.raises(DiscoveryError):
        discover(issuer)


def test_the_mcp_order_prefers_a_later_document_that_offers_registration(
    documents: tuple[str, dict[str, Any]],
) -> None:
    base, served = documents
    issuer = f"{base}/tenant"
    served["/.well-known/oauth-authorization-server/tenant"] = as_metadata(issuer, base)
    served["/tenant/.well-known/openid-configuration"] = as_metadata(
        issuer, base, registration_endpoint=f"{base}/register"
    )
    assert discover(issuer, mcp_order=True).registration_endpoint == f"{base}/register"
    # Without one anywhere — even when a later document fails — the first document is used.
    served["/tenant/.well-known/openid-configuration"] = 500
    assert discover(issuer, mcp_order=True).registration_endpoint == ""


def test_an_issuer_announced_by_another_document_is_used_once_it_names_itself(
    documents: tuple[str, dict[str, Any]], idp: OAuthServer
) -> None:
    base, served = documents
    # The server's origin hosts a document for the real provider (Stripe's layout).
    served["/.well-known/oauth-authorization-server"] = as_metadata(idp.issuer, base)
    found = discover_authorization_server(f"{base}/mcp", requirement=None)
    assert found.issuer == idp.issuer
    assert found.metadata.token_endpoint == f"{idp.issuer}/token"  # the provider's own
    # An announced issuer whose own metadata does not vouch for it is refused.
    served["/.well-known/oauth-authorization-server"] = as_metadata(f"{base}/ghost", base)
    with pytest.raises(DiscoveryError, match="tried"):
        discover_authorization_server(f"{base}/mcp", requirement=None)
