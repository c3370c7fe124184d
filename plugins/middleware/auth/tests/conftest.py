"""Fixtures of the auth plugin's tests: a real OIDC issuer on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from toolhive.testing.oidc import OIDCIssuer


@pytest.fixture
def issuer() -> Iterator[OIDCIssuer]:
    """A fresh issuer per test (its counters start at zero)."""
    from toolhive.testing.oidc import OIDCIssuer

    with OIDCIssuer() as started:
        yield started
