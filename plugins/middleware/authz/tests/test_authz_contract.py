"""The plugin runs ToolHive's middleware contract suite: loaded through its entry point as ``thv``
loads it, its parameters validated as a RunConfig's ``middleware_configs`` entry would be, wrapping
an app, letting a permitted tool call through, and working in a real workload chain with an MCP
session. The contract's chain has no ``auth`` middleware: the caller is ToolHive's local user."""

from __future__ import annotations

from toolhive.testing import MiddlewareContract


def cedar(*policies: str, **options: object) -> dict[str, object]:
    return {
        "config_data": {
            "version": "1.0",
            "type": "cedarv1",
            "cedar": {"policies": list(policies), "entities_json": "[]", **options},
        }
    }


class TestAuthzMiddleware(MiddlewareContract):
    name = "authorization"
    entry_point = "middleware-authz"
    # The contract's session lists tools and calls echo and add.
    parameters = cedar(
        'permit(principal, action == Action::"call_tool", resource == Tool::"echo");',
        'permit(principal, action == Action::"call_tool", resource == Tool::"add");',
    )
    invalid_parameters = (
        {},  # neither config_data nor config_path
        cedar('permit(principal, action == Action::"call_tool", resource == Tool::"echo")'),
        cedar(),  # no policy
        cedar("permit(principal, action, resource);", entities_json="not json"),
        cedar("permit(principal, action, resource);", group_entity_type="A::B"),
        cedar("permit(principal, action, resource);", polices=["misspelt"]),
        {"config_data": {"version": "1.0", "type": "httpv1", "pdp": {"http": {"url": "x"}}}},
        {"config_data": {"version": "1.0", "type": "opav1"}},
        {"config_path": "/nonexistent/authz.json"},
        {"config_data": "not an object"},
    )
