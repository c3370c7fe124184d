"""The optimizer's keyword index: ranking over realistic tool sets, hostile queries, limits,
rebuilds, and find_tool/call_tool as ToolHive defines them.

The tool sets are what the servers advertise: mcp-server-time's and server-everything's lists
were captured from the real servers (names, descriptions, parameter descriptions); the GitHub,
fetch and git sets follow github-mcp-server, mcp-server-fetch and mcp-server-git. They are
aggregated with the default prefix strategy first, so the index sees the gateway's names.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from toolhive.vmcp.aggregation import BackendCapabilities, aggregate
from toolhive.vmcp.config import AggregationConfig
from toolhive.vmcp.optimizer import (
    CALL_TOOL,
    DEFAULT_MAX_RESULTS,
    FIND_TOOL,
    OptimizerInputError,
    ToolIndex,
    find_tool_output,
    find_tool_result,
    parse_call_tool,
    parse_find_tool,
    words,
)

Spec = tuple[str, str, dict[str, str]]

# Captured from mcp-server-time.
TIME: list[Spec] = [
    (
        "get_current_time",
        "Get current time in a specific timezone",
        {
            "timezone": "IANA timezone name (e.g., 'America/New_York', 'Europe/London'). Use 'Etc/UTC' as local timezone if no timezone provided by the user."
        },
    ),
    (
        "convert_time",
        "Convert time between timezones",
        {
            "source_timezone": "Source IANA timezone name (e.g., 'America/New_York', 'Europe/London'). Use 'Etc/UTC' as local timezone if no source timezone provided by the user.",
            "time": "Time to convert in 24-hour format (HH:MM)",
            "target_timezone": "Target IANA timezone name (e.g., 'Asia/Tokyo', 'America/San_Francisco'). Use 'Etc/UTC' as local timezone if no target timezone provided by the user.",
        },
    ),
]
# Captured from @modelcontextprotocol/server-everything.
EVERYTHING: list[Spec] = [
    ("echo", "Echoes back the input string", {"message": "Message to echo"}),
    (
        "get-annotated-message",
        "Demonstrates how annotations can be used to provide metadata about content.",
        {
            "messageType": "Type of message to demonstrate different annotation patterns",
            "includeImage": "Whether to include an example image",
        },
    ),
    (
        "get-env",
        "Returns all environment variables, helpful for debugging MCP server configuration",
        {},
    ),
    (
        "get-resource-links",
        "Returns up to ten resource links that reference different types of resources",
        {"count": "Number of resource links to return (1-10)"},
    ),
    (
        "get-resource-reference",
        "Returns a resource reference that can be used by MCP clients",
        {"resourceType": "", "resourceId": "ID of the text resource to fetch"},
    ),
    (
        "get-structured-content",
        "Returns structured content along with an output schema for client data validation",
        {"location": "Choose city"},
    ),
    ("get-sum", "Returns the sum of two numbers", {"a": "First number", "b": "Second number"}),
    ("get-tiny-image", "Returns a tiny MCP logo image.", {}),
    (
        "gzip-file-as-resource",
        "Compresses a single file using gzip compression. Depending upon the selected output type, returns either the compressed data as a gzipped resource or a resource link, allowing it to be downloaded in a subsequent request during the current session.",
        {
            "name": "Name of the output file",
            "data": "URL or data URI of the file content to compress",
            "outputType": "How the resulting gzipped file should be returned. 'resourceLink' returns a link to a resource that can be read later, 'resource' returns a full resource object.",
        },
    ),
    ("toggle-simulated-logging", "Toggles simulated, random-leveled logging on or off.", {}),
    ("toggle-subscriber-updates", "Toggles simulated resource subscription updates on or off.", {}),
    (
        "trigger-long-running-operation",
        "Demonstrates a long running operation with progress updates.",
        {
            "duration": "Duration of the operation in seconds",
            "steps": "Number of steps in the operation",
        },
    ),
    (
        "simulate-research-query",
        "Simulates a deep research operation that gathers, analyzes, and synthesizes information. Demonstrates MCP task-based operations with progress through multiple stages. If 'ambiguous' is true and client supports elicitation, sends an elicitation request for clarification.",
        {
            "topic": "The research topic to investigate",
            "ambiguous": "Simulate an ambiguous query that requires clarification (triggers input_required status)",
        },
    ),
]
REPO = {"owner": "Repository owner", "repo": "Repository name"}
GITHUB: list[Spec] = [
    (
        "create_issue",
        "Create a new issue in a GitHub repository.",
        {**REPO, "title": "Issue title", "body": "Issue body content", "labels": "Labels to apply"},
    ),
    (
        "get_issue",
        "Get details of a specific issue in a GitHub repository.",
        {**REPO, "issue_number": "The number of the issue"},
    ),
    (
        "list_issues",
        "List issues in a GitHub repository.",
        {**REPO, "state": "Filter by state, by default both open and closed issues are returned"},
    ),
    (
        "add_issue_comment",
        "Add a comment to a specific issue in a GitHub repository.",
        {**REPO, "issue_number": "Issue number to comment on", "body": "Comment content"},
    ),
    (
        "update_issue",
        "Update an existing issue in a GitHub repository.",
        {**REPO, "issue_number": "Issue number to update", "state": "New state"},
    ),
    (
        "create_pull_request",
        "Create a new pull request in a GitHub repository.",
        {
            **REPO,
            "title": "PR title",
            "head": "Branch containing changes",
            "base": "Branch to merge into",
        },
    ),
    (
        "list_pull_requests",
        "List pull requests in a GitHub repository.",
        {**REPO, "state": "Filter by state"},
    ),
    (
        "merge_pull_request",
        "Merge a pull request in a GitHub repository.",
        {**REPO, "pullNumber": "Pull request number", "merge_method": "Merge method"},
    ),
    (
        "get_pull_request_diff",
        "Get the diff of a pull request.",
        {**REPO, "pullNumber": "Pull request number"},
    ),
    ("search_repositories", "Search for GitHub repositories", {"query": "Search query"}),
    (
        "search_code",
        "Search for code across GitHub repositories",
        {"query": "Search query using GitHub code search syntax"},
    ),
    ("search_users", "Search for GitHub users", {"query": "Search query"}),
    (
        "get_file_contents",
        "Get the contents of a file or directory from a GitHub repository",
        {**REPO, "path": "Path to file/directory", "ref": "Git ref"},
    ),
    (
        "create_or_update_file",
        "Create or update a single file in a GitHub repository.",
        {
            **REPO,
            "path": "Path where to create/update the file",
            "content": "Content of the file",
            "message": "Commit message",
            "branch": "Branch to create/update the file in",
        },
    ),
    (
        "push_files",
        "Push multiple files to a GitHub repository in a single commit",
        {**REPO, "branch": "Branch to push to", "files": "Array of file objects to push"},
    ),
    (
        "list_commits",
        "Get list of commits of a branch in a GitHub repository.",
        {**REPO, "sha": "Commit SHA, branch or tag name"},
    ),
    (
        "create_branch",
        "Create a new branch in a GitHub repository",
        {**REPO, "branch": "Name for new branch", "from_branch": "Source branch"},
    ),
    ("list_branches", "List branches in a GitHub repository", REPO),
    (
        "fork_repository",
        "Fork a GitHub repository to your account or specified organization",
        {**REPO, "organization": "Organization to fork to"},
    ),
    (
        "create_repository",
        "Create a new GitHub repository in your account",
        {"name": "Repository name", "private": "Whether repo should be private"},
    ),
    (
        "list_workflow_runs",
        "List workflow runs for a specific workflow",
        {**REPO, "workflow_id": "The workflow ID or workflow file name"},
    ),
    (
        "get_job_logs",
        "Download logs for a specific workflow job or efficiently get all failed "
        "job logs for a workflow run",
        {**REPO, "job_id": "The unique identifier of the workflow job"},
    ),
]
FETCH: list[Spec] = [
    (
        "fetch",
        "Fetches a URL from the internet and optionally extracts its contents as markdown.",
        {
            "url": "URL to fetch",
            "max_length": "Maximum number of characters to return.",
            "raw": "Get the actual HTML content of the requested page, without simplification.",
        },
    ),
]
GIT: list[Spec] = [
    ("git_status", "Shows the working tree status", {"repo_path": ""}),
    (
        "git_diff_unstaged",
        "Shows changes in the working directory that are not yet staged",
        {"repo_path": ""},
    ),
    ("git_diff_staged", "Shows changes that are staged for commit", {"repo_path": ""}),
    ("git_diff", "Shows differences between branches or commits", {"repo_path": "", "target": ""}),
    ("git_commit", "Records changes to the repository", {"repo_path": "", "message": ""}),
    ("git_add", "Adds file contents to the staging area", {"repo_path": "", "files": ""}),
    ("git_reset", "Unstages all staged changes", {"repo_path": ""}),
    ("git_log", "Shows the commit logs", {"repo_path": "", "max_count": ""}),
    ("git_checkout", "Switches branches", {"repo_path": "", "branch_name": ""}),
    ("git_show", "Shows the contents of a commit", {"repo_path": "", "revision": ""}),
]


def mcp_tool(name: str, description: str, params: dict[str, str]) -> dict[str, Any]:
    properties = {
        key: {"type": "string", **({"description": text} if text else {})}
        for key, text in params.items()
    }
    return {
        "name": name,
        "description": description,
        "inputSchema": {"type": "object", "properties": properties},
    }


def group_tools() -> list[dict[str, Any]]:
    sets = {"time": TIME, "everything": EVERYTHING, "github": GITHUB, "fetch": FETCH, "git": GIT}
    backends = [
        BackendCapabilities(name, [mcp_tool(*spec) for spec in specs], [], [], [])
        for name, specs in sets.items()
    ]
    return aggregate(backends, AggregationConfig()).tools


@pytest.fixture(scope="module")
def index() -> ToolIndex:
    idx = ToolIndex()
    idx.rebuild(group_tools())
    return idx


def found(idx: ToolIndex, query: str, limit: int | None = None, **kw: Any) -> list[str]:
    return [tool["name"] for tool in idx.find(query, limit, **kw)]


# --------------------------------------------------------------------------------------- ranking


@pytest.mark.parametrize(
    ("query", "best"),
    [
        ("what time is it in Tokyo", "time_get_current_time"),
        ("get the current time in a timezone", "time_get_current_time"),
        ("convert 3pm New York time to London time", "time_convert_time"),
        ("sum of two numbers", "everything_get-sum"),
        ("echo a message back", "everything_echo"),
        ("compress a file with gzip", "everything_gzip-file-as-resource"),
        ("show environment variables", "everything_get-env"),
        ("run a long operation with progress updates", "everything_trigger-long-running-operation"),
        ("tiny image", "everything_get-tiny-image"),
        ("create a new issue in a github repository", "github_create_issue"),
        ("merge a pull request", "github_merge_pull_request"),
        ("search code across repositories", "github_search_code"),
        ("list recent commits on GitHub", "github_list_commits"),
        ("comment on an issue", "github_add_issue_comment"),
        ("get file contents from a github repository", "github_get_file_contents"),
        ("show the diff of a pull request", "github_get_pull_request_diff"),
        ("logs of a failed CI workflow job", "github_get_job_logs"),
        ("fork a repository", "github_fork_repository"),
        ("fetch the contents of a web page URL", "fetch_fetch"),
        ("download a URL from the internet", "fetch_fetch"),
        ("working tree status of the local git repo", "git_git_status"),
        ("switch to another branch", "git_git_checkout"),
        ("unstage all changes", "git_git_reset"),
    ],
)
def test_the_relevant_tool_ranks_first_in_a_realistic_group(
    index: ToolIndex, query: str, best: str
) -> None:
    assert found(index, query)[:1] == [best]


def test_words_split_snake_kebab_and_camel_case() -> None:
    assert words("get_current_time") == ["get", "current", "time"]
    assert words("get-tiny-image") == ["get", "tiny", "image"]
    assert words("getHTTPResponse2") == ["get", "http", "response", "2"]
    assert words("Straße día") == ["straße", "día"]


def test_camel_case_tool_names_are_found_by_their_words() -> None:
    idx = ToolIndex()
    idx.rebuild(
        [
            mcp_tool("getTinyImage", "Returns an image", {}),
            mcp_tool("longRunningOperation", "Demonstrates progress", {}),
            mcp_tool("printEnv", "Prints variables", {}),
        ]
    )
    assert found(idx, "tiny image") == ["getTinyImage"]
    assert found(idx, "long running operation") == ["longRunningOperation"]
    assert found(idx, "print env") == ["printEnv"]


def test_parameter_names_and_descriptions_are_searched_too() -> None:
    idx = ToolIndex()
    idx.rebuild(
        [
            mcp_tool("lookup", "Looks something up", {"postcode": "A UK postcode"}),
            mcp_tool("other", "Something else", {}),
        ]
    )
    assert found(idx, "postcode") == ["lookup"]


def test_stemming_matches_word_forms(index: ToolIndex) -> None:
    assert found(index, "compressing files")[:1] == ["everything_gzip-file-as-resource"]


def test_keywords_drive_the_search_when_given(index: ToolIndex) -> None:
    names = found(index, "something about time", keywords=["pull", "merge"])
    assert names[0] == "github_merge_pull_request"
    assert "time_get_current_time" not in names


def test_keywords_of_only_dropped_words_fall_back_to_the_description(index: ToolIndex) -> None:
    assert found(index, "convert time between timezones", keywords=["tool", "the", "name"])[:1] == [
        "time_convert_time"
    ]


def test_a_query_matching_nothing_finds_nothing(index: ToolIndex) -> None:
    assert found(index, "xylophone quasar") == []
    assert found(index, "the tool of the server") == []  # only dropped words


# ------------------------------------------------------------------------------- hostile queries


@pytest.mark.parametrize(
    "query",
    [
        '"',
        '"""',
        "?!.,;:()[]{}*^-+",
        "   ",
        "",
        "\x00\x01\x7f",
        "NOT AND OR NEAR",
        "time NOT",
        'time" OR "x',
        "name:time",
        "{description}: time",
        "tim*",
        "^time",
        "NEAR(time convert, 2)",
        "time'); DROP TABLE tools; --",
        "' OR 1=1 --",
        "\ud800 lone surrogate time",
        "日本語 🕐 time",
        "time " * 5000,
        "x" * 100_000,
    ],
)
def test_hostile_queries_never_raise(index: ToolIndex, query: str) -> None:
    result = index.find(query)
    assert len(result) <= DEFAULT_MAX_RESULTS
    result = index.find("ok", keywords=[query, query])
    assert len(result) <= DEFAULT_MAX_RESULTS


