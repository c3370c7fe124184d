"""The plugin runs ToolHive's middleware contract suite: loaded through its entry point as ``thv``
loads it, its parameters validated as a RunConfig's ``middleware_configs`` entry would be, wrapping
an app, passing requests through, and working in a real workload chain with an MCP session."""

from __future__ import annotations

from toolhive.testing import MiddlewareContract


class TestExampleMiddleware(MiddlewareContract):
    name = "example"
    entry_point = "middleware-example"
    parameters = {"greeting": "hi"}
    invalid_parameters = ({"greeting": ""}, {"greeting": "two\nlines"}, {"greeting": 42})
