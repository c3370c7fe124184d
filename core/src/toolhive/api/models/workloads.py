"""The workloads endpoints' bodies (ToolHive's ``createRequest``, ``updateRequest``, ``Workload`` …)
and the two translations the routes need:

* :func:`run_request`: a ``createRequest`` → the :class:`~toolhive.workloads.request.RunRequest`
  ``thv run`` builds from its flags, so both front ends call :meth:`Workloads.run` with the same
  request (and get the same RunConfig). What the CLI has no flag for — an inline permission
  profile, a remote server's OAuth settings, ``allow_docker_gateway`` — comes back as
  :class:`ConfigPatch`, applied to the resolved RunConfig.
* :func:`create_request_for`: a saved RunConfig → the ``createRequest`` ``GET …/workloads/{name}``
  answers, which ``POST …/edit`` (or ``POST …/workloads`` with another name) takes back.

Unknown fields are ignored, as Go's JSON decoder does, so a client built for ToolHive keeps working.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field
from pydantic.config import JsonDict
from pydantic.json_schema import SkipJsonSchema

from toolhive.api.errors import ApiError
from toolhive.errors import InvalidInputError
from toolhive.groups.store import NAME_MAX as GROUP_MAX
from toolhive.groups.store import NAME_PATTERN as GROUP_PATTERN
from toolhive.models.permissions import PermissionProfile
from toolhive.models.remote import RemoteAuthConfig
from toolhive.models.runconfig import NAME_MAX, RunConfig
from toolhive.models.workload import Workload, WorkloadStatus

if TYPE_CHECKING:
    from toolhive.workloads.protection_inputs import OIDCOptions as RequestOIDC
    from toolhive.workloads.request import BuildSettings, RunRequest


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


# The rules the handlers check, documented (they check them themselves, so a bad value gets a
# message that says what to do rather than a pattern's).
#: A workload name, or "" for one derived from what runs.
WORKLOAD_NAME: JsonDict = {"maxLength": NAME_MAX, "pattern": r"^(?!\.{1,2}$)[a-zA-Z0-9._-]*$"}
#: A group name, or "" for ``default``.
GROUP_NAME: JsonDict = {"maxLength": GROUP_MAX, "pattern": f"^$|{GROUP_PATTERN}"}
#: The built-in transports (a transport plugin adds its own name; see ``thv plugins``).
TRANSPORTS: JsonDict = {"enum": ["", "stdio", "sse", "streamable-http"]}
#: ``/host/path:/container/path[:ro|:rw]`` or ``/same/path``, no ``..`` segment.
VOLUME: JsonDict = {"pattern": r"^(?!.*(^|[/:])\.\.([/:]|$))([^:]+:)?/[^:]*(:(ro|rw))?$"}
#: An environment variable's name as a container or process can take it.
ENV_NAMES: JsonDict = {"propertyNames": {"pattern": "^[^=\\x00]+$"}}


class SecretParameter(_Body):
    """``--secret NAME,target=ENV``: secret ``name`` in the server's environment as ``target``."""

    name: str = Field(json_schema_extra={"minLength": 1, "pattern": "^(?!__thv_)[^,]+$"})
    target: str = Field(json_schema_extra={"pattern": "^[A-Za-z_][A-Za-z0-9_]*$"})


class ToolOverride(_Body):
    name: str = ""
    description: str = ""


class OIDCOptions(_Body):
    """Inbound token validation for the workload (needs the ``auth`` middleware plugin)."""

    issuer: str = ""
    audience: str = ""
    jwks_url: str = ""
    introspection_url: str = ""
    client_id: str = ""
    client_secret: str = ""
    scopes: list[str] | None = None


class RemoteOAuthConfig(_Body):
    """How the proxy authenticates to a remote MCP server (``url`` workloads only)."""

    issuer: str = ""
    authorize_url: str = ""
    token_url: str = ""
    client_id: str = ""
    client_secret: SecretParameter | None = None
    bearer_token: SecretParameter | None = None
    scopes: list[str] | None = None
    use_pkce: bool = False
    oauth_params: dict[str, str] | None = None
    callback_port: int = Field(default=0, ge=0, le=65535)
    skip_browser: bool = False
    resource: str = ""


class HeaderForward(_Body):
    """Headers the proxy adds to every request to a remote server."""

    add_plaintext_headers: dict[str, str] | None = None
    #: header name → secret name in the secrets provider.
    add_headers_from_secret: dict[str, str] | None = None


