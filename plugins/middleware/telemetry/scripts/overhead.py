"""Per-request cost of the telemetry middleware, without HTTP: the ASGI call of a tiny inner app,
bare and wrapped, for each configuration (the request already parsed, as inside mcp-parser).

    uv run python plugins/middleware/telemetry/scripts/overhead.py [--n 20000]

Prints the median and p90 added microseconds per request. Spans go to a BatchSpanProcessor over
an exporter that drops them (the export thread's cost is not on the request path).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Sequence
from typing import Any

from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from toolhive.contracts.middleware import PARSED_REQUEST_KEY, describe_mcp_request
from toolhive_middleware_telemetry import TelemetryConfig
from toolhive_middleware_telemetry.middleware import TelemetryMiddleware
from toolhive_middleware_telemetry.providers import build_providers

BODY = (
    b'{"jsonrpc":"2.0","id":7,"method":"tools/call",'
    b'"params":{"name":"echo","arguments":{"text":"hello"}}}'
)
HEADERS = [
    (b"host", b"127.0.0.1:8080"),
    (b"content-type", b"application/json"),
    (b"content-length", str(len(BODY)).encode()),
    (b"mcp-session-id", b"0123456789abcdef"),
    (b"user-agent", b"bench"),
]


class Drop(SpanExporter):
    def export(self, spans: Sequence[Any]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


async def inner(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"{}"})


async def receive() -> dict[str, Any]:
    return {"type": "http.request", "body": BODY, "more_body": False}


async def send(message: Any) -> None:
    return None


def scope() -> dict[str, Any]:
    return {
        "type": "http",
        "method": "POST",
        "path": "/mcp",
        "scheme": "http",
        "http_version": "1.1",
        "query_string": b"",
        "headers": HEADERS,
        "client": ("127.0.0.1", 50000),
        PARSED_REQUEST_KEY: describe_mcp_request(BODY),
    }


async def timings(app: Any, n: int) -> list[float]:
    out = []
    for _ in range(n):
        s = scope()
        started = time.perf_counter_ns()
        await app(s, receive, send)
        out.append((time.perf_counter_ns() - started) / 1000)
    return out


def wrap(config: dict[str, Any]) -> TelemetryMiddleware:
    cfg = TelemetryConfig.model_validate(config)
    processors = [BatchSpanProcessor(Drop())] if cfg.tracing_enabled else []
    providers = build_providers(cfg, server_name="bench", span_processors=processors)
    return TelemetryMiddleware(inner, cfg, providers, server_name="bench", transport="stdio")


CASES = {
    "prometheus metrics only": {"enablePrometheusMetricsPath": True},
    "metrics + tracing, sampling 0 (all sampled out)": {
        "enablePrometheusMetricsPath": True,
        "tracingEnabled": True,
        "samplingRate": "0",
    },
    "metrics + tracing, sampling 0.1 (CLI default)": {
        "enablePrometheusMetricsPath": True,
        "tracingEnabled": True,
        "samplingRate": "0.1",
    },
    "metrics + tracing, sampling 1 (every span recorded)": {
        "enablePrometheusMetricsPath": True,
        "tracingEnabled": True,
        "samplingRate": "1",
    },
    "tracing only, sampling 1, no legacy attributes": {
        "tracingEnabled": True,
        "samplingRate": "1",
        "useLegacyAttributes": False,
    },
}


async def main(n: int) -> None:
    await timings(inner, 2000)
    base = await timings(inner, n)
    b50 = statistics.median(base)
    print(f"bare inner app: p50 {b50:.1f} us")
    for name, config in CASES.items():
        app = wrap(config)
        await timings(app, 2000)  # warm up: series created, caches filled
        wrapped = await timings(app, n)
        p50 = statistics.median(wrapped) - b50
        p90 = statistics.quantiles(wrapped, n=10)[-1] - statistics.quantiles(base, n=10)[-1]
        print(f"{name:55s} +{p50:6.1f} us p50   +{p90:6.1f} us p90")
        app.shutdown()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=20000)
    asyncio.run(main(parser.parse_args().n))
