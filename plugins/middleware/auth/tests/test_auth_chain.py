"""The ``auth`` middleware in a workload's real chain (checked from a RunConfig, core's parser and
recovery around it) in front of the stdio bridge and the SDK echo server, served on a real port:
an MCP session with a token, a 401 without one, the RFC 9728 metadata an MCP client follows, and
ToolHive's local-user mode (``toolhive.testing.chains.workload_proxy``)."""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import json
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from toolhive.contracts.middleware import identity
from toolhive.testing.chains import workload_proxy
from toolhive.testing.mcp_servers import INITIALIZE_PARAMS, echo_session
from toolhive.testing.oidc import OIDCIssuer
from toolhive.testing.plugin_contract import plugin_hooks_for

pytestmark = pytest.mark.timeout(120)

WORKLOAD = "auth-chain"
INIT = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": INITIALIZE_PARAMS}


def whoami(app: Any) -> Any:
    """Innermost: reports the caller the chain established as response headers."""

    async def wrapped(scope: Any, receive: Any, send: Any) -> None:
        who = identity(scope)

        async def tag(message: Any) -> None:
            if message["type"] == "http.response.start" and who is not None:
                extra = [(b"x-caller", who.subject.encode()), (b"x-method", who.method.encode())]
                message["headers"] = [*message["headers"], *extra]
            await send(message)

        await app(scope, receive, tag)

    return wrapped


@contextlib.asynccontextmanager
async def proxied(proxy_mode: str = "streamable-http", **run_config: Any) -> AsyncIterator[str]:
    """The proxy's base URL for a workload with these RunConfig fields (``whoami`` innermost)."""
    from toolhive.models.runconfig import RunConfig

    config = RunConfig(name=WORKLOAD, transport="stdio", port=0, target_port=0, **run_config)
    async with workload_proxy(
        plugin_hooks_for("middleware-auth"),
        config,
        proxy_mode=proxy_mode,
        arrange=lambda chain: [*chain, whoami],
    ) as proxy:
        assert proxy.chain == ["auth", "mcp-parser", "recovery"]
        yield proxy.base


def test_an_mcp_session_with_a_token_goes_through_the_chain(issuer: OIDCIssuer) -> None:
    token = issuer.token({"name": "Alice"}, sub="alice")

    async def session() -> tuple[str, httpx.Response]:
        async with proxied(oidc_config=issuer.oidc_config()) as base:
            result = await echo_session(
                f"{base}/mcp", headers={"authorization": f"Bearer {token}"}, text="authed ✓"
            )
            async with httpx.AsyncClient(timeout=60) as http:
                init = await http.post(
                    f"{base}/mcp",
                    json=INIT,
                    headers={
                        "authorization": f"Bearer {token}",
                        "accept": "application/json, text/event-stream",
                    },
                )
            return result.echoed, init

    echoed, init = asyncio.run(session())
    assert echoed == "authed ✓"
    assert init.status_code == 200, init.text
    assert (init.headers["x-caller"], init.headers["x-method"]) == ("alice", "jwt")
    assert issuer.jwks_fetches == 1  # every request of the session after the first: cached


def test_a_legacy_sse_session_with_a_token_goes_through_the_chain(issuer: OIDCIssuer) -> None:
    """Both the event stream (GET /sse) and the posted messages carry and need the token."""
    token = issuer.token(sub="sse-user")

    async def session() -> tuple[str, int]:
        async with proxied("sse", oidc_config=issuer.oidc_config()) as base:
            result = await echo_session(
                f"{base}/sse", sse=True, headers={"authorization": f"Bearer {token}"}, text="sse ✓"
            )
            async with httpx.AsyncClient(timeout=60) as http:
                refused = await http.get(f"{base}/sse", headers={"accept": "text/event-stream"})
            return result.echoed, refused.status_code

    assert asyncio.run(session()) == ("sse ✓", 401)


def test_without_a_token_the_proxy_answers_401_and_points_to_its_metadata(
    issuer: OIDCIssuer,
) -> None:
    async def probe() -> tuple[str, httpx.Response, httpx.Response, httpx.Response]:
        async with (
            proxied(oidc_config=issuer.oidc_config(Scopes=["openid", "mcp"])) as base,
            httpx.AsyncClient(timeout=60) as http,
        ):
            refused = await http.post(
                f"{base}/mcp", json=INIT, headers={"accept": "application/json, text/event-stream"}
            )
            # What an MCP client does next (MCP authorization, RFC 9728 §5): follow the link.
            link = re.search(r'resource_metadata="([^"]+)"', refused.headers["www-authenticate"])
            assert link is not None
            metadata = await http.get(link.group(1))
            health = await http.get(f"{base}/health")
            return base, refused, metadata, health

    base, refused, metadata, health = asyncio.run(probe())
    assert refused.status_code == 401
    assert refused.json() == {
        "error": "invalid_request",
        "error_description": "authorization header required",
    }
    assert refused.headers["www-authenticate"] == (
        f'Bearer realm="{issuer.url}", '
        f'resource_metadata="{base}/.well-known/oauth-protected-resource/mcp", '
        'scope="openid mcp", error="invalid_request", '
        'error_description="authorization header required"'
    )
    assert metadata.status_code == 200
    assert metadata.json() == {
        "resource": f"{base}/mcp",
        "authorization_servers": [issuer.url],
        "bearer_methods_supported": ["header"],
        "scopes_supported": ["openid", "mcp"],
    }
    assert health.status_code == 200  # /health stays outside the chain, as in ToolHive


