"""PKCE (RFC 7636, method S256 only) and the ``state`` value of an authorization request."""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass, field


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def challenge_for(verifier: str) -> str:
    """``BASE64URL(SHA256(verifier))`` (RFC 7636 §4.2)."""
    return _b64url(hashlib.sha256(verifier.encode("ascii")).digest())


@dataclass(frozen=True)
class Pkce:
    """A fresh verifier (43 characters of 32 random bytes) and its S256 challenge."""

    verifier: str = field(default_factory=lambda: _b64url(secrets.token_bytes(32)), repr=False)
    method: str = "S256"

    @property
    def challenge(self) -> str:
        return challenge_for(self.verifier)


def new_state() -> str:
    """An unguessable ``state`` (16 random bytes, as ToolHive)."""
    return _b64url(secrets.token_bytes(16))
