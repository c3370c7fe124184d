"""Shared configuration objects workloads reference: MCPToolConfig and MCPExternalAuthConfig.

Their status carries ``configHash``; a workload records the hash it was built from, and a new
hash rolls the workload out.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal, Self, get_args

from pydantic import Field, model_validator

from .authserver import EmbeddedAuthServerConfig
from .common import (
    Condition,
    CRDModel,
    CRDNames,
    CustomResource,
    Int32,
    Int64,
    PrinterColumn,
    SecretKeyRef,
    age_column,
)

VALID_COLUMN = PrinterColumn("Valid", ".status.conditions[?(@.type=='Valid')].status")

_ROLE_ARN = r"^arn:(aws|aws-cn|aws-us-gov):iam::\d{12}:role/[\w+=,.@\-_/]+$"
_PROVIDER_NAME = r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$"


class ConfigStatus(CRDModel):
    """Status of a configuration object: its validity and the hash of its spec."""

    conditions: list[Condition] | None = None
    observed_generation: Int64 | None = None
    config_hash: str | None = None
    """Hash of the spec; workloads record it and roll out when it changes."""


# --- MCPToolConfig ----------------------------------------------------------------------------


class ToolAnnotationsOverride(CRDModel):
    """MCP tool annotations to replace; unset ones are left as the server sent them."""

    title: str | None = None
    read_only_hint: bool | None = None
    destructive_hint: bool | None = None
    idempotent_hint: bool | None = None
    open_world_hint: bool | None = None


class ToolOverride(CRDModel):
    """A tool's new name, description or annotations."""

    name: str | None = None
    description: str | None = None
    annotations: ToolAnnotationsOverride | None = None


class MCPToolConfigSpec(CRDModel):
    """Which tools a workload exposes, and under what names."""

    tools_filter: list[str] | None = None
    """Only these tools are listed and callable (names before any override)."""
    tools_override: dict[str, ToolOverride] | None = None
    """Tool name → its override."""


class MCPToolConfigStatus(ConfigStatus):
    """Status of an MCPToolConfig."""


class MCPToolConfig(CustomResource):
    """Tool filtering and renaming shared by workloads (``spec.toolConfigRef``)."""

    crd: ClassVar[CRDNames] = CRDNames(
        plural="mcptoolconfigs",
        singular="mcptoolconfig",
        short_names=("tc", "toolconfig"),
        printer_columns=(VALID_COLUMN, age_column()),
    )

    kind: Literal["MCPToolConfig"] = "MCPToolConfig"
    spec: MCPToolConfigSpec = Field(default_factory=MCPToolConfigSpec)
    status: MCPToolConfigStatus | None = None


# --- MCPExternalAuthConfig --------------------------------------------------------------------

ExternalAuthType = Literal[
    "tokenExchange",
    "headerInjection",
    "bearerToken",
    "unauthenticated",
    "embeddedAuthServer",
    "awsSts",
    "upstreamInject",
    "obo",
    "xaa",
]


class TokenExchangeConfig(CRDModel):
    """RFC 8693 token exchange of the caller's token for one the backend accepts."""

    token_url: str
    client_id: str | None = None
    client_secret_ref: SecretKeyRef | None = None
    audience: str
    scopes: list[str] | None = None
    subject_token_type: str | None = Field(
        default=None,
        pattern=r"^(access_token|id_token|jwt|urn:ietf:params:oauth:token-type:(access_token|id_token|jwt))?$",
    )
    external_token_header_name: str | None = None
    """Header for the exchanged token; unset replaces Authorization."""
    subject_provider_name: str | None = None


class HeaderInjectionConfig(CRDModel):
    """A header whose value comes from a Secret."""

    header_name: str = Field(min_length=1)
    value_secret_ref: SecretKeyRef


class BearerTokenConfig(CRDModel):
    """A bearer token from a Secret."""

    token_secret_ref: SecretKeyRef


class RoleMapping(CRDModel):
    """A claim (or CEL matcher) that selects an IAM role."""

    claim: str | None = Field(default=None, min_length=1)
    matcher: str | None = Field(default=None, min_length=1)
    role_arn: str = Field(pattern=_ROLE_ARN)
    priority: Int32 | None = Field(default=None, ge=0)