class RuntimeConfig(_Body):
    """Build settings for ``uvx://``, ``npx://``, ``go://`` images (``--runtime-image``,
    ``--runtime-add-package``)."""

    builder_image: str = ""
    additional_packages: list[str] | None = None
    #: Not supported here: a non-empty value is refused (400).
    build_with: list[str] | None = None
    #: Not supported here: a non-empty value is refused (400).
    runtime_env: dict[str, str] | None = None


def _one_of_these(*alternatives: tuple[str, ...]) -> JsonDict:
    """The body must give each field of one alternative, non-empty."""
    return {
        "anyOf": [
            {"required": list(names), "properties": {n: {"minLength": 1} for n in names}}
            for names in alternatives
        ]
    }


class UpdateRequest(_Body):
    """A workload's whole configuration (``POST …/workloads/{name}/edit`` replaces it)."""

    model_config = ConfigDict(extra="ignore", json_schema_extra=_one_of_these(("image",), ("url",)))

    image: str = ""
    runtime_config: RuntimeConfig | None = None
    host: str = ""
    cmd_arguments: list[str] | None = None
    target_port: int = Field(default=0, ge=0, le=65535)
    proxy_port: int = Field(default=0, ge=0, le=65535)
    env_vars: dict[str, str] | None = Field(default=None, json_schema_extra=ENV_NAMES)
    secrets: list[SecretParameter] | None = None
    volumes: list[str] | None = Field(default=None, json_schema_extra={"items": VOLUME})
    #: stdio, sse, streamable-http, or a transport plugin's name.
    transport: str = Field(default="", json_schema_extra=TRANSPORTS)
    #: Authorization config file (JSON or YAML) on the server's machine.
    authz_config: str = ""
    oidc: OIDCOptions = Field(default_factory=OIDCOptions)
    permission_profile: PermissionProfile | None = None
    proxy_mode: str = Field(default="", json_schema_extra={"enum": ["", "sse", "streamable-http"]})
    #: Omitted means on (as ``thv run``); send ``false`` to turn it off.
    network_isolation: bool | None = None
    trust_proxy_headers: bool = False
    allow_docker_gateway: bool = False
    tools: list[str] | None = None
    tools_override: dict[str, ToolOverride] | None = None
    group: str = Field(default="", json_schema_extra=GROUP_NAME)
    #: A remote MCP server: http(s) with a host.
    url: str = Field(default="", json_schema_extra={"pattern": r"^$|^https?://[^/?#:@\s]+"})
    oauth_config: RemoteOAuthConfig = Field(default_factory=RemoteOAuthConfig)
    #: A remote registry entry's header definitions (recorded with its OAuth settings).
    headers: list[dict[str, Any]] | None = None
    header_forward: HeaderForward | None = None


class CreateRequest(UpdateRequest):
    """A workload to create: ``image`` (an image, ``uvx://``/``npx://``/``go://`` package or
    command), ``url`` (a remote server), ``registry`` + ``server`` (a registry entry), or
    ``from_config`` (an exported RunConfig)."""

    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra=_one_of_these(("image",), ("url",), ("registry", "server")),
    )

    name: str = Field(default="", json_schema_extra=WORKLOAD_NAME)
    #: The registry to resolve ``server`` in; only ``default`` exists.
    registry: str = Field(default="", json_schema_extra={"enum": ["", "default"]})
    server: str = ""
    #: Not in ToolHive's API (so not in the OpenAPI document either): a RunConfig from
    #: ``GET …/export`` (or ``thv export``) to run again, or an MCPServer object (a ``List`` to
    #: bring its MCPToolConfig and ConfigMaps); only ``name`` may be given with it.
    from_config: SkipJsonSchema[dict[str, Any] | None] = None


class CreateWorkloadResponse(BaseModel):
    name: str
    port: int


class WorkloadList(BaseModel):
    workloads: list[Workload]


class WorkloadStatusResponse(BaseModel):
    status: WorkloadStatus


_NAMES: JsonDict = {"items": {"minLength": 1, **WORKLOAD_NAME}}
#: Exactly one of a non-empty ``names`` and a ``group``.
_NAMES_XOR_GROUP: JsonDict = {
    "oneOf": [
        {
            "required": ["names"],
            "properties": {"names": {"type": "array", "minItems": 1}, "group": {"const": ""}},
        },
        {
            "required": ["group"],
            "properties": {
                "group": {"type": "string", "minLength": 1},
                "names": {"anyOf": [{"type": "null"}, {"type": "array", "maxItems": 0}]},
            },
        },
    ]
}


