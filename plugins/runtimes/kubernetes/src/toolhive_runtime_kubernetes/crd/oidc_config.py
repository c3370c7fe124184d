"""MCPOIDCConfig: how a workload validates incoming bearer tokens, shared by workloads.

A workload references it with ``spec.oidcConfigRef`` (name + its own audience, scopes and
resource URL); the operator resolves both into the RunConfig's ``oidc_config``.
"""

from __future__ import annotations

from typing import ClassVar, Literal, Self

from pydantic import Field, model_validator

from .common import CRDModel, CRDNames, CustomResource, PrinterColumn, SecretKeyRef, age_column
from .config_objects import VALID_COLUMN, ConfigStatus


class ConfigMapKeySelector(CRDModel):
    """corev1.ConfigMapKeySelector."""

    name: str | None = None  # Go: default "" (Kubernetes 1.20 refuses it; absent means the same)
    key: str
    optional: bool | None = None


class CABundleSource(CRDModel):
    """A CA certificate bundle in a ConfigMap."""

    config_map_ref: ConfigMapKeySelector | None = None


class KubernetesServiceAccountOIDCConfig(CRDModel):
    """Validate Kubernetes service account tokens (the API server is the issuer)."""

    service_account: str | None = None
    namespace: str | None = None
    issuer: str = "https://kubernetes.default.svc"
    jwks_url: str | None = None
    """Unset: found by OIDC discovery."""
    introspection_url: str | None = None
    use_cluster_auth: bool | None = None
    """Trust the cluster CA and send the pod's token on discovery/JWKS requests (default true)."""


class InlineOIDCSharedConfig(CRDModel):
    """An OIDC issuer given directly (audience and scopes come from each workload's ref)."""

    issuer: str
    jwks_url: str | None = None
    introspection_url: str | None = None
    client_id: str | None = None
    client_secret_ref: SecretKeyRef | None = None
    """Reaches the proxy as an env var from the Secret, never in the RunConfig."""
    ca_bundle_ref: CABundleSource | None = None
    jwks_auth_token_path: str | None = None
    jwks_allow_private_ip: bool = Field(default=False, alias="jwksAllowPrivateIP")
    protected_resource_allow_private_ip: bool = Field(
        default=False, alias="protectedResourceAllowPrivateIP"
    )
    insecure_allow_http: bool = Field(default=False, alias="insecureAllowHTTP")
    """Accept http:// issuer and JWKS URLs (development only)."""


class MCPOIDCConfigSpec(CRDModel):
    """One OIDC source: ``type`` names it, the field of that name configures it."""

    type: Literal["kubernetesServiceAccount", "inline"]
    kubernetes_service_account: KubernetesServiceAccountOIDCConfig | None = None
    inline: InlineOIDCSharedConfig | None = None

    @model_validator(mode="after")
    def _config_matches_type(self) -> Self:
        # Go's CEL rules (not run by Kubernetes 1.20), with Go's messages.
        if (self.type == "kubernetesServiceAccount") != self.is_set("kubernetes_service_account"):
            raise ValueError(
                "kubernetesServiceAccount must be set when type is 'kubernetesServiceAccount', "
                "and must not be set otherwise"
            )
        if (self.type == "inline") != self.is_set("inline"):
            raise ValueError(
                "inline must be set when type is 'inline', and must not be set otherwise"
            )
        return self


class MCPOIDCConfigStatus(ConfigStatus):
    """Status of an MCPOIDCConfig."""


class MCPOIDCConfig(CustomResource):
    """Incoming token validation shared by workloads (``spec.oidcConfigRef``)."""

    crd: ClassVar[CRDNames] = CRDNames(
        plural="mcpoidcconfigs",
        singular="mcpoidcconfig",
        short_names=("mcpoidc",),
        printer_columns=(PrinterColumn("Source", ".spec.type"), VALID_COLUMN, age_column()),
    )

    kind: Literal["MCPOIDCConfig"] = "MCPOIDCConfig"
    spec: MCPOIDCConfigSpec
    status: MCPOIDCConfigStatus | None = None
