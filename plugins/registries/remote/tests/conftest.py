from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from remote_registry_server import Registry, running_registry


@pytest.fixture
def registry_server() -> Iterator[Registry]:
    with running_registry() as server:
        yield server