def test_operators_in_queries_are_read_as_words_and_the_table_survives(index: ToolIndex) -> None:
    time_tools = {"time_convert_time", "time_get_current_time"}
    assert set(found(index, "time'); DROP TABLE tools; --")) == time_tools
    # NOT is the word "not" (git_diff_unstaged: "not yet staged"), not an FTS5 operator.
    assert set(found(index, "NOT time")) == {*time_tools, "git_git_diff_unstaged"}
    assert found(index, "punctuation ?!.,;: only ?!.") == []
    assert found(index, "?!.,;:") == []
    assert len(index) == len(group_tools())


# ---------------------------------------------------------------------------------- limit & more


def test_limit_caps_the_results_and_defaults_to_toolhives_eight(index: ToolIndex) -> None:
    query = "github repository"
    assert len(found(index, query)) == DEFAULT_MAX_RESULTS == 8
    assert len(found(index, query, 3)) == 3
    assert found(index, query, 3) == found(index, query)[:3]
    assert found(index, query, 0) == []
    assert len(found(index, query, 100)) > 8


def test_a_limit_above_toolhives_maximum_is_capped_at_fifty() -> None:
    idx = ToolIndex()
    idx.rebuild([mcp_tool(f"alpha_{i}", "alpha", {}) for i in range(60)])
    assert len(idx.find("alpha", 10_000)) == 50


