"""The registry API an MCPRegistry runs: the official MCP registry API (v0.1) over file sources.

ToolHive's operator runs ``thv-registry-api`` (toolhive-registry-server) with the MCPRegistry's
``configYAML``; this is the same idea in a small Starlette app, started in our image with
``python -m toolhive_runtime_kubernetes.operator.registry_api --config /config/config.yaml``.

It reads the registry server's config format (``sources``, ``registries``, ``auth``), serves
**file** sources (a ConfigMap key mounted through the MCPRegistry's ``volumes``/``volumeMounts``)
in the upstream MCP registry format (``data.servers[]`` of ``server.json``), and re-reads a file
whenever it changes, so an edited ConfigMap shows up without a restart. Git, API, Kubernetes and
managed sources, a database and OAuth are refused at startup with the reason (fail closed rather
than serve something else than what the config asks).

Routes (the official registry API, as ``thv registry`` and ToolHive's clients call it):

    GET /v0.1/servers[?cursor=&limit=&search=&version=latest]    every registry's servers
    GET /v0.1/servers/{name}/versions                             one server's versions
    GET /v0.1/servers/{name}/versions/{version|latest}            one version
    GET /registry/{registry}/v0.1/...                             the same, one registry
    GET /health, /readiness                                       probes
"""

from __future__ import annotations

import argparse
import fnmatch
import os
import re
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from toolhive.contracts.registry_data import PUBLISHER_KEY, load_json, parse_document

#: The port ToolHive's registry API listens on (``RegistryAPIPort``).
DEFAULT_PORT = 8080
DEFAULT_LIMIT = 30
MAX_LIMIT = 100
OFFICIAL_META = "io.modelcontextprotocol.registry/official"


# --- config ------------------------------------------------------------------------------------


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class IncludeExclude(_Model):
    include: list[str] = Field(default_factory=list)
    exclude: list[str] = Field(default_factory=list)


class SourceFilter(_Model):
    #: Glob patterns on server names.
    names: IncludeExclude | None = None
    #: Exact tags (a server's ``_meta`` extension ``tags``).
    tags: IncludeExclude | None = None


class FileSource(_Model):
    path: str


class SourceConfig(BaseModel):
    """One ``sources[]`` entry; only ``file`` can be served here."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    name: str
    format: str = "upstream"
    file: FileSource | None = None
    filter: SourceFilter | None = None
    sync_policy: dict[str, Any] | None = Field(default=None, alias="syncPolicy")


class RegistryConfig(_Model):
    name: str
    sources: list[str]


class AuthConfig(BaseModel):
    model_config = ConfigDict(extra="allow")
    mode: str = "anonymous"


class ServerConfig(BaseModel):
    """The registry server's ``config.yaml`` (what an MCPRegistry's ``configYAML`` holds)."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    sources: list[SourceConfig] = Field(min_length=1)
    registries: list[RegistryConfig] = Field(default_factory=list)
    auth: AuthConfig | None = None
    database: dict[str, Any] | None = None


class ConfigError(ValueError):
    """The config asks for something this registry API cannot serve; the message says what."""


def parse_config(text: str, source: str = "config.yaml") -> ServerConfig:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        msg = f"{source}: not YAML: {exc}"
        raise ConfigError(msg) from None
    try:
        config = ServerConfig.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(top)'}: {e['msg']}" for e in exc.errors()
        )
        msg = f"{source}: {problems}"
        raise ConfigError(msg) from None
    check_supported(config, source)
    return config


def check_supported(config: ServerConfig, source: str = "config.yaml") -> None:
    problems: list[str] = []
    names = [s.name for s in config.sources]
    for s in config.sources:
        other = sorted(set(s.model_extra or {}) & {"git", "api", "kubernetes", "managed", "url"})
        if s.file is None:
            kind = other[0] if other else "none"
            problems.append(
                f"sources.{s.name}: only file sources are served here (got {kind}); put the "
                "registry document in a ConfigMap, mount it with the MCPRegistry's volumes and "
                "volumeMounts, and point file.path at it"
            )
        if s.format not in ("upstream", ""):
            problems.append(
                f"sources.{s.name}.format: only the upstream MCP registry format is served (got "
                f"{s.format!r}); convert the file with `thv registry convert`"
            )
    if len(set(names)) != len(names):
        problems.append("sources: names must be unique")
    for r in config.registries:
        for ref in r.sources:
            if ref not in names:
                problems.append(f"registries.{r.name}.sources: no source named {ref!r}")
    if config.auth is not None and config.auth.mode != "anonymous":
        problems.append(
            f"auth.mode: only anonymous is served here (got {config.auth.mode!r}); the API "
            "answers inside the cluster only"
        )
    if problems:
        raise ConfigError(f"{source}: " + "; ".join(problems))


# --- data --------------------------------------------------------------------------------------


