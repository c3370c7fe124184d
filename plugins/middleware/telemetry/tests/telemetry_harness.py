"""A workload's proxy with the telemetry middleware, for the tests: the chain the supervisor builds
from a RunConfig's ``telemetry_config`` (mcp-parser > telemetry > recovery, from the installed
plugin, served by ``toolhive.testing.chains.workload_proxy``) in front of the stdio bridge and the
real echo MCP server, ``/metrics`` mounted beside ``/health`` as the supervisor mounts it; the tests' in-memory span processor and metric reader
are added to the workload's own providers. And an OTLP/HTTP receiver: a small HTTP server on
127.0.0.1 accepting ``/v1/traces`` and ``/v1/metrics``, decoding them with ``opentelemetry-proto``.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from opentelemetry.sdk.metrics.export import MetricReader
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from toolhive.contracts.middleware import ASGIApp, MiddlewareContext
from toolhive_middleware_telemetry.histograms import InMemoryReader
from toolhive_middleware_telemetry.middleware import TelemetryMiddleware, build

WORKLOAD = "echo-telemetry"


@dataclass
class Proxy:
    """A served workload proxy and what its telemetry recorded."""

    base: str
    telemetry: TelemetryMiddleware
    spans_exporter: InMemorySpanExporter
    reader: InMemoryReader

    @property
    def mcp(self) -> str:
        return f"{self.base}/mcp"

    def spans(self) -> list[ReadableSpan]:
        return list(self.spans_exporter.get_finished_spans())

    def points(self, name: str) -> list[Any]:
        """Every data point of metric ``name`` (one per attribute set), collected now."""
        return metric_points(self.reader, name)

    def resource(self) -> dict[str, Any]:
        data = self.reader.get_metrics_data()
        assert data is not None
        return dict(data.resource_metrics[0].resource.attributes)


def metric_points(reader: InMemoryReader, name: str) -> list[Any]:
    """Every data point of metric ``name`` in ``reader`` (one per attribute set), collected now."""
    data = reader.get_metrics_data()
    if data is None:
        return []
    return [
        point
        for rm in data.resource_metrics
        for sm in rm.scope_metrics
        for metric in sm.metrics
        if metric.name == name
        for point in metric.data.data_points
    ]


@contextlib.asynccontextmanager
async def telemetry_proxy(
    telemetry_config: dict[str, Any],
    *,
    workload: str = WORKLOAD,
    proxy_mode: str = "streamable-http",
    parameters: dict[str, Any] | None = None,
    span_processors: Sequence[SpanProcessor] = (),
    metric_readers: Sequence[MetricReader] = (),
) -> AsyncIterator[Proxy]:
    """Serve the workload's proxy (the echo server over stdio); yield it. The telemetry entry is
    built with the tests' exporters (and ``parameters``, when given, instead of the entry's)."""
    from toolhive.models.runconfig import RunConfig
    from toolhive.testing.chains import workload_proxy
    from toolhive.testing.plugin_contract import plugin_hooks_for

    hooks = plugin_hooks_for("middleware-telemetry")
    config = RunConfig(
        name=workload,
        transport="stdio",
        proxy_mode=proxy_mode,
        port=0,
        target_port=0,
        telemetry_config=telemetry_config,
    )
    exporter = InMemorySpanExporter()
    reader = InMemoryReader()
    built: list[TelemetryMiddleware] = []

    def telemetry(app: ASGIApp, entry_config: Any, context: MiddlewareContext) -> ASGIApp:
        if parameters is not None:
            entry_config = type(entry_config).model_validate(parameters)
        middleware = build(
            app,
            entry_config,
            context,
            span_processors=[SimpleSpanProcessor(exporter), *span_processors],
            metric_readers=[reader, *metric_readers],
        )
        built.append(middleware)
        return middleware

    async with workload_proxy(
        hooks, config, proxy_mode=proxy_mode, factories={"telemetry": telemetry}
    ) as proxy:
        assert proxy.chain == ["mcp-parser", "telemetry", "recovery"]
        (middleware,) = built
        try:
            yield Proxy(proxy.base, middleware, exporter, reader)
        finally:
            middleware.shutdown()


@dataclass
class Receiver:
    port: int
    traces: list[ExportTraceServiceRequest] = field(default_factory=list)
    metrics: list[ExportMetricsServiceRequest] = field(default_factory=list)
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)


@contextlib.contextmanager
def otlp_receiver(base_path: str = "") -> Iterator[Receiver]:
    """An OTLP/HTTP protobuf receiver on a free loopback port."""
    receiver = Receiver(0)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            receiver.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
            if self.path == f"{base_path}/v1/traces":
                receiver.traces.append(ExportTraceServiceRequest.FromString(body))
            elif self.path == f"{base_path}/v1/metrics":
                receiver.metrics.append(ExportMetricsServiceRequest.FromString(body))
            else:
                self.send_response(404)
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("content-type", "application/x-protobuf")
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            del format, args

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def attrs(values: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kv in values:
        assert isinstance(kv, KeyValue)
        kind = kv.value.WhichOneof("value")
        out[kv.key] = getattr(kv.value, kind) if kind else None
    return out
