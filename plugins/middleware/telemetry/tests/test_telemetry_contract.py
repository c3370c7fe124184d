"""The plugin runs ToolHive's middleware contract suite: loaded through its entry point as ``thv``
loads it, its parameters validated as a RunConfig's ``middleware_configs`` entry would be, wrapping
an app, passing requests through, and working in a real workload chain with an MCP session."""

from __future__ import annotations

from toolhive.testing import MiddlewareContract


class TestTelemetryMiddleware(MiddlewareContract):
    name = "telemetry"
    entry_point = "middleware-telemetry"
    # Tracing on, sampling every request, with nowhere to export (the contract's host has no
    # /metrics route and no collector): spans are made and dropped.
    parameters = {
        "config": {"tracingEnabled": True, "samplingRate": "1", "useLegacyAttributes": True},
        "server_name": "contract",
        "transport": "stdio",
    }
    invalid_parameters = (
        {},  # ToolHive: "telemetry config is required"
        {"config": {"samplingRate": "2"}},
        {"config": {"endpoint": "collector:4318"}},  # tracing and metrics both off
        {"config": {"unknownKey": 1}},
        {"config": {}, "server_name": 7},
    )
