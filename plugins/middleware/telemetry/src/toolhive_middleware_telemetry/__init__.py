"""toolhive-middleware-telemetry: OpenTelemetry spans and metrics for a workload's MCP traffic.

ToolHive's ``telemetry`` middleware type. Its entry's ``parameters`` are what ToolHive writes
(``{"config": <telemetry.Config>, "server_name": …, "transport": …}``), built by core from a
RunConfig's ``telemetry_config`` (the ``--otel-*`` flags). It sits inside ``mcp-parser`` and
records, per request, a server span named ``"{mcp.method.name} {target}"`` (exported over OTLP/HTTP)
and ToolHive's metrics plus the OpenTelemetry MCP semantic conventions' ``mcp.server.operation.duration``
(exported over OTLP and/or served for Prometheus at ``/metrics`` on the proxy's port).

This module is the plugin's entry point. Every ``thv`` command imports it, so it only declares
the configuration and imports nothing but ``toolhive.contracts`` and pydantic; the OpenTelemetry
SDK and exporters are imported by :func:`factory`, when a workload that uses telemetry starts.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from toolhive.contracts import MiddlewareParameters, MiddlewareSpec, hookimpl

if TYPE_CHECKING:
    from toolhive.contracts import MiddlewareContext
    from toolhive.contracts.middleware import ASGIApp

__all__ = ["TelemetryConfig", "TelemetryParameters", "factory", "thv_middleware"]

#: ToolHive derives the service name from the workload: ``thv-<name>`` (``ResolveServiceName``).
SERVICE_NAME_PREFIX = "thv-"


class TelemetryConfig(BaseModel):
    """ToolHive's ``telemetry.Config`` (``pkg/telemetry/config.go``) under its JSON names.

    What a RunConfig's ``telemetry_config`` holds, whether ``thv run --otel-*`` here or ToolHive's
    own ``thv export`` wrote it. Unknown keys are refused.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, validate_by_name=True)

    endpoint: str = Field(
        "", description="OTLP/HTTP collector, host[:port][/base-path] (scheme per `insecure`)."
    )
    service_name: str = Field(
        "", alias="serviceName", description="Default: thv-<workload> (ToolHive's CLI default)."
    )
    service_version: str = Field(
        "", alias="serviceVersion", description="Default: the running ToolHive's version."
    )
    tracing_enabled: bool = Field(False, alias="tracingEnabled")
    metrics_enabled: bool = Field(False, alias="metricsEnabled")
    sampling_rate: str = Field(
        "", alias="samplingRate", description='Trace sampling ratio 0..1 as a string ("0.05").'
    )
    headers: dict[str, str] = Field(default_factory=dict, description="Sent with OTLP requests.")
    insecure: bool = Field(False, description="OTLP over http:// instead of https://.")
    enable_prometheus_metrics_path: bool = Field(False, alias="enablePrometheusMetricsPath")
    #: ToolHive ≥ 2026-08 serves /metrics on a separate diagnostics port; here /metrics is on the
    #: proxy's own port. Accepted so its exports load; see the README.
    prometheus_port: int = Field(0, alias="prometheusPort", ge=0, le=65535)
    metrics_on_transport_port: bool | None = Field(None, alias="metricsOnTransportPort")
    environment_variables: list[str] = Field(
        default_factory=list,
        alias="environmentVariables",
        description="Host variables recorded on every span as environment.<NAME>.",
    )
    custom_attributes: dict[str, str] = Field(
        default_factory=dict,
        alias="customAttributes",
        description="Resource attributes on every span and metric.",
    )
    use_legacy_attributes: bool = Field(
        True,
        alias="useLegacyAttributes",
        description="Also emit the pre-semconv span attribute names (ToolHive's default: true).",
    )
    ca_cert_path: str = Field("", alias="caCertPath", description="CA bundle for the collector.")

    @field_validator("sampling_rate")
    @classmethod
    def _a_ratio(cls, value: str) -> str:
        if value.strip() == "":
            return ""
        try:
            rate = float(value)
        except ValueError:
            msg = f"samplingRate must be a number between 0 and 1, got {value!r}"
            raise ValueError(msg) from None
        if not (0.0 <= rate <= 1.0) or math.isnan(rate):
            msg = f"samplingRate must be between 0 and 1, got {value!r}"
            raise ValueError(msg)
        return value

    @model_validator(mode="after")
    def _something_to_send(self) -> TelemetryConfig:
        # ToolHive's validateOtelConfig.
        if self.endpoint and not (self.tracing_enabled or self.metrics_enabled):
            msg = (
                "an OTLP endpoint is configured but both tracing and metrics are disabled; "
                "enable tracingEnabled or metricsEnabled, or remove the endpoint"
            )
            raise ValueError(msg)
        if self.enable_prometheus_metrics_path and self.metrics_on_transport_port is False:
            msg = (
                "metricsOnTransportPort is false, but this proxy serves /metrics only on its "
                "own port (no separate diagnostics listener)"
            )
            raise ValueError(msg)
        return self

    @property
    def sampling_ratio(self) -> float:
        """The sampling rate as a float; ToolHive reads an empty rate as 0."""
        return float(self.sampling_rate) if self.sampling_rate else 0.0

    @property
    def tracing(self) -> bool:
        """Spans are exported: an endpoint with tracing on."""
        return bool(self.endpoint) and self.tracing_enabled

    @property
    def otlp_metrics(self) -> bool:
        return bool(self.endpoint) and self.metrics_enabled


class TelemetryParameters(MiddlewareParameters):
    """The ``parameters`` of a ``{"type": "telemetry", "parameters": {...}}`` entry, as ToolHive's
    ``FactoryMiddlewareParams``; ``config`` is required (ToolHive refuses an entry without it).

    ``server_name`` and ``transport`` label every metric; when empty the workload's own name and
    transport are used, so no series ever carries an empty ``server`` or ``transport``.
    """

    config: TelemetryConfig
    server_name: str = ""
    transport: str = ""


def factory(app: ASGIApp, parameters: TelemetryParameters, context: MiddlewareContext) -> ASGIApp:
    """Build this workload's own tracer and meter providers (and Prometheus registry) and wrap
    ``app``; called once each time a workload using it starts."""
    from toolhive_middleware_telemetry.middleware import build

    return build(app, parameters, context)


@hookimpl
def thv_middleware() -> list[MiddlewareSpec[TelemetryParameters]]:
    return [
        MiddlewareSpec(
            name="telemetry",
            description=(
                "OpenTelemetry spans and metrics (OTLP/HTTP, Prometheus /metrics) for MCP requests"
            ),
            config_model=TelemetryParameters,
            factory=factory,
        )
    ]