def test_max_results_is_configurable_within_toolhives_range() -> None:
    assert ToolIndex(max_results=2).find("github") == []  # nothing indexed yet
    idx = ToolIndex(max_results=2)
    idx.rebuild(group_tools())
    assert len(idx.find("github repository")) == 2
    for bad in (0, 51):
        with pytest.raises(ValueError, match="maxToolsToReturn"):
            ToolIndex(max_results=bad)


def test_allowed_keeps_only_the_tools_a_caller_may_see(index: ToolIndex) -> None:
    names = found(index, "github repository", 5, allowed=lambda n: "issue" in n)
    assert names and all("issue" in n for n in names)
    assert len(names) <= 5


def test_results_are_the_full_tool_definitions(index: ToolIndex) -> None:
    (best,) = index.find("sum of two numbers", 1)
    assert best["name"] == "everything_get-sum"
    assert best["inputSchema"]["properties"]["a"]["description"] == "First number"
    assert best is index.get("everything_get-sum")


# --------------------------------------------------------------------------------------- rebuild


def test_rebuild_replaces_the_whole_index() -> None:
    idx = ToolIndex()
    idx.rebuild([mcp_tool("alpha_search", "Search alpha", {})])
    assert found(idx, "search") == ["alpha_search"]
    idx.rebuild([mcp_tool("beta_search", "Search beta", {})])
    assert found(idx, "search") == ["beta_search"]
    assert idx.get("alpha_search") is None
    idx.rebuild([])
    assert found(idx, "search") == [] and len(idx) == 0


