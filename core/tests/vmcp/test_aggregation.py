"""Aggregation: ToolHive's conflict strategies, filters, overrides and routing, on plain lists.

Configs are parsed from the YAML shape (camelCase) by the real config models, so the tests also
pin what a user writes to what the gateway advertises.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

import pytest
from toolhive.vmcp.aggregation import (
    Aggregate,
    BackendCapabilities,
    Route,
    UnresolvedConflictError,
    aggregate,
)
from toolhive.vmcp.config import AggregationConfig


def config(**yaml: Any) -> AggregationConfig:
    return AggregationConfig.model_validate(yaml)


def tool(name: str, description: str = "", **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "description": description or f"{name} tool",
        "inputSchema": {"type": "object", "properties": {}},
        **extra,
    }


def backend(
    name: str,
    tools: Sequence[str | dict[str, Any]] = (),
    *,
    resources: Sequence[dict[str, Any]] = (),
    templates: Sequence[dict[str, Any]] = (),
    prompts: Sequence[str] = (),
) -> BackendCapabilities:
    return BackendCapabilities(
        name=name,
        tools=[t if isinstance(t, dict) else tool(t) for t in tools],
        resources=list(resources),
        resource_templates=list(templates),
        prompts=[{"name": p, "description": f"{name}'s {p}"} for p in prompts],
    )


def names(items: list[dict[str, Any]]) -> list[str]:
    return [item["name"] for item in items]


# ---------------------------------------------------------------------------------------- prefix


def test_prefix_renames_every_tool_with_its_workload_and_routes_back_to_the_original() -> None:
    agg = aggregate(
        [backend("github", ["create_issue", "search"]), backend("fetch", ["fetch", "search"])],
        config(conflictResolution="prefix"),
    )
    assert names(agg.tools) == [
        "fetch_fetch",
        "fetch_search",
        "github_create_issue",
        "github_search",
    ]
    assert agg.tool_routes["github_search"] == Route("github", "search")
    assert agg.tool_routes["fetch_search"] == Route("fetch", "search")
    assert agg.conflicts == []


def test_prefix_format_is_configurable() -> None:
    agg = aggregate(
        [backend("time", ["convert"])],
        config(
            conflictResolution="prefix", conflictResolutionConfig={"prefixFormat": "{workload}."}
        ),
    )
    assert names(agg.tools) == ["time.convert"]
    assert agg.tool_routes["time.convert"] == Route("time", "convert")


def test_prefix_collision_after_prefixing_keeps_the_first_backend_in_group_order() -> None:
    # "a_b" + "c" and "a" + "b_c" compose to the same name.
    agg = aggregate(
        [backend("a_b", ["c"]), backend("a", ["b_c"])], config(conflictResolution="prefix")
    )
    assert names(agg.tools) == ["a_b_c"]
    assert agg.tool_routes["a_b_c"] == Route("a_b", "c")
    assert len(agg.conflicts) == 1 and "a_b_c" in agg.conflicts[0]


def test_other_tool_fields_are_kept_exactly_as_the_backend_sent_them() -> None:
    rich = tool(
        "get",
        title="Get a thing",
        outputSchema={"type": "object", "properties": {"x": {"type": "number"}}},
        annotations={"readOnlyHint": True},
        icons=[{"src": "https://example.com/i.png"}],
        _meta={"vendor/key": 1},
    )
    agg = aggregate([backend("b", [rich])], config())
    (advertised,) = agg.tools
    assert advertised == {**rich, "name": "b_get"}
    assert advertised["inputSchema"] is rich["inputSchema"]  # not copied
    assert rich["name"] == "get"  # the backend's dict is never modified


# -------------------------------------------------------------------------------------- priority


def priority(*order: str, **extra: Any) -> AggregationConfig:
    return config(
        conflictResolution="priority",
        conflictResolutionConfig={"priorityOrder": list(order)},
        **extra,
    )


def test_priority_gives_a_shared_name_to_the_first_backend_in_the_order_and_hides_the_rest() -> (
    None
):
    agg = aggregate(
        [backend("low", ["search", "only_low"]), backend("high", ["search", "only_high"])],
        priority("high", "low"),
    )
    assert names(agg.tools) == ["only_high", "only_low", "search"]
    assert agg.tool_routes["search"] == Route("high", "search")
    assert agg.tool_routes["only_low"] == Route("low", "only_low")
    assert any("search" in note and "dropped low" in note for note in agg.conflicts)
    # The loser is still callable from a composite step by its workload.tool name.
    assert agg.hidden_tool_routes["low.search"] == Route("low", "search")


def test_priority_keeps_a_name_only_an_unlisted_backend_has_bare() -> None:
    agg = aggregate([backend("listed", ["a"]), backend("other", ["b"])], priority("listed"))
    assert names(agg.tools) == ["a", "b"]


def test_priority_prefixes_a_shared_name_none_of_whose_backends_is_listed() -> None:
    # ToolHive's fallback uses the fixed "{workload}_" format, not prefixFormat.
    agg = aggregate(
        [backend("x", ["echo"]), backend("y", ["echo"]), backend("listed", ["other"])],
        config(
            conflictResolution="priority",
            conflictResolutionConfig={"priorityOrder": ["listed"], "prefixFormat": "{workload}."},
        ),
    )
    assert names(agg.tools) == ["other", "x_echo", "y_echo"]
    assert agg.tool_routes["y_echo"] == Route("y", "echo")


def test_priority_between_a_listed_and_an_unlisted_backend_drops_the_unlisted_one() -> None:
    agg = aggregate([backend("free", ["echo"]), backend("ranked", ["echo"])], priority("ranked"))
    assert names(agg.tools) == ["echo"]
    assert agg.tool_routes["echo"] == Route("ranked", "echo")


def test_priority_fallback_name_that_hits_a_bare_name_is_dropped_and_noted() -> None:
    agg = aggregate(
        [backend("x", ["echo"]), backend("y", ["echo"]), backend("z", ["x_echo"])],
        priority("unrelated"),
    )
    assert agg.tool_routes["x_echo"] == Route("z", "x_echo")
    assert agg.tool_routes["y_echo"] == Route("y", "echo")
    assert any("x_echo" in note for note in agg.conflicts)


# ---------------------------------------------------------------------------------------- manual


def test_manual_advertises_bare_names_and_the_overrides_resolve_the_conflicts() -> None:
    agg = aggregate(
        [backend("github", ["search", "create_issue"]), backend("jira", ["search"])],
        config(
            conflictResolution="manual",
            tools=[{"workload": "jira", "overrides": {"search": {"name": "jira_search"}}}],
        ),
    )
    assert names(agg.tools) == ["create_issue", "jira_search", "search"]
    assert agg.tool_routes["jira_search"] == Route("jira", "search")
    assert agg.tool_routes["search"] == Route("github", "search")


def test_manual_with_a_conflict_left_unresolved_fails_the_aggregation_naming_it() -> None:
    with pytest.raises(UnresolvedConflictError) as caught:
        aggregate(
            [backend("a", ["search", "x"]), backend("b", ["search"])],
            config(conflictResolution="manual"),
        )
    assert caught.value.conflicts == {"search": ["a", "b"]}
    assert "search: [a, b]" in str(caught.value)


def test_manual_fails_when_an_override_creates_a_new_collision() -> None:
    with pytest.raises(UnresolvedConflictError) as caught:
        aggregate(
            [backend("a", ["one"]), backend("b", ["two"])],
            config(
                conflictResolution="manual",
                tools=[{"workload": "b", "overrides": {"two": {"name": "one"}}}],
            ),
        )
    assert caught.value.conflicts == {"one": ["a", "b"]}


def test_manual_with_description_only_overrides_on_both_sides_is_still_a_conflict() -> None:
    with pytest.raises(UnresolvedConflictError):
        aggregate(
            [backend("a", ["s"]), backend("b", ["s"])],
            config(
                conflictResolution="manual",
                tools=[
                    {"workload": "a", "overrides": {"s": {"description": "A"}}},
                    {"workload": "b", "overrides": {"s": {"description": "B"}}},
                ],
            ),
        )


# ------------------------------------------------------------------------ filter/override/exclude


def test_override_renames_and_redescribes_before_prefixing_and_routes_to_the_original() -> None:
    agg = aggregate(
        [backend("fetch", [tool("fetch", "Fetches a URL", annotations={"openWorldHint": True})])],
        config(
            tools=[
                {
                    "workload": "fetch",
                    "overrides": {
                        "fetch": {
                            "name": "get_url",
                            "description": "Download a web page",
                            "annotations": {"readOnlyHint": True, "title": "Get URL"},
                        }
                    },
                }
            ]
        ),
    )
    (advertised,) = agg.tools
    assert advertised["name"] == "fetch_get_url"
    assert advertised["description"] == "Download a web page"
    assert advertised["annotations"] == {
        "openWorldHint": True,
        "readOnlyHint": True,
        "title": "Get URL",
    }
    assert agg.tool_routes["fetch_get_url"] == Route("fetch", "fetch")
    # Composite steps name the backend's own tool.
    assert agg.hidden_tool_routes["fetch.fetch"] == Route("fetch", "fetch")


def test_empty_override_fields_leave_name_and_description_unchanged() -> None:
    agg = aggregate(
        [backend("b", [tool("t", "original")])],
        config(tools=[{"workload": "b", "overrides": {"t": {"name": "", "description": ""}}}]),
    )
    assert agg.tools[0]["name"] == "b_t"
    assert agg.tools[0]["description"] == "original"


def test_filter_matches_the_overridden_name_as_toolhive() -> None:
    agg = aggregate(
        [backend("b", ["a", "c", "d"])],
        config(
            tools=[
                {
                    "workload": "b",
                    "filter": ["renamed", "c"],
                    "overrides": {"a": {"name": "renamed"}, "d": {"name": "d2"}},
                }
            ]
        ),
    )
    assert names(agg.tools) == ["b_c", "b_renamed"]


def test_a_filtered_out_tool_is_hidden_from_the_list_but_stays_routable_for_composites() -> None:
    agg = aggregate(
        [backend("b", ["shown", "hidden"])],
        config(tools=[{"workload": "b", "filter": ["shown"]}]),
    )
    assert names(agg.tools) == ["b_shown"]
    assert "b_hidden" not in agg.tool_routes
    assert agg.resolved_tool_routes["b_hidden"] == Route("b", "hidden")
    assert agg.hidden_tool_routes["b.hidden"] == Route("b", "hidden")
    assert agg.tool_ref("b.hidden") == Route("b", "hidden")
    assert agg.tool_ref("b_hidden") == Route("b", "hidden")
    assert agg.tool_ref("b.nope") is None


def test_an_empty_filter_list_filters_nothing() -> None:
    agg = aggregate([backend("b", ["x"])], config(tools=[{"workload": "b", "filter": []}]))
    assert names(agg.tools) == ["b_x"]


def test_exclude_all_hides_one_workload_and_exclude_all_tools_hides_every_one() -> None:
    backends = [backend("a", ["x"]), backend("b", ["y"])]
    one = aggregate(backends, config(tools=[{"workload": "a", "excludeAll": True}]))
    assert names(one.tools) == ["b_y"]
    assert one.hidden_tool_routes["a.x"] == Route("a", "x")
    every = aggregate(
        backends,
        config(excludeAllTools=True, tools=[{"workload": "a", "filter": ["x"]}]),
    )
    assert every.tools == [] and every.tool_routes == {}
    assert every.resolved_tool_routes["a_x"] == Route("a", "x")
    assert every.tools_json == b'{"tools":[]}'


def test_default_tool_visibility_deny_advertises_only_workloads_with_a_tools_entry() -> None:
    agg = aggregate(
        [backend("listed", ["x"]), backend("unlisted", ["y"])],
        config(defaultToolVisibility="deny", tools=[{"workload": "listed"}]),
    )
    assert names(agg.tools) == ["listed_x"]
    assert agg.hidden_tool_routes["unlisted.y"] == Route("unlisted", "y")


def test_a_repeated_workload_entry_uses_the_last_one_as_toolhive() -> None:
    agg = aggregate(
        [backend("b", ["x", "y"])],
        config(tools=[{"workload": "b", "filter": ["x"]}, {"workload": "b", "filter": ["y"]}]),
    )
    assert names(agg.tools) == ["b_y"]


def test_tools_without_a_name_or_listed_twice_are_dropped_with_a_note() -> None:
    agg = aggregate(
        [backend("b", [tool("x"), {"description": "no name"}, tool("x", "again")])], config()
    )
    assert names(agg.tools) == ["b_x"]
    assert agg.tools[0]["description"] == "x tool"
    assert len(agg.conflicts) == 2


# --------------------------------------------------------------------------------------- prompts


def test_prompts_are_always_prefixed_and_routed_back_to_the_original_name() -> None:
    agg = aggregate(
        [backend("b", prompts=["review"]), backend("a", prompts=["review", "summarize"])],
        config(conflictResolution="manual"),
    )
    assert names(agg.prompts) == ["a_review", "a_summarize", "b_review"]
    assert agg.prompt_routes["b_review"] == Route("b", "review")
    assert agg.prompts[0]["description"] == "a's review"


def test_prompts_use_the_configured_prefix_format() -> None:
    agg = aggregate(
        [backend("a", prompts=["p"])],
        config(conflictResolutionConfig={"prefixFormat": "{workload}__"}),
    )
    assert names(agg.prompts) == ["a__p"]


def test_under_priority_listed_backends_keep_bare_prompt_names_and_the_best_rank_wins() -> None:
    agg = aggregate(
        [
            backend("one", prompts=["review", "plan"]),
            backend("two", prompts=["review"]),
            backend("free", prompts=["review"]),
        ],
        priority("two", "one"),
    )
    assert names(agg.prompts) == ["free_review", "plan", "review"]
    assert agg.prompt_routes["review"] == Route("two", "review")
    assert agg.prompt_routes["plan"] == Route("one", "plan")
    assert any("review" in note and "dropped one" in note for note in agg.conflicts)


def test_an_ambiguous_prompt_name_is_advertised_by_nobody() -> None:
    # "b1" + "x_y" and "b1_x" + "y" both compose to "b1_x_y".
    agg = aggregate(
        [backend("b1", prompts=["x_y", "ok"]), backend("b1_x", prompts=["y"])], config()
    )
    assert names(agg.prompts) == ["b1_ok"]
    assert "b1_x_y" not in agg.prompt_routes
    assert any("ambiguous" in note for note in agg.conflicts)


def test_a_prefixed_prompt_name_hitting_a_listed_backends_bare_name_is_dropped_on_both_sides() -> (
    None
):
    agg = aggregate(
        [backend("listed", prompts=["free_p"]), backend("free", prompts=["p"])],
        priority("listed"),
    )
    assert agg.prompts == []


def test_a_prompt_a_backend_lists_twice_is_advertised_once() -> None:
    agg = aggregate([backend("a", prompts=["p", "p"])], config())
    assert names(agg.prompts) == ["a_p"]


# ------------------------------------------------------------------------- resources & templates


def res(uri: str, name: str = "") -> dict[str, Any]:
    return {"uri": uri, "name": name or uri}


def tmpl(template: str) -> dict[str, Any]:
    return {"uriTemplate": template, "name": template}


def test_resources_are_never_rewritten_and_a_shared_uri_goes_to_the_first_backend_by_name() -> None:
    agg = aggregate(
        [
            backend("zeta", resources=[res("file:///a", "zeta's"), res("file:///z")]),
            backend("alpha", resources=[res("file:///a", "alpha's")]),
        ],
        config(conflictResolution="prefix"),
    )
    assert [r["uri"] for r in agg.resources] == ["file:///a", "file:///z"]
    assert agg.resources[0]["name"] == "alpha's"
    assert agg.resource_routes == {"file:///a": "alpha", "file:///z": "zeta"}
    assert any("file:///a" in note for note in agg.conflicts)


def test_templates_are_deduplicated_the_same_way_and_route_reads_by_matching() -> None:
    agg = aggregate(
        [
            backend("logs", templates=[tmpl("file:///logs/{date}.txt")]),
            backend("repo", templates=[tmpl("repo://{owner}/{repo}/contents{/path*}")]),
            backend("alpha", templates=[tmpl("file:///logs/{date}.txt")]),
            backend("search", templates=[tmpl("search://q{?query,limit}")]),
        ],
        config(),
    )
    assert [t["uriTemplate"] for t in agg.resource_templates] == [
        "file:///logs/{date}.txt",
        "repo://{owner}/{repo}/contents{/path*}",
        "search://q{?query,limit}",
    ]
    assert agg.resource_backend("file:///logs/2025-01-01.txt") == "alpha"
    assert agg.resource_backend("file:///logs/{date}.txt") == "alpha"  # the template itself
    assert agg.resource_backend("file:///logs/a/b.txt") is None  # {var} never spans a "/"
    assert agg.resource_backend("repo://stacklok/toolhive/contents/pkg/vmcp/doc.go") == "repo"
    assert agg.resource_backend("repo://stacklok/toolhive/contents") == "repo"
    assert agg.resource_backend("search://q?query=mcp&limit=3") == "search"
    assert agg.resource_backend("other://x") is None


def test_an_exact_resource_wins_over_a_template_that_also_matches() -> None:
    agg = aggregate(
        [
            backend("t", templates=[tmpl("test://static/resource/{id}")]),
            backend("r", resources=[res("test://static/resource/1")]),
        ],
        config(),
    )
    assert agg.resource_backend("test://static/resource/1") == "r"
    assert agg.resource_backend("test://static/resource/2") == "t"


def test_a_malformed_template_is_advertised_but_never_matched() -> None:
    agg = aggregate([backend("b", templates=[tmpl("bad://{unclosed")])], config())
    assert len(agg.resource_templates) == 1
    assert agg.resource_backend("bad://x") is None
    assert agg.resource_backend("bad://{unclosed") == "b"


# ----------------------------------------------------------------------------- encoding & speed


def assert_encoded(agg: Aggregate) -> None:
    assert json.loads(agg.tools_json) == {"tools": agg.tools}
    assert json.loads(agg.resources_json) == {"resources": agg.resources}
    assert json.loads(agg.resource_templates_json) == {"resourceTemplates": agg.resource_templates}
    assert json.loads(agg.prompts_json) == {"prompts": agg.prompts}


def test_the_pre_encoded_results_equal_the_advertised_lists() -> None:
    agg = aggregate(
        [
            backend("a", [tool("x", "ünïcode ✓")], resources=[res("a://1")], prompts=["p"]),
            backend("b", ["y"], templates=[tmpl("b://{id}")]),
        ],
        config(),
    )
    assert_encoded(agg)
    assert "ünïcode ✓".encode() in agg.tools_json  # UTF-8, not \\u escapes
    assert b" " not in agg.prompts_json.replace(b"a's p", b"")  # compact


def test_a_lone_surrogate_from_a_backend_cannot_break_the_lists() -> None:
    bad = json.loads('{"name": "x", "description": "bad \\ud800 text", "inputSchema": {}}')
    agg = aggregate([backend("b", [bad])], config())
    assert agg.tools[0]["description"] == "bad \ufffd text"
    assert_encoded(agg)


def test_no_backends_gives_empty_lists() -> None:
    agg = aggregate([], config())
    assert agg.tools == [] and agg.tools_json == b'{"tools":[]}'
    assert agg.prompts_json == b'{"prompts":[]}'
    assert agg.resource_templates_json == b'{"resourceTemplates":[]}'
    assert agg.resource_backend("x://y") is None


def big_group() -> list[BackendCapabilities]:
    return [
        BackendCapabilities(
            name=f"server-{b}",
            tools=[
                {
                    "name": f"tool_{t}",
                    "description": f"Does thing {t} of server {b} with a longer description",
                    "inputSchema": {
                        "type": "object",
                        "properties": {
                            "query": {"type": "string", "description": "what to look for"},
                            "limit": {"type": "integer", "minimum": 1},
                        },
                        "required": ["query"],
                    },
                    "annotations": {"readOnlyHint": True},
                }
                for t in range(20)
            ],
            resources=[res(f"s{b}://r/{i}") for i in range(5)],
            resource_templates=[tmpl(f"s{b}://items/{{id}}")],
            prompts=[{"name": f"prompt_{i}"} for i in range(3)],
        )
        for b in range(10)
    ]


@pytest.mark.parametrize("strategy", ["prefix", "priority", "manual"])
def test_ten_backends_of_twenty_tools_aggregate_in_a_few_milliseconds(strategy: str) -> None:
    backends = big_group()
    extra: dict[str, Any] = {}
    if strategy == "priority":
        extra["conflictResolutionConfig"] = {"priorityOrder": ["server-3"]}
    if strategy == "manual":
        # Give every backend but the first its own names so nothing conflicts.
        extra["tools"] = [
            {
                "workload": b.name,
                "overrides": {t["name"]: {"name": f"{b.name}-{t['name']}"} for t in b.tools},
            }
            for b in backends[1:]
        ]
    cfg = config(conflictResolution=strategy, **extra)
    agg = aggregate(backends, cfg)
    expected = {"prefix": 200, "priority": 20, "manual": 200}[strategy]
    assert len(agg.tools) == expected
    assert len(agg.hidden_tool_routes) == 200
    assert_encoded(agg)
    runs = 50
    start = time.perf_counter()
    for _ in range(runs):
        aggregate(backends, cfg)
    per_run = (time.perf_counter() - start) / runs
    print(f"\n{strategy}: 10 backends x 20 tools aggregated in {per_run * 1000:.2f} ms")


def test_workload_names_with_dots_do_not_lose_tools_to_an_ambiguous_reference() -> None:
    agg = aggregate([backend("a.b", ["c"]), backend("a", ["b.c"])], config())
    assert names(agg.tools) == ["a.b_c", "a_b.c"]
    assert agg.hidden_tool_routes["a.b.c"] == Route("a.b", "c")  # the first backend's