@dataclass
class _FileData:
    """One file source, re-read when the file changes (a ConfigMap edit swaps the mounted file)."""

    source: SourceConfig
    _stamp: tuple[int, int, int] | None = None
    _servers: list[dict[str, Any]] = field(default_factory=list)
    _error: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def path(self) -> Path:
        assert self.source.file is not None
        return Path(self.source.file.path)

    def servers(self) -> list[dict[str, Any]]:
        """The source's servers; raises :class:`LookupError` when it cannot be read."""
        with self._lock:
            try:
                st = self.path.stat()
            except OSError as exc:
                self._stamp = None
                self._error = f"source {self.source.name}: cannot read {self.path}: {exc.strerror}"
                raise LookupError(self._error) from None
            stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
            if stamp != self._stamp:
                self._load(stamp)
            if self._error:
                raise LookupError(self._error)
            return self._servers

    def _load(self, stamp: tuple[int, int, int]) -> None:
        self._stamp = stamp
        where = f"source {self.source.name} ({self.path})"
        try:
            doc = load_json(self.path.read_text(), where)
            parse_document(doc, where)  # validates every server.json the way ToolHive reads them
        except Exception as exc:  # a bad edit must show up as an error, not crash the API
            self._error = str(exc)
            self._servers = []
            return
        self._error = ""
        self._servers = [s for s in doc["data"]["servers"] if _passes(s, self.source.filter)]


def _tags(server: dict[str, Any]) -> set[str]:
    """Tags from any publisher's ``_meta`` block (``{publisher: {package or URL: {tags}}}``)."""
    tags: set[str] = set()
    publishers = (server.get("_meta") or {}).get(PUBLISHER_KEY) or {}
    for blocks in publishers.values() if isinstance(publishers, dict) else ():
        for block in blocks.values() if isinstance(blocks, dict) else ():
            if isinstance(block, dict) and isinstance(block.get("tags"), list):
                tags.update(str(t) for t in block["tags"])
    return tags


def _passes(server: dict[str, Any], spec: SourceFilter | None) -> bool:
    if spec is None:
        return True
    name = str(server.get("name", ""))
    if spec.names is not None:
        if spec.names.include and not any(fnmatch.fnmatch(name, p) for p in spec.names.include):
            return False
        if any(fnmatch.fnmatch(name, p) for p in spec.names.exclude):
            return False
    if spec.tags is not None:
        tags = _tags(server)
        if spec.tags.include and not tags & set(spec.tags.include):
            return False
        if tags & set(spec.tags.exclude):
            return False
    return True


def _version_key(version: str) -> tuple[tuple[int, ...], int, str]:
    """Semantic-version order (a release above its pre-releases); unparseable versions last."""
    match = re.match(r"^v?(\d+(?:\.\d+)*)(-[0-9A-Za-z.-]+)?", version)
    if match is None:
        return ((-1,), 0, version)
    numbers = tuple(int(n) for n in match.group(1).split("."))
    return (numbers, 0 if match.group(2) else 1, version)


