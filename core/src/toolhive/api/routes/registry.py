"""The registry endpoints: the configured registry (ToolHive has one, ``default``), its
servers, changing its source, and the MCP Registry API v0.1 view of it.

Same calls as ``thv registry`` / ``thv config set-registry``: :func:`toolhive.registry.sources.
open_registry` and :mod:`toolhive.registry.settings`. Answers are ToolHive's: the legacy-shaped
registry and entries (:mod:`toolhive.registry.models`), and under ``/registry/{name}/v0.1`` the
upstream ``server.json`` objects. A registry that cannot be read is a 502 (broken document) or
503 (unreachable); setting one that cannot be read is a 502 or 504, and nothing changes.

Registry OAuth (:mod:`toolhive.registry.auth`) as ToolHive: ``PUT`` with ``auth`` sets it (the
issuer checked by discovery first), ``PUT`` without ``auth`` clears it; registryInfo reports
``auth_status``/``auth_type``/``auth_config`` (never a token); ``POST /registry/auth/login`` runs the
browser login on the server's machine and ``/logout`` forgets the tokens. A read that needs a
login answers 503 ``{"code": "registry_auth_required", "message": …}``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from toolhive.api.errors import ApiError
from toolhive.api.routing import Call, Router
from toolhive.registry.models import ImageMetadata, Registry, RemoteServerMetadata

if TYPE_CHECKING:
    from collections.abc import Callable

    from toolhive.contracts.registry import RegistrySource
    from toolhive.plugins import Hooks
    from toolhive.registry.models import ServerEntry
    from toolhive.registry.settings import RegistryKey

router = Router(tag="registry")

DEFAULT = "default"
BASE = "/api/v1beta/registry"
#: ToolHive's v0.1 paging: 50 a page by default, at most 200.
V01_LIMIT = 50
V01_MAX_LIMIT = 200

RegistryType = Literal["file", "url", "api", "default"]
#: ToolHive's answer when the registry needs a login (Studio matches on the code).
AUTH_REQUIRED_CODE = "registry_auth_required"
AUTH_REQUIRED_MESSAGE = (
    "Registry authentication required. POST to /api/v1beta/registry/auth/login to authenticate."
)
NOT_CONFIGURED_MESSAGE = (
    "Registry OAuth not configured; call PUT /api/v1beta/registry/default with a client ID and "
    "issuer URL first"
)


class OAuthPublicConfig(BaseModel):
    """The registry's OAuth settings (no secret)."""

    issuer: str = ""
    client_id: str = ""
    audience: str = ""
    scopes: list[str] = Field(default_factory=list)


class RegistryInfo(BaseModel):
    name: str
    version: str
    last_updated: str
    #: Servers of both kinds (container and remote).
    server_count: int
    type: RegistryType
    source: str = Field(description="The URL or file configured ('' for the built-in catalog)")
    auth_status: Literal["none", "configured", "authenticated"] = "none"
    auth_type: str = ""
    auth_config: OAuthPublicConfig | None = None


class RegistryList(BaseModel):
    registries: list[RegistryInfo]


class RegistryDetail(RegistryInfo):
    registry: Registry


class RegistryAuthRequest(BaseModel):
    """OAuth for the registry: ``issuer`` and ``client_id`` are required (a public PKCE client)."""

    issuer: str = Field(default="", description="OIDC issuer URL (HTTPS; HTTP only on loopback)")
    client_id: str = ""
    audience: str = Field(default="", description="RFC 8707 resource (optional)")
    scopes: list[str] = Field(default_factory=list, description="Default: openid, offline_access")


class AuthStatusResponse(BaseModel):
    status: Literal["authenticated", "logged_out"]


class UpdateRegistryRequest(BaseModel):
    """At most one of ``url``, ``api_url``, ``local_path``; none resets to the built-in catalog."""

    model_config = ConfigDict(extra="ignore")

    url: str | None = Field(
        default=None, description="A registry JSON URL (.json), or an MCP Registry API URL"
    )
    api_url: str | None = Field(default=None, description="An MCP Registry API v0.1 server")
    local_path: str | None = Field(default=None, description="A registry JSON file on the server")
    allow_private_ip: bool | None = None
    auth: RegistryAuthRequest | None = None


class UpdateRegistryResponse(BaseModel):
    type: RegistryType


class RefreshResponse(BaseModel):
    status: Literal["refreshed"] = "refreshed"


class ServerList(BaseModel):
    servers: list[ImageMetadata]
    remote_servers: list[RemoteServerMetadata]


class ServerDetail(BaseModel):
    server: ImageMetadata | None = None
    remote_server: RemoteServerMetadata | None = None
    is_remote: bool