class BulkOperationRequest(_Body):
    """``names`` or ``group``, not both."""

    model_config = ConfigDict(extra="ignore", json_schema_extra=_NAMES_XOR_GROUP)

    names: list[str] | None = Field(default=None, json_schema_extra=_NAMES)
    group: str = Field(default="", json_schema_extra=GROUP_NAME)


class ListQuery(BaseModel):
    #: Include stopped workloads.
    all: bool = False
    group: str = Field(default="", json_schema_extra=GROUP_NAME)


# --- createRequest → RunRequest -----------------------------------------------------------------


@dataclass
class ConfigPatch:
    """RunConfig fields a ``createRequest`` sets that no ``thv run`` flag does."""

    updates: dict[str, Any] = field(default_factory=dict)

    def apply(self, config: RunConfig) -> RunConfig:
        if not self.updates:
            return config
        remote_only = {"remote_auth_config"} & set(self.updates)
        if remote_only and not config.is_remote:
            msg = "oauth_config and headers apply to remote servers (url) only"
            raise InvalidInputError(msg)
        if "permission_profile" in self.updates and config.is_remote:
            msg = "permission_profile applies to servers ToolHive runs, not to a remote url"
            raise InvalidInputError(msg)
        return config.model_copy(update=self.updates)


def _given(body: BaseModel, *names: str) -> list[str]:
    return [n for n in names if n in body.model_fields_set and getattr(body, n) not in (None, "")]


def _reference(param: SecretParameter | None) -> str:
    return f"{param.name},target={param.target}" if param is not None else ""


def _remote_auth(body: UpdateRequest) -> RemoteAuthConfig | None:
    """Go's ``createRequestToRemoteAuthConfig``: the OAuth settings, secrets by reference."""
    oauth = body.oauth_config
    if oauth == RemoteOAuthConfig() and not body.headers:
        return None
    return RemoteAuthConfig(
        issuer=oauth.issuer,
        authorize_url=oauth.authorize_url,
        token_url=oauth.token_url,
        client_id=oauth.client_id,
        client_secret=_reference(oauth.client_secret),
        bearer_token=_reference(oauth.bearer_token),
        scopes=list(oauth.scopes or []),
        use_pkce=oauth.use_pkce,
        oauth_params=dict(oauth.oauth_params or {}),
        callback_port=oauth.callback_port,
        skip_browser=oauth.skip_browser,
        resource=oauth.resource,
        headers=list(body.headers or []),
    )


def _oidc(options: OIDCOptions) -> RequestOIDC | None:
    from toolhive.workloads.protection_inputs import OIDCOptions as RequestOIDC

    oidc = RequestOIDC(
        issuer=options.issuer,
        audience=options.audience,
        jwks_url=options.jwks_url,
        introspection_url=options.introspection_url,
        client_id=options.client_id,
        client_secret=options.client_secret,
        scopes=list(options.scopes or []),
    )
    return oidc if oidc != RequestOIDC() else None


def _build_settings(runtime_config: RuntimeConfig | None) -> BuildSettings | None:
    from toolhive.workloads.request import BuildSettings

    if runtime_config is None:
        return None
    for unsupported in ("build_with", "runtime_env"):
        if getattr(runtime_config, unsupported):
            msg = f"runtime_config.{unsupported} is not supported by this ToolHive"
            raise InvalidInputError(msg)
    build = BuildSettings(
        runtime_image=runtime_config.builder_image.strip(),
        additional_packages=[p.strip() for p in runtime_config.additional_packages or [] if p],
    )
    return build if build != BuildSettings() else None


