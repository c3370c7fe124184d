"""The three sources: a local file, a registry document by URL, an MCP Registry API v0.1 server.

When a remote registry is unreachable (DNS, connection refused, timeout, HTTP 5xx/429) and a cached
answer exists, the cached copy is used however old (up to the 7-day prune), with one warning line
on stderr saying how old it is; ``--refresh`` does the same rather than fail. Without a cached copy
the error stands. An authenticated registry (a ``bearer_token`` from ``thv registry login``) is
never cached on disk and has no stale fallback.
"""

from __future__ import annotations

import contextlib
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

from pydantic import ValidationError
from toolhive.contracts.registry import RegistryError
from toolhive.contracts.registry_data import (
    DocumentSource,
    Registry,
    ServerEntry,
    parse_document,
    read_registry_file,
    search,
    server_to_entry,
    upstream_to_registry,
)

from toolhive_registry_remote import cache
from toolhive_registry_remote.config import FileSourceConfig, RemoteSourceConfig
from toolhive_registry_remote.net import NotFound, Unreachable, check_url, client, get_json

MAX_PAGES = 1000  # a registry that keeps handing out cursors is broken; stop rather than spin


def file_source(config: FileSourceConfig) -> DocumentSource:
    path = Path(config.location.removeprefix("file://")).expanduser()
    return DocumentSource(kind="file", location=str(path), read=lambda: read_registry_file(path))


#: Cache keys already warned about in this process: one warning per registry, not per call.
_warned: set[str] = set()


def stale_copy(key: str, error: Unreachable, *, refresh: bool) -> Any:
    """The cached answer for ``key`` however old, with a one-line warning on stderr; without a
    cached copy, ``error`` is raised as it is."""
    found = cache.get_stale(key)
    if found is None:
        raise error
    value, fetched_at = found
    if key not in _warned:
        _warned.add(key)
        how_old = cache.age(fetched_at)
        if refresh:
            line = (
                f"warning: --refresh could not update the registry ({error}); using the cached "
                f"copy from {how_old} ago instead"
            )
        else:
            line = (
                f"warning: {error}; using the cached copy from {how_old} ago (run "
                "`thv registry list --refresh` once the registry answers again)"
            )
        print(line, file=sys.stderr, flush=True)
    return value


def url_source(config: RemoteSourceConfig) -> DocumentSource:
    url = config.location

    def read() -> Registry:
        key = f"url:{url}"
        cached = not config.refresh and config.bearer_token is None
        doc = cache.get(key, config.cache_ttl) if cached else None
        if doc is not None:
            with contextlib.suppress(Unreachable):  # still refuse a now-private address
                check_url(url, allow_private=config.allow_private_ip)
            return parse_document(doc, f"registry {url}")
        try:
            check_url(url, allow_private=config.allow_private_ip)
            with client(config.timeout, config.bearer_token) as http:
                doc = get_json(http, url, "registry")
        except NotFound:
            msg = f"registry URL {url} answered 404 Not Found"
            raise RegistryError(msg) from None
        except Unreachable as exc:
            if config.bearer_token is not None:
                raise
            return parse_document(stale_copy(key, exc, refresh=config.refresh), f"registry {url}")
        registry = parse_document(doc, f"registry {url}")  # only valid documents are cached
        if config.bearer_token is None:
            cache.put(key, doc)
        return registry

    return DocumentSource(kind="url", location=url, read=read)


def _unwrap(item: Any) -> dict[str, Any]:
    """v0.1 answers wrap each server as ``{"server": {...}, "_meta": {...}}``."""
    if isinstance(item, dict) and isinstance(item.get("server"), dict):
        server = dict(item["server"])
        outer = item.get("_meta")
        if isinstance(outer, dict):
            server["_meta"] = {**outer, **(server.get("_meta") or {})}
        return server
    if isinstance(item, dict):
        return item
    msg = f"expected a server object, got {type(item).__name__}"
    raise RegistryError(msg)


