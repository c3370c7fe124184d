"""What every ToolHive custom resource shares: the base model, conditions, references, storage.

Field names, JSON names, enums and defaults are ToolHive's (``cmd/thv-operator/api/v1beta1``);
the Python attribute is the snake_case of Go's JSON name, the alias is the JSON name itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

GROUP = "toolhive.stacklok.dev"
VERSION = "v1beta1"
API_VERSION = f"{GROUP}/{VERSION}"

# A free-form object: kept as written, its schema says x-kubernetes-preserve-unknown-fields.
FREE_FORM: dict[str, Any] = {"x-kubernetes-preserve-unknown-fields": True}
# Marks a defaulted field Go lists as required (the API server defaults it before checking);
# the generator moves it into the parent's ``required``.
REQUIRED_MARK = "x-toolhive-required"


def defaulted(default: Any) -> Any:
    """A field with a default that the CRD still lists as required, as Go's does."""
    return Field(default=default, json_schema_extra={REQUIRED_MARK: True})


# Go's int32 and int64 fields say so in the schema (kubectl explain, clients generated from it).
Int32 = Annotated[int, Field(json_schema_extra={"format": "int32"})]
Int64 = Annotated[int, Field(json_schema_extra={"format": "int64"})]


def free_form(description: str | None = None) -> Any:
    """A free-form object field (``dict[str, Any] | None``) the generator marks preserve-unknown."""
    return Field(default=None, description=description, json_schema_extra=FREE_FORM)


