"""The plugin runs ToolHive's middleware contract suite: loaded through its entry point as ``thv``
loads it, its parameters validated as a RunConfig's ``middleware_configs`` entry would be, wrapping
an app, letting a request with a user's token through (exchanged at the real provider), and
working in a real workload chain with an MCP session."""

from __future__ import annotations

from typing import Any

import pytest
from toolhive.testing import MiddlewareContract

HTTPS = "https://idp.example.com/token"


class TestTokenExchangeMiddleware(MiddlewareContract):
    name = "tokenexchange"
    entry_point = "middleware-tokenexchange"
    invalid_parameters = (
        {},  # the config is required, as in Go
        {"token_exchange_config": {"client_id": "no-url"}},
        {"token_exchange_config": {"token_url": "http://idp.example.com/token"}},  # HTTP, remote
        {"token_exchange_config": {"token_url": "ftp://127.0.0.1/token"}},
        {"token_exchange_config": {"token_url": HTTPS, "header_strategy": "append"}},
        {"token_exchange_config": {"token_url": HTTPS, "header_strategy": "custom"}},
        {
            "token_exchange_config": {
                "token_url": HTTPS,
                "header_strategy": "custom",
                "external_token_header_name": "Host",
            }
        },
        {"token_exchange_config": {"token_url": HTTPS, "subject_token_type": "saml"}},
        {
            "token_exchange_config": {
                "token_url": HTTPS,
                "client_secret": "s",
                "client_secret_file": "/etc/s",
            }
        },
        {"token_exchange_config": {"token_url": HTTPS, "tokenURL": HTTPS}},  # not Go's key
    )

    @pytest.fixture
    def plugin_config(self, exchange_config: dict[str, Any]) -> dict[str, Any]:
        return {"token_exchange_config": exchange_config}

    @pytest.fixture
    def middleware_request_headers(self, user_token: str) -> dict[str, str]:
        return {"authorization": f"Bearer {user_token}"}