def _check_text(value: Any, where: str = "") -> None:
    """Every string goes to a file, an argument or an environment variable: NUL cannot, and
    neither can a lone surrogate (JSON allows ``\\ud800``; UTF-8 does not). Refused anywhere."""
    if isinstance(value, str):
        problem = "contains a NUL character" if "\x00" in value else ""
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            problem = "is not valid Unicode text (a lone surrogate)"
        if problem:
            raise ApiError(400, f"{where or 'body'}: {problem}", where or None)
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_text(key, where)
            _check_text(item, f"{where}.{key}" if where else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_text(item, f"{where}.{index}" if where else str(index))


def _check_shape(body: UpdateRequest) -> None:
    """What the RunConfig builder cannot be asked about: it trusts ``thv run``'s parsing."""
    _check_text(body.model_dump())
    for key in body.env_vars or {}:
        if not key or "=" in key:
            msg = f"env_vars: {key!r} is not an environment variable name"
            raise ApiError(400, msg, f"env_vars.{key}")
    if body.url.strip():
        try:
            parts = urlsplit(body.url.strip())
            hostname = parts.hostname
        except ValueError:  # "Invalid IPv6 URL": an unbalanced [
            hostname = None
        if hostname is None or parts.scheme not in ("http", "https"):
            msg = f"url {body.url!r}: expected an http:// or https:// URL of a remote MCP server"
            raise ApiError(400, msg, "url")
    resource = body.oauth_config.resource
    if resource:
        try:
            parts = urlsplit(resource)
            valid = bool(parts.scheme and parts.netloc and not parts.fragment)
        except ValueError:
            valid = False
        if not valid:
            msg = "oauth_config.resource: expected an absolute URI without a fragment (RFC 8707)"
            raise ApiError(400, msg, "oauth_config.resource")
    if body.host:
        _check_host(body.host)
    if body.group:
        from toolhive.groups.store import validate_group_name

        try:
            validate_group_name(body.group)
        except InvalidInputError as exc:
            raise ApiError(400, str(exc), "group") from None


def _check_host(host: str) -> None:
    """The proxy's bind address must be one this machine can bind (else a 400, not a crash)."""
    import socket

    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family) as sock:
            sock.bind((host, 0))
    except (OSError, ValueError, TypeError, UnicodeError) as exc:
        msg = f"host {host!r} cannot be bound on this machine ({exc}); use 127.0.0.1 or 0.0.0.0"
        raise ApiError(400, msg, "host") from None


def run_request(
    body: UpdateRequest, *, name: str = "", runtime: str = ""
) -> tuple[RunRequest, ConfigPatch]:
    """The :class:`RunRequest` ``body`` asks for and what to patch into its RunConfig.

    ``name`` overrides the body's (an edit keeps the path's name); ``runtime`` pins the runtime
    (an edit stays where the workload runs). Shape errors only: what names a file, a registry
    entry or a plugin is checked when the request is resolved.
    """
    from toolhive.models.remote import HeaderForwardConfig
    from toolhive.secrets.names import SecretReference
    from toolhive.workloads.request import RunRequest

    create = body if isinstance(body, CreateRequest) else None
    name = name or (create.name if create else "")
    _check_shape(body)
    if create is not None and create.from_config is not None:
        mixed = [
            n
            for n in create.model_fields_set - {"from_config", "name"}
            if getattr(create, n)
            != CreateRequest.model_fields[n].get_default(call_default_factory=True)
        ]
        if mixed:
            msg = f"{sorted(mixed)[0]} cannot be combined with from_config: edit the RunConfig"
            raise InvalidInputError(msg)
        from toolhive.workloads.export_k8s import from_documents, is_manifest

        if is_manifest(create.from_config):  # an MCPServer (or a List with its MCPToolConfig …)
            config = from_documents([create.from_config], source="from_config").config
        else:
            config = RunConfig.from_json(json.dumps(create.from_config), source="from_config")
        return RunRequest(from_config=config, name=name), ConfigPatch()
    image = body.image.strip()
    if create is not None and (create.registry or create.server):
        if not (create.registry and create.server):
            msg = "both 'registry' and 'server' must be specified together"
            raise InvalidInputError(msg)
        image = image or create.server.strip()
    if not image and not body.url.strip():
        msg = "either 'image', 'url', or 'registry'+'server' fields are required"
        raise InvalidInputError(msg)
    forward = body.header_forward
    proxy_mode = body.proxy_mode.strip()
    if proxy_mode not in ("", "sse", "streamable-http"):
        msg = f"invalid proxy_mode {proxy_mode!r}: use streamable-http or sse"
        raise InvalidInputError(msg)
    if body.transport not in ("", "stdio"):
        proxy_mode = ""  # as ToolHive: only a stdio server's proxy has a mode to choose
    patch: dict[str, Any] = {}
    if body.permission_profile is not None:
        profile = body.permission_profile.model_copy(
            update={"name": body.permission_profile.name or "inline"}
        )
        profile.check_mounts()
        patch["permission_profile"] = profile
        patch["permission_profile_name_or_path"] = ""
    remote_auth = _remote_auth(body)
    if remote_auth is not None:
        patch["remote_auth_config"] = remote_auth
    if body.allow_docker_gateway:
        patch["allow_docker_gateway"] = True  # Go's RunConfig field; egress rules may read it
    request = RunRequest(
        image=image,
        url=body.url.strip(),
        name=name,
        group=body.group or "default",
        cmd_arguments=list(body.cmd_arguments or []),
        transport=body.transport,
        proxy_mode=proxy_mode,
        host=body.host or "127.0.0.1",
        proxy_port=body.proxy_port,
        target_port=body.target_port,
        env_vars=dict(body.env_vars or {}),
        secrets=[SecretReference(s.name, s.target) for s in body.secrets or []],
        volumes=list(body.volumes or []),
        network_isolation=True if body.network_isolation is None else body.network_isolation,
        runtime=runtime,
        trust_proxy_headers=body.trust_proxy_headers,
        header_forward=(
            HeaderForwardConfig(
                add_plaintext_headers=dict(forward.add_plaintext_headers or {}),
                add_headers_from_secret=dict(forward.add_headers_from_secret or {}),
            )
            if forward is not None
            and (forward.add_plaintext_headers or forward.add_headers_from_secret)
            else None
        ),
        runtime_config=_build_settings(body.runtime_config),
        tools=list(body.tools or []),
        tools_override={k: v.model_dump() for k, v in (body.tools_override or {}).items()},
        oidc=_oidc(body.oidc),
        authz_config=body.authz_config,
    )
    return request, ConfigPatch(patch)


