"""Go-style durations in environment variables and flags (ToolHive's format)."""

from __future__ import annotations

import os


def parse_duration(text: str, default: float) -> float:
    """``2h``, ``30m``, ``90s``, ``1h30m``, ``250ms``, ``10`` (seconds) → seconds; else ``default``."""
    text = text.strip()
    if not text:
        return default
    try:
        return float(text)
    except ValueError:
        pass
    total, number, i = 0.0, "", 0
    units = (("ms", 0.001), ("h", 3600.0), ("m", 60.0), ("s", 1.0))
    while i < len(text):
        ch = text[i]
        if ch.isdigit() or ch == ".":
            number += ch
            i += 1
            continue
        for unit, factor in units:
            if text.startswith(unit, i) and number:
                total += float(number) * factor
                number = ""
                i += len(unit)
                break
        else:
            return default
    return default if number else total


def env_seconds(name: str, default: float) -> float:
    """A positive duration from the environment, else ``default``."""
    value = parse_duration(os.environ.get(name, ""), default)
    return value if value > 0 else default
