"""One workload's OpenTelemetry providers, built from ToolHive's ``telemetry.Config``.

As ToolHive's ``providers.NewCompositeProvider``: a tracer provider only when spans go somewhere
(an OTLP endpoint with tracing on), sampled as ``ParentBased(TraceIdRatioBased(samplingRate))`` and
batched to an OTLP/HTTP exporter; a meter provider only when metrics go somewhere (OTLP metrics,
Prometheus ``/metrics``), with one reader per destination. Nothing is installed as the process-wide
global: each workload start gets its own providers and its own Prometheus ``CollectorRegistry``,
so several chains in one process (tests, a host running many proxies) never see each other's
series. Imported only when a workload using telemetry starts.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from opentelemetry.sdk.metrics import AlwaysOffExemplarFilter, MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, ParentBased
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from toolhive_middleware_telemetry.histograms import (
    HistogramStore,
    PeriodicReader,
    attach,
    prometheus_reader,
)

if TYPE_CHECKING:
    from opentelemetry.metrics import Meter
    from opentelemetry.trace import Tracer
    from prometheus_client import CollectorRegistry
    from toolhive.contracts.middleware import ASGIApp

    from toolhive_middleware_telemetry import TelemetryConfig

#: ToolHive's instrumentation scope, so dashboards keyed on otel_scope_name keep working.
INSTRUMENTATION_NAME = "github.com/stacklok/toolhive/pkg/telemetry"
TRACES_PATH = "/v1/traces"
METRICS_PATH = "/v1/metrics"


@dataclass
class Providers:
    """What the middleware records through; ``None`` where that signal goes nowhere."""

    tracer: Tracer | None = None
    meter: Meter | None = None
    #: The ``/metrics`` app over this workload's own registry (Prometheus text format).
    prometheus_app: ASGIApp | None = None
    registry: CollectorRegistry | None = None
    #: Where the middleware aggregates its duration histograms (``None`` without a meter).
    histograms: HistogramStore | None = None
    _shutdowns: list[Callable[[], object]] = field(default_factory=list)
    _flushes: list[Callable[[], object]] = field(default_factory=list)

    def force_flush(self) -> None:
        """Export what is pending now (spans batched, metrics since the last period)."""
        for flush in self._flushes:
            flush()

    def shutdown(self) -> None:
        """Flush and stop the exporters (also done at interpreter exit)."""
        for stop in self._shutdowns:
            stop()
        self._shutdowns.clear()
        self._flushes.clear()


def otlp_url(endpoint: str, insecure: bool, path: str) -> str:
    """ToolHive's endpoint form: ``host[:port][/base]``, scheme from ``insecure``; the signal's path
    goes after the base path (what Langfuse and LangSmith need). An explicit ``http://`` is kept
    (ToolHive would try https there and fail)."""
    scheme = "http" if insecure else "https"
    for prefix in ("https://", "http://"):
        if endpoint.startswith(prefix):
            if prefix == "http://":
                scheme = "http"
            endpoint = endpoint[len(prefix) :]
            break
    host, slash, base = endpoint.partition("/")
    base = ("/" + base).rstrip("/") if slash else ""
    return f"{scheme}://{host}{base}{path}"


def service_version() -> str:
    from toolhive import contracts

    return str(contracts.__version__)


def make_resource(config: TelemetryConfig, server_name: str) -> Resource:
    from toolhive_middleware_telemetry import SERVICE_NAME_PREFIX

    attributes: dict[str, str] = {
        "host.name": socket.gethostname(),
        **config.custom_attributes,
        "service.name": config.service_name or SERVICE_NAME_PREFIX + server_name,
        "service.version": config.service_version or service_version(),
    }
    # Resource.create adds the SDK's attributes and OTEL_RESOURCE_ATTRIBUTES from the environment.
    return Resource.create(attributes)


def build_providers(
    config: TelemetryConfig,
    *,
    server_name: str,
    span_processors: Sequence[SpanProcessor] = (),
    metric_readers: Sequence[MetricReader] = (),
) -> Providers:
    """This workload's providers. ``span_processors`` and ``metric_readers`` are extra
    destinations (in-memory ones in tests); spans still need ``tracingEnabled``, and a metric
    reader must be a :class:`~toolhive_middleware_telemetry.histograms.MergingReader`."""
    out = Providers()
    resource = make_resource(config, server_name)
    headers = dict(config.headers)
    certificate = config.ca_cert_path or None
    version = service_version()

    if config.tracing_enabled and (config.endpoint or span_processors):
        # Roots are sampled at samplingRate by the middleware itself, before any SDK call (a
        # sampled-out request then costs nothing); what reaches the SDK is kept, unless a parent
        # says otherwise. Together: ToolHive's ParentBased(TraceIdRatioBased(samplingRate)).
        tracer_provider = TracerProvider(resource=resource, sampler=ParentBased(ALWAYS_ON))
        if config.endpoint:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            exporter = OTLPSpanExporter(
                endpoint=otlp_url(config.endpoint, config.insecure, TRACES_PATH),
                headers=headers,
                certificate_file=certificate,
            )
            tracer_provider.add_span_processor(BatchSpanProcessor(exporter))
        for processor in span_processors:
            tracer_provider.add_span_processor(processor)
        out.tracer = tracer_provider.get_tracer(INSTRUMENTATION_NAME, version)
        out._flushes.append(tracer_provider.force_flush)
        out._shutdowns.append(tracer_provider.shutdown)

    readers: list[MetricReader] = []
    if config.otlp_metrics:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

        readers.append(
            PeriodicReader(
                OTLPMetricExporter(
                    endpoint=otlp_url(config.endpoint, config.insecure, METRICS_PATH),
                    headers=headers,
                    certificate_file=certificate,
                )
            )
        )
    if config.enable_prometheus_metrics_path:
        from prometheus_client import (
            CollectorRegistry,
            GCCollector,
            PlatformCollector,
            ProcessCollector,
            make_asgi_app,
        )

        registry = CollectorRegistry()
        # The proxy process's own health beside the MCP series (ToolHive adds Go's collectors).
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
        GCCollector(registry=registry)
        readers.append(prometheus_reader(registry))
        out.registry = registry
        out.prometheus_app = make_asgi_app(registry)
    readers.extend(metric_readers)
    if readers:
        out.histograms = HistogramStore(InstrumentationScope(INSTRUMENTATION_NAME, version))
        attach(readers, out.histograms)
        # No exemplars: looking up the current span for each measurement costs more than the
        # histograms' own aggregation, and ToolHive records none either.
        meter_provider = MeterProvider(
            resource=resource, metric_readers=readers, exemplar_filter=AlwaysOffExemplarFilter()
        )
        out.meter = meter_provider.get_meter(INSTRUMENTATION_NAME, version)
        out._flushes.append(meter_provider.force_flush)
        out._shutdowns.append(meter_provider.shutdown)
    return out
