"""MCPTelemetryConfig: OpenTelemetry and Prometheus settings shared by workloads.

A workload references it with ``spec.telemetryConfigRef`` (name + its own service name); the
operator resolves both into the RunConfig's ``telemetry_config``.
"""

from __future__ import annotations

from typing import ClassVar, Literal, Self

from pydantic import Field, model_validator

from .common import CRDModel, CRDNames, CustomResource, PrinterColumn, SecretKeyRef, age_column
from .config_objects import VALID_COLUMN, ConfigStatus
from .oidc_config import CABundleSource


class SensitiveHeader(CRDModel):
    """An OTLP header whose value is in a Secret."""

    name: str = Field(min_length=1)
    secret_key_ref: SecretKeyRef


class OpenTelemetryMetricsConfig(CRDModel):
    enabled: bool = False


class OpenTelemetryTracingConfig(CRDModel):
    enabled: bool = False
    sampling_rate: str = Field(default="0.05", pattern=r"^(0(\.\d+)?|1(\.0+)?)$")
    """Ratio of traces sampled, 0..1, as a string."""


class MCPTelemetryOTelConfig(CRDModel):
    """OTLP export (the service name is each workload's, from its ref)."""

    enabled: bool = False
    endpoint: str | None = None
    insecure: bool = False
    """OTLP over http:// instead of https://."""
    headers: dict[str, str] | None = None
    sensitive_headers: list[SensitiveHeader] | None = None
    resource_attributes: dict[str, str] | None = None
    metrics: OpenTelemetryMetricsConfig | None = None
    tracing: OpenTelemetryTracingConfig | None = None
    use_legacy_attributes: bool = True
    ca_bundle_ref: CABundleSource | None = None

    @model_validator(mode="after")
    def _headers_disjoint(self) -> Self:
        # Go's CEL rule, with Go's message.
        overlap = {h.name for h in self.sensitive_headers or []} & set(self.headers or {})
        if overlap:
            raise ValueError("a header name cannot appear in both headers and sensitiveHeaders")
        return self


class PrometheusConfig(CRDModel):
    enabled: bool = False
    """Serve /metrics on the proxy."""


class MCPTelemetryConfigSpec(CRDModel):
    open_telemetry: MCPTelemetryOTelConfig | None = None
    prometheus: PrometheusConfig | None = None


class MCPTelemetryConfigStatus(ConfigStatus):
    """Status of an MCPTelemetryConfig."""


class MCPTelemetryConfig(CustomResource):
    """Telemetry shared by workloads (``spec.telemetryConfigRef``)."""

    crd: ClassVar[CRDNames] = CRDNames(
        plural="mcptelemetryconfigs",
        singular="mcptelemetryconfig",
        short_names=("mcpotel",),
        printer_columns=(
            PrinterColumn("Endpoint", ".spec.openTelemetry.endpoint"),
            VALID_COLUMN,
            PrinterColumn("Tracing", ".spec.openTelemetry.tracing.enabled", "boolean"),
            PrinterColumn("Metrics", ".spec.openTelemetry.metrics.enabled", "boolean"),
            age_column(),
        ),
    )

    kind: Literal["MCPTelemetryConfig"] = "MCPTelemetryConfig"
    spec: MCPTelemetryConfigSpec = Field(default_factory=MCPTelemetryConfigSpec)
    status: MCPTelemetryConfigStatus | None = None
