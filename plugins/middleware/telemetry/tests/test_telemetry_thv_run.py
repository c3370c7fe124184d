"""End to end through the real ``thv`` CLI on the process runtime: an exported RunConfig with a
``telemetry_config`` (``enablePrometheusMetricsPath``) runs with the telemetry middleware in the
detached supervisor's chain, and ``/metrics`` on the workload's own port shows the session's
requests labelled with the workload and its transport; ``--otel-*`` flags do the same; and spans
still waiting in the batch exporter reach the collector when the workload is stopped."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from telemetry_harness import attrs, otlp_receiver
from toolhive.testing.fixtures import ThvHome
from toolhive.testing.mcp_servers import echo_session
from toolhive.testing.workloads import (
    ECHO_STDIO,
    ThvConsole,
    exported_echo,
    run_from_config,
    thv_console,
    workload_url,
)

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def thv(thv_home: ThvHome) -> Iterator[ThvConsole]:
    env = {**thv_home.env, "TOOLHIVE_STRICT_PLUGINS": "1"}
    with thv_console(env, timeout=240) as runner:
        yield runner


def scrape_after_a_session(url: str) -> str:
    """Run an MCP session against ``url`` (the workload's …/mcp), then GET /metrics there."""
    parts = urlsplit(url)

    async def go() -> str:
        result = await echo_session(url, text="end to end")
        assert result.echoed == "end to end"
        async with httpx.AsyncClient(timeout=30) as http:
            response = await http.get(f"{parts.scheme}://{parts.netloc}/metrics")
        assert response.status_code == 200, response.text
        return response.text

    return asyncio.run(go())


def requests_of(text: str, workload: str) -> list[str]:
    """The toolhive_mcp_requests_total samples of the echo tool call."""
    return [
        line
        for line in text.splitlines()
        if line.startswith("toolhive_mcp_requests_total{")
        and 'mcp_resource_id="echo"' in line
        and f'server="{workload}"' in line
        and 'transport="stdio"' in line
    ]


def test_an_exported_runconfig_with_prometheus_telemetry_serves_metrics_on_its_port(
    thv: ThvConsole, tmp_path: Path
):
    # ToolHive's telemetry.Config as its `thv export` writes it (Go json tags).
    exported = exported_echo(thv, "tele-e2e")
    exported.update(
        telemetry_config={
            "endpoint": "",
            "serviceName": "thv-tele-e2e",
            "tracingEnabled": True,
            "metricsEnabled": True,
            "samplingRate": "0.1",
            "enablePrometheusMetricsPath": True,
            "useLegacyAttributes": True,
        },
    )
    text = scrape_after_a_session(run_from_config(thv, exported, tmp_path))
    (line,) = requests_of(text, "tele-e2e")
    assert line.endswith(" 1.0"), line
    assert 'service_name="thv-tele-e2e"' in text  # target_info carries the resource
    assert "middleware: mcp-parser > telemetry > recovery" in thv("logs", "tele-e2e", "--proxy")


def test_the_otel_flags_of_thv_run_turn_the_metrics_path_on(thv: ThvConsole):
    thv(
        "run",
        "--name",
        "tele-flags",
        "--runtime",
        "process",
        "--otel-enable-prometheus-metrics-path",
        "--otel-custom-attributes",
        "team=platform",
        *ECHO_STDIO,
    )
    text = scrape_after_a_session(workload_url(thv, "tele-flags"))
    assert requests_of(text, "tele-flags")
    assert 'team="platform"' in text


def test_spans_still_batched_reach_the_collector_when_the_workload_stops(thv: ThvConsole):
    with otlp_receiver() as receiver:
        # Nothing would be sent on schedule within the test: only the flush at exit can.
        thv.env.update(OTEL_BSP_SCHEDULE_DELAY="600000", OTEL_METRIC_EXPORT_INTERVAL="600000")
        thv(
            "run",
            "--name",
            "tele-otlp",
            "--runtime",
            "process",
            "--otel-endpoint",
            f"127.0.0.1:{receiver.port}",
            "--otel-insecure",
            "--otel-sampling-rate",
            "1",
            "--otel-env-vars",
            "OTEL_BSP_SCHEDULE_DELAY",
            *ECHO_STDIO,
        )
        result = asyncio.run(echo_session(workload_url(thv, "tele-otlp"), text="flushed"))
        assert result.echoed == "flushed"
        assert receiver.traces == []
        thv("stop", "tele-otlp")

    spans = {
        span.name: attrs(span.attributes)
        for request in receiver.traces
        for rs in request.resource_spans
        for ss in rs.scope_spans
        for span in ss.spans
    }
    assert "tools/call echo" in spans, sorted(spans)
    echo = spans["tools/call echo"]
    assert echo["mcp.server.name"] == "tele-otlp"
    assert echo["environment.OTEL_BSP_SCHEDULE_DELAY"] == "600000"
    metrics = {
        metric.name
        for request in receiver.metrics
        for rm in request.resource_metrics
        for sm in rm.scope_metrics
        for metric in sm.metrics
    }
    assert {"toolhive_mcp_requests", "mcp.server.operation.duration"} <= metrics