class RegistryData:
    """Every source of one config, grouped into its registries."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.sources = {s.name: _FileData(s) for s in config.sources}
        if config.registries:
            self.registries = {r.name: list(r.sources) for r in config.registries}
        else:  # no registries: one holding every source, as the registry server defaults
            self.registries = {"default": list(self.sources)}

    def servers(self, registry: str | None = None) -> list[dict[str, Any]]:
        """Servers of ``registry`` (every registry when ``None``), one per name and version, by
        name then version; the first source listing a (name, version) wins."""
        names = (
            [s for r in self.registries.values() for s in r]
            if registry is None
            else self.registries[registry]
        )
        seen: dict[tuple[str, str], dict[str, Any]] = {}
        for source in dict.fromkeys(names):
            for server in self.sources[source].servers():
                key = (str(server.get("name", "")), str(server.get("version", "")))
                seen.setdefault(key, server)
        return [seen[k] for k in sorted(seen, key=lambda k: (k[0], _version_key(k[1])))]

    def ready(self) -> str:
        """``""`` when every source reads, else the first problem."""
        for source in self.sources.values():
            try:
                source.servers()
            except LookupError as exc:
                return str(exc)
        return ""


# --- API ---------------------------------------------------------------------------------------


def _latest_versions(servers: list[dict[str, Any]]) -> dict[str, str]:
    latest: dict[str, str] = {}
    for s in servers:
        name, version = str(s.get("name", "")), str(s.get("version", ""))
        if name not in latest or _version_key(version) > _version_key(latest[name]):
            latest[name] = version
    return latest


def _item(server: dict[str, Any], latest: dict[str, str]) -> dict[str, Any]:
    is_latest = latest.get(str(server.get("name", ""))) == str(server.get("version", ""))
    return {
        "server": server,
        "_meta": {OFFICIAL_META: {"status": "active", "isLatest": is_latest}},
    }


def _problem(status: int, detail: str) -> JSONResponse:
    titles = {400: "Bad Request", 404: "Not Found", 503: "Service Unavailable"}
    return JSONResponse(
        {"title": titles.get(status, "Error"), "status": status, "detail": detail}, status
    )


def build_app(data: RegistryData) -> Starlette:
    """The API over ``data`` (an ASGI app; :func:`main` serves it with uvicorn)."""

    def load(request: Request) -> list[dict[str, Any]] | JSONResponse:
        registry = request.path_params.get("registry")
        if registry is not None and registry not in data.registries:
            return _problem(404, f"registry {registry!r} not found")
        try:
            return data.servers(registry)
        except LookupError as exc:
            return _problem(503, str(exc))

    async def list_servers(request: Request) -> JSONResponse:
        servers = load(request)
        if isinstance(servers, JSONResponse):
            return servers
        query = request.query_params
        try:
            limit = int(query.get("limit", DEFAULT_LIMIT))
        except ValueError:
            return _problem(400, "limit must be an integer")
        if not 1 <= limit <= MAX_LIMIT:
            return _problem(400, f"limit must be between 1 and {MAX_LIMIT}")
        latest = _latest_versions(servers)
        items = servers
        if search := query.get("search", "").lower():
            items = [s for s in items if search in str(s.get("name", "")).lower()]
        version = query.get("version", "")
        if version == "latest":
            items = [s for s in items if latest.get(str(s.get("name"))) == str(s.get("version"))]
        elif version:
            items = [s for s in items if str(s.get("version")) == version]
        keys = [f"{s.get('name', '')}:{s.get('version', '')}" for s in items]
        start = 0
        if cursor := query.get("cursor", ""):
            if cursor not in keys:
                return _problem(400, "cursor is not one this registry handed out")
            start = keys.index(cursor) + 1
        page = items[start : start + limit]
        metadata: dict[str, Any] = {"count": len(page)}
        if start + limit < len(items):
            metadata["nextCursor"] = keys[start + limit - 1]
        return JSONResponse(
            {"servers": [_item(s, latest) for s in page], "metadata": metadata},
        )

    async def server_versions(request: Request) -> JSONResponse:
        servers = load(request)
        if isinstance(servers, JSONResponse):
            return servers
        # Names hold a slash ("io.github.x/fetch"), sent %2F-encoded and decoded by the server.
        rest = str(request.path_params["rest"])
        name, sep, version = rest.rpartition("/versions/")
        if not sep:
            if not rest.endswith("/versions"):
                return _problem(404, "no such path")
            name, version = rest.removesuffix("/versions"), ""
        found = [s for s in servers if s.get("name") == name]
        if not found:
            return _problem(404, f"server {name!r} not found")
        latest = _latest_versions(servers)
        if not version:
            items = [_item(s, latest) for s in found]
            return JSONResponse({"servers": items, "metadata": {"count": len(items)}})
        wanted = latest[name] if version == "latest" else version
        match = [s for s in found if str(s.get("version")) == wanted]
        if not match:
            return _problem(404, f"server {name!r} has no version {version!r}")
        return JSONResponse(_item(match[0], latest))

    async def health(_request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def readiness(_request: Request) -> JSONResponse:
        problem = data.ready()
        if problem:
            return JSONResponse({"status": "not ready", "detail": problem}, 503)
        return JSONResponse({"status": "ready"})

    routes = [Route("/health", health), Route("/readiness", readiness)]
    for prefix in ("", "/registry/{registry}"):
        routes += [
            Route(f"{prefix}/v0.1/servers", list_servers),
            Route(f"{prefix}/v0.1/servers/{{rest:path}}", server_versions),
        ]
    return Starlette(routes=routes)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="registry-api", description="Serve an MCPRegistry's registry API (v0.1)."
    )
    parser.add_argument("command", nargs="?", default="serve", choices=["serve"])
    parser.add_argument("--config", default="/config/config.yaml", help="registry server config")
    parser.add_argument("--host", default=os.environ.get("REGISTRY_API_HOST", "0.0.0.0"))
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    args = parser.parse_args(argv)
    try:
        config = parse_config(Path(args.config).read_text(), args.config)
    except (OSError, ConfigError) as exc:
        print(f"registry-api: {exc}", file=sys.stderr)
        return 1
    import uvicorn

    app = build_app(RegistryData(config))
    print(
        f"registry-api: serving {len(config.sources)} source(s) at http://{args.host}:{args.port}",
        file=sys.stderr,
    )
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


if __name__ == "__main__":
    sys.exit(main())


__all__ = [
    "ConfigError",
    "RegistryData",
    "ServerConfig",
    "build_app",
    "main",
    "parse_config",
]