class CRDModel(BaseModel):
    """Base of every spec and status part: Go's camelCase JSON names, unknown fields refused.

    The API server prunes what the CRD schema does not know, so an unknown field here means the
    object did not come through our CRD (or the model lags it): refuse it rather than drop it.
    """

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        use_attribute_docstrings=True,
    )

    def is_set(self, *names: str) -> bool:
        """Whether any of the fields is present (CEL's ``has()``: not None)."""
        return any(getattr(self, n) is not None for n in names)

    def to_json(self) -> dict[str, Any]:
        """The object as the API server stores it: JSON names, unset fields left out."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


@dataclass(frozen=True)
class PrinterColumn:
    """One ``additionalPrinterColumns`` entry (what ``kubectl get`` shows)."""

    name: str
    json_path: str
    type: str = "string"
    description: str | None = None


@dataclass(frozen=True)
class CRDNames:
    """What the CRD says about a kind besides its schema."""

    plural: str
    singular: str
    short_names: tuple[str, ...]
    printer_columns: tuple[PrinterColumn, ...]
    categories: tuple[str, ...] = ("toolhive",)


def ready_column() -> PrinterColumn:
    return PrinterColumn("Ready", ".status.conditions[?(@.type=='Ready')].status")


def age_column(description: str | None = None) -> PrinterColumn:
    return PrinterColumn("Age", ".metadata.creationTimestamp", "date", description)


class CustomResource(CRDModel):
    """A whole object: apiVersion, kind, metadata (free-form, the API server's), spec, status."""

    crd: ClassVar[CRDNames]

    api_version: Literal["toolhive.stacklok.dev/v1beta1"] = Field(
        default="toolhive.stacklok.dev/v1beta1", alias="apiVersion"
    )
    metadata: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def kind_name(cls) -> str:
        return cls.__name__

    @property
    def name(self) -> str:
        return str(self.metadata.get("name", ""))

    @property
    def namespace(self) -> str:
        return str(self.metadata.get("namespace", ""))


class Condition(CRDModel):
    """metav1.Condition: one aspect of the object's state (``Ready``, ``Valid`` …)."""

    type: str = Field(
        max_length=316,
        pattern=r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$",
    )
    status: Literal["True", "False", "Unknown"]
    observed_generation: Int64 | None = Field(default=None, ge=0)
    last_transition_time: str = Field(json_schema_extra={"format": "date-time"})
    """RFC 3339 time the status last changed."""
    reason: str = Field(
        min_length=1, max_length=1024, pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"
    )
    message: str = Field(max_length=32768)


# --- references -------------------------------------------------------------------------------


class SecretKeyRef(CRDModel):
    """A key of a Secret in the object's namespace."""

    name: str
    key: str


class LocalObjectReference(CRDModel):
    """corev1.LocalObjectReference (image pull secrets)."""

    # Go's CRD says default "", which Kubernetes 1.20 refuses ("must be of type string: null");
    # an absent name means the same.
    name: str | None = None


class SecretKeySelector(CRDModel):
    """corev1.SecretKeySelector."""

    name: str | None = None  # Go: default "" (see LocalObjectReference)
    key: str
    optional: bool | None = None


class MCPGroupRef(CRDModel):
    """The MCPGroup a workload belongs to."""

    name: str = Field(min_length=1)


class ToolConfigRef(CRDModel):
    """An MCPToolConfig in the same namespace."""

    name: str


class ExternalAuthConfigRef(CRDModel):
    """An MCPExternalAuthConfig in the same namespace (outgoing auth)."""

    name: str


class WebhookConfigRef(CRDModel):
    """An MCPWebhookConfig in the same namespace."""

    name: str


class AuthServerRef(CRDModel):
    """The embedded authorization server's configuration object."""

    kind: Literal["MCPExternalAuthConfig"] = defaulted("MCPExternalAuthConfig")
    name: str = Field(min_length=1)


class MCPOIDCConfigReference(CRDModel):
    """An MCPOIDCConfig plus what is specific to this workload."""

    name: str = Field(min_length=1)
    audience: str = Field(min_length=1)
    """The audience tokens must carry for this workload."""
    resource_url: str | None = None
    scopes: list[str] | None = None


class MCPAuthzConfigReference(CRDModel):
    """An MCPAuthzConfig in the same namespace."""

    name: str = Field(min_length=1)


class MCPTelemetryConfigReference(CRDModel):
    """An MCPTelemetryConfig in the same namespace."""

    name: str = Field(min_length=1)
    service_name: str | None = None


# --- inline authorization and audit -----------------------------------------------------------


class ConfigMapAuthzRef(CRDModel):
    """Cedar authorization configuration in a ConfigMap."""

    name: str
    key: str = "authz.json"


class InlineAuthzConfig(CRDModel):
    """Cedar policies written in the resource."""

    policies: list[str] = Field(min_length=1)
    entities_json: str = Field(default="[]", alias="entitiesJson")
    primary_upstream_provider: str | None = Field(
        default=None, min_length=1, max_length=63, pattern=r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$"
    )


class AuthzConfigRef(CRDModel):
    """Inline authorization: a ConfigMap's Cedar config or policies written here."""

    type: Literal["configMap", "inline"] = defaulted("configMap")
    config_map: ConfigMapAuthzRef | None = None
    inline: InlineAuthzConfig | None = None
    group_claim_name: str | None = Field(default=None, max_length=253)
    role_claim_name: str | None = Field(default=None, max_length=253)
    group_entity_type: str | None = Field(
        default=None, max_length=63, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$"
    )

    @model_validator(mode="after")
    def _source_matches_type(self) -> Self:
        # Go's CRD checks these with CEL, which Kubernetes 1.20 does not run: checked here.
        if (self.type == "configMap") != self.is_set("config_map"):
            msg = "configMap must be set when type is 'configMap', and must not be set otherwise"
            raise ValueError(msg)
        if (self.type == "inline") != self.is_set("inline"):
            msg = "inline must be set when type is 'inline', and must not be set otherwise"
            raise ValueError(msg)
        return self


def check_authz_exclusive(spec: CRDModel) -> None:
    """authzConfig (inline) and authzConfigRef (shared) are alternatives."""
    if spec.is_set("authz_config") and spec.is_set("authz_config_ref"):
        msg = (
            "authzConfig and authzConfigRef are mutually exclusive; use authzConfigRef to"
            " reference a shared MCPAuthzConfig"
        )
        raise ValueError(msg)


class AuditConfig(CRDModel):
    """Audit logging of MCP requests."""

    enabled: bool = False


# --- deployment shape shared by the workloads --------------------------------------------------


class EnvVar(CRDModel):
    """An environment variable."""

    name: str
    value: str


class ResourceList(CRDModel):
    """CPU and memory quantities (``"500m"``, ``"128Mi"``)."""

    cpu: str | None = None
    memory: str | None = None


class ResourceRequirements(CRDModel):
    """Container resource limits and requests."""

    limits: ResourceList | None = None
    requests: ResourceList | None = None


class ResourceMetadataOverrides(CRDModel):
    """Extra labels and annotations for a created object."""

    annotations: dict[str, str] | None = None
    labels: dict[str, str] | None = None


class ProxyDeploymentOverrides(ResourceMetadataOverrides):
    """What may be changed on the proxy Deployment the operator creates."""

    pod_template_metadata_overrides: ResourceMetadataOverrides | None = None
    env: list[EnvVar] | None = None
    image_pull_secrets: list[LocalObjectReference] | None = None


class ResourceOverrides(CRDModel):
    """Overrides for the proxy Deployment and its Service."""

    proxy_deployment: ProxyDeploymentOverrides | None = None
    proxy_service: ResourceMetadataOverrides | None = None


class SessionStorageConfig(CRDModel):
    """Where MCP sessions live: in the pod's memory, or in Redis to survive replica changes."""

    provider: Literal["memory", "redis"]
    address: str | None = Field(default=None, min_length=1)
    """Redis ``host:port``; required for redis."""
    db: Int32 = Field(default=0, ge=0)
    key_prefix: str | None = None
    password_ref: SecretKeyRef | None = None

    @model_validator(mode="after")
    def _redis_has_address(self) -> Self:
        if self.provider == "redis" and not self.is_set("address"):
            raise ValueError("address is required")
        return self


class RateLimitBucket(CRDModel):
    """A token bucket: ``maxTokens`` refilled every ``refillPeriod`` (a Go duration)."""

    max_tokens: Int32 = Field(ge=1)
    refill_period: str


class ToolRateLimitConfig(CRDModel):
    """A bucket for one tool."""

    name: str = Field(min_length=1)
    shared: RateLimitBucket | None = None
    per_user: RateLimitBucket | None = None

    @model_validator(mode="after")
    def _has_a_bucket(self) -> Self:
        if not self.is_set("shared", "per_user"):
            raise ValueError("at least one of shared or perUser must be configured")
        return self


class RateLimitConfig(CRDModel):
    """Rate limits (needs Redis session storage)."""

    shared: RateLimitBucket | None = None
    per_user: RateLimitBucket | None = None
    tools: list[ToolRateLimitConfig] | None = None

    @model_validator(mode="after")
    def _has_a_limit(self) -> Self:
        if not (self.is_set("shared", "per_user") or self.tools):
            raise ValueError("at least one of shared, perUser, or tools must be configured")
        return self

    def has_per_user(self) -> bool:
        """Whether any limit is per user (which needs authenticated callers)."""
        return self.per_user is not None or any(t.per_user for t in self.tools or ())