def test_the_protected_resource_metadata_follows_rfc_9728(issuer: OIDCIssuer) -> None:
    config = issuer.oidc_config(ResourceURL="https://mcp.example.com/servers/fetch")

    async def fetch() -> dict[str, httpx.Response]:
        async with proxied(oidc_config=config) as base, httpx.AsyncClient(timeout=60) as http:
            well_known = f"{base}/.well-known/oauth-protected-resource"
            return {
                "plain": await http.get(well_known),
                "suffixed": await http.get(f"{well_known}/servers/fetch"),
                # (A browser's Origin would meet the proxy's Origin check first: core's edge.)
                "preflight": await http.options(well_known),
                "other": await http.get(f"{base}/.well-known/oauth-authorization-server"),
                "refused": await http.post(f"{base}/mcp", json=INIT),
            }

    answers = asyncio.run(fetch())
    for name in ("plain", "suffixed"):
        response = answers[name]
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        assert response.headers["access-control-allow-origin"] == "*"
        document = response.json()
        assert document == {
            "resource": "https://mcp.example.com/servers/fetch",
            "authorization_servers": [issuer.url],
            "bearer_methods_supported": ["header"],
            "scopes_supported": ["openid"],  # Go's default
        }
        assert "jwks_uri" not in document  # Go leaves it out (omitempty, never set)
    preflight = answers["preflight"]
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == "*"
    assert preflight.headers["access-control-allow-methods"] == "GET, OPTIONS"
    assert answers["other"].status_code == 404 and answers["other"].json() == {"error": "not_found"}
    assert (
        'resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/'
        in (answers["refused"].headers["www-authenticate"])
    )
    assert issuer.jwks_fetches == 0 and issuer.discovery_fetches == 0


def test_an_auth_entry_without_oidc_config_is_the_local_user() -> None:
    async def session() -> httpx.Response:
        async with (
            proxied(middleware_configs=[{"type": "auth", "parameters": {}}]) as base,
            httpx.AsyncClient(timeout=60) as http,
        ):
            return await http.post(
                f"{base}/mcp", json=INIT, headers={"accept": "application/json, text/event-stream"}
            )

    response = asyncio.run(session())
    assert response.status_code == 200, response.text
    assert response.headers["x-caller"] == getpass.getuser()
    assert response.headers["x-method"] == "local"


def test_a_go_exported_oidc_config_validates_unchanged(issuer: OIDCIssuer) -> None:
    """What the Go ``thv export`` writes: every field of TokenValidatorConfig, empty ones too."""
    from toolhive_middleware_auth import AuthParameters

    exported = json.loads(
        json.dumps(
            {
                "oidc_config": {
                    "Issuer": "https://accounts.example.com",
                    "Audience": "mcp",
                    "JWKSURL": "",
                    "ClientID": "",
                    "ClientSecret": "",
                    "CACertPath": "",
                    "AuthTokenFile": "",
                    "AllowPrivateIP": False,
                    "InsecureAllowHTTP": False,
                    "IntrospectionURL": "",
                    "ResourceURL": "",
                    "Scopes": None,
                }
            }
        )
    )
    parameters = AuthParameters.model_validate(exported)
    assert parameters.oidc_config is not None
    assert parameters.oidc_config.issuer == "https://accounts.example.com"
    assert parameters.oidc_config.scopes == ()
    with_secret = AuthParameters.model_validate(
        {"oidc_config": {**exported["oidc_config"], "ClientSecret": "s3cret-value"}}
    )
    assert "s3cret-value" not in repr(with_secret)  # a logged config shows no secret


def test_a_refused_oidc_config_never_quotes_the_client_secret() -> None:
    from pydantic import ValidationError
    from toolhive_middleware_auth import AuthParameters

    for bad in (
        {"Audience": "mcp", "ClientSecret": "s3cret-value"},  # neither Issuer nor JWKSURL
        {"Issuer": "http://issuer.example.com", "ClientSecret": "s3cret-value"},
        {"Issuer": "https://issuer.example.com", "ClientSecret": "s3cret-value", "Bogus": 1},
    ):
        with pytest.raises(ValidationError) as refused:
            AuthParameters.model_validate({"oidc_config": bad})
        assert "s3cret-value" not in str(refused.value)
