"""MCPServer: one MCP server run by the proxy runner, its RunConfig, Service and RBAC."""

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
    EnvVar,
    ExternalAuthConfigRef,
    Int32,
    Int64,
    MCPAuthzConfigReference,
    MCPGroupRef,
    MCPOIDCConfigReference,
    MCPTelemetryConfigReference,
    PrinterColumn,
    RateLimitConfig,
    ResourceOverrides,
    ResourceRequirements,
    SessionStorageConfig,
    ToolConfigRef,
    WebhookConfigRef,
    age_column,
    check_authz_exclusive,
    defaulted,
    free_form,
    ready_column,
)

MCPServerPhase = Literal["Pending", "Ready", "Failed", "Terminating", "Stopped"]


class Volume(CRDModel):
    """A host path mounted into the MCP server's container."""

    name: str
    host_path: str
    mount_path: str
    read_only: bool = False


class SecretRef(CRDModel):
    """A Secret key handed to the MCP server as an environment variable."""

    name: str
    key: str
    target_env_name: str | None = None
    """Defaults to the key."""


class PermissionProfileRef(CRDModel):
    """A permission profile: a built-in one by name, or a ConfigMap's key."""

    type: Literal["builtin", "configmap"] = defaulted("builtin")
    name: str
    key: str | None = None


class MCPServerSpec(CRDModel):
    """What the operator deploys for an MCPServer."""

    image: str
    """Container image of the MCP server."""
    transport: Literal["stdio", "streamable-http", "sse"] = "stdio"
    proxy_mode: Literal["sse", "streamable-http"] = "streamable-http"
    """How the proxy serves a stdio server to clients."""
    proxy_port: Int32 = Field(default=8080, ge=1, le=65535)
    """Port the proxy listens on (the Service's port)."""
    mcp_port: Int32 | None = Field(default=None, ge=1, le=65535)
    """Port the MCP server listens on (HTTP transports)."""
    args: list[str] | None = None
    env: list[EnvVar] | None = None
    volumes: list[Volume] | None = None
    resources: ResourceRequirements | None = None
    secrets: list[SecretRef] | None = None
    service_account: str | None = None
    """Service account of the MCP server's pod; the operator makes one when unset."""
    permission_profile: PermissionProfileRef | None = None
    pod_template_spec: dict[str, Any] | None = free_form(
        "A PodTemplateSpec merged into the MCP server's pod (container name 'mcp')."
    )
    resource_overrides: ResourceOverrides | None = None
    oidc_config_ref: MCPOIDCConfigReference | None = None
    authz_config: AuthzConfigRef | None = None
    authz_config_ref: MCPAuthzConfigReference | None = None
    audit: AuditConfig | None = None
    tool_config_ref: ToolConfigRef | None = None
    external_auth_config_ref: ExternalAuthConfigRef | None = None
    webhook_config_ref: WebhookConfigRef | None = None
    auth_server_ref: AuthServerRef | None = None
    telemetry_config_ref: MCPTelemetryConfigReference | None = None
    trust_proxy_headers: bool = False
    endpoint_prefix: str | None = None
    group_ref: MCPGroupRef | None = None
    session_affinity: Literal["ClientIP", "None"] = "ClientIP"
    replicas: Int32 | None = Field(default=None, ge=0)
    """Proxy replicas; unset leaves the Deployment's count alone (scaled by hand or an HPA)."""
    backend_replicas: Int32 | None = Field(default=None, ge=0)
    """Replicas of the MCP server's StatefulSet."""
    session_storage: SessionStorageConfig | None = None
    rate_limiting: RateLimitConfig | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        # Go's CEL rules (not run by Kubernetes 1.20), with Go's messages.
        check_authz_exclusive(self)
        if self.rate_limiting is None:
            return self
        if self.session_storage is None or self.session_storage.provider != "redis":
            raise ValueError("rateLimiting requires sessionStorage with provider 'redis'")
        if not self.is_set("oidc_config_ref", "external_auth_config_ref"):
            if self.rate_limiting.per_user is not None:
                msg = (
                    "rateLimiting.perUser requires authentication"
                    " (oidcConfigRef or externalAuthConfigRef)"
                )
                raise ValueError(msg)
            if self.rate_limiting.has_per_user():
                msg = (
                    "per-tool perUser rate limiting requires authentication"
                    " (oidcConfigRef or externalAuthConfigRef)"
                )
                raise ValueError(msg)
        return self


class MCPServerStatus(CRDModel):
    """What the operator observed."""

    conditions: list[Condition] | None = None
    observed_generation: Int64 | None = None
    tool_config_hash: str | None = None
    external_auth_config_hash: str | None = None
    auth_server_config_hash: str | None = None
    authz_config_hash: str | None = None
    oidc_config_hash: str | None = None
    telemetry_config_hash: str | None = None
    webhook_config_hash: str | None = None
    url: str | None = None
    phase: MCPServerPhase | None = None
    message: str | None = None
    ready_replicas: Int32 | None = None


class MCPServer(CustomResource):
    """An MCP server run in the cluster behind ToolHive's proxy."""

    crd: ClassVar[CRDNames] = CRDNames(
        plural="mcpservers",
        singular="mcpserver",
        short_names=("mcpserver", "mcpservers"),
        printer_columns=(
            PrinterColumn("Status", ".status.phase"),
            ready_column(),
            PrinterColumn("Replicas", ".status.readyReplicas", "integer"),
            PrinterColumn("URL", ".status.url"),
            age_column(),
        ),
    )

    kind: Literal["MCPServer"] = "MCPServer"
    spec: MCPServerSpec
    status: MCPServerStatus | None = None
