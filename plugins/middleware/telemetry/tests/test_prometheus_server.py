"""A real Prometheus server (Debian's ``prometheus``, scripts/install-prometheus.sh) scrapes the
workload proxy's ``/metrics`` every second; its query API then holds ToolHive's series, every one
with a non-empty ``server`` and ``transport``.

Without the binary the test skips, unless ``TOOLHIVE_TEST_REQUIRE_ENGINES`` is set (CI): then it
fails, so a CI machine missing Prometheus cannot pass silently.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from telemetry_harness import WORKLOAD, telemetry_proxy
from toolhive.testing.mcp_servers import echo_session, free_port

pytestmark = pytest.mark.timeout(180)

#: How long Prometheus gets to start and to scrape the series in.
DEADLINE = 60.0


def prometheus_binary() -> str:
    found = shutil.which("prometheus")
    if found:
        return found
    reason = "the prometheus binary is not installed (scripts/install-prometheus.sh --yes)"
    if os.environ.get("TOOLHIVE_TEST_REQUIRE_ENGINES"):
        pytest.fail(f"required component missing: {reason}")
    pytest.skip(reason)


@contextlib.asynccontextmanager
async def prometheus(binary: str, target: str, root: Path) -> AsyncIterator[str]:
    """Prometheus on a free loopback port scraping ``target`` (host:port) every second; yields
    its base URL once it is ready."""
    port = free_port()
    config = root / "prometheus.yml"
    config.write_text(
        "global:\n"
        "  scrape_interval: 1s\n"
        "  scrape_timeout: 1s\n"
        "scrape_configs:\n"
        "  - job_name: toolhive\n"
        "    metrics_path: /metrics\n"
        "    static_configs:\n"
        f"      - targets: ['{target}']\n"
    )
    log = (root / "prometheus.log").open("wb")
    process = await asyncio.create_subprocess_exec(
        binary,
        f"--config.file={config}",
        f"--storage.tsdb.path={root / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        stdout=log,
        stderr=log,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(timeout=5) as http, asyncio.timeout(DEADLINE):
            while True:
                if process.returncode is not None:
                    log.flush()
                    text = (root / "prometheus.log").read_text(errors="replace")[-2000:]
                    raise AssertionError(f"prometheus exited {process.returncode}: {text}")
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get(f"{base}/-/ready")).status_code == 200:
                        break
                await asyncio.sleep(0.2)
        yield base
    finally:
        if process.returncode is None:
            process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 20)
        except TimeoutError:
            process.kill()
            await process.wait()
        log.close()


async def query(http: httpx.AsyncClient, base: str, promql: str) -> list[dict[str, Any]]:
    response = await http.get(f"{base}/api/v1/query", params={"query": promql})
    response.raise_for_status()
    body = response.json()
    assert body["status"] == "success", body
    return list(body["data"]["result"])


async def series_of(http: httpx.AsyncClient, base: str, promql: str) -> list[dict[str, str]]:
    """The label sets of ``promql``, waiting (scrapes are 1 s apart) until there are some."""
    async with asyncio.timeout(DEADLINE):
        while True:
            result = await query(http, base, promql)
            if result:
                return [item["metric"] for item in result]
            await asyncio.sleep(0.5)


def test_a_real_prometheus_scrapes_toolhive_series_with_their_server_and_transport(
    tmp_path: Path,
):
    binary = prometheus_binary()

    async def go() -> dict[str, list[dict[str, str]]]:
        async with telemetry_proxy({"enablePrometheusMetricsPath": True}) as proxy:
            await echo_session(proxy.mcp, text="scraped")
            target = urlsplit(proxy.base).netloc
            async with (
                prometheus(binary, target, tmp_path) as base,
                httpx.AsyncClient(timeout=10) as http,
            ):
                found = {}
                for promql in (
                    'toolhive_mcp_requests_total{mcp_method="tools/call",mcp_resource_id="echo"}',
                    "toolhive_mcp_requests_total",
                    "toolhive_mcp_request_duration_seconds_count",
                    "toolhive_mcp_tool_calls_total",
                    "toolhive_mcp_active_connections",
                    'mcp_server_operation_duration_seconds_bucket{gen_ai_tool_name="echo"}',
                    'up{job="toolhive"} == 1',
                ):
                    found[promql] = await series_of(http, base, promql)
                (echo,) = await query(
                    http,
                    base,
                    'toolhive_mcp_requests_total{mcp_method="tools/call",mcp_resource_id="echo"}',
                )
                assert echo["value"][1] == "1"
                return found

    found = asyncio.run(go())
    for promql in (
        "toolhive_mcp_requests_total",
        "toolhive_mcp_request_duration_seconds_count",
        "toolhive_mcp_active_connections",
    ):
        for labels in found[promql]:
            assert labels.get("server") == WORKLOAD, (promql, labels)
            assert labels.get("transport") == "stdio", (promql, labels)
    for labels in found["toolhive_mcp_tool_calls_total"]:
        assert labels.get("server") == WORKLOAD and labels.get("tool") in ("echo", "add"), labels
    buckets = {
        labels["le"]
        for labels in found['mcp_server_operation_duration_seconds_bucket{gen_ai_tool_name="echo"}']
    }
    assert {"0.01", "300.0", "+Inf"} <= buckets
