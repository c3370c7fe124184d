"""Workload names derived from what the user ran."""

from __future__ import annotations

import re
from pathlib import PurePosixPath

_UNSAFE = re.compile(r"[^a-zA-Z0-9._-]+")


def _sanitize(text: str) -> str:
    return _UNSAFE.sub("-", text).strip("-.")[:100] or "mcp-server"


def derive_name(target: str) -> str:
    """``ghcr.io/org/fetch:v1`` → ``fetch``; ``uvx://mcp-server-time@1`` → ``mcp-server-time``;
    ``npx://@scope/server-x`` → ``server-x``; ``https://host/mcp`` → ``host``; a command → its basename.
    """
    for scheme in ("uvx://", "npx://", "go://"):
        if target.startswith(scheme):
            pkg = target[len(scheme) :]
            pkg = pkg.rsplit("@", 1)[0] if pkg.rfind("@") > 0 else pkg
            return _sanitize(pkg.rstrip("/").rsplit("/", 1)[-1])
    if target.startswith(("http://", "https://")):
        host = target.split("://", 1)[1].split("/", 1)[0].split(":", 1)[0]
        return _sanitize(host)
    ref = target.split("@", 1)[0]  # drop a digest
    last = PurePosixPath(ref).name or ref
    if ":" in last:
        last = last.split(":", 1)[0]
    return _sanitize(last)
