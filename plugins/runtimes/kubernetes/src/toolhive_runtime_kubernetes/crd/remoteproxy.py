"""MCPRemoteProxy: ToolHive's proxy (auth, authz, audit, tools) in front of a remote MCP server."""

from __future__ import annotations

from typing import Any, ClassVar, Literal, Self

from pydantic import Field, model_validator

from .common import (
    AuditConfig,
    AuthServerRef,
    AuthzConfigRef,
    Condition,
    CRDModel,
    CRDNames,
    CustomResource,
    ExternalAuthConfigRef,
    Int32,
    Int64,
    MCPAuthzConfigReference,
    MCPGroupRef,
    MCPOIDCConfigReference,
    MCPTelemetryConfigReference,
    PrinterColumn,
    ResourceOverrides,
    ResourceRequirements,
    SecretKeyRef,
    SessionStorageConfig,
    ToolConfigRef,
    age_column,
    check_authz_exclusive,
    free_form,
    ready_column,
)

MCPRemoteProxyPhase = Literal["Pending", "Ready", "Failed", "Terminating"]


class HeaderFromSecret(CRDModel):
    """A header added to requests to the remote server, its value from a Secret."""

    header_name: str = Field(min_length=1, max_length=255)
    value_secret_ref: SecretKeyRef


class HeaderForwardConfig(CRDModel):
    """Headers added to every request to the remote server."""

    add_plaintext_headers: dict[str, str] | None = None
    add_headers_from_secret: list[HeaderFromSecret] | None = None


class MCPRemoteProxySpec(CRDModel):
    """A proxy-only Deployment in front of ``remoteUrl``."""

    remote_url: str = Field(pattern=r"^https?://")
    allow_private_endpoint: bool = False
    """Allow a remote URL that resolves to a private or loopback address."""
    proxy_port: Int32 = Field(default=8080, ge=1, le=65535)
    transport: Literal["sse", "streamable-http"] = "streamable-http"
    oidc_config_ref: MCPOIDCConfigReference | None = None
    external_auth_config_ref: ExternalAuthConfigRef | None = None
    auth_server_ref: AuthServerRef | None = None
    header_forward: HeaderForwardConfig | None = None
    authz_config: AuthzConfigRef | None = None
    authz_config_ref: MCPAuthzConfigReference | None = None
    audit: AuditConfig | None = None
    tool_config_ref: ToolConfigRef | None = None
    telemetry_config_ref: MCPTelemetryConfigReference | None = None
    resources: ResourceRequirements | None = None
    service_account: str | None = None
    pod_template_spec: dict[str, Any] | None = free_form(
        "A PodTemplateSpec merged into the proxy's pod."
    )
    trust_proxy_headers: bool = False
    endpoint_prefix: str | None = None
    resource_overrides: ResourceOverrides | None = None
    group_ref: MCPGroupRef | None = None
    session_affinity: Literal["ClientIP", "None"] = "ClientIP"
    replicas: Int32 | None = Field(default=None, ge=0)
    session_storage: SessionStorageConfig | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        check_authz_exclusive(self)
        return self


class MCPRemoteProxyStatus(CRDModel):
    """What the operator observed."""

    phase: MCPRemoteProxyPhase | None = None
    url: str | None = None
    external_url: str | None = None
    observed_generation: Int64 | None = None
    conditions: list[Condition] | None = None
    tool_config_hash: str | None = None
    telemetry_config_hash: str | None = None
    external_auth_config_hash: str | None = None
    auth_server_config_hash: str | None = None
    authz_config_hash: str | None = None
    oidc_config_hash: str | None = None
    message: str | None = None


class MCPRemoteProxy(CustomResource):
    """A remote MCP server served through ToolHive's proxy in the cluster."""

    crd: ClassVar[CRDNames] = CRDNames(
        plural="mcpremoteproxies",
        singular="mcpremoteproxy",
        short_names=("rp", "mcprp"),
        printer_columns=(
            PrinterColumn("Phase", ".status.phase"),
            PrinterColumn("Remote URL", ".spec.remoteUrl"),
            PrinterColumn("URL", ".status.url"),
            ready_column(),
            age_column(),
        ),
    )

    kind: Literal["MCPRemoteProxy"] = "MCPRemoteProxy"
    spec: MCPRemoteProxySpec
    status: MCPRemoteProxyStatus | None = None