@dataclass
class ApiSource:
    """An MCP Registry API v0.1 server: ``GET /v0.1/servers`` (cursor pages, ``search``) and
    ``GET /v0.1/servers/{name}/versions/latest``. The full listing is cached (TTL)."""

    location: str
    config: RemoteSourceConfig
    kind: Literal["api"] = "api"
    _entries: list[ServerEntry] | None = field(default=None, init=False, repr=False)
    _checked: bool = field(default=False, init=False, repr=False)

    @classmethod
    def from_config(cls, config: RemoteSourceConfig) -> ApiSource:
        base = config.location.rstrip("/").removesuffix("/v0.1").rstrip("/")
        source = cls(location=base, config=config)
        with contextlib.suppress(Unreachable):  # offline: checked again before each request
            source._check()
        return source

    def _check(self) -> None:
        if not self._checked:
            check_url(self.location, allow_private=self.config.allow_private_ip)
            self._checked = True

    @property
    def _cache_key(self) -> str:
        return f"api:{self.location}"

    @property
    def _cached(self) -> bool:
        """Whether answers go through the disk cache: not for an authenticated registry, whose
        answers stay off the disk (and need a valid login each time)."""
        return self.config.bearer_token is None

    def _stale_entries(self, error: Unreachable) -> list[ServerEntry]:
        """The cached full listing (however old) in place of an unreachable server."""
        if not self._cached:
            raise error
        if self._entries is None:
            raw = stale_copy(self._cache_key, error, refresh=self.config.refresh)
            self._entries = self._parse(raw)
        return self._entries

    @property
    def servers_url(self) -> str:
        return f"{self.location}/v0.1/servers"

    def _fetch(self, search: str | None = None) -> list[dict[str, Any]]:
        servers: list[dict[str, Any]] = []
        cursor: str | None = None
        seen: set[str] = set()
        self._check()
        with client(self.config.timeout, self.config.bearer_token) as http:
            for _ in range(MAX_PAGES):
                params: dict[str, Any] = {"limit": self.config.page_size}
                if cursor:
                    params["cursor"] = cursor
                if search:
                    params["search"] = search
                try:
                    page = get_json(http, self.servers_url, "registry API", params)
                except NotFound:
                    msg = (
                        f"{self.servers_url} answered 404: {self.location} is not an MCP "
                        "Registry API v0.1 server (for a registry JSON file use its .json URL)"
                    )
                    raise RegistryError(msg) from None
                items = page.get("servers") if isinstance(page, dict) else None
                if not isinstance(items, list):
                    msg = f"registry API {self.servers_url}: the answer has no servers list"
                    raise RegistryError(msg)
                servers.extend(_unwrap(i) for i in items)
                cursor = (page.get("metadata") or {}).get("nextCursor") or None
                if not cursor or cursor in seen:
                    break
                seen.add(cursor)
        return servers

    def _parse(self, servers: list[dict[str, Any]]) -> list[ServerEntry]:
        doc = {"data": {"servers": servers}}
        return upstream_to_registry(doc, f"registry API {self.location}").entries()

    def list_servers(self) -> list[ServerEntry]:
        if self._entries is None:
            key = self._cache_key
            fresh = self.config.refresh or not self._cached
            raw = None if fresh else cache.get(key, self.config.cache_ttl)
            if raw is None:
                try:
                    raw = self._fetch()
                except Unreachable as exc:
                    return self._stale_entries(exc)
                self._entries = self._parse(raw)  # only valid answers are cached
                if self._cached:
                    cache.put(key, raw)
            else:
                self._entries = self._parse(raw)
        return self._entries

    def get(self, name: str) -> ServerEntry | None:
        url = f"{self.servers_url}/{quote(name, safe='')}/versions/latest"
        try:
            self._check()
            with client(self.config.timeout, self.config.bearer_token) as http:
                data = get_json(http, url, "registry API")
        except NotFound:
            return None
        except Unreachable as exc:
            return next((e for e in self._stale_entries(exc) if e.name == name), None)
        try:
            return server_to_entry(_unwrap(data))
        except (ValueError, KeyError, TypeError, ValidationError) as exc:
            msg = f"registry API {url}: {exc}"
            raise RegistryError(msg) from None

    def search(self, query: str) -> list[ServerEntry]:
        """The server's own ``search`` (the v0.1 API matches on names); offline, a local search
        of the cached listing (names, descriptions, tags)."""
        try:
            return self._parse(self._fetch(search=query))
        except Unreachable as exc:
            return search(self._stale_entries(exc), query)
