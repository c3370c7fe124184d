"""Real tokens from a real issuer (``toolhive.testing.oidc``, over HTTP on 127.0.0.1) through the
``auth`` middleware: what passes, what is refused and how, key rotation, introspection, discovery
and the issuer's network rules."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from pathlib import Path

import pytest
from auth_harness import (
    CONTEXT,
    LOOPBACK,
    Clock,
    call,
    challenge,
    protect,
    protect_with_clock,
    refusal,
    send,
)
from toolhive.contracts import InvalidInputError
from toolhive.testing.oidc import SIGNING_ALGORITHMS, OIDCIssuer
from toolhive_middleware_auth.middleware import OIDCMiddleware
from toolhive_middleware_auth.validator import TokenCache, TokenValidator

pytestmark = pytest.mark.timeout(60)

METADATA_URL = "http://127.0.0.1:8080/.well-known/oauth-protected-resource/mcp"

# -- what passes -----------------------------------------------------------------------------


def test_a_valid_token_passes_and_the_app_sees_who_called(issuer: OIDCIssuer) -> None:
    app, inner = protect(issuer.oidc_config())
    token = issuer.token(
        {"name": "Alice", "email": "alice@example.com", "groups": ["eng", 7], "tsid": "s"},
        sub="alice",
    )
    (response,) = call(app, token)
    assert response.status_code == 200, response.text
    (who,) = inner.callers
    assert who is not None
    assert (who.subject, who.name, who.email, who.method) == (
        "alice",
        "Alice",
        "alice@example.com",
        "jwt",
    )
    assert who.groups == ("eng",)
    assert who.claims["iss"] == issuer.url and who.claims["aud"] == issuer.audience
    assert "tsid" not in who.claims  # ToolHive's internal session claim is never passed on


@pytest.mark.parametrize("alg", SIGNING_ALGORITHMS)
def test_every_asymmetric_algorithm_is_accepted(issuer: OIDCIssuer, alg: str) -> None:
    kid = issuer.add_key(alg)
    app, _ = protect(issuer.oidc_config())
    (response,) = call(app, issuer.token(kid=kid))
    assert response.status_code == 200, response.text


def test_an_audience_list_containing_ours_passes(issuer: OIDCIssuer) -> None:
    app, _ = protect(issuer.oidc_config())
    (response,) = call(app, issuer.token(aud=["other", issuer.audience]))
    assert response.status_code == 200, response.text


def test_a_small_clock_skew_is_tolerated(issuer: OIDCIssuer) -> None:
    import time

    app, _ = protect(issuer.oidc_config())
    skewed = issuer.token(exp=time.time() - 5, nbf=time.time() + 5, iat=time.time() + 5)
    (response,) = call(app, skewed)
    assert response.status_code == 200, response.text


# -- what is refused, and how -----------------------------------------------------------------

REFUSED = {
    "expired": (lambda i: i.token(exp=1), "token expired"),
    "without exp": (lambda i: i.token({"exp": None}), "token expired"),
    "not yet valid": (lambda i: i.token(nbf=4102444800), "token is not valid yet"),
    "wrong issuer": (lambda i: i.token(iss="https://evil.example.com"), "invalid issuer"),
    "wrong audience": (lambda i: i.token(aud="someone-else"), "invalid audience"),
    "bad signature": (lambda i: i.foreign_token(), "token signature is invalid"),
    "alg none": (lambda i: i.unsigned(), "unexpected signing method: none"),
    "HS256 over the public key": (lambda i: i.hmac_signed(), "unexpected signing method: HS256"),
    "HS512 over the public key": (
        lambda i: i.hmac_signed(alg="HS512"),
        "unexpected signing method: HS512",
    ),
    "without kid": (lambda i: i.token(header={"kid": None}), "token header missing kid"),
    "without sub": (lambda i: i.token(sub=None), "missing or invalid 'sub' claim"),
    "alg of another key type": (lambda i: i.token(alg="ES256"), "the token says ES256"),
    "tampered claims": (
        lambda i: _tampered(i.token(sub="bob"), i.claims(sub="admin")),
        "token signature is invalid",
    ),
}


def _tampered(token: str, claims: dict[str, object]) -> str:
    import json

    from toolhive.testing.oidc import b64url

    head, _, signature = token.split(".")
    return f"{head}.{b64url(json.dumps(claims).encode())}.{signature}"


@pytest.mark.parametrize("case", REFUSED)
def test_a_bad_token_is_a_401_with_the_challenge(issuer: OIDCIssuer, case: str) -> None:
    make, reason = REFUSED[case]
    app, inner = protect(issuer.oidc_config())
    (response,) = call(app, make(issuer))
    body = refusal(response)
    assert body["error"] == "invalid_token"
    assert reason in body["error_description"]
    params = challenge(response)
    # Go's order: realm, resource_metadata, error, error_description.
    assert list(params) == ["realm", "resource_metadata", "error", "error_description"]
    assert params["realm"] == issuer.url
    assert params["resource_metadata"] == METADATA_URL
    assert params["error"] == "invalid_token"
    assert reason in params["error_description"]
    assert inner.callers == []


@pytest.mark.parametrize(
    ("authorization", "reason"),
    [
        (None, "authorization header required"),
        ("Basic dXNlcjpwYXNz", "invalid authorization header format"),
        ("Bearer   ", "empty token in authorization header"),
    ],
)
def test_a_request_without_a_bearer_token_is_a_401_invalid_request(
    issuer: OIDCIssuer, authorization: str | None, reason: str
) -> None:
    app, inner = protect(issuer.oidc_config(Scopes=["openid", "mcp:tools"]))
    headers = {"authorization": authorization} if authorization else {}
    response = asyncio.run(send(app, headers=headers))
    body = refusal(response)
    assert body["error"] == "invalid_request" and reason in body["error_description"]
    params = challenge(response)
    assert params["error"] == "invalid_request"
    assert params["scope"] == "openid mcp:tools"  # only when scopes are configured (Go)
    assert params["resource_metadata"] == METADATA_URL
    assert inner.callers == [] and issuer.jwks_fetches == 0


def test_the_token_never_appears_in_a_refusal_or_the_log(
    issuer: OIDCIssuer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    app, _ = protect(issuer.oidc_config())
    tokens = [issuer.token(exp=1), issuer.foreign_token(), issuer.token(kid='k"ey\r\nX: y')]
    for token, response in zip(tokens, call(app, *tokens), strict=True):
        assert response.status_code == 401
        for part in token.split("."):
            assert part not in response.text and part not in response.headers["www-authenticate"]
            assert part not in caplog.text
    # An attacker's kid is made printable before it reaches a header or a log line.
    assert "\r" not in caplog.text and "\n" not in response.headers["www-authenticate"]


# -- keys: rotation and the refetch limit ---------------------------------------------------


def test_a_rotated_key_is_accepted_after_one_jwks_refetch(issuer: OIDCIssuer) -> None:
    clock = Clock()
    app, _ = protect_with_clock(issuer, clock)
    old = issuer.token()

    async def scenario() -> list[int]:
        statuses = [(await send(app, old)).status_code]
        new_kid = issuer.rotate()
        clock.offset += 60  # past the refetch limit since the first fetch
        statuses.append((await send(app, issuer.token(kid=new_kid))).status_code)
        statuses.append((await send(app, issuer.token(sub="carol"))).status_code)
        return statuses

    assert asyncio.run(scenario()) == [200, 200, 200]
    assert issuer.jwks_fetches == 2  # the first token, then once for the new kid


def test_an_unknown_kid_is_refused_after_exactly_one_refetch(issuer: OIDCIssuer) -> None:
    clock = Clock()
    app, _ = protect_with_clock(issuer, clock)

    async def scenario() -> None:
        assert (await send(app, issuer.token())).status_code == 200
        clock.offset += 60
        response = await send(app, issuer.token(kid="never-published"))
        assert "key ID never-published not found in JWKS" in refusal(response)["error_description"]

    asyncio.run(scenario())
    assert issuer.jwks_fetches == 2


def test_refetches_for_unknown_kids_are_rate_limited(issuer: OIDCIssuer) -> None:
    clock = Clock()
    app, _ = protect_with_clock(issuer, clock, min_refetch_interval=30)

    async def scenario() -> list[int]:
        counts = []
        await send(app, issuer.token())  # first fetch
        clock.offset += 31
        for n in range(5):  # a burst of random kids: one refetch between them
            await send(app, issuer.token(kid=f"random-{n}"))
        counts.append(issuer.jwks_fetches)
        kid = issuer.rotate()  # rotated within the limit: refused until the limit passes
        counts.append((await send(app, issuer.token(kid=kid))).status_code)
        clock.offset += 31
        counts.append((await send(app, issuer.token(kid=kid))).status_code)
        counts.append(issuer.jwks_fetches)
        return counts

    assert asyncio.run(scenario()) == [2, 401, 200, 3]


def test_a_retired_key_stops_verifying_once_the_jwks_is_refetched(issuer: OIDCIssuer) -> None:
    clock = Clock()
    app, _ = protect_with_clock(issuer, clock)
    old_kid = issuer.kid

    async def scenario() -> int:
        await send(app, issuer.token(sub="first"))
        issuer.rotate(retire_old=True)
        clock.offset += 3601  # the JWKS is an hour old: refetched on the next need
        return (await send(app, issuer.token(kid=old_kid, sub="second"))).status_code

    assert asyncio.run(scenario()) == 401
    assert issuer.jwks_fetches == 2


def test_concurrent_first_requests_share_one_discovery_and_one_jwks_fetch(
    issuer: OIDCIssuer,
) -> None:
    app, inner = protect(issuer.oidc_config())
    tokens = [issuer.token(sub=f"user-{n}") for n in range(20)]

    async def burst() -> list[int]:
        responses = await asyncio.gather(*(send(app, t) for t in tokens))
        return [r.status_code for r in responses]

    assert asyncio.run(burst()) == [200] * 20
    assert (issuer.discovery_fetches, issuer.jwks_fetches) == (1, 1)
    assert len(inner.callers) == 20


# -- the token cache ----------------------------------------------------------------------


def test_a_validated_token_is_cached_until_it_expires(issuer: OIDCIssuer) -> None:
    clock = Clock()
    app, _ = protect_with_clock(issuer, clock)
    token = issuer.token(lifetime=7200)

    async def scenario() -> list[int]:
        first = (await send(app, token)).status_code
        issuer.rotate(retire_old=True)
        # The JWKS is stale and no longer has the token's key: only the cache can accept it.
        clock.offset += 3601
        cached = (await send(app, token)).status_code
        fetches = issuer.jwks_fetches
        clock.offset += 4000  # past exp
        expired = (await send(app, token)).status_code
        return [first, cached, fetches, expired]

    assert asyncio.run(scenario()) == [200, 200, 1, 401]


def test_the_token_cache_is_bounded_and_keyed_by_a_hash() -> None:
    from toolhive.contracts import Identity

    cache = TokenCache(size=3)
    for n in range(5):
        cache.put(bytes([n]) * 32, Identity(subject=str(n)), until=100.0)
    assert len(cache) == 3
    assert cache.get(bytes([0]) * 32, now=1.0) is None  # the oldest went first
    hit = cache.get(bytes([4]) * 32, now=1.0)
    assert hit is not None and hit.subject == "4"
    assert cache.get(bytes([4]) * 32, now=100.0) is None  # expired entries are dropped


# -- opaque tokens: RFC 7662 introspection ---------------------------------------------------


def introspecting(issuer: OIDCIssuer, **overrides: object) -> dict[str, object]:
    settings: dict[str, object] = {
        "IntrospectionURL": issuer.introspection_url,
        "ClientID": issuer.client_id,
        "ClientSecret": issuer.client_secret,
        **overrides,
    }
    return issuer.oidc_config(**settings)


def test_an_active_opaque_token_passes_through_introspection(issuer: OIDCIssuer) -> None:
    app, inner = protect(introspecting(issuer))
    token = issuer.opaque({"scope": " read write ", "name": "Dana", "groups": ["ops"]}, sub="dana")
    responses = call(app, token, token)
    assert [r.status_code for r in responses] == [200, 200]
    assert issuer.introspections == 1  # the second was served from the cache
    who = inner.callers[0]
    assert who is not None
    assert (who.subject, who.method, who.name, who.groups) == (
        "dana",
        "introspection",
        "Dana",
        ("ops",),
    )
    assert who.claims["scope"] == "read write" and "active" not in who.claims
    assert issuer.jwks_fetches == 0


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda i: i.opaque(active=False), "token is not active"),
        (lambda i: "never-issued", "token is not active"),
        (lambda i: i.opaque(iss="https://elsewhere.example.com"), "invalid issuer"),
        (lambda i: i.opaque(aud="another-api"), "invalid audience"),
        (lambda i: i.opaque(exp=1), "token expired"),
    ],
)
def test_an_opaque_token_introspection_rejects_is_a_401(
    issuer: OIDCIssuer, make: object, reason: str
) -> None:
    app, inner = protect(introspecting(issuer))
    (response,) = call(app, make(issuer))  # type: ignore[operator]
    assert reason in refusal(response)["error_description"]
    assert challenge(response)["error"] == "invalid_token"
    assert inner.callers == []


def test_introspection_with_the_wrong_client_secret_is_refused(issuer: OIDCIssuer) -> None:
    app, _ = protect(introspecting(issuer, ClientSecret="wrong"))
    (response,) = call(app, issuer.opaque())
    assert "introspection unauthorized" in refusal(response)["error_description"]


def test_an_opaque_token_without_an_introspection_endpoint_is_refused(issuer: OIDCIssuer) -> None:
    app, _ = protect(issuer.oidc_config())
    (response,) = call(app, issuer.opaque())
    assert "no introspection endpoint" in refusal(response)["error_description"]
    assert issuer.introspections == 0


def test_a_revoked_opaque_token_is_refused_once_its_cache_entry_ends(issuer: OIDCIssuer) -> None:
    clock = Clock()
    app, _ = protect_with_clock(
        issuer,
        clock,
        introspection_url=issuer.introspection_url,
        client_id=issuer.client_id,
        client_secret=issuer.client_secret,
    )
    token = issuer.opaque(lifetime=3600)

    async def scenario() -> list[int]:
        first = (await send(app, token)).status_code
        issuer.revoke(token)
        clock.offset += 61  # introspection results are kept a minute at most
        return [first, (await send(app, token)).status_code]

    assert asyncio.run(scenario()) == [200, 401]


def test_the_client_secret_can_be_a_secret_reference(issuer: OIDCIssuer) -> None:
    asked: list[str] = []

    def resolve(name: str) -> str:
        asked.append(name)
        return issuer.client_secret

    context = dataclasses.replace(CONTEXT, resolve_secret=resolve)
    app, _ = protect(introspecting(issuer, ClientSecret="oidc-secret,target=oidc"), context)
    (response,) = call(app, issuer.opaque())
    assert response.status_code == 200, response.text
    assert asked == ["oidc-secret"]


def test_a_secret_reference_without_a_secrets_provider_is_refused_at_start(
    issuer: OIDCIssuer,
) -> None:
    with pytest.raises(InvalidInputError, match="secret reference"):
        protect(introspecting(issuer, ClientSecret="oidc-secret,target=oidc"))


# -- discovery -----------------------------------------------------------------------------


def test_discovery_waits_for_the_first_token_and_happens_once(issuer: OIDCIssuer) -> None:
    app, _ = protect(issuer.oidc_config())
    assert issuer.discovery_fetches == 0  # building the middleware fetches nothing
    call(app, issuer.token(), issuer.token(sub="x"))
    assert (issuer.discovery_fetches, issuer.jwks_fetches) == (1, 1)


def test_a_configured_jwks_url_skips_discovery(issuer: OIDCIssuer) -> None:
    app, _ = protect(issuer.oidc_config(JWKSURL=issuer.jwks_url))
    (response,) = call(app, issuer.token())
    assert response.status_code == 200, response.text
    assert (issuer.discovery_fetches, issuer.jwks_fetches) == (0, 1)


def test_a_failed_discovery_is_retried_on_a_later_token() -> None:
    issuer = OIDCIssuer().start()
    config = issuer.oidc_config()
    issuer.stop()  # an outage: nothing listens at the issuer's URL
    clock = Clock()
    try:
        app, _ = protect_with_clock(issuer, clock)

        async def scenario() -> list[int]:
            down = (await send(app, issuer.token())).status_code
            issuer.start()  # back at the same URL
            clock.offset += 3  # past the pause after a failed fetch
            return [down, (await send(app, issuer.token())).status_code]

        assert asyncio.run(scenario()) == [401, 200]
        assert config["Issuer"] == issuer.url
    finally:
        issuer.stop()


def test_a_discovery_document_for_another_issuer_is_not_trusted(issuer: OIDCIssuer) -> None:
    # The configured issuer differs from the one the document names (and the tokens carry).
    config = issuer.oidc_config(Issuer=issuer.url + "/tenant")
    app, _ = protect(config)
    (response,) = call(app, issuer.token(iss=issuer.url + "/tenant"))
    assert response.status_code == 401
    assert issuer.jwks_fetches == 0


# -- the issuer's network rules ---------------------------------------------------------------


def test_plain_http_needs_insecure_allow_http(issuer: OIDCIssuer) -> None:
    with pytest.raises(ValueError, match="InsecureAllowHTTP"):
        protect(issuer.oidc_config(InsecureAllowHTTP=False))


def test_a_loopback_issuer_needs_allow_private_ip(issuer: OIDCIssuer) -> None:
    app, _ = protect(issuer.oidc_config(AllowPrivateIP=False))
    (response,) = call(app, issuer.token())
    assert response.status_code == 401
    assert issuer.discovery_fetches == 0  # refused before any connection


def test_the_jwks_fetch_carries_the_auth_token_file_bearer(tmp_path: Path) -> None:
    with OIDCIssuer(jwks_bearer="jwks-pass") as issuer:
        no_file, _ = protect(issuer.oidc_config())
        assert call(no_file, issuer.token())[0].status_code == 401
        token_file = tmp_path / "jwks-token"
        token_file.write_text("jwks-pass\n")
        with_file, _ = protect(issuer.oidc_config(AuthTokenFile=str(token_file)))
        assert call(with_file, issuer.token())[0].status_code == 200


def test_an_empty_auth_token_file_is_refused_at_start(issuer: OIDCIssuer, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_text("\n")
    with pytest.raises(InvalidInputError, match="auth token file is empty"):
        protect(issuer.oidc_config(AuthTokenFile=str(empty)))


def test_an_unreadable_ca_bundle_is_refused_at_start(issuer: OIDCIssuer, tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="CACertPath"):
        protect(issuer.oidc_config(CACertPath=str(tmp_path / "missing.pem")))


def test_private_addresses_are_recognised() -> None:
    import ipaddress

    from toolhive_middleware_auth.fetch import is_private

    for private in (
        "127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1",
        "0.0.0.0", "224.0.0.1", "::1", "fe80::1", "fc00::1", "::ffff:10.0.0.1",
        "2002:a9fe:a9fe::", "64:ff9b::a9fe:a9fe", "2001::1",
    ):  # fmt: skip
        assert is_private(ipaddress.ip_address(private)), private
    for public in ("8.8.8.8", "2606:4700::1111", "64:ff9b::808:808"):
        assert not is_private(ipaddress.ip_address(public)), public


def test_the_validator_is_a_plain_asgi_wrapper_over_any_app(issuer: OIDCIssuer) -> None:
    """``thv serve`` wraps its API with the same class: no proxy, no workload context."""
    seen: list[str] = []

    async def api(scope: object, receive: object, send_: object) -> None:
        from toolhive.contracts.middleware import identity

        who = identity(scope)  # type: ignore[arg-type]
        seen.append(who.subject if who else "")
        await send_({"type": "http.response.start", "status": 204, "headers": []})  # type: ignore[operator]
        await send_({"type": "http.response.body", "body": b""})  # type: ignore[operator]

    validator = TokenValidator(issuer=issuer.url, audience=issuer.audience, policy=LOOPBACK)
    app = OIDCMiddleware(api, validator, resource="http://127.0.0.1:8080/api")
    response = asyncio.run(send(app, issuer.token(sub="api-user"), path="/api/v1beta/workloads"))
    assert response.status_code == 204 and seen == ["api-user"]
    denied = asyncio.run(send(app, None, path="/api/v1beta/workloads"))
    assert challenge(denied)["resource_metadata"] == (
        "http://127.0.0.1:8080/.well-known/oauth-protected-resource/api"
    )


def test_the_metadata_echoes_the_origin_for_cors_as_go_does(issuer: OIDCIssuer) -> None:
    app, _ = protect(issuer.oidc_config())
    origin = {"origin": "https://inspector.example.com"}
    path = "/.well-known/oauth-protected-resource"
    preflight = asyncio.run(send(app, method="OPTIONS", path=path, headers=origin))
    document = asyncio.run(send(app, method="GET", path=path, headers=origin))
    assert preflight.status_code == 204 and document.status_code == 200
    for response in (preflight, document):
        assert response.headers["access-control-allow-origin"] == "https://inspector.example.com"
        assert response.headers["access-control-allow-headers"] == (
            "mcp-protocol-version, Content-Type, Authorization"
        )
    assert document.json()["resource"] == CONTEXT.url


def test_without_a_resource_url_there_is_no_metadata_to_presume(issuer: OIDCIssuer) -> None:
    no_url = dataclasses.replace(CONTEXT, url="")
    app, _ = protect(issuer.oidc_config(), no_url)
    response = asyncio.run(send(app, method="GET", path="/.well-known/oauth-protected-resource"))
    assert response.status_code == 404
    (refused,) = call(app, None)
    assert "resource_metadata" not in challenge(refused)


def test_an_https_issuer_is_trusted_through_the_ca_bundle(tmp_path: Path) -> None:
    with OIDCIssuer(tls=True) as issuer:
        bundle = tmp_path / "ca.pem"
        bundle.write_bytes(issuer.ca_pem)
        assert issuer.oidc_config()["InsecureAllowHTTP"] is False
        trusted, inner = protect(issuer.oidc_config(CACertPath=str(bundle)))
        (response,) = call(trusted, issuer.token(sub="tls-user"))
        assert response.status_code == 200, response.text
        assert inner.callers[0] is not None and inner.callers[0].subject == "tls-user"
        # The system roots do not know the issuer's CA: discovery fails, the token is refused.
        untrusted, _ = protect(issuer.oidc_config())
        assert call(untrusted, issuer.token())[0].status_code == 401
        assert issuer.jwks_fetches == 1


def test_introspection_over_https_uses_the_same_bundle(tmp_path: Path) -> None:
    with OIDCIssuer(tls=True) as issuer:
        bundle = tmp_path / "ca.pem"
        bundle.write_bytes(issuer.ca_pem)
        app, inner = protect(introspecting(issuer, CACertPath=str(bundle)))
        (response,) = call(app, issuer.opaque(sub="opaque-tls"))
        assert response.status_code == 200, response.text
        assert inner.callers[0] is not None and inner.callers[0].method == "introspection"


def test_a_websocket_is_refused_and_the_lifespan_passes(issuer: OIDCIssuer) -> None:
    app, _ = protect(issuer.oidc_config())
    sent: list[dict[str, object]] = []
    lifespan: list[str] = []

    async def record(message: dict[str, object]) -> None:
        sent.append(message)

    async def receive() -> dict[str, object]:
        return {"type": "websocket.connect"}

    async def inner_lifespan(scope: dict[str, object], receive_: object, send_: object) -> None:
        lifespan.append(str(scope["type"]))

    asyncio.run(app({"type": "websocket", "path": "/mcp", "headers": []}, receive, record))
    assert sent == [{"type": "websocket.close", "code": 1008}]
    middleware = OIDCMiddleware(
        inner_lifespan,
        TokenValidator(issuer=issuer.url, policy=LOOPBACK),
        resource=CONTEXT.url,
    )
    asyncio.run(middleware({"type": "lifespan"}, receive, record))
    assert lifespan == ["lifespan"]


def test_a_non_ascii_resource_url_still_gives_a_valid_challenge(issuer: OIDCIssuer) -> None:
    app, _ = protect(issuer.oidc_config(ResourceURL="https://mcp.example.com/servers/日本"))
    (refused,) = call(app, None)
    assert refused.status_code == 401
    assert challenge(refused)["resource_metadata"] == (
        "https://mcp.example.com/.well-known/oauth-protected-resource/servers/%E6%97%A5%E6%9C%AC"
    )


def test_a_host_name_is_checked_by_the_addresses_it_resolves_to() -> None:
    from toolhive_middleware_auth.fetch import FetchError, FetchPolicy

    guarded = FetchPolicy(insecure_allow_http=True)
    with pytest.raises(FetchError, match="private address"):
        asyncio.run(guarded.check("http://localhost:8080/jwks"))
    with pytest.raises(FetchError, match="plain HTTP"):
        asyncio.run(FetchPolicy(allow_private_ip=True).check("http://localhost:8080/jwks"))
    asyncio.run(LOOPBACK.check("http://localhost:8080/jwks"))  # both opt-ins: allowed