class V01Query(BaseModel):
    q: str = Field(default="", description="Lowercase substring of the name or description")
    page: int = Field(default=1, ge=1, le=1_000_000)
    limit: int = Field(default=V01_LIMIT, ge=1, description=f"At most {V01_MAX_LIMIT} are used")


class V01Metadata(BaseModel):
    total: int
    page: int
    limit: int


class V01ServerList(BaseModel):
    servers: list[dict[str, Any]] = Field(description="server.json objects (MCP registry v0.1)")
    metadata: V01Metadata


# --- use cases, run in a worker thread ---------------------------------------------------------


def _require_default(name: str) -> None:
    if name != DEFAULT:
        msg = f"no registry named {name!r}: the only registry is {DEFAULT!r}"
        raise ApiError(404, msg)


def _reading(fn: Callable[[], Any], *, unavailable: int = 503) -> Any:
    """``fn()`` with the registry's failures as answers: a broken document 502, an unreachable
    registry ``unavailable``, a source no installed plugin reads 503."""
    from toolhive.errors import PluginError
    from toolhive.registry.errors import (
        RegistryAuthRequiredError,
        RegistryError,
        RegistryUnavailableError,
    )

    try:
        return fn()
    except RegistryAuthRequiredError:
        raise ApiError(503, AUTH_REQUIRED_MESSAGE, code=AUTH_REQUIRED_CODE) from None
    except RegistryUnavailableError as exc:
        raise ApiError(unavailable, str(exc)) from None
    except RegistryError as exc:
        raise ApiError(502, str(exc)) from None
    except PluginError as exc:
        raise ApiError(503, str(exc)) from None


def _open(hooks: Hooks, *, refresh: bool = False) -> RegistrySource:
    from toolhive.registry.sources import open_registry

    source: RegistrySource = _reading(lambda: open_registry(hooks, refresh=refresh))
    return source


def _whole(source: RegistrySource) -> Registry:
    """The whole registry: a document source's own, else built from the listing (API)."""
    read = getattr(source, "registry", None)
    if callable(read):
        whole = _reading(read)
        if isinstance(whole, Registry):
            return whole
    servers: dict[str, ImageMetadata] = {}
    remotes: dict[str, RemoteServerMetadata] = {}
    for entry in _reading(source.list_servers):
        if isinstance(entry, ImageMetadata):
            servers[entry.name] = entry
        else:
            remotes[entry.name] = entry
    return Registry(version="", servers=servers, remote_servers=remotes)


def _info(hooks: Hooks) -> tuple[RegistryInfo, Registry]:
    from toolhive.appconfig import load_config
    from toolhive.registry.auth import public_config, status
    from toolhive.registry.settings import current

    source = _open(hooks)
    whole = _whole(source)
    kind = source.kind if source.kind in ("file", "url", "api") else "default"
    config = load_config()
    auth_status, auth_type = status(config)
    auth = public_config(config)
    info = RegistryInfo(
        name=DEFAULT,
        version=whole.version,
        last_updated=whole.last_updated,
        server_count=len(whole.servers) + len(whole.remote_servers),
        type=kind,
        source=current(config).source,
        auth_status=auth_status,
        auth_type=auth_type,
        auth_config=OAuthPublicConfig.model_validate(auth) if auth else None,
    )
    return info, whole


def _entries(hooks: Hooks) -> list[ServerEntry]:
    source = _open(hooks)
    entries: list[ServerEntry] = _reading(source.list_servers)
    return entries


def _find(hooks: Hooks, name: str) -> ServerEntry:
    from toolhive.registry.errors import ServerNotFoundError
    from toolhive.registry.sources import resolve

    source = _open(hooks)
    entry: ServerEntry | None = _reading(lambda: resolve(source, name))
    if entry is None:
        msg = f"no server named {name!r} in the registry (GET {BASE}/default/servers lists them)"
        raise ServerNotFoundError(msg)
    return entry


