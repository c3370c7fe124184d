"""Cached registry answers under ``$XDG_CACHE_HOME/toolhive/registry`` (TTL; old files pruned)."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

from toolhive.state import paths
from toolhive.state.atomic import write_atomic

MAX_AGE = 7 * 24 * 3600  # caches older than this are deleted, as ToolHive does


def cache_dir() -> Path:
    return paths.cache_dir() / "registry"


def _path(key: str) -> Path:
    return cache_dir() / f"{hashlib.sha256(key.encode()).hexdigest()[:32]}.json"


def get(key: str, ttl: float) -> Any | None:
    """The cached value for ``key`` if younger than ``ttl`` seconds."""
    path = _path(key)
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("key") != key:
        return None
    if time.time() - float(record.get("fetched_at", 0)) > ttl:
        return None
    return record.get("value")


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
