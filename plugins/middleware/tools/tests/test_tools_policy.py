"""The rules for one list and one call, and the parameter checks, without HTTP."""

from __future__ import annotations

from typing import Any

import pytest
from toolhive.contracts import InvalidInputError
from toolhive_middleware_tools import ToolsParameters
from toolhive_middleware_tools.policy import NO_TOOL_NAME, TOOL_NOT_FOUND, ToolPolicy

TOOLS = [
    {"name": "fetch", "description": "Fetch a URL", "inputSchema": {"type": "object"}},
    {"name": "search", "description": "Search"},
    {"name": "time"},
]


def policy(filter_tools: list[str] | None = None, **overrides: dict[str, str]) -> ToolPolicy:
    params = ToolsParameters.model_validate(
        {"filter_tools": filter_tools or [], "tools_override": overrides}
    )
    return ToolPolicy.from_parameters(params)


def listed(p: ToolPolicy, tools: list[dict[str, Any]] = TOOLS) -> list[dict[str, Any]]:
    answer = {"jsonrpc": "2.0", "id": 1, "result": {"tools": tools, "_meta": {"k": 1}}}
    new = p.rewrite_message(answer)
    return answer["result"]["tools"] if new is None else new["result"]["tools"]


def test_overrides_keep_every_other_field_of_the_tool():
    tools = listed(policy(fetch={"name": "get", "description": "Get a page"}))
    assert tools[0] == {"name": "get", "description": "Get a page",
                        "inputSchema": {"type": "object"}}  # fmt: skip
    assert TOOLS[0]["name"] == "fetch"  # the server's answer is not mutated


def test_a_description_override_adds_one_where_the_server_gave_none():
    (time,) = [t for t in listed(policy(time={"description": "Now"})) if t["name"] == "time"]
    assert time == {"name": "time", "description": "Now"}


def test_an_answer_that_is_not_a_tool_list_is_left_alone():
    p = policy(["fetch"])
    assert p.rewrite_message({"jsonrpc": "2.0", "id": 1, "result": {"content": []}}) is None
    assert p.rewrite_message({"jsonrpc": "2.0", "id": 1, "error": {"code": 1}}) is None
    assert (
        p.rewrite_message({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"}) is None
    )


def test_an_unchanged_list_is_not_re_encoded():
    assert (
        policy(["fetch", "search", "time"]).rewrite_message(
            {"jsonrpc": "2.0", "id": 1, "result": {"tools": TOOLS}}
        )
        is None
    )


def test_a_list_with_a_nameless_tool_fails_closed():
    answer = {"jsonrpc": "2.0", "id": 4, "result": {"tools": [*TOOLS, {"description": "?"}]}}
    replaced = policy(["fetch"]).rewrite_message(answer)
    assert replaced is not None
    assert replaced["id"] == 4 and "result" not in replaced
    assert replaced["error"]["code"] == -32603


def test_a_server_tool_shadowed_by_a_rename_is_hidden():
    """``fetch`` renamed to ``search``: a call to ``search`` reaches ``fetch``, so the server's own
    ``search`` cannot be called and is not listed."""
    p = policy(fetch={"name": "search"})
    assert [t["name"] for t in listed(p)] == ["search", "time"]
    assert listed(p)[0]["description"] == "Fetch a URL"
    assert p.call_target("search") == "fetch"


def test_calls_are_checked_by_visible_name_and_mapped_back():
    p = policy(["get", "time"], fetch={"name": "get"})
    assert p.call_target("get") == "fetch"
    assert p.call_target("time") == "time"
    assert p.call_target("fetch") is TOOL_NOT_FOUND  # renamed away
    assert p.call_target("search") is TOOL_NOT_FOUND  # filtered
    for bad in ("", None, 3, ["time"]):
        assert p.call_target(bad) is NO_TOOL_NAME


def test_without_a_filter_a_renamed_tools_old_name_is_still_not_found():
    p = policy(fetch={"name": "get", "description": "x"})
    assert p.call_target("fetch") is TOOL_NOT_FOUND
    assert p.call_target("search") == "search"


def test_a_rename_to_the_same_name_is_a_description_override():
    p = policy(["fetch"], fetch={"name": "fetch", "description": "Same"})
    assert p.call_target("fetch") == "fetch"
    assert [t["description"] for t in listed(p)] == ["Same"]


def test_names_a_complete_list_does_not_have_are_reported():
    p = policy(["get", "nope", "missing"], fetch={"name": "get"}, missing={"description": "x"})
    assert p.unknown_names(TOOLS) == ["missing", "nope"]


def test_filter_duplicates_are_folded_and_null_override_fields_are_unset():
    params = ToolsParameters.model_validate(
        {"filter_tools": ["a", "a"], "tools_override": {"a": {"name": None, "description": "d"}}}
    )
    assert params.filter_tools == ("a",)
    assert params.tools_override["a"].name == ""


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ({}, "nothing to filter or override"),
        ({"tools_override": {"": {"name": "x"}}}, "needs the tool's name as its key"),
        ({"tools_override": {"a": {"name": "b"}, "b": {"description": "B"}}},
         "tool 'a' is renamed to 'b', the name tool 'b' keeps"),
    ],
)  # fmt: skip
def test_inconsistent_parameters_are_refused_with_a_reason(
    parameters: dict[str, Any], message: str
):
    from toolhive.middleware.plan import Entry, resolve
    from toolhive.plugins import Hooks, build_plugin_manager

    hooks = Hooks(build_plugin_manager(autoload=True))
    with pytest.raises(InvalidInputError, match=message):
        resolve([Entry("tool-call-filter", parameters, "tools_override")], hooks.middleware())