def test_rebuild_keeps_the_first_of_a_repeated_name_and_skips_nameless_tools() -> None:
    idx = ToolIndex()
    idx.rebuild(
        [
            mcp_tool("dup", "first copy about lemons", {}),
            mcp_tool("dup", "second copy about limes", {}),
            {"description": "no name, about lemons"},
        ]
    )
    assert len(idx) == 1
    assert found(idx, "lemons") == ["dup"]
    assert found(idx, "limes") == []


def test_rebuilding_two_hundred_tools_is_fast() -> None:
    tools = [{**tool, "name": f"{tool['name']}_{i}"} for i in range(6) for tool in group_tools()][
        :200
    ]
    assert len(tools) == 200
    idx = ToolIndex()
    runs = 20
    start = time.perf_counter()
    for _ in range(runs):
        idx.rebuild(tools)
    per_rebuild = (time.perf_counter() - start) / runs
    start = time.perf_counter()
    for _ in range(runs):
        idx.find("create a pull request in a github repository")
    per_find = (time.perf_counter() - start) / runs
    print(f"\nrebuild of 200 tools: {per_rebuild * 1000:.2f} ms; find: {per_find * 1000:.3f} ms")
    assert len(idx) == 200


# ------------------------------------------------------------------------- find_tool & call_tool