class AWSStsConfig(CRDModel):
    """AWS STS AssumeRoleWithWebIdentity and SigV4 signing."""

    region: str = Field(min_length=1, pattern=r"^[a-z]{2}(-[a-z]+)+-\d+$")
    service: str = "aws-mcp"
    fallback_role_arn: str | None = Field(default=None, pattern=_ROLE_ARN)
    role_mappings: list[RoleMapping] | None = None
    role_claim: str = "groups"
    session_duration: Int32 = Field(default=3600, ge=900, le=43200)
    """Seconds."""
    session_name_claim: str = "sub"
    subject_provider_name: str | None = None


class UpstreamInjectSpec(CRDModel):
    """Inject the token the embedded authorization server holds for an upstream provider."""

    provider_name: str = Field(min_length=1)


class OBOConfig(CRDModel):
    """Microsoft Entra on-behalf-of exchange."""

    tenant_id: str | None = Field(
        default=None,
        max_length=253,
        pattern=r"^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)+[a-zA-Z]{2,})$",
    )
    authority: str | None = Field(default=None, pattern=r"^https://[^\s?#@]+[^/\s?#@]$")
    client_id: str | None = None
    client_secret_ref: SecretKeyRef | None = None
    audience: str | None = None
    scopes: list[Annotated[str, Field(min_length=1, max_length=256)]] | None = Field(
        default=None, max_length=20
    )
    subject_token_provider_name: str | None = Field(
        default=None, min_length=1, max_length=63, pattern=_PROVIDER_NAME
    )
    cache_skew: str | None = None
    """A Go duration."""


class XAASpec(CRDModel):
    """Cross-app access (identity assertion authorization grant)."""

    idp_token_url: str = Field(pattern=r"^https://.*$")
    idp_client_id: str | None = None
    idp_client_secret_ref: SecretKeyRef | None = None
    target_token_url: str
    target_audience: str
    target_resource: str | None = None
    target_client_id: str | None = None
    target_client_secret_ref: SecretKeyRef | None = None
    insecure_target_token_url: bool | None = None
    scopes: list[str] | None = None
    subject_provider_name: str | None = None
    subject_token_type: Literal["urn:ietf:params:oauth:token-type:id_token"] | None = None


class MCPExternalAuthConfigSpec(CRDModel):
    """One outgoing-auth strategy: ``type`` names it, the field of that name configures it."""

    type: ExternalAuthType
    token_exchange: TokenExchangeConfig | None = None
    header_injection: HeaderInjectionConfig | None = None
    bearer_token: BearerTokenConfig | None = None
    embedded_auth_server: EmbeddedAuthServerConfig | None = None
    aws_sts: AWSStsConfig | None = None
    upstream_inject: UpstreamInjectSpec | None = None
    obo: OBOConfig | None = None
    xaa: XAASpec | None = None

    @model_validator(mode="after")
    def _config_matches_type(self) -> Self:
        # Go's CEL rules (not run by Kubernetes 1.20), with Go's messages.
        configured = [t for t in _TYPE_FIELDS if getattr(self, _TYPE_FIELDS[t]) is not None]
        if self.type == "unauthenticated" and configured:
            raise ValueError("no configuration must be set when type is 'unauthenticated'")
        for kind in _TYPE_FIELDS:
            if (self.type == kind) != (kind in configured):
                msg = f"{kind} configuration must be set if and only if type is '{kind}'"
                raise ValueError(msg)
        return self


# type -> the field configuring it (the JSON name is the type's name).
_TYPE_FIELDS = {
    t: "".join("_" + c.lower() if c.isupper() else c for c in t)
    for t in get_args(ExternalAuthType)
    if t != "unauthenticated"
}


class MCPExternalAuthConfigStatus(ConfigStatus):
    """Status of an MCPExternalAuthConfig."""


class MCPExternalAuthConfig(CustomResource):
    """How a workload authenticates to what it calls (``spec.externalAuthConfigRef``)."""

    crd: ClassVar[CRDNames] = CRDNames(
        plural="mcpexternalauthconfigs",
        singular="mcpexternalauthconfig",
        short_names=("extauth", "mcpextauth"),
        printer_columns=(PrinterColumn("Type", ".spec.type"), VALID_COLUMN, age_column()),
    )

    kind: Literal["MCPExternalAuthConfig"] = "MCPExternalAuthConfig"
    spec: MCPExternalAuthConfigSpec
    status: MCPExternalAuthConfigStatus | None = None
