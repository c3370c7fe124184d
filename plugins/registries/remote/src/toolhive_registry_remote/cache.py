"""Cached registry answers under ``$XDG_CACHE_HOME/toolhive/registry`` (TTL; old files pruned).

Writes are atomic (temp file + rename), so a reader — or a stale-copy fallback after a crash —
never sees a torn file.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

from toolhive.contracts import storage
from toolhive.contracts.storage import write_atomic

MAX_AGE = 7 * 24 * 3600  # caches older than this are deleted, as ToolHive does


def cache_dir() -> Path:
    return storage.cache_dir() / "registry"


def _path(key: str) -> Path:
    return cache_dir() / f"{hashlib.sha256(key.encode()).hexdigest()[:32]}.json"


def get(key: str, ttl: float) -> Any | None:
    """The cached value for ``key`` if younger than ``ttl`` seconds."""
    found = get_stale(key)
    if found is None or time.time() - found[1] > ttl:
        return None
    return found[0]


def get_stale(key: str) -> tuple[Any, float] | None:
    """The cached value for ``key`` and when it was fetched (epoch seconds), however old."""
    try:
        record = json.loads(_path(key).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("key") != key or "value" not in record:
        return None
    try:
        fetched_at = float(record.get("fetched_at", 0))
    except (TypeError, ValueError):
        return None
    return record["value"], fetched_at


def age(fetched_at: float, now: float | None = None) -> str:
    """``fetched_at`` as a short age: ``45 s``, ``12 min``, ``3 h 5 min``, ``2 days``."""
    seconds = max(0, int((time.time() if now is None else now) - fetched_at))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 86400:
        hours, minutes = divmod(seconds // 60, 60)
        return f"{hours} h" + (f" {minutes} min" if minutes else "")
    days = seconds // 86400
    return f"{days} day" + ("s" if days > 1 else "")


def put(key: str, value: Any) -> None:
    write_atomic(_path(key), json.dumps({"key": key, "fetched_at": time.time(), "value": value}))
    prune()


def prune(now: float | None = None) -> None:
    now = time.time() if now is None else now
    for path in cache_dir().glob("*.json"):
        try:
            if now - path.stat().st_mtime > MAX_AGE:
                path.unlink()
        except OSError:
            continue
