"""Core's own middleware types run the middleware contract suite."""

from __future__ import annotations

import pytest
from toolhive.testing import MiddlewareContract

pytestmark = pytest.mark.timeout(120)


class TestMcpParser(MiddlewareContract):
    name = "mcp-parser"


class TestRecovery(MiddlewareContract):
    name = "recovery"


class TestBodyLimit(MiddlewareContract):
    name = "bodylimit"
    parameters = {"max_bytes": 65536}
    invalid_parameters = ({"max_bytes": 0}, {"max_bytes": "lots"})


class TestOrigin(MiddlewareContract):
    name = "origin"
    parameters = {"allowed_origins": ["https://app.example.com"]}
    invalid_parameters = ({"allowed_origins": "https://app.example.com"},)


class TestHeaderForward(MiddlewareContract):
    name = "header-forward"
    parameters = {"add_headers": {"X-Team": "blue"}}
    invalid_parameters = ({"add_headers": {"Host": "elsewhere"}}, {"add_headers": ["X-Team"]})