def test_the_meta_tools_are_defined_as_toolhive_defines_them() -> None:
    assert FIND_TOOL["name"] == "find_tool" and CALL_TOOL["name"] == "call_tool"
    assert FIND_TOOL["inputSchema"]["required"] == ["tool_description"]
    assert set(FIND_TOOL["inputSchema"]["properties"]) == {"tool_description", "tool_keywords"}
    assert FIND_TOOL["inputSchema"]["properties"]["tool_keywords"]["items"] == {"type": "string"}
    assert CALL_TOOL["inputSchema"]["required"] == ["tool_name", "parameters"]
    assert CALL_TOOL["inputSchema"]["properties"]["parameters"]["type"] == "object"
    assert "find_tool" in CALL_TOOL["description"]
    json.dumps([FIND_TOOL, CALL_TOOL])  # plain JSON


def test_find_tool_returns_ranked_tools_and_toolhives_token_metrics(index: ToolIndex) -> None:
    output = find_tool_output(index, {"tool_description": "sum of two numbers"})
    assert output["tools"][0]["name"] == "everything_get-sum"
    metrics = output["token_metrics"]
    every = group_tools()
    baseline = sum(len(json.dumps(t, separators=(",", ":")).encode()) // 4 for t in every)
    returned = sum(len(json.dumps(t, separators=(",", ":")).encode()) // 4 for t in output["tools"])
    assert metrics["baseline_tokens"] == baseline
    assert metrics["returned_tokens"] == returned
    assert metrics["savings_percent"] == pytest.approx((baseline - returned) / baseline * 100)


def test_find_tool_result_carries_the_output_as_text_and_structured_content(
    index: ToolIndex,
) -> None:
    result = find_tool_result(
        index, {"tool_description": "merge", "tool_keywords": ["pull", "request"]}
    )
    assert "isError" not in result
    assert json.loads(result["content"][0]["text"]) == result["structuredContent"]
    assert result["structuredContent"]["tools"][0]["name"].startswith("github_")


def test_find_tool_with_no_match_returns_an_empty_list_and_full_savings() -> None:
    idx = ToolIndex()
    idx.rebuild([mcp_tool("a", "alpha", {})])
    output = find_tool_output(idx, {"tool_description": "zebra"})
    assert output == {
        "tools": [],
        "token_metrics": {
            "baseline_tokens": output["token_metrics"]["baseline_tokens"],
            "returned_tokens": 0,
            "savings_percent": 100.0,
        },
    }
    empty = ToolIndex()
    assert find_tool_output(empty, {"tool_description": "x"})["token_metrics"] == {
        "baseline_tokens": 0,
        "returned_tokens": 0,
        "savings_percent": 0,
    }


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({}, "find_tool failed: tool_description is required"),
        ({"tool_description": ""}, "find_tool failed: tool_description is required"),
        (None, "find_tool failed: tool_description is required"),
        ({"tool_description": 3}, "invalid arguments: tool_description must be a string"),
        (
            {"tool_description": "x", "tool_keywords": "x"},
            "invalid arguments: tool_keywords must be an array of strings",
        ),
        (
            {"tool_description": "x", "tool_keywords": [1]},
            "invalid arguments: tool_keywords must be an array of strings",
        ),
        ([1], "invalid arguments: find_tool arguments must be an object"),
    ],
)
def test_bad_find_tool_arguments_give_a_tool_error_as_toolhive(
    index: ToolIndex, arguments: object, message: str
) -> None:
    result = find_tool_result(index, arguments)
    assert result == {"content": [{"type": "text", "text": message}], "isError": True}
    with pytest.raises(OptimizerInputError):
        parse_find_tool(arguments)


