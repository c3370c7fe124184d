"""Core's built-in transports run the transport contract suite."""

from __future__ import annotations

import pytest
from toolhive.testing import TransportContract

pytestmark = pytest.mark.timeout(120)


class TestStdioTransport(TransportContract):
    name = "stdio"
    proxy_modes = ("streamable-http", "sse")


class TestSseTransport(TransportContract):
    name = "sse"


class TestStreamableHttpTransport(TransportContract):
    name = "streamable-http"