def _update(hooks: Hooks, request: UpdateRegistryRequest) -> RegistryType:
    from toolhive.registry.settings import set_registry, unset_registry

    given = {
        k: v
        for k, v in (
            ("url", request.url),
            ("api_url", request.api_url),
            ("local_path", request.local_path),
        )
        if v is not None
    }
    if len(given) > 1:
        msg = "cannot specify more than one registry type (url, api_url, or local_path)"
        raise ApiError(400, msg)
    auth = None
    if request.auth is not None:
        from toolhive.registry.auth import OAuthSettings

        if not request.auth.issuer.strip() or not request.auth.client_id.strip():
            raise ApiError(400, "auth.issuer and auth.client_id are required", "auth")
        if not given or "local_path" in given:
            msg = "auth applies to a remote registry: give url or api_url with it"
            raise ApiError(400, msg, "auth")
        auth = OAuthSettings(
            issuer=request.auth.issuer,
            client_id=request.auth.client_id,
            audience=request.auth.audience,
            scopes=request.auth.scopes,
        )
    if not given:
        unset_registry()
        return "default"
    ((field, value),) = given.items()
    if not value.strip():
        raise ApiError(400, f"{field} cannot be empty", field)
    if field != "local_path" and not value.startswith(("http://", "https://")):
        raise ApiError(400, f"{field} must be an http:// or https:// URL", field)
    kinds: dict[str, RegistryKey] = {
        "api_url": "registry_api_url",
        "local_path": "local_registry_path",
    }
    key = kinds.get(field)  # url: guessed from the URL, as `thv config set-registry` does
    from toolhive.registry.errors import RegistryAuthRequiredError

    def use() -> tuple[str, RegistrySource, int | None]:
        try:
            return set_registry(
                hooks,
                value,
                allow_private_ip=bool(request.allow_private_ip),
                key=key,
                auth=auth,
            )
        except RegistryAuthRequiredError as exc:  # 401 from the new source: it wants `auth`
            raise ApiError(400, str(exc), "auth") from None

    _, source, _ = _reading(use, unavailable=504)
    kind: RegistryType = source.kind
    return kind


# --- endpoints ---------------------------------------------------------------------------------

READ_ERRORS = {
    502: "The registry document is broken",
    503: "The registry cannot be reached, no installed plugin reads the configured source, or "
    "it needs a login (code registry_auth_required: POST /api/v1beta/registry/auth/login)",
}


@router.get(
    BASE, summary="List registries (only 'default')", response=RegistryList, errors=READ_ERRORS
)
async def list_registries(call: Call[None, None]) -> RegistryList:
    info, _ = await call.run(_info, call.state.hooks)
    return RegistryList(registries=[info])


@router.post(
    BASE,
    summary="Add a registry (not supported)",
    status=501,
    content="empty",
    errors={501: "Only the default registry exists; change it with PUT"},
)
async def add_registry(call: Call[None, None]) -> Any:
    raise ApiError(
        501, f"adding registries is not supported; change the default one with PUT {BASE}/default"
    )


def _login(hooks: Hooks) -> None:
    import logging

    from toolhive.appconfig import load_config
    from toolhive.registry.auth import oauth_config
    from toolhive.registry.login import login

    if oauth_config(load_config()) is None:
        raise ApiError(400, NOT_CONFIGURED_MESSAGE)
    log = logging.getLogger("toolhive.api")
    login(hooks, announce=lambda line: log.warning("registry login: %s", line))


def _logout(hooks: Hooks) -> None:
    from toolhive.appconfig import load_config
    from toolhive.registry.auth import oauth_config
    from toolhive.registry.login import logout

    if oauth_config(load_config()) is None:
        raise ApiError(400, NOT_CONFIGURED_MESSAGE)
    logout(hooks)


@router.post(
    BASE + "/auth/login",
    summary="Log in to the registry (browser on the server's machine)",
    response=AuthStatusResponse,
    errors={
        400: "Registry OAuth is not configured, or the login was refused or timed out",
        404: "No secrets provider is set up to keep the tokens",
        409: "Another login is waiting on the callback port",
        502: "The authorization server cannot be reached or refused the code",
    },
)
async def registry_auth_login(call: Call[None, None]) -> AuthStatusResponse:
    """ToolHive's interactive login for desktop use: opens a browser on the machine running
    ``thv serve`` (or logs the URL when it has no display) and answers once the login is done
    (or failed: five minutes at most). The tokens go to the secrets provider."""
    await call.run(_login, call.state.hooks)
    return AuthStatusResponse(status="authenticated")


@router.post(
    BASE + "/auth/logout",
    summary="Forget the registry login's tokens",
    response=AuthStatusResponse,
    errors={400: "Registry OAuth is not configured"},
)
async def registry_auth_logout(call: Call[None, None]) -> AuthStatusResponse:
    await call.run(_logout, call.state.hooks)
    return AuthStatusResponse(status="logged_out")


@router.get(
    BASE + "/{name}",
    summary="The registry, with every entry",
    response=RegistryDetail,
    errors={404: "No such registry", **READ_ERRORS},
)
async def get_registry(call: Call[None, None]) -> RegistryDetail:
    _require_default(call.params["name"])
    info, whole = await call.run(_info, call.state.hooks)
    return RegistryDetail(**info.model_dump(), registry=whole)