def test_find_tool_accepts_null_keywords() -> None:
    assert parse_find_tool({"tool_description": "x", "tool_keywords": None}) == ("x", [])


def test_call_tool_names_the_tool_and_its_arguments() -> None:
    assert parse_call_tool({"tool_name": "time_convert_time", "parameters": {"time": "16:30"}}) == (
        "time_convert_time",
        {"time": "16:30"},
    )


def test_call_tool_without_parameters_means_no_arguments() -> None:
    assert parse_call_tool({"tool_name": "git_git_status"}) == ("git_git_status", {})
    assert parse_call_tool({"tool_name": "x", "parameters": None}) == ("x", {})


def test_call_tool_hoists_a_tool_name_nested_in_the_parameters() -> None:
    params = {"tool_name": "fetch_fetch", "url": "https://example.com"}
    assert parse_call_tool({"parameters": params}) == (
        "fetch_fetch",
        {"url": "https://example.com"},
    )
    assert params["tool_name"] == "fetch_fetch"  # the caller's dict is not modified


def test_a_top_level_tool_name_wins_over_a_nested_one() -> None:
    arguments = {"tool_name": "outer", "parameters": {"tool_name": "inner-arg"}}
    assert parse_call_tool(arguments) == ("outer", {"tool_name": "inner-arg"})


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"parameters": {"a": 1, "b": 2}}, "tool_name is required: call_tool expects"),
        ({"tool_name": "", "parameters": {}}, "got parameters keys []"),
        ({}, "tool_name is required"),
        (None, "tool_name is required"),
        ({"tool_name": 7, "parameters": {}}, "tool_name must be a string"),
        ({"tool_name": "x", "parameters": [1]}, "parameters must be an object"),
        ("call x", "call_tool arguments must be an object"),
        ({"parameters": {"tool_name": 5}}, "tool_name is required"),
    ],
)
def test_bad_call_tool_arguments_raise_a_clear_error(arguments: object, message: str) -> None:
    with pytest.raises(OptimizerInputError) as caught:
        parse_call_tool(arguments)
    assert message in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_missing_tool_name_error_lists_the_parameter_keys_sorted() -> None:
    with pytest.raises(OptimizerInputError, match=r"got parameters keys \['a', 'b'\]"):
        parse_call_tool({"parameters": {"b": 1, "a": 2}})
