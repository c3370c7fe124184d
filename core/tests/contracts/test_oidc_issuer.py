"""``toolhive.testing.oidc.OIDCIssuer``, checked against an independent verifier (PyJWT) and over
real HTTP: what other plugins' tests rely on when they ask it for a token."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import ssl
from collections.abc import Iterator
from pathlib import Path

import httpx
import jwt
import pytest
from toolhive.testing.oidc import SIGNING_ALGORITHMS, OIDCIssuer, b64url


@pytest.fixture
def issuer() -> Iterator[OIDCIssuer]:
    with OIDCIssuer() as started:
        yield started


def _jwk(issuer: OIDCIssuer, kid: str) -> jwt.PyJWK:
    (key,) = [k for k in httpx.get(issuer.jwks_url).json()["keys"] if k["kid"] == kid]
    return jwt.PyJWK(key)


@pytest.mark.parametrize("alg", SIGNING_ALGORITHMS)
def test_its_tokens_verify_with_the_published_key(issuer: OIDCIssuer, alg: str) -> None:
    kid = issuer.add_key(alg)
    token = issuer.token({"groups": ["eng"]}, kid=kid, sub="alice")
    claims = jwt.decode(token, _jwk(issuer, kid), algorithms=[alg], audience=issuer.audience)
    assert (claims["sub"], claims["iss"], claims["groups"]) == ("alice", issuer.url, ["eng"])
    assert jwt.get_unverified_header(token) == {"alg": alg, "typ": "JWT", "kid": kid}


def test_discovery_names_its_endpoints_and_counts_fetches(issuer: OIDCIssuer) -> None:
    document = httpx.get(issuer.discovery_url).json()
    assert document["issuer"] == issuer.url and document["jwks_uri"] == issuer.jwks_url
    assert document["introspection_endpoint"] == issuer.introspection_url
    httpx.get(issuer.jwks_url)
    assert (issuer.discovery_fetches, issuer.jwks_fetches) == (1, 1)


def test_tokens_meant_to_fail_fail_an_independent_verifier(issuer: OIDCIssuer) -> None:
    key = _jwk(issuer, issuer.kid)
    for bad in (issuer.foreign_token(), issuer.token(exp=1)):
        with pytest.raises(jwt.InvalidTokenError):
            jwt.decode(bad, key, algorithms=["RS256"], audience=issuer.audience)
    head, _, signature = issuer.unsigned().split(".")
    assert signature == "" and json.loads(base64.urlsafe_b64decode(head + "=="))["alg"] == "none"
    # The confusion attack's token really is an HMAC-SHA256 over the public key's PEM.
    signing_input, _, mac = issuer.hmac_signed().rpartition(".")
    expected = hmac.new(issuer.public_pem(), signing_input.encode(), hashlib.sha256).digest()
    assert mac == b64url(expected)


def test_rotation_publishes_a_new_key_and_can_retire_the_old(issuer: OIDCIssuer) -> None:
    old = issuer.kid
    new = issuer.rotate(retire_old=True)
    assert new != old and issuer.kid == new
    assert [k["kid"] for k in issuer.jwks()["keys"]] == [new]


def test_introspection_needs_the_client_credentials(issuer: OIDCIssuer) -> None:
    token = issuer.opaque({"scope": "read"}, sub="bob")
    auth = (issuer.client_id, issuer.client_secret)
    answer = httpx.post(issuer.introspection_url, data={"token": token}, auth=auth).json()
    assert answer["active"] is True and answer["sub"] == "bob" and answer["scope"] == "read"
    assert httpx.post(issuer.introspection_url, data={"token": token}).status_code == 401
    issuer.revoke(token)
    answer = httpx.post(issuer.introspection_url, data={"token": token}, auth=auth).json()
    assert answer == {"active": False}
    assert issuer.introspections == 3


def test_a_stopped_issuer_comes_back_at_the_same_url() -> None:
    issuer = OIDCIssuer().start()
    url = issuer.url
    issuer.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(issuer.discovery_url)
    with issuer:
        assert issuer.url == url and httpx.get(issuer.discovery_url).status_code == 200


def test_with_tls_it_serves_https_trusted_through_its_ca(tmp_path: Path) -> None:
    with OIDCIssuer(tls=True) as issuer:
        assert issuer.url.startswith("https://127.0.0.1:")
        bundle = tmp_path / "ca.pem"
        bundle.write_bytes(issuer.ca_pem)
        trusted = ssl.create_default_context(cafile=str(bundle))
        assert httpx.get(issuer.jwks_url, verify=trusted).status_code == 200
        with pytest.raises(httpx.ConnectError):
            httpx.get(issuer.jwks_url, verify=ssl.create_default_context())
