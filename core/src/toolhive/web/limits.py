"""The request body limit: ``TOOLHIVE_MAX_REQUEST_BODY`` (default 4 MiB), sizes like ``8MiB``."""

from __future__ import annotations

import os
from typing import Final

from toolhive.errors import InvalidInputError

DEFAULT_MAX_BODY: Final = 4 * 1024 * 1024
MAX_BODY_ENV: Final = "TOOLHIVE_MAX_REQUEST_BODY"
_UNITS: Final = {"k": 1024, "kb": 1024, "kib": 1024, "m": 1024**2, "mb": 1024**2, "mib": 1024**2}


def parse_size(text: str) -> int:
    """``4194304``, ``512k``, ``8MiB`` → bytes."""
    raw = text.strip().lower().replace(" ", "")
    digits = raw.rstrip("abcdefghijklmnopqrstuvwxyz")
    unit = raw[len(digits) :]
    if not digits.isdigit() or (unit and unit not in _UNITS and unit != "b"):
        msg = f"invalid size {text!r}: give bytes, e.g. 4194304, 512KiB or 8MiB"
        raise InvalidInputError(msg)
    return int(digits) * _UNITS.get(unit, 1)


def max_body_from_env(default: int = DEFAULT_MAX_BODY) -> int:
    value = os.environ.get(MAX_BODY_ENV, "").strip()
    if not value:
        return default
    try:
        size = parse_size(value)
    except InvalidInputError as exc:
        raise InvalidInputError(f"{MAX_BODY_ENV}: {exc}") from None
    return size if size > 0 else default
