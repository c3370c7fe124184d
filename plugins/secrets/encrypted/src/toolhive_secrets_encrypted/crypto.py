"""ToolHive's encrypted-store format: ``nonce(12) | ciphertext | tag(16)`` of the JSON
``{"secrets": {name: value}}``, AES-256-GCM with key = SHA-256(password)."""

from __future__ import annotations

import hashlib
import json
import os

NONCE = 12
TAG = 16


class DecryptError(Exception):
    """The data does not decrypt with this key (wrong password, or altered data)."""


class FormatError(Exception):
    """The data is not an encrypted store at all (truncated, or not ToolHive's layout)."""


def derive_key(password: str) -> bytes:
    return hashlib.sha256(password.encode()).digest()


def encrypt(secrets: dict[str, str], key: bytes) -> bytes:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = os.urandom(NONCE)
    plaintext = json.dumps({"secrets": secrets}, separators=(",", ":")).encode()
    return nonce + AESGCM(key).encrypt(nonce, plaintext, None)


def decrypt(data: bytes, key: bytes) -> dict[str, str]:
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    if len(data) < NONCE + TAG:
        msg = f"{len(data)} bytes is too short for an encrypted store"
        raise FormatError(msg)
    try:
        plaintext = AESGCM(key).decrypt(data[:NONCE], data[NONCE:], None)
    except InvalidTag:
        raise DecryptError from None
    try:
        content = json.loads(plaintext)
        secrets = content["secrets"] or {}
    except (ValueError, KeyError, TypeError):
        msg = "it decrypts, but not to a secrets document"
        raise FormatError(msg) from None
    if not isinstance(secrets, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in secrets.items()
    ):
        msg = "its secrets are not a mapping of names to strings"
        raise FormatError(msg)
    return dict(secrets)
