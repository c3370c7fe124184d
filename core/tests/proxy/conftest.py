from __future__ import annotations

import sys
from pathlib import Path

import pytest

# The server harness lives beside the transport tests.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "transports"))


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
