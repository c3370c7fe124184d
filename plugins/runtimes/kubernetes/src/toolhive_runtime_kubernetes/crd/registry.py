"""MCPRegistry: a registry API server (``/v0.1/servers``) configured by a registry-server YAML."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from .common import (
    FREE_FORM,
    Condition,
    CRDModel,
    CRDNames,
    CustomResource,
    Int32,
    Int64,
    LocalObjectReference,
    PrinterColumn,
    SecretKeySelector,
    age_column,
    free_form,
    ready_column,
)

MCPRegistryPhase = Literal["Pending", "Ready", "Failed", "Terminating"]


class MCPRegistrySpec(CRDModel):
    """The registry server's configuration, written verbatim into its ConfigMap."""

    config_yaml: str = Field(alias="configYAML", min_length=1)
    """The registry server's config.yaml (sources, registries, sync policy, auth …)."""
    volumes: list[dict[str, Any]] | None = Field(
        default=None, json_schema_extra={"items": {"type": "object", **FREE_FORM}}
    )
    """corev1.Volume objects added to the registry pod."""
    volume_mounts: list[dict[str, Any]] | None = Field(
        default=None, json_schema_extra={"items": {"type": "object", **FREE_FORM}}
    )
    """corev1.VolumeMount objects added to the registry container."""
    pgpass_secret_ref: SecretKeySelector | None = None
    display_name: str | None = None
    pod_template_spec: dict[str, Any] | None = free_form(
        "A PodTemplateSpec merged into the registry server's pod."
    )
    image_pull_secrets: list[LocalObjectReference] | None = None


class MCPRegistryStatus(CRDModel):
    """What the operator observed."""

    conditions: list[Condition] | None = None
    observed_generation: Int64 | None = None
    phase: MCPRegistryPhase | None = None
    message: str | None = None
    url: str | None = None
    ready_replicas: Int32 | None = None


class MCPRegistry(CustomResource):
    """A registry API served in the cluster."""

    crd: ClassVar[CRDNames] = CRDNames(
        plural="mcpregistries",
        singular="mcpregistry",
        short_names=("mcpreg", "registry"),
        printer_columns=(
            PrinterColumn("Status", ".status.phase"),
            ready_column(),
            PrinterColumn("Replicas", ".status.readyReplicas", "integer"),
            PrinterColumn("URL", ".status.url"),
            age_column(),
        ),
    )

    kind: Literal["MCPRegistry"] = "MCPRegistry"
    spec: MCPRegistrySpec
    status: MCPRegistryStatus | None = None
