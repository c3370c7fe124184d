"""The plugin runs ToolHive's middleware contract suite: loaded through its entry point as ``thv``
loads it, its parameters validated as a RunConfig's ``middleware_configs`` entry would be, wrapping
an app, letting a request with a valid token through, and working in a real workload chain with an
MCP session that carries the token. The token comes from a real issuer started for each test."""

from __future__ import annotations

from typing import Any

import pytest
from toolhive.testing import MiddlewareContract
from toolhive.testing.oidc import OIDCIssuer


class TestAuthMiddleware(MiddlewareContract):
    name = "auth"
    entry_point = "middleware-auth"
    invalid_parameters = (
        {"oidc_config": {"Audience": "only-an-audience"}},  # neither Issuer nor JWKSURL
        {"oidc_config": {"Issuer": "https://issuer.example.com", "Scopes": "openid"}},
        {"oidc_config": {"Issuer": "http://issuer.example.com"}},  # HTTP without the opt-in
        {"oidc_config": {"Issuer": "ftp://issuer.example.com", "InsecureAllowHTTP": True}},
        {"oidc_config": {"issuer": "https://issuer.example.com"}},  # not Go's key
        {"oidc_config": {"Issuer": "https://i.example.com", "ResourceURL": "/relative"}},
        {"oidc_config": "https://issuer.example.com"},
    )

    @pytest.fixture
    def plugin_config(self, issuer: OIDCIssuer) -> dict[str, Any]:
        return {"oidc_config": issuer.oidc_config()}

    @pytest.fixture
    def middleware_request_headers(self, issuer: OIDCIssuer) -> dict[str, str]:
        return {"authorization": f"Bearer {issuer.token(sub='contract')}"}