# --- RunConfig → createRequest ------------------------------------------------------------------


def _parameter(reference: str) -> SecretParameter | None:
    from toolhive.secrets.names import REFERENCE

    match = REFERENCE.match(reference or "")
    return SecretParameter(name=match.group(1), target=match.group(2)) if match else None


def create_request_for(config: RunConfig) -> CreateRequest:
    """What ``GET …/workloads/{name}`` answers: the workload's configuration as a
    ``createRequest`` (secrets as references; a package workload by its ``uvx://`` … source)."""
    from toolhive.builds.workload import package_source

    oidc = config.oidc_config or {}
    auth = config.remote_auth_config
    rc = config.runtime_config or {}
    built = rc.get("runtime_image") or rc.get("builder_image") or ""
    packages = list(rc.get("additional_packages") or [])
    return CreateRequest(
        name=config.name,
        image=package_source(config) or config.image,
        runtime_config=(
            RuntimeConfig(builder_image=str(built), additional_packages=packages)
            if built or packages
            else None
        ),
        host=config.host,
        cmd_arguments=list(config.cmd_args),
        target_port=config.target_port,
        proxy_port=config.port,
        env_vars=dict(config.env_vars),
        secrets=[p for p in map(_parameter, config.secrets) if p is not None],
        volumes=list(config.volumes),
        transport=config.transport,
        # ToolHive answers "" here; the path lets an edit keep the workload's authorization.
        authz_config=config.authz_config_path,
        oidc=OIDCOptions(
            issuer=str(oidc.get("Issuer", "")),
            audience=str(oidc.get("Audience", "")),
            jwks_url=str(oidc.get("JWKSURL", "")),
            introspection_url=str(oidc.get("IntrospectionURL", "")),
            client_id=str(oidc.get("ClientID", "")),
            client_secret=str(oidc.get("ClientSecret", "")),
            scopes=list(oidc.get("Scopes") or []) or None,
        ),
        permission_profile=config.permission_profile,
        proxy_mode=config.effective_proxy_mode if config.transport == "stdio" else "",
        network_isolation=config.isolate_network,
        trust_proxy_headers=config.trust_proxy_headers,
        allow_docker_gateway=bool(getattr(config, "allow_docker_gateway", False)),
        tools=list(config.tools_filter),
        tools_override={
            k: ToolOverride.model_validate(v)
            for k, v in config.tools_override.items()
            if isinstance(v, dict)
        }
        or None,
        group=config.group or "default",
        url=config.remote_url,
        oauth_config=(
            RemoteOAuthConfig(
                issuer=auth.issuer,
                authorize_url=auth.authorize_url,
                token_url=auth.token_url,
                client_id=auth.client_id,
                client_secret=_parameter(auth.client_secret),
                bearer_token=_parameter(auth.bearer_token),
                scopes=list(auth.scopes) or None,
                use_pkce=auth.use_pkce,
                oauth_params=dict(auth.oauth_params) or None,
                callback_port=auth.callback_port,
                skip_browser=auth.skip_browser,
                resource=auth.resource,
            )
            if auth is not None
            else RemoteOAuthConfig()
        ),
        headers=list(auth.headers) if auth is not None and auth.headers else None,
        header_forward=(
            HeaderForward(
                add_plaintext_headers=dict(config.header_forward.add_plaintext_headers) or None,
                add_headers_from_secret=dict(config.header_forward.add_headers_from_secret) or None,
            )
            if config.header_forward
            else None
        ),
    )
