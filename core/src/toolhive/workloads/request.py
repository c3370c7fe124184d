"""What a front end asks for: :class:`RunRequest` (``thv run`` flags, the REST API's body).

Field names follow ToolHive's REST ``createRequest`` where the two overlap (``image``, ``url``,
``cmd_arguments``, ``env_vars``, ``secrets`` as ``{name, target}``, ``network_isolation``,
``header_forward`` …), so ``POST /api/v1beta/workloads`` can validate its body straight into one.
The rest are this CLI's flags (``env_files``, ``ca_cert``, ``runtime`` …). Nothing here is checked
against the machine (files, ports, plugins): :mod:`toolhive.workloads.resolve` does that.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from toolhive.models.remote import HeaderForwardConfig, RemoteAuthConfig
from toolhive.models.runconfig import RunConfig
from toolhive.secrets.names import SecretReference
from toolhive.workloads.protection_inputs import OIDCOptions, TokenExchangeOptions


class BuildSettings(BaseModel):
    """Protocol-scheme builds (``uvx://``, ``npx://``, ``go://``) on a container runtime:
    ToolHive's ``runtime_config`` (``--runtime-image``, ``--runtime-add-package``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    runtime_image: str = ""
    additional_packages: list[str] = Field(default_factory=list)


class RunRequest(BaseModel):
    """One workload to run. Exactly one of ``image``, ``url`` and ``from_config`` says what."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: A registry name (``fetch``, ``io.github.stacklok/fetch``), an image, ``uvx://``,
    #: ``npx://``, ``go://`` package, or a command.
    image: str = ""
    #: A remote MCP server's URL.
    url: str = ""
    #: An exported RunConfig (``thv export``); only ``name`` and ``debug`` apply on top of it.
    from_config: RunConfig | None = None

    name: str = ""
    group: str = "default"
    cmd_arguments: list[str] = Field(default_factory=list)
    transport: str = ""
    proxy_mode: str = ""
    host: str = "127.0.0.1"
    proxy_port: int = Field(default=0, ge=0, le=65535)
    target_port: int = Field(default=0, ge=0, le=65535)
    #: Read first, in order; ``env_vars`` win over them.
    env_files: list[Path] = Field(default_factory=list)
    env_vars: dict[str, str] = Field(default_factory=dict)
    #: Resolved when the workload starts; values never enter the RunConfig.
    secrets: list[SecretReference] = Field(default_factory=list)
    volumes: list[str] = Field(default_factory=list)
    labels: dict[str, str] = Field(default_factory=dict)
    #: ``none``, ``network`` or a profile JSON file (default: the registry entry's, else network).
    permission_profile: str = ""
    network_isolation: bool = True
    #: The permission profile's network mode (``--network``, Go's flag): ``host``, ``none``, a
    #: network name; runtimes refuse what would bypass the profile's network rules.
    network: str = ""
    #: With isolation, the engine's gateway (the host) is reachable (``--allow-docker-gateway``).
    allow_docker_gateway: bool = False
    #: Apply ``$XDG_CONFIG_HOME/toolhive/thvignore`` to mounted folders (``--ignore-globally``).
    ignore_globally: bool = True
    #: Runtime plugin (default: detected).
    runtime: str = ""
    trust_proxy_headers: bool = False
    endpoint_prefix: str = ""
    stateless: bool = False
    session_ttl: str = ""
    strict_protocol_validation: bool = False
    allowed_origins: list[str] = Field(default_factory=list)
    #: Remote servers: headers the proxy adds upstream (secret ones by secret name).
    header_forward: HeaderForwardConfig | None = None
    #: Remote servers: how the proxy authenticates upstream (``--remote-auth*``); merged over a
    #: registry entry's OAuth hints.
    remote_auth: RemoteAuthConfig | None = None
    ca_cert: str = ""
    runtime_config: BuildSettings | None = None
    #: Only these tools are listed and callable (ToolHive's ``--tools``).
    tools: list[str] = Field(default_factory=list)
    #: ``{"<tool>": {"name": …, "description": …}}`` (``--tools-override``'s ``toolsOverride``).
    tools_override: dict[str, Any] = Field(default_factory=dict)
    #: Inbound OIDC/JWT validation (``--oidc-*``); needs toolhive-middleware-auth.
    oidc: OIDCOptions | None = None
    #: Authorization config file, JSON or YAML (``--authz-config``).
    authz_config: str = ""
    #: Audit config file (``--audit-config``); ``enable_audit`` audits with the defaults.
    audit_config: str = ""
    enable_audit: bool = False
    #: ToolHive's telemetry config object (``--otel-*`` and ``thv config otel``).
    telemetry_config: dict[str, Any] | None = None
    #: RFC 8693 exchange of the caller's token (``--token-exchange-*``); needs
    #: toolhive-middleware-tokenexchange. Not in ToolHive's REST createRequest.
    token_exchange: TokenExchangeOptions | None = None
    #: Debug logs in the supervisor's proxy log (ToolHive's RunConfig ``debug``).
    debug: bool = False

    @model_validator(mode="after")
    def _one_source(self) -> RunRequest:
        given = [k for k in ("image", "url", "from_config") if getattr(self, k)]
        if len(given) > 1:
            msg = f"give one of image, url and from_config, not {' and '.join(given)}"
            raise ValueError(msg)
        return self

    @property
    def target(self) -> str:
        """What to run as the user wrote it (empty for ``from_config``)."""
        return (self.url or self.image).strip()


class RegistryOrigin(BaseModel):
    """What a registry entry adds to a request besides the flags it fills in: where it came
    from (for ``thv upgrade``), its permission profile and a remote entry's OAuth hints."""

    model_config = ConfigDict(frozen=True)

    registry_url: str = ""
    registry_api_url: str = ""
    registry_server_name: str = ""
    permissions: dict[str, Any] | None = None
    remote_auth_config: dict[str, Any] | None = None
    #: The tools the entry says its server has (``--tools``/``--tools-override`` are checked
    #: against them, as ToolHive does); empty when the entry lists none.
    tools: list[str] = Field(default_factory=list)
