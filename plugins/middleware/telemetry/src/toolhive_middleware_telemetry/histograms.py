"""The two duration histograms, aggregated in the middleware and handed to the SDK's readers.

Why not the SDK's synchronous ``Histogram.record``: with ToolHive's seven labels it costs about
25 µs per call here (each measurement's attributes are validated, copied, sorted and hashed), and
every request records two. The OpenTelemetry API has no asynchronous histogram, so the
aggregation (a ``bisect`` and a few increments per request) lives here instead. At each
collection, :class:`MergingReader` adds the resulting cumulative ``HistogramDataPoint`` objects to
what the SDK collected, in the SDK's own data model. From there the SDK's exporters take over:
Prometheus text, OTLP protobuf, or in memory for the tests. The counters do not need this; they
go through the API's asynchronous instruments (see ``middleware.py``).
"""

from __future__ import annotations

import math
import time
from bisect import bisect_left
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any

from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    Histogram,
    HistogramDataPoint,
    InMemoryMetricReader,
    Metric,
    MetricReader,
    MetricsData,
    PeriodicExportingMetricReader,
    ResourceMetrics,
    ScopeMetrics,
)
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

#: The MCP semantic conventions' bucket boundaries (seconds) for mcp.server.operation.duration;
#: ToolHive uses them for toolhive_mcp_request_duration too.
MCP_BUCKETS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
#: Distinct label sets kept per instrument before new ones go to the overflow series: with it,
#: 2000 in all, the SDK's default cardinality limit (past which it would add its own overflow
#: point, whose only label is otel.metric.overflow).
MAX_SERIES = 1999
OVERFLOW = "_overflow"

_N = len(MCP_BUCKETS) + 1  # bucket counts; then sum, min, max
_SUM, _MIN, _MAX = _N, _N + 1, _N + 2


class DurationHistogram:
    """A cumulative explicit-bucket histogram keyed by a hashable label key.

    ``attributes(key)`` turns a key into the point's attributes when a reader collects.
    ``overflow`` is the key that takes new label sets once ``MAX_SERIES`` others are held.
    """

    def __init__(
        self,
        name: str,
        description: str,
        attributes: Callable[[Any], Mapping[str, str]],
        overflow: Hashable,
    ) -> None:
        self.name = name
        self.description = description
        self.attributes = attributes
        self.overflow = overflow
        self.points: dict[Hashable, list[float]] = {}
        self.start = time.time_ns()

    def record(self, key: Hashable, seconds: float) -> None:
        point = self.points.get(key)
        if point is None:
            if len(self.points) >= MAX_SERIES:
                key = self.overflow
                point = self.points.get(key)
            if point is None:
                point = self.points[key] = [0] * _N + [0.0, math.inf, -math.inf]
        point[bisect_left(MCP_BUCKETS, seconds)] += 1
        point[_SUM] += seconds
        if seconds < point[_MIN]:
            point[_MIN] = seconds
        if seconds > point[_MAX]:
            point[_MAX] = seconds

    def metric(self, now: int) -> Metric | None:
        points = []
        # list() copies in one step under the GIL; the event loop may add keys meanwhile.
        for key, values in list(self.points.items()):
            snapshot = list(values)
            counts = [int(c) for c in snapshot[:_N]]
            points.append(
                HistogramDataPoint(
                    attributes=dict(self.attributes(key)),
                    start_time_unix_nano=self.start,
                    time_unix_nano=now,
                    count=sum(counts),
                    sum=snapshot[_SUM],
                    bucket_counts=counts,
                    explicit_bounds=MCP_BUCKETS,
                    min=snapshot[_MIN],
                    max=snapshot[_MAX],
                )
            )
        if not points:
            return None
        return Metric(
            name=self.name,
            description=self.description,
            unit="s",
            data=Histogram(
                data_points=points, aggregation_temporality=AggregationTemporality.CUMULATIVE
            ),
        )


class HistogramStore:
    """A workload's aggregated histograms, under its instrumentation scope."""

    def __init__(self, scope: InstrumentationScope) -> None:
        self.scope = scope
        self.histograms: list[DurationHistogram] = []

    def add(self, histogram: DurationHistogram) -> DurationHistogram:
        self.histograms.append(histogram)
        return histogram

    def merge(self, data: MetricsData) -> MetricsData:
        """``data`` with this store's histograms added to its scope (created if absent)."""
        now = time.time_ns()
        extra = [m for h in self.histograms if (m := h.metric(now)) is not None]
        if not extra or not data.resource_metrics:
            return data
        first, *rest = data.resource_metrics
        scopes: list[ScopeMetrics] = []
        merged = False
        for sm in first.scope_metrics:
            if not merged and sm.scope.name == self.scope.name:
                sm = ScopeMetrics(sm.scope, [*sm.metrics, *extra], sm.schema_url)
                merged = True
            scopes.append(sm)
        if not merged:
            scopes.append(ScopeMetrics(self.scope, extra, self.scope.schema_url or ""))
        return MetricsData([ResourceMetrics(first.resource, scopes, first.schema_url), *rest])


class MergingReader(MetricReader):
    """A reader whose collections include a :class:`HistogramStore`'s histograms."""

    store: HistogramStore | None = None

    def _receive_metrics(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
    ) -> None:
        if self.store is not None:
            metrics_data = self.store.merge(metrics_data)
        super()._receive_metrics(metrics_data, timeout_millis=timeout_millis, **kwargs)  # type: ignore[safe-super]


class PeriodicReader(MergingReader, PeriodicExportingMetricReader):
    """OTLP export every 60 s (the SDK's default period, like ToolHive's)."""


class InMemoryReader(MergingReader, InMemoryMetricReader):
    """What the tests read metrics with."""


def prometheus_reader(registry: Any) -> MergingReader:
    """A Prometheus reader into ``registry`` (the exporter is imported only when asked for)."""
    from opentelemetry.exporter.prometheus import PrometheusMetricReader

    class PrometheusReader(MergingReader, PrometheusMetricReader):
        pass

    return PrometheusReader(registry=registry)


def attach(readers: Sequence[MetricReader], store: HistogramStore) -> None:
    for reader in readers:
        if not isinstance(reader, MergingReader):
            msg = (
                f"{type(reader).__name__} would miss the duration histograms: use a "
                "toolhive_middleware_telemetry.histograms reader (InMemoryReader …)"
            )
            raise TypeError(msg)
        reader.store = store
