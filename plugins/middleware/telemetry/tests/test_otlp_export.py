"""OTLP/HTTP export to a receiver in the test: a small HTTP server on 127.0.0.1 that accepts
``/v1/traces`` and ``/v1/metrics`` (under an optional base path, as ToolHive's endpoint form allows)
and decodes the protobuf bodies with ``opentelemetry-proto``."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from telemetry_harness import WORKLOAD, Receiver, attrs, otlp_receiver, telemetry_proxy
from toolhive.testing.mcp_servers import echo_session

pytestmark = pytest.mark.timeout(120)


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
