"""Finding entries: by full or short name, and by a search query."""

from __future__ import annotations

from collections.abc import Iterable

from toolhive.registry.errors import AmbiguousServerError
from toolhive.registry.models import ServerEntry


def find(entries: Iterable[ServerEntry], name: str) -> ServerEntry | None:
    """The entry named exactly ``name``, else the one whose short name (after the last ``/``) is
    ``name``; several short-name matches are an error listing them."""
    items = list(entries)
    for entry in items:
        if entry.name == name:
            return entry
    short = name.rsplit("/", 1)[-1] if "/" not in name else None
    if short is None:
        return None
    matches = [e for e in items if e.short_name == short]
    if len(matches) > 1:
        raise AmbiguousServerError(name, sorted(e.name for e in matches))
    return matches[0] if matches else None


def matches(entry: ServerEntry, query: str) -> bool:
    """Case-insensitive substring match on name, title, description and tags. The namespace of a
    full name (``io.github.stacklok/``) counts only for queries with ``/`` or ``.``; otherwise
    ``git`` would match every ``io.github.*`` server."""
    q = query.strip().lower()
    if not q:
        return True
    name = entry.name if ("/" in q or "." in q) else entry.short_name
    fields = [name, entry.title, entry.description, *entry.tags]
    return any(q in f.lower() for f in fields)


def search(entries: Iterable[ServerEntry], query: str) -> list[ServerEntry]:
    return [e for e in entries if matches(e, query)]
