"""Fixtures of the token exchange tests: the real test provider (npm oidc-provider), started
once per module, and a user's access token for the proxy's resource from a real login."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from toolhive.testing.oauth_server import OAuthServer

#: The resource the user's token is for (its ``aud``): the proxy in front.
FRONT = "https://front.example/mcp"
#: The audience of exchanged tokens: the upstream server.
BACKEND = "backend-aud"


def _require(reason: str) -> None:
    """Skip locally; fail in CI (TOOLHIVE_TEST_REQUIRE_ENGINES=1), where everything is there."""
    if os.environ.get("TOOLHIVE_TEST_REQUIRE_ENGINES") == "1":
        pytest.fail(f"required component missing: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def idp() -> Iterator[OAuthServer]:
    from toolhive.testing.oauth_server import CHROMIUM, node_tools, oauth_server

    if node_tools() is None:
        _require("Node and oidc-provider (scripts/install-node.sh)")
    if not Path(CHROMIUM).exists() or importlib.util.find_spec("playwright") is None:
        _require(f"Playwright and Chromium at {CHROMIUM} (scripts/install-chromium.sh)")
    with oauth_server(resources=(FRONT,)) as server:
        yield server


@pytest.fixture(scope="module")
def user_token(idp: OAuthServer) -> str:
    """alice's access token for FRONT (an RS256 JWT of ``idp``), from a headless login."""
    from toolhive.testing.user_token import user_access_token

    return user_access_token(idp, FRONT)


@pytest.fixture(scope="module")
def token_endpoint(idp: OAuthServer) -> str:
    endpoint: str = idp.metadata()["token_endpoint"]
    return endpoint


@pytest.fixture
def exchange_config(idp: OAuthServer, token_endpoint: str) -> dict[str, Any]:
    """A ``token_exchange_config`` (Go's keys) for the provider's confidential client."""
    return {
        "token_url": token_endpoint,
        "client_id": idp.exchange_client_id,
        "client_secret": idp.exchange_client_secret,
        "audience": BACKEND,
    }
