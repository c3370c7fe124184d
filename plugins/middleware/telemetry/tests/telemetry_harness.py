"""A workload's proxy with the telemetry middleware, for the tests: the chain the supervisor builds
from a RunConfig's ``telemetry_config`` (mcp-parser > telemetry > recovery, from the installed
plugin) in front of the stdio bridge and the real echo MCP server, ``/metrics`` mounted beside
``/health`` as the supervisor mounts it; the tests' in-memory span processor and metric reader
are added to the workload's own providers.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.sdk.metrics.export import MetricReader
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from toolhive.contracts.middleware import ASGIApp, MiddlewareContext
from toolhive.testing.mcp_servers import served, stdio_echo_server
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
    routes: dict[str, ASGIApp] = field(default_factory=dict)

    @property
    def mcp(self) -> str:
        return f"{self.base}/mcp"

    def spans(self) -> list[ReadableSpan]:
        return list(self.spans_exporter.get_finished_spans())

    def points(self, name: str) -> list[Any]:
        """Every data point of metric ``name`` (one per attribute set), collected now."""
        data = self.reader.get_metrics_data()
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

    def resource(self) -> dict[str, Any]:
        data = self.reader.get_metrics_data()
        assert data is not None
        return dict(data.resource_metrics[0].resource.attributes)


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
    """Serve the workload's proxy (the echo server over stdio); yield it."""
    from toolhive.contracts.transport import TransportOptions
    from toolhive.middleware.chain import checked_chain, mounter, wrappers
    from toolhive.models.runconfig import RunConfig
    from toolhive.proxy.app import build_proxy_app
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
    chain = checked_chain(config, hooks.middleware())
    assert [item.entry.type for item in chain] == ["mcp-parser", "telemetry", "recovery"]
    routes: dict[str, ASGIApp] = {}
    context = MiddlewareContext(
        workload=workload,
        transport="stdio",
        proxy_mode=proxy_mode,
        url="http://127.0.0.1/mcp",
        mount=mounter(routes),
    )
    telemetry_entry = chain[1]
    telemetry_config_model = telemetry_entry.config
    if parameters is not None:
        telemetry_config_model = telemetry_entry.spec.config_model.model_validate(parameters)
    exporter = InMemorySpanExporter()
    reader = InMemoryReader()
    built: list[TelemetryMiddleware] = []

    def telemetry(app: ASGIApp) -> ASGIApp:
        middleware = build(
            app,
            telemetry_config_model,
            context,
            span_processors=[SimpleSpanProcessor(exporter), *span_processors],
            metric_readers=[reader, *metric_readers],
        )
        built.append(middleware)
        return middleware

    outer, _, inner = wrappers(chain, context)
    stdio_bridge = hooks.load("transports", "stdio")
    async with stdio_echo_server() as server:
        bridge = stdio_bridge(
            TransportOptions(workload=workload, stdio=server.channel, proxy_mode=proxy_mode)
        )
        await bridge.start()
        try:
            app = build_proxy_app(
                bridge,
                transport_name="stdio",
                middleware=[outer, telemetry, inner],
                health_interval=0.0,
                manage_lifespan=False,
                routes=routes,
            )
            async with served(app) as base:
                (middleware,) = built
                try:
                    yield Proxy(base, middleware, exporter, reader, routes)
                finally:
                    middleware.shutdown()
        finally:
            await bridge.aclose()
