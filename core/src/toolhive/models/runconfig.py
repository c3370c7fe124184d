"""RunConfig: everything needed to (re)start a workload, in ToolHive's JSON format.

Field names and ``schema_version`` match ToolHive (Go) so ``thv export`` files move between the two.
Unknown fields are kept (``extra="allow"``) so a config exported by a newer ToolHive round-trips.
Secrets are only references (``"name,target=ENV"``), never values.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from toolhive.errors import InvalidInputError, format_validation_error
from toolhive.models.permissions import PermissionProfile
from toolhive.models.remote import HeaderForwardConfig, RemoteAuthConfig
from toolhive.models.tokenexchange import TokenExchangeConfig

CURRENT_SCHEMA_VERSION = "v0.1.0"
NAME_RE = re.compile(r"^[a-zA-Z0-9._-]+$")
NAME_MAX = 100


def validate_workload_name(name: str) -> str:
    if not name or len(name) > NAME_MAX or not NAME_RE.match(name) or name in {".", ".."}:
        msg = f"invalid workload name {name!r}: use 1-{NAME_MAX} letters, digits, '.', '_' or '-'"
        raise InvalidInputError(msg)
    return name


def _drop_nulls(value: Any) -> Any:
    """Go writes ``null`` for empty maps and slices, at any depth; treat them as absent."""
    if isinstance(value, dict):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_nulls(v) for v in value]
    return value


class RunConfig(BaseModel):
    model_config = ConfigDict(extra="allow", validate_assignment=True)

    schema_version: str = CURRENT_SCHEMA_VERSION
    image: str = ""
    remote_url: str = ""
    registry_url: str = ""
    registry_api_url: str = ""
    registry_server_name: str = ""
    cmd_args: list[str] = Field(default_factory=list)
    name: str = ""
    container_name: str = ""
    base_name: str = ""
    #: A transport plugin's name (built in: stdio, sse, streamable-http); checked against the
    #: installed transports when the workload runs or starts, not here, so plugins can add one.
    transport: str = Field("stdio", pattern=r"^[a-z0-9][a-z0-9._-]*$")
    host: str = "127.0.0.1"
    port: int = Field(0, ge=0, le=65535, description="Proxy port on the host.")
    target_port: int = Field(0, ge=0, le=65535, description="Port the server listens on.")
    target_host: str = "127.0.0.1"
    proxy_mode: Literal["", "sse", "streamable-http"] = ""
    allowed_origins: list[str] = Field(default_factory=list)
    publish: list[str] = Field(default_factory=list)
    permission_profile_name_or_path: str = ""
    permission_profile: PermissionProfile | None = None
    env_vars: dict[str, str] = Field(default_factory=dict)
    env_file_dir: str = ""
    volumes: list[str] = Field(default_factory=list)
    container_labels: dict[str, str] = Field(default_factory=dict)
    secrets: list[str] = Field(default_factory=list)
    isolate_network: bool = True
    #: Go's field: with isolation, the engine's gateway (the host) is reachable from the workload.
    allow_docker_gateway: bool = False
    #: ToolHive's ``ignore_config`` (Go field names): ``{"LoadGlobal": bool, "PrintOverlays": bool}``.
    ignore_config: dict[str, bool] | None = None
    trust_proxy_headers: bool = False
    strict_protocol_validation: bool = False
    stateless: bool = False
    session_ttl: str = ""
    endpoint_prefix: str = ""
    group: str = "default"
    tools_filter: list[str] = Field(default_factory=list)
    tools_override: dict[str, Any] = Field(default_factory=dict)
    middleware_configs: list[dict[str, Any]] = Field(default_factory=list)
    oidc_config: dict[str, Any] | None = None
    authz_config: dict[str, Any] | None = None
    authz_config_path: str = ""
    audit_config: dict[str, Any] | None = None
    audit_config_path: str = ""
    telemetry_config: dict[str, Any] | None = None
    #: RFC 8693 exchange of the caller's token for the upstream's (``--token-exchange-*``).
    token_exchange_config: TokenExchangeConfig | None = None
    #: CA bundle and bearer-token file for OIDC discovery/JWKS (``--thv-ca-bundle`` …).
    thv_ca_bundle: str = ""
    jwks_auth_token_file: str = ""
    runtime_config: dict[str, Any] | None = None
    #: A virtual MCP gateway instead of a server (``thv run vmcp://GROUP``): its vMCP config
    #: (ToolHive's YAML format, as JSON). Such a workload has no runtime and no image.
    vmcp_config: dict[str, Any] | None = None
    #: Remote servers: headers the proxy adds upstream (secret values only by reference).
    header_forward: HeaderForwardConfig | None = None
    #: Remote servers: OAuth hints and the registry entry's header definitions.
    remote_auth_config: RemoteAuthConfig | None = None
    debug: bool = False
    #: Our addition: the runtime plugin that runs this workload (ToolHive ignores unknown fields).
    runtime: str = ""

    @field_validator("name", "base_name")
    @classmethod
    def _name(cls, value: str) -> str:
        return validate_workload_name(value) if value else value

    @field_validator("proxy_mode", mode="before")
    @classmethod
    def _proxy_mode(cls, value: Any) -> Any:
        return "" if value is None else value

    @property
    def is_remote(self) -> bool:
        return bool(self.remote_url)

    @property
    def is_vmcp(self) -> bool:
        """A vMCP gateway workload: served by the supervisor itself, no runtime."""
        return self.vmcp_config is not None

    @property
    def effective_proxy_mode(self) -> str:
        """The HTTP protocol clients speak to the proxy."""
        if self.transport == "stdio":
            return self.proxy_mode or "streamable-http"
        return self.transport

    def to_json(self) -> str:
        """ToolHive's layout: 2-space indented JSON, no nulls."""
        return json.dumps(self.model_dump(mode="json", exclude_none=True), indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str, *, source: str = "RunConfig") -> RunConfig:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            msg = f"{source}: not valid JSON ({exc.msg} at line {exc.lineno})"
            raise InvalidInputError(msg) from None
        if not isinstance(data, dict):
            msg = f"{source}: expected a JSON object"
            raise InvalidInputError(msg)
        data = _drop_nulls(data)
        data.setdefault("schema_version", CURRENT_SCHEMA_VERSION)
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            msg = f"{source}: field {format_validation_error(exc)}"
            raise InvalidInputError(msg) from None

    @classmethod
    def load(cls, path: Path) -> RunConfig:
        try:
            text = path.read_text()
        except FileNotFoundError:
            msg = f"config file {path} does not exist"
            raise InvalidInputError(msg) from None
        return cls.from_json(text, source=str(path))
