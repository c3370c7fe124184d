"""Both middleware types run ToolHive's middleware contract suite: loaded through the entry point
as ``thv`` loads them, their parameters validated as a RunConfig's ``middleware_configs`` entry
would be, passing an acceptable request through, and working in a real workload chain with an MCP
session (the suite's session lists tools and calls ``echo`` and ``add``, so both stay visible)."""

from __future__ import annotations

from typing import Any, ClassVar

from toolhive.testing import MiddlewareContract

PARAMETERS: dict[str, Any] = {
    "filter_tools": ["echo", "add"],
    "tools_override": {"echo": {"description": "Say it back"}},
}
INVALID: tuple[dict[str, Any], ...] = (
    {},  # nothing to filter or override
    {"filter_tools": [""]},
    {"filter_tools": "echo"},
    {"tools_override": {"echo": {}}},
    {"tools_override": {"echo": {"name": "", "description": ""}}},
    {"tools_override": {"echo": {"name": "say", "colour": "red"}}},
    {"tools_override": {"echo": {"name": "say"}, "add": {"name": "say"}}},
    {"tools_override": {"echo": {"name": "add"}, "add": {"description": "Sum"}}},
    {"filter_tools": ["echo"], "tools_override": {"echo": {"name": "say"}}},
)


class TestToolFilter(MiddlewareContract):
    name = "tool-filter"
    entry_point = "middleware-tools"
    parameters: ClassVar[dict[str, Any]] = PARAMETERS
    invalid_parameters = INVALID


class TestToolCallFilter(MiddlewareContract):
    name = "tool-call-filter"
    entry_point = "middleware-tools"
    parameters: ClassVar[dict[str, Any]] = PARAMETERS
    invalid_parameters = INVALID
