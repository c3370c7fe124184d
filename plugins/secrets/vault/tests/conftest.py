"""Fixtures: a Vault-API-compatible fake server (see fake_vault.py for why it is a fake)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from fake_vault import FakeVault


@pytest.fixture
def fake_vault() -> Iterator[FakeVault]:
    vault = FakeVault()
    vault.url = vault.start()  # type: ignore[attr-defined]
    yield vault
    vault.stop()
