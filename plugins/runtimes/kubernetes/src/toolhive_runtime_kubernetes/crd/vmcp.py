"""VirtualMCPServer: the vMCP gateway over an MCPGroup's members, one endpoint for all of them."""

from __future__ import annotations

from typing import Any, ClassVar, Literal, Self

from pydantic import Field, model_validator

from .authserver import EmbeddedAuthServerConfig
from .common import (
    AuthzConfigRef,
    Condition,
    CRDModel,
    CRDNames,
    CustomResource,
    ExternalAuthConfigRef,
    Int32,
    Int64,
    LocalObjectReference,
    MCPAuthzConfigReference,
    MCPGroupRef,
    MCPOIDCConfigReference,
    MCPTelemetryConfigReference,
    PrinterColumn,
    SessionStorageConfig,
    age_column,
    check_authz_exclusive,
    free_form,
    ready_column,
)

VirtualMCPServerPhase = Literal["Pending", "Ready", "Degraded", "Failed"]


class EmbeddingServerRef(CRDModel):
    """An EmbeddingServer for the optimizer's semantic search."""

    name: str


class IncomingAuthConfig(CRDModel):
    """How clients authenticate to the gateway."""

    type: Literal["anonymous", "oidc"]
    oidc_config_ref: MCPOIDCConfigReference | None = None
    authz_config: AuthzConfigRef | None = None
    authz_config_ref: MCPAuthzConfigReference | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.type == "oidc" and self.oidc_config_ref is None:
            raise ValueError("spec.incomingAuth.oidcConfigRef is required when type is oidc")
        check_authz_exclusive(self)
        return self


class BackendAuthConfig(CRDModel):
    """How the gateway authenticates to one backend."""

    type: Literal["discovered", "externalAuthConfigRef"]
    external_auth_config_ref: ExternalAuthConfigRef | None = None


class OutgoingAuthConfig(CRDModel):
    """How the gateway authenticates to backends: discovered from each, or set here."""

    source: Literal["discovered", "inline"] = "discovered"
    default: BackendAuthConfig | None = None
    backends: dict[str, BackendAuthConfig] | None = None
    """Backend name → its auth."""


class VirtualMCPServerSpec(CRDModel):
    """The gateway's Deployment, Service and vMCP configuration."""

    group_ref: MCPGroupRef
    incoming_auth: IncomingAuthConfig
    outgoing_auth: OutgoingAuthConfig | None = None
    passthrough_headers: list[str] | None = None
    service_type: Literal["ClusterIP", "NodePort", "LoadBalancer"] = "ClusterIP"
    session_affinity: Literal["ClientIP", "None"] = "ClientIP"
    service_account: str | None = None
    pod_template_spec: dict[str, Any] | None = free_form(
        "A PodTemplateSpec merged into the gateway's pod."
    )
    config: dict[str, Any] | None = free_form(
        "The vMCP configuration (aggregation, compositeTools, operational, optimizer …) as"
        " ToolHive's vMCP config file has it; the operator fills in name, groupRef and auth."
    )
    telemetry_config_ref: MCPTelemetryConfigReference | None = None
    embedding_server_ref: EmbeddingServerRef | None = None
    auth_server_config: EmbeddedAuthServerConfig | None = None
    """ToolHive's embedded OAuth authorization server, run in the gateway."""
    replicas: Int32 | None = Field(default=None, ge=0)
    session_storage: SessionStorageConfig | None = None
    image_pull_secrets: list[LocalObjectReference] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        # Go's CEL rules over the free-form config (not run by Kubernetes 1.20).
        config = self.config or {}
        limits = config.get("rateLimiting")
        if isinstance(limits, dict):
            if self.session_storage is None or self.session_storage.provider != "redis":
                raise ValueError(
                    "config.rateLimiting requires sessionStorage with provider 'redis'"
                )
            if self.incoming_auth.type != "oidc":
                if limits.get("perUser") is not None:
                    raise ValueError("config.rateLimiting.perUser requires incomingAuth.type oidc")
                tools = limits.get("tools") or []
                if any(isinstance(t, dict) and t.get("perUser") is not None for t in tools):
                    raise ValueError(
                        "per-tool perUser rate limiting requires incomingAuth.type oidc"
                    )
        optimizer = config.get("optimizer")
        if (
            self.embedding_server_ref is not None
            and isinstance(optimizer, dict)
            and optimizer.get("embeddingProvider") == "openai"
        ):
            msg = (
                "embeddingServerRef provisions a managed TEI server and cannot be combined with"
                " optimizer.embeddingProvider 'openai'; openai mode uses embeddingService directly"
            )
            raise ValueError(msg)
        return self


class DiscoveredBackend(CRDModel):
    """A backend the gateway found in the group, with its health."""

    name: str
    url: str | None = None
    status: str | None = None
    auth_config_ref: str | None = None
    auth_type: str | None = None
    last_health_check: str | None = Field(default=None, json_schema_extra={"format": "date-time"})
    message: str | None = None
    consecutive_failures: int | None = None
    circuit_breaker_state: Literal["closed", "open", "half-open"] | None = None
    circuit_last_changed: str | None = Field(
        default=None, json_schema_extra={"format": "date-time"}
    )
    mcp_revision: str | None = None


class VirtualMCPServerStatus(CRDModel):
    """What the operator observed."""

    conditions: list[Condition] | None = None
    observed_generation: Int64 | None = None
    phase: VirtualMCPServerPhase = "Pending"
    message: str | None = None
    url: str | None = None
    discovered_backends: list[DiscoveredBackend] | None = None
    backend_count: Int32 | None = None
    authz_config_hash: str | None = None
    oidc_config_hash: str | None = None
    telemetry_config_hash: str | None = None


class VirtualMCPServer(CustomResource):
    """One MCP endpoint aggregating the tools, resources and prompts of an MCPGroup."""

    crd: ClassVar[CRDNames] = CRDNames(
        plural="virtualmcpservers",
        singular="virtualmcpserver",
        short_names=("vmcp", "virtualmcp"),
        printer_columns=(
            PrinterColumn(
                "Phase", ".status.phase", description="The phase of the VirtualMCPServer"
            ),
            PrinterColumn("URL", ".status.url", description="Virtual MCP server URL"),
            PrinterColumn(
                "Backends", ".status.backendCount", "integer", "Discovered backends count"
            ),
            age_column("Age"),
            ready_column(),
        ),
    )

    kind: Literal["VirtualMCPServer"] = "VirtualMCPServer"
    spec: VirtualMCPServerSpec
    status: VirtualMCPServerStatus | None = None
