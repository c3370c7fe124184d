"""Spans and metrics of real MCP sessions through a workload's chain (mcp-parser > telemetry >
recovery > stdio bridge > the echo server), read back with the SDK's in-memory span exporter and
metric reader; and ``/metrics`` on the proxy's own port."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from telemetry_harness import WORKLOAD, Proxy, metric_points, telemetry_proxy
from toolhive.contracts.middleware import MiddlewareContext
from toolhive.testing.mcp_servers import echo_session
from toolhive_middleware_telemetry import TelemetryParameters
from toolhive_middleware_telemetry.histograms import MCP_BUCKETS, InMemoryReader
from toolhive_middleware_telemetry.middleware import build

pytestmark = pytest.mark.timeout(120)

TRACED = {"tracingEnabled": True, "samplingRate": "1", "enablePrometheusMetricsPath": True}
ACCEPT = "application/json, text/event-stream"
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
META_PARENT = "00-11111111111111111111111111111111-2222222222222222-01"


def session(config: dict[str, Any], **kw: Any) -> Proxy:
    """Run one SDK client session (initialize, list, echo, add) through the proxy."""

    async def go() -> Proxy:
        async with telemetry_proxy(config, **kw) as proxy:
            result = await echo_session(proxy.mcp, text="traced ✓")
            assert result.echoed == "traced ✓" and result.added == "42"
            proxy.telemetry.providers.force_flush()
            return proxy

    return asyncio.run(go())


def by_name(proxy: Proxy) -> dict[str, Any]:
    return {span.name: span for span in proxy.spans()}


def rpc(
    proxy: Proxy, message: dict[str, Any], headers: dict[str, str] | None = None
) -> httpx.Response:
    """One JSON-RPC POST outside any session (the server answers it with an error; the span is
    made all the same)."""

    async def go() -> httpx.Response:
        async with httpx.AsyncClient(timeout=30) as http:
            return await http.post(
                proxy.mcp, json=message, headers={"accept": ACCEPT, **(headers or {})}
            )

    return asyncio.run(go())


# -- spans --------------------------------------------------------------------------------------


def test_a_tool_call_is_a_server_span_named_after_its_method_and_tool():
    proxy = session(TRACED)
    spans = by_name(proxy)
    assert {"initialize mcp", "notifications/initialized", "tools/list"} <= set(spans)
    assert {"tools/call echo", "tools/call add"} <= set(spans)
    echo = spans["tools/call echo"]
    assert echo.kind is SpanKind.SERVER
    assert echo.status.status_code is StatusCode.OK
    attributes = dict(echo.attributes or {})
    assert attributes["mcp.method.name"] == "tools/call"
    assert attributes["gen_ai.tool.name"] == "echo"
    assert attributes["gen_ai.operation.name"] == "execute_tool"
    assert attributes["gen_ai.tool.call.arguments"] == "text=traced ✓"
    assert attributes["mcp.server.name"] == WORKLOAD
    assert attributes["network.transport"] == "pipe"
    assert attributes["rpc.system.name"] == "jsonrpc"
    assert attributes["jsonrpc.protocol.version"] == "2.0"
    assert attributes["jsonrpc.request.id"].isdigit()
    assert attributes["mcp.session.id"]
    assert attributes["mcp.protocol.version"]
    assert attributes["http.request.method"] == "POST"
    assert attributes["url.path"] == "/mcp"
    assert attributes["http.response.status_code"] == 200
    assert attributes["client.address"] == "127.0.0.1"
    # useLegacyAttributes defaults to true (ToolHive's default): the old names are there too.
    assert attributes["mcp.method"] == "tools/call"
    assert attributes["mcp.tool.name"] == "echo"
    assert attributes["mcp.transport"] == "stdio"
    assert attributes["http.status_code"] == 200
    # The client's name is the initialize span's target.
    assert dict(spans["initialize mcp"].attributes or {})["mcp.client.name"] == "mcp"
    assert "gen_ai.tool.name" not in dict(spans["tools/list"].attributes or {})


def test_the_legacy_attribute_names_are_left_off_when_asked():
    proxy = session({**TRACED, "useLegacyAttributes": False})
    attributes = dict(by_name(proxy)["tools/call echo"].attributes or {})
    assert attributes["gen_ai.tool.name"] == "echo"
    legacy = {"mcp.method", "mcp.tool.name", "mcp.transport", "http.method", "http.status_code"}
    assert not legacy & set(attributes)


def test_host_variables_become_span_attributes_and_custom_attributes_resource_attributes(
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.setenv("DEPLOYMENT_ENV", "staging")
    monkeypatch.delenv("UNSET_VAR_FOR_TELEMETRY", raising=False)
    config = {
        **TRACED,
        "environmentVariables": ["DEPLOYMENT_ENV", "UNSET_VAR_FOR_TELEMETRY"],
        "customAttributes": {"team": "platform", "region": "eu-1"},
    }
    proxy = session(config)
    span = by_name(proxy)["tools/call echo"]
    attributes = dict(span.attributes or {})
    assert attributes["environment.DEPLOYMENT_ENV"] == "staging"
    # Set even when empty, as ToolHive does: "unset" and "empty" read the same.
    assert attributes["environment.UNSET_VAR_FOR_TELEMETRY"] == ""
    resource = dict(span.resource.attributes)
    assert resource["team"] == "platform" and resource["region"] == "eu-1"
    # ToolHive's CLI default service name, and the running version.
    assert resource["service.name"] == f"thv-{WORKLOAD}"
    assert resource["service.version"]
    assert proxy.resource()["team"] == "platform"  # metrics carry the same resource


def test_a_configured_service_name_and_version_are_used():
    proxy = session({**TRACED, "serviceName": "fetch-prod", "serviceVersion": "9.9.9"})
    resource = dict(proxy.spans()[0].resource.attributes)
    assert resource["service.name"] == "fetch-prod"
    assert resource["service.version"] == "9.9.9"


def test_with_tracing_disabled_no_span_is_made():
    proxy = session({"tracingEnabled": False, "enablePrometheusMetricsPath": True})
    assert proxy.spans() == []
    assert proxy.telemetry.tracer is None
    assert proxy.points("toolhive_mcp_requests"), "metrics are still recorded"


def test_at_sampling_rate_zero_only_requests_with_a_sampled_parent_get_a_span():
    async def go() -> Proxy:
        async with telemetry_proxy({**TRACED, "samplingRate": "0"}) as proxy:
            await echo_session(proxy.mcp)
            assert proxy.spans() == []
            async with httpx.AsyncClient(timeout=30) as http:
                await http.post(
                    proxy.mcp,
                    json={"jsonrpc": "2.0", "id": 5, "method": "ping"},
                    headers={"accept": ACCEPT, "traceparent": TRACEPARENT},
                )
            return proxy

    proxy = asyncio.run(go())
    (span,) = proxy.spans()
    assert span.name == "ping"
    assert span.parent is not None
    assert format(span.context.trace_id, "032x") == TRACEPARENT.split("-")[1]
    assert format(span.parent.span_id, "016x") == TRACEPARENT.split("-")[2]


def test_a_traceparent_in_meta_wins_over_the_header():
    async def go() -> Proxy:
        async with telemetry_proxy(TRACED) as proxy:
            message = {
                "jsonrpc": "2.0",
                "id": 9,
                "method": "tools/call",
                "params": {"name": "echo", "arguments": {}, "_meta": {"traceparent": META_PARENT}},
            }
            async with httpx.AsyncClient(timeout=30) as http:
                await http.post(
                    proxy.mcp,
                    json=message,
                    headers={"accept": ACCEPT, "traceparent": TRACEPARENT},
                )
            return proxy

    (span,) = asyncio.run(go()).spans()
    assert format(span.context.trace_id, "032x") == META_PARENT.split("-")[1]


def test_a_5xx_is_an_error_span_with_its_error_type_and_a_4xx_leaves_the_status_unset():
    exporter = InMemorySpanExporter()

    async def failing(scope: Any, receive: Any, send: Any) -> None:
        status = 503 if scope["path"] == "/mcp" else 404
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b"no"})

    parameters = TelemetryParameters.model_validate({"config": TRACED})
    routes: dict[str, Any] = {}

    def mount(path: str, app: Any) -> None:
        routes[path] = app

    context = MiddlewareContext(
        workload="w", transport="sse", proxy_mode="sse", url="http://x/mcp", mount=mount
    )
    app = build(failing, parameters, context, span_processors=[SimpleSpanProcessor(exporter)])

    async def go() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
            body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
            await http.post("/mcp", content=body, headers={"content-type": "application/json"})
            await http.get("/missing")

    asyncio.run(go())
    app.shutdown()
    failed, missing = exporter.get_finished_spans()
    assert failed.name == "tools/list"
    assert failed.status.status_code is StatusCode.ERROR
    assert failed.status.description == "HTTP 503"
    assert dict(failed.attributes or {})["error.type"] == "503"
    assert dict(failed.attributes or {})["network.transport"] == "tcp"
    assert missing.name == "GET /missing"  # not MCP: the HTTP method and path
    assert missing.status.status_code is StatusCode.UNSET
    assert "/metrics" in routes


def test_an_sse_stream_gets_its_connection_span_and_counts_as_an_active_connection():
    async def go() -> tuple[Proxy, list[Any]]:
        async with telemetry_proxy(TRACED, proxy_mode="sse") as proxy:
            result = await echo_session(f"{proxy.base}/sse", sse=True, text="over sse")
            assert result.echoed == "over sse"
            # The client has closed its stream; let the proxy see it.
            for _ in range(100):
                active = {
                    p.attributes["connection_type"]: p.value
                    for p in proxy.points("toolhive_mcp_active_connections")
                }
                if active.get("sse") == 0:
                    break
                await asyncio.sleep(0.05)
            return proxy, proxy.points("toolhive_mcp_requests")

    proxy, requests = asyncio.run(go())
    spans = by_name(proxy)
    connection = spans["sse.connection_established"]
    attributes = dict(connection.attributes or {})
    assert attributes["sse.event_type"] == "connection_established"
    assert attributes["mcp.server.name"] == WORKLOAD
    assert connection.status.status_code is StatusCode.OK
    assert "tools/call echo" in spans
    sse = [p for p in requests if p.attributes["mcp_method"] == "sse_connection"]
    assert [p.value for p in sse] == [1]
    assert sse[0].attributes["server"] == WORKLOAD and sse[0].attributes["transport"] == "stdio"


# -- metrics ------------------------------------------------------------------------------------


def test_every_series_has_its_server_and_transport_and_tool_calls_are_counted():
    proxy = session({"enablePrometheusMetricsPath": True})
    requests = proxy.points("toolhive_mcp_requests")
    assert requests
    for point in requests:
        assert point.attributes["server"] == WORKLOAD
        assert point.attributes["transport"] == "stdio"
        assert point.attributes["status"] in ("success", "error")
    calls = {
        (p.attributes["mcp_method"], p.attributes["mcp_resource_id"]): p.value for p in requests
    }
    assert calls[("tools/call", "echo")] == 1
    assert calls[("tools/call", "add")] == 1
    assert calls[("tools/list", "")] >= 1
    tools = {p.attributes["tool"]: p for p in proxy.points("toolhive_mcp_tool_calls")}
    assert set(tools) == {"echo", "add"}
    assert all(p.value == 1 and p.attributes["server"] == WORKLOAD for p in tools.values())
    active = proxy.points("toolhive_mcp_active_connections")
    assert {p.attributes["connection_type"] for p in active} == {"http", "sse"}
    assert all(p.value == 0 and p.attributes["transport"] == "stdio" for p in active)
    durations = proxy.points("toolhive_mcp_request_duration")
    assert sum(p.count for p in durations) == sum(p.value for p in requests)
    assert all(p.attributes["server"] == WORKLOAD for p in durations)


def test_the_semconv_operation_duration_has_its_buckets_and_attributes():
    proxy = session({"enablePrometheusMetricsPath": True})
    points = proxy.points("mcp.server.operation.duration")
    echo = [p for p in points if p.attributes.get("gen_ai.tool.name") == "echo"]
    (point,) = echo
    assert tuple(point.explicit_bounds) == MCP_BUCKETS
    assert point.count == 1 and point.sum > 0
    assert point.attributes["mcp.method.name"] == "tools/call"
    assert point.attributes["gen_ai.operation.name"] == "execute_tool"
    assert point.attributes["network.transport"] == "pipe"
    assert point.attributes["jsonrpc.protocol.version"] == "2.0"
    assert "error.type" not in point.attributes
    methods = {p.attributes["mcp.method.name"] for p in points}
    assert {"initialize", "tools/list", "tools/call"} <= methods
    # Per-request values (session, request id) would make a series per request: spans only.
    assert not any("mcp.session.id" in p.attributes for p in points)


def test_server_and_transport_come_from_the_workload_when_the_parameters_leave_them_empty():
    proxy = session(
        {"enablePrometheusMetricsPath": True},
        parameters={"config": {"enablePrometheusMetricsPath": True}, "server_name": ""},
    )
    labels = {
        (p.attributes["server"], p.attributes["transport"])
        for p in proxy.points("toolhive_mcp_requests")
    }
    assert labels == {(WORKLOAD, "stdio")}


def test_the_server_name_in_the_parameters_is_used_for_the_labels():
    proxy = session(
        {"enablePrometheusMetricsPath": True},
        parameters={
            "config": {"enablePrometheusMetricsPath": True},
            "server_name": "github",
            "transport": "streamable-http",
        },
    )
    labels = {
        (p.attributes["server"], p.attributes["transport"])
        for p in proxy.points("toolhive_mcp_requests")
    }
    assert labels == {("github", "streamable-http")}


def test_a_long_client_supplied_name_is_cut_in_the_labels_but_whole_on_the_span():
    tool = "t" * 40 + "é" * 100

    async def go() -> Proxy:
        async with telemetry_proxy(TRACED) as proxy:
            message = {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": tool}}
            async with httpx.AsyncClient(timeout=30) as http:
                await http.post(proxy.mcp, json=message, headers={"accept": ACCEPT})
            return proxy

    proxy = asyncio.run(go())
    (point,) = proxy.points("toolhive_mcp_requests")
    label = point.attributes["mcp_resource_id"]
    assert label.endswith("...") and len(label.encode()) <= 128
    assert tool.startswith(label[:-3])
    (span,) = proxy.spans()
    assert dict(span.attributes or {})["gen_ai.tool.name"] == tool


def test_metrics_are_served_on_the_proxy_port_in_prometheus_format():
    async def go() -> str:
        async with telemetry_proxy({"enablePrometheusMetricsPath": True}) as proxy:
            await echo_session(proxy.mcp)
            async with httpx.AsyncClient(timeout=30) as http:
                response = await http.get(f"{proxy.base}/metrics")
            assert response.status_code == 200
            return response.text

    text = asyncio.run(go())
    lines = text.splitlines()
    echo = [
        line
        for line in lines
        if line.startswith("toolhive_mcp_requests_total{") and 'mcp_resource_id="echo"' in line
    ]
    assert len(echo) == 1 and echo[0].endswith(" 1.0"), echo
    assert f'server="{WORKLOAD}"' in echo[0] and 'transport="stdio"' in echo[0]
    for family in (
        "toolhive_mcp_request_duration_seconds_bucket{",
        "mcp_server_operation_duration_seconds_bucket{",
        "toolhive_mcp_tool_calls_total{",
        "toolhive_mcp_active_connections{",
        "process_cpu_seconds_total",
        "target_info{",
    ):
        assert any(line.startswith(family) for line in lines), family
    assert 'service_name="thv-echo-telemetry"' in text


def test_two_workloads_in_one_process_keep_their_own_series():
    async def go() -> tuple[str, str]:
        async with (
            telemetry_proxy({"enablePrometheusMetricsPath": True}, workload="first") as one,
            telemetry_proxy({"enablePrometheusMetricsPath": True}, workload="second") as two,
        ):
            await echo_session(one.mcp)
            async with httpx.AsyncClient(timeout=30) as http:
                first = (await http.get(f"{one.base}/metrics")).text
                second = (await http.get(f"{two.base}/metrics")).text
            return first, second

    first, second = asyncio.run(go())
    assert 'server="first"' in first and 'server="second"' not in first
    assert "toolhive_mcp_requests_total{" not in second  # no request reached the second


def test_prometheus_without_a_host_to_mount_metrics_is_a_clear_error():
    parameters = TelemetryParameters.model_validate(
        {"config": {"enablePrometheusMetricsPath": True}}
    )
    context = MiddlewareContext(workload="w", transport="stdio", proxy_mode="sse", url="http://x")
    with pytest.raises(ValueError, match="cannot serve /metrics"):
        build(lambda *a: None, parameters, context)


def test_nothing_enabled_passes_requests_through_untouched():
    async def inner(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    parameters = TelemetryParameters.model_validate({"config": {"samplingRate": "0.1"}})
    context = MiddlewareContext(workload="w", transport="stdio", proxy_mode="sse", url="http://x")
    app = build(inner, parameters, context)
    assert app.tracer is None and not app.metrics and not app.on

    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
            return await http.get("/mcp")

    assert asyncio.run(go()).text == "ok"


# -- configuration ------------------------------------------------------------------------------


def test_a_toolhive_export_s_telemetry_config_validates():
    # What ToolHive's `thv export` writes for --otel-endpoint … (Go json tags, every key).
    exported = {
        "endpoint": "collector:4318",
        "serviceName": "",
        "serviceVersion": "",
        "tracingEnabled": True,
        "metricsEnabled": True,
        "samplingRate": "0.1",
        "headers": {"x-api-key": "k"},
        "insecure": True,
        "enablePrometheusMetricsPath": True,
        "environmentVariables": ["NODE_ENV"],
        "customAttributes": {"team": "a"},
        "useLegacyAttributes": True,
        "caCertPath": "",
    }
    parameters = TelemetryParameters.model_validate(
        {"config": exported, "server_name": "fetch", "transport": "stdio"}
    )
    assert parameters.config.sampling_ratio == 0.1
    assert parameters.config.tracing and parameters.config.otlp_metrics


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"samplingRate": "1.5"}, "between 0 and 1"),
        ({"samplingRate": "often"}, "a number"),
        ({"endpoint": "collector:4318"}, "both tracing and metrics are disabled"),
        ({"enablePrometheusMetricsPath": True, "metricsOnTransportPort": False}, "own port"),
        ({"tracingEnabled": "yes please"}, "tracingEnabled"),
    ],
)
def test_a_config_toolhive_would_refuse_is_refused(config: dict[str, Any], message: str):
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=message):
        TelemetryParameters.model_validate({"config": config})


def test_the_otlp_url_follows_toolhive_s_endpoint_form():
    from toolhive_middleware_telemetry.providers import otlp_url

    assert otlp_url("collector:4318", False, "/v1/traces") == "https://collector:4318/v1/traces"
    assert otlp_url("collector:4318", True, "/v1/metrics") == "http://collector:4318/v1/metrics"
    assert (
        otlp_url("cloud.langfuse.com/api/public/otel/", False, "/v1/traces")
        == "https://cloud.langfuse.com/api/public/otel/v1/traces"
    )
    assert (
        otlp_url("http://localhost:4318", False, "/v1/traces") == "http://localhost:4318/v1/traces"
    )


def test_tool_arguments_on_spans_redact_sensitive_keys_and_are_bounded():
    from toolhive_middleware_telemetry.middleware import sanitize_arguments

    text = sanitize_arguments({"url": "https://x", "api_key": "sk-1", "Password": "p", "n": None})
    assert text == "url=https://x, api_key=[REDACTED], Password=[REDACTED], n=<nil>"
    long = sanitize_arguments({f"k{i}": "v" * 150 for i in range(5)})
    assert len(long) == 203 and long.endswith("...")


# -- the middleware's own aggregation -----------------------------------------------------------


def test_the_duration_histogram_buckets_values_as_the_sdk_does():
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope
    from toolhive_middleware_telemetry.histograms import DurationHistogram, HistogramStore

    values = [0.0, 0.005, 0.01, 0.0100001, 0.3, 0.3, 299.9, 300.0, 400.0]
    reader = InMemoryMetricReader()
    sdk = MeterProvider(metric_readers=[reader]).get_meter("t")
    histogram = sdk.create_histogram("h", unit="s", explicit_bucket_boundaries_advisory=MCP_BUCKETS)
    ours = HistogramStore(InstrumentationScope("t")).add(DurationHistogram("h", "", dict, ()))
    for value in values:
        histogram.record(value, {"k": "v"})
        ours.record((("k", "v"),), value)
    data = reader.get_metrics_data()
    assert data is not None
    (expected,) = data.resource_metrics[0].scope_metrics[0].metrics[0].data.data_points
    metric = ours.metric(0)
    assert metric is not None
    (point,) = metric.data.data_points
    assert list(point.bucket_counts) == list(expected.bucket_counts)
    assert (point.count, point.min, point.max) == (expected.count, expected.min, expected.max)
    assert point.sum == pytest.approx(expected.sum)
    assert dict(point.attributes) == {"k": "v"}


def test_past_1999_label_sets_new_ones_share_one_overflow_series_with_every_label():
    async def inner(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    parameters = TelemetryParameters.model_validate(
        {"config": {"enablePrometheusMetricsPath": True}}
    )
    context = MiddlewareContext(
        workload="w", transport="stdio", proxy_mode="sse", url="http://x", mount=lambda p, a: None
    )
    reader = InMemoryReader()
    app = build(inner, parameters, context, metric_readers=[reader])

    async def call(tool: str) -> None:
        body = json.dumps(
            {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": tool}}
        ).encode()
        sent = False

        async def receive() -> dict[str, Any]:
            nonlocal sent
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: Any) -> None:
            return None

        scope = {
            "type": "http",
            "method": "POST",
            "path": "/mcp",
            "headers": [(b"content-type", b"application/json")],
        }
        await app(scope, receive, send)

    async def go() -> None:
        for i in range(2002):
            await call(f"tool-{i}")

    asyncio.run(go())
    points = {
        p.attributes["mcp_resource_id"]: p for p in metric_points(reader, "toolhive_mcp_requests")
    }
    assert len(points) == 2000  # the SDK's limit: it never has to add an unlabelled overflow
    assert points["_overflow"].value == 3
    assert points["_overflow"].attributes["transport"] == "stdio"
    assert points["_overflow"].attributes["server"] == "w"
    tools = metric_points(reader, "toolhive_mcp_tool_calls")
    assert len(tools) == 2000
    durations = metric_points(reader, "toolhive_mcp_request_duration")
    assert len(durations) == 2000
    app.shutdown()


def test_a_reader_that_would_miss_the_histograms_is_refused():
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    parameters = TelemetryParameters.model_validate({"config": {"tracingEnabled": True}})
    context = MiddlewareContext(workload="w", transport="stdio", proxy_mode="sse", url="http://x")
    with pytest.raises(TypeError, match="would miss the duration histograms"):
        build(lambda *a: None, parameters, context, metric_readers=[InMemoryMetricReader()])


def test_the_sampling_rate_is_the_share_of_root_requests_that_get_a_span():
    async def inner(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        return None

    def spans_out_of(requests: int, rate: str, sse: bool = False) -> int:
        exporter = InMemorySpanExporter()
        parameters = TelemetryParameters.model_validate(
            {"config": {"tracingEnabled": True, "samplingRate": rate}}
        )
        context = MiddlewareContext(workload="w", transport="stdio", proxy_mode="sse", url="x")
        app = build(inner, parameters, context, span_processors=[SimpleSpanProcessor(exporter)])
        scope = {"type": "http", "method": "GET", "path": "/sse" if sse else "/x", "headers": []}

        async def go() -> None:
            for _ in range(requests):
                await app(dict(scope), receive, send)

        asyncio.run(go())
        app.shutdown()
        return len(exporter.get_finished_spans())

    # 1000 requests at 0.3: 300 expected, sd ~14.5; a rate applied twice would give ~90.
    assert 230 < spans_out_of(1000, "0.3") < 370
    assert 230 < spans_out_of(1000, "0.3", sse=True) < 370
    assert spans_out_of(200, "0") == 0
    assert spans_out_of(200, "1") == 200
