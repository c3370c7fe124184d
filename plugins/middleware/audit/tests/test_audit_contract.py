"""The plugin runs ToolHive's middleware contract suite: loaded through its entry point as ``thv``
loads it, its parameters (ToolHive's ``audit.MiddlewareParams``) validated as a RunConfig's
``middleware_configs`` entry would be, wrapping an app, passing requests through unchanged, and
working in a real workload chain with an MCP session."""

from __future__ import annotations

from toolhive.testing import MiddlewareContract


class TestAuditMiddleware(MiddlewareContract):
    name = "audit"
    entry_point = "middleware-audit"
    parameters = {
        "config_data": {"component": "contract", "maxDataSize": 1024},
        "component": "contract",
        "transport_type": "stdio",
    }
    invalid_parameters = (
        {"config_data": {"eventTypes": ["mcp_teleport"]}},
        {"config_data": {"excludeEventTypes": ["nope"]}},
        {"config_data": {"maxDataSize": -1}},
        {"config_data": {"maxDelegationDepth": 0}},
        {"config_data": {"logfile": "/tmp/misspelt.log"}},
        {"config_path": "/nonexistent/audit.json"},
        {"transport_type": 7},
    )