@router.put(
    BASE + "/{name}",
    summary="Change the registry's source ({} resets to the built-in catalog)",
    response=UpdateRegistryResponse,
    body=UpdateRegistryRequest,
    errors={
        400: "More than one source, an empty or non-HTTP URL, a private address not allowed, "
        "or auth without issuer and client_id (or with an issuer that is not HTTPS)",
        404: "No such registry",
        502: "The new source is not a valid registry, or the issuer's OIDC discovery failed "
        "(nothing changed)",
        503: "No installed plugin reads this kind of source",
        504: "The new source cannot be reached (nothing changed)",
    },
)
async def update_registry(call: Call[None, UpdateRegistryRequest]) -> UpdateRegistryResponse:
    """``url`` (a .json URL is a registry document, any other an MCP Registry API), ``api_url``
    or ``local_path``; the source is read before config.yaml changes. ``auth`` sets OAuth for it
    (the registry is then not read until a login); without ``auth`` any OAuth is cleared."""
    _require_default(call.params["name"])
    kind = await call.run(_update, call.state.hooks, call.body)
    return UpdateRegistryResponse(type=kind)


@router.post(
    BASE + "/{name}/refresh",
    summary="Read the registry again (no cache)",
    response=RefreshResponse,
    errors={404: "No such registry", **READ_ERRORS},
)
async def refresh_registry(call: Call[None, None]) -> RefreshResponse:
    _require_default(call.params["name"])

    def refresh() -> None:
        source = _open(call.state.hooks, refresh=True)
        _reading(source.list_servers)

    await call.run(refresh)
    return RefreshResponse()


@router.delete(
    BASE + "/{name}",
    summary="Remove a registry (the default one cannot be)",
    status=204,
    content="empty",
    errors={400: "The default registry cannot be removed", 404: "No such registry"},
)
async def remove_registry(call: Call[None, None]) -> Any:
    name = call.params["name"]
    if name == DEFAULT:
        raise ApiError(
            400,
            f"the default registry cannot be removed; PUT {BASE}/default {{}} resets it to the built-in catalog",
        )
    _require_default(name)


@router.get(
    BASE + "/{name}/servers",
    summary="Every server of the registry",
    response=ServerList,
    errors={404: "No such registry", **READ_ERRORS},
)
async def list_registry_servers(call: Call[None, None]) -> ServerList:
    _require_default(call.params["name"])
    entries = await call.run(_entries, call.state.hooks)
    return ServerList(
        servers=[e for e in entries if isinstance(e, ImageMetadata)],
        remote_servers=[e for e in entries if isinstance(e, RemoteServerMetadata)],
    )


@router.get(
    BASE + "/{name}/servers/{serverName:path}",
    summary="One server, by full or unique short name",
    response=ServerDetail,
    errors={
        400: "The short name matches several servers",
        404: "No such registry or server",
        **READ_ERRORS,
    },
)
async def get_registry_server(call: Call[None, None]) -> ServerDetail:
    _require_default(call.params["name"])
    entry = await call.run(_find, call.state.hooks, call.params["serverName"])
    if isinstance(entry, RemoteServerMetadata):
        return ServerDetail(remote_server=entry, is_remote=True)
    return ServerDetail(server=entry, is_remote=False)


# --- the MCP Registry API v0.1 view -------------------------------------------------------------


@router.get(
    "/registry/{registry}/v0.1/servers",
    summary="Servers as MCP Registry v0.1 server.json",
    response=V01ServerList,
    query=V01Query,
    errors={400: "Bad page or limit", 404: "No such registry", **READ_ERRORS},
)
async def list_servers_v01(call: Call[V01Query, None]) -> V01ServerList:
    from toolhive.registry.upstream import entry_to_server

    _require_default(call.params["registry"])
    entries = await call.run(_entries, call.state.hooks)
    servers = [entry_to_server(e) for e in entries]
    q = call.query.q.strip().lower()
    if q:
        servers = [
            s
            for s in servers
            if q in str(s.get("name", "")).lower() or q in str(s.get("description", "")).lower()
        ]
    limit = min(call.query.limit, V01_MAX_LIMIT)
    start = min((call.query.page - 1) * limit, len(servers))
    return V01ServerList(
        servers=servers[start : start + limit],
        metadata=V01Metadata(total=len(servers), page=call.query.page, limit=limit),
    )


@router.get(
    "/registry/{registry}/v0.1/servers/{serverName:path}/versions/latest",
    summary="One server (full name) as MCP Registry v0.1 server.json",
    content="any",
    errors={404: "No such registry or server", **READ_ERRORS},
)
async def get_server_v01(call: Call[None, None]) -> Any:
    from toolhive.api.routing import json_response
    from toolhive.registry.upstream import entry_to_server

    _require_default(call.params["registry"])
    name = call.params["serverName"]

    def find() -> ServerEntry | None:
        source = _open(call.state.hooks)
        found: ServerEntry | None = _reading(lambda: source.get(name))
        return found

    entry = await call.run(find)
    if entry is None:
        raise ApiError(404, f"no server named {name!r} in the registry (use its full name)")
    return json_response(200, entry_to_server(entry))
