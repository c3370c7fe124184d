"""OTLP/HTTP export to a receiver in the test: a small HTTP server on 127.0.0.1 that accepts
``/v1/traces`` and ``/v1/metrics`` (under an optional base path, as ToolHive's endpoint form allows)
and decodes the protobuf bodies with ``opentelemetry-proto``."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from telemetry_harness import WORKLOAD, telemetry_proxy
from toolhive.testing.mcp_servers import echo_session

pytestmark = pytest.mark.timeout(120)


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


def export_one_session(receiver: Receiver, base_path: str = "") -> None:
    config = {
        "endpoint": f"127.0.0.1:{receiver.port}{base_path}",
        "insecure": True,
        "tracingEnabled": True,
        "metricsEnabled": True,
        "samplingRate": "1",
        "headers": {"x-api-key": "secret-key"},
        "customAttributes": {"deployment": "test"},
    }

    async def go() -> None:
        async with telemetry_proxy(config) as proxy:
            await echo_session(proxy.mcp, text="exported")
            # What the batch span processor and the periodic reader would send on their own
            # schedule (5 s, 60 s), now.
            proxy.telemetry.providers.force_flush()

    asyncio.run(go())


def test_spans_and_metrics_reach_an_otlp_receiver():
    with otlp_receiver() as receiver:
        export_one_session(receiver)

    assert receiver.traces and receiver.metrics
    assert all(headers.get("x-api-key") == "secret-key" for _, headers in receiver.requests)
    assert all(
        headers.get("content-type") == "application/x-protobuf" for _, headers in receiver.requests
    )

    spans = {}
    for request in receiver.traces:
        for rs in request.resource_spans:
            resource = attrs(rs.resource.attributes)
            assert resource["service.name"] == f"thv-{WORKLOAD}"
            assert resource["deployment"] == "test"
            for ss in rs.scope_spans:
                assert ss.scope.name == "github.com/stacklok/toolhive/pkg/telemetry"
                for span in ss.spans:
                    spans[span.name] = attrs(span.attributes)
    assert {"tools/call echo", "tools/call add", "tools/list"} <= set(spans)
    assert spans["tools/call echo"]["gen_ai.tool.name"] == "echo"
    assert spans["tools/call echo"]["mcp.server.name"] == WORKLOAD

    metrics: dict[str, list[dict[str, Any]]] = {}
    for request in receiver.metrics:
        for rm in request.resource_metrics:
            assert attrs(rm.resource.attributes)["service.name"] == f"thv-{WORKLOAD}"
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    kind = metric.WhichOneof("data")
                    points = getattr(metric, kind).data_points
                    metrics.setdefault(metric.name, []).extend(attrs(p.attributes) for p in points)
    assert {
        "toolhive_mcp_requests",
        "toolhive_mcp_request_duration",
        "toolhive_mcp_tool_calls",
        "toolhive_mcp_active_connections",
        "mcp.server.operation.duration",
    } <= set(metrics)
    for labels in metrics["toolhive_mcp_requests"]:
        assert labels["server"] == WORKLOAD and labels["transport"] == "stdio", labels
    assert {"echo", "add"} == {labels["tool"] for labels in metrics["toolhive_mcp_tool_calls"]}


def test_the_endpoint_s_base_path_comes_before_the_signal_path():
    with otlp_receiver("/api/public/otel") as receiver:
        export_one_session(receiver, "/api/public/otel")
    paths = {path for path, _ in receiver.requests}
    assert paths == {"/api/public/otel/v1/traces", "/api/public/otel/v1/metrics"}
    assert receiver.traces and receiver.metrics
