"""The composite-tool DAG engine (toolhive.vmcp.composite) driven with real step results.

The tool caller here is the engine's seam: a small async function that answers like a backend
(CallToolResult dicts, delays, failures) and records what it was asked.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

import pytest
from toolhive.vmcp.composite import CompositeTool, CompositeToolError
from toolhive.vmcp.config import CompositeToolConfig

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def tool(**config: Any) -> CompositeTool:
    config.setdefault("name", "wf")
    config.setdefault("description", "a workflow")
    return CompositeTool(CompositeToolConfig.model_validate(config))


def text(value: str) -> dict[str, Any]:
    return {"content": [{"type": "text", "text": value}]}


class Backend:
    """Answers step calls like MCP servers: per-tool delay, failures, structured output."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.delays: dict[str, float] = {}
        self.failures: dict[str, int] = {}  # tool → how many calls fail before one succeeds
        self.running = 0
        self.max_running = 0
        self.events: list[tuple[float, str, str]] = []
        self.cancelled: list[str] = []
        self.t0 = time.monotonic()

    async def __call__(self, name: str, args: dict[str, Any]) -> dict[str, Any]:
        self.calls.append((name, args))
        self.running += 1
        self.max_running = max(self.max_running, self.running)
        label = str(args.get("id", name))
        self.events.append((time.monotonic() - self.t0, "start", label))
        try:
            await asyncio.sleep(self.delays.get(name, 0))
        except asyncio.CancelledError:
            self.cancelled.append(label)
            raise
        finally:
            self.running -= 1
        self.events.append((time.monotonic() - self.t0, "end", label))
        if self.failures.get(name, 0) > 0:
            self.failures[name] -= 1
            return {"content": [{"type": "text", "text": f"{name} failed"}], "isError": True}
        if name == "w.explode":
            raise ConnectionError("connection reset by peer")
        if name == "w.struct":
            return {**text("ignored"), "structuredContent": {"echo": args, "n": 42}}
        return text(json.dumps(args, sort_keys=True))

    def started(self, label: str) -> float:
        return next(t for t, kind, what in self.events if kind == "start" and what == label)

    def ended(self, label: str) -> float:
        return next(t for t, kind, what in self.events if kind == "end" and what == label)


def output(result: dict[str, Any]) -> Any:
    assert "isError" not in result, result
    return json.loads(result["content"][0]["text"])


def failure(result: dict[str, Any]) -> str:
    assert result.get("isError") is True, result
    message = result["content"][0]["text"]
    assert isinstance(message, str)
    return message


# --------------------------------------------------------------------------- tool steps


async def test_tool_step_arguments_are_templated_from_params_and_earlier_steps() -> None:
    backend = Backend()
    wf = tool(
        parameters={
            "type": "object",
            "properties": {
                "repo": {"type": "string"},
                "branch": {"type": "string", "default": "main"},
            },
        },
        steps=[
            {"id": "first", "tool": "w.struct", "arguments": {"repo": "{{.params.repo}}"}},
            {
                "id": "second",
                "tool": "w.echo",
                "dependsOn": ["first"],
                "arguments": {
                    "n": "{{.steps.first.output.n}}",
                    "text": "{{.steps.first.content.text}}",
                    "branch": "{{.params.branch}}",
                    "missing": "{{.params.nope}}",
                    "literal": 7,
                },
            },
        ],
    )
    result = await wf.run(
        {"repo": "toolhive"},
        backend,
        None,
        step_tools={
            "w.echo": {"inputSchema": {"type": "object", "properties": {"n": {"type": "integer"}}}}
        },
    )
    assert backend.calls[0] == ("w.struct", {"repo": "toolhive"})
    # Strings as Go's templates make them, coerced to the backend's schema (n: integer).
    assert backend.calls[1] == (
        "w.echo",
        {"n": 42, "text": "ignored", "branch": "main", "missing": "<no value>", "literal": 7},
    )
    # No output config: the last completed step's output — content as a map, JSON not parsed.
    assert output(result) == {"text": json.dumps(backend.calls[1][1], sort_keys=True)}
    assert result["structuredContent"] == output(result)


async def test_structured_content_is_the_step_output_and_the_workflow_result() -> None:
    backend = Backend()
    wf = tool(steps=[{"id": "only", "tool": "w.struct", "arguments": {"a": "b"}}])
    result = await wf.run({}, backend, None)
    assert result["structuredContent"] == {"echo": {"a": "b"}, "n": 42}


async def test_a_backend_error_result_fails_the_workflow_with_its_message() -> None:
    backend = Backend()
    backend.failures["w.echo"] = 1
    wf = tool(steps=[{"id": "s", "tool": "w.echo"}])
    message = failure(await wf.run({}, backend, None))
    assert message == (
        "Workflow execution failed: tool call failed: tool w.echo in step s: "
        "tool execution failed: w.echo failed"
    )


async def test_a_template_error_names_the_step_template_and_position() -> None:
    backend = Backend()
    wf = tool(
        steps=[{"id": "s", "tool": "w.echo", "arguments": {"x": "ok {{index .params.list 5}}"}}]
    )
    message = failure(await wf.run({"list": [1]}, backend, None))
    assert "failed to expand arguments for step s" in message
    assert "template: wf.steps.s.arguments.x:1:6: executing" in message
    assert "index out of range: 5" in message
    assert backend.calls == []


async def test_a_transport_error_fails_the_step() -> None:
    wf = tool(steps=[{"id": "s", "tool": "w.explode"}])
    assert "connection reset by peer" in failure(await wf.run({}, Backend(), None))


# --------------------------------------------------------------------------- ordering


async def test_independent_steps_run_in_parallel_and_dependents_wait() -> None:
    backend = Backend()
    backend.delays["w.slow"] = 0.2
    wf = tool(
        steps=[
            {"id": "a", "tool": "w.slow", "arguments": {"id": "a"}},
            {"id": "b", "tool": "w.slow", "arguments": {"id": "b"}},
            {"id": "c", "tool": "w.echo", "dependsOn": ["a", "b"], "arguments": {"id": "c"}},
        ]
    )
    start = time.monotonic()
    result = await wf.run({}, backend, None)
    elapsed = time.monotonic() - start
    assert output(result) == {"text": '{"id": "c"}'}
    assert backend.max_running == 2
    assert max(backend.started("a"), backend.started("b")) < min(
        backend.ended("a"), backend.ended("b")
    )
    assert 0.2 <= elapsed < 0.39, elapsed  # two 0.2 s steps side by side, not 0.4 s
    assert backend.started("c") >= max(backend.ended("a"), backend.ended("b"))


async def test_a_step_starts_as_soon_as_its_own_dependencies_are_done() -> None:
    backend = Backend()
    backend.delays.update({"w.fast": 0.05, "w.slow": 0.5})
    wf = tool(
        steps=[
            {"id": "fast", "tool": "w.fast", "arguments": {"id": "fast"}},
            {"id": "slow", "tool": "w.slow", "arguments": {"id": "slow"}},
            {
                "id": "after_fast",
                "tool": "w.echo",
                "dependsOn": ["fast"],
                "arguments": {"id": "af"},
            },
        ]
    )
    await wf.run({}, backend, None)
    assert backend.started("af") < backend.ended("slow") - 0.3


async def test_a_diamond_runs_each_step_once_in_dependency_order() -> None:
    backend = Backend()
    backend.delays["w.mid"] = 0.05
    wf = tool(
        steps=[
            {
                "id": "merge",
                "tool": "w.echo",
                "dependsOn": ["left", "right"],
                "arguments": {"id": "merge"},
            },
            {"id": "left", "tool": "w.mid", "dependsOn": ["root"], "arguments": {"id": "left"}},
            {"id": "right", "tool": "w.mid", "dependsOn": ["root"], "arguments": {"id": "right"}},
            {"id": "root", "tool": "w.echo", "arguments": {"id": "root"}},
        ]
    )
    await wf.run({}, backend, None)
    order = [args["id"] for _, args in backend.calls]
    assert order[0] == "root" and order[-1] == "merge" and sorted(order[1:3]) == ["left", "right"]


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        (
            [
                {"id": "a", "tool": "w.x", "dependsOn": ["b"]},
                {"id": "b", "tool": "w.x", "dependsOn": ["a"]},
            ],
            "circular dependency",
        ),
        ([{"id": "a", "tool": "w.x", "dependsOn": ["ghost"]}], "non-existent step ghost"),
        ([{"id": "a", "tool": "w.x"}, {"id": "a", "tool": "w.y"}], "duplicate step ID"),
        ([{"id": "a", "tool": "w.x", "arguments": {"q": "{{.params.q"}}], "unclosed action"),
        ([{"id": "a", "type": "elicitation"}], "elicitation message is required"),
        ([{"id": "a", "type": "elicitation", "message": "?"}], "schema is required"),
        (
            [
                {
                    "id": "a",
                    "type": "forEach",
                    "collection": "[]",
                    "itemVar": "my-item",
                    "step": {"tool": "w.x"},
                }
            ],
            "valid Go identifier",
        ),
        (
            [
                {
                    "id": "a",
                    "type": "forEach",
                    "collection": "[]",
                    "itemVar": "index",
                    "step": {"tool": "w.x"},
                }
            ],
            "cannot be 'index'",
        ),
        (
            [
                {
                    "id": "a",
                    "type": "forEach",
                    "collection": "[]",
                    "step": {"type": "elicitation", "message": "?"},
                }
            ],
            "inner step must be a tool step",
        ),
        ([{"id": "a", "type": "forEach", "collection": "[]"}], "inner step is required"),
    ],
)
def test_an_invalid_workflow_is_refused_when_loaded(
    steps: list[dict[str, Any]], message: str
) -> None:
    with pytest.raises(CompositeToolError, match=message):
        tool(steps=steps)


# --------------------------------------------------------------------------- condition


async def test_a_false_condition_skips_the_step_and_dependents_see_it_skipped() -> None:
    backend = Backend()
    wf = tool(
        parameters={"type": "object", "properties": {"enrich": {"type": "boolean"}}},
        steps=[
            {
                "id": "enrich",
                "tool": "w.echo",
                "condition": "{{.params.enrich}}",
                "defaultResults": {"text": "fallback"},
            },
            {
                "id": "use",
                "tool": "w.echo",
                "dependsOn": ["enrich"],
                "arguments": {
                    "status": "{{.steps.enrich.status}}",
                    "text": "{{.steps.enrich.output.text}}",
                },
            },
        ],
    )
    result = await wf.run({"enrich": False}, backend, None)
    assert [name for name, _ in backend.calls] == ["w.echo"]
    assert backend.calls[0][1] == {"status": "skipped", "text": "fallback"}
    assert output(result) == {"text": '{"status": "skipped", "text": "fallback"}'}


async def test_a_condition_that_is_not_boolean_fails_the_step() -> None:
    wf = tool(steps=[{"id": "s", "tool": "w.echo", "condition": "{{.params.word}}"}])
    message = failure(await wf.run({"word": "maybe"}, Backend(), None))
    assert "failed to evaluate condition for step s" in message
    assert "must evaluate to 'true' or 'false'" in message


# --------------------------------------------------------------------------- onError / failureMode


async def test_abort_stops_the_workflow_and_cancels_running_siblings() -> None:
    backend = Backend()
    backend.delays.update({"w.slow": 5.0, "w.fails": 0.05})
    backend.failures["w.fails"] = 1
    wf = tool(
        steps=[
            {"id": "slow", "tool": "w.slow", "arguments": {"id": "slow"}},
            {"id": "bad", "tool": "w.fails", "arguments": {"id": "bad"}},
            {"id": "later", "tool": "w.echo", "dependsOn": ["bad"], "arguments": {"id": "later"}},
        ]
    )
    start = time.monotonic()
    message = failure(await wf.run({}, backend, None))
    assert time.monotonic() - start < 2
    assert "step bad" in message
    assert backend.cancelled == ["slow"]
    assert "later" not in [args.get("id") for _, args in backend.calls]


async def test_continue_records_the_failure_and_uses_default_results() -> None:
    backend = Backend()
    backend.failures["w.flaky"] = 1
    wf = tool(
        steps=[
            {
                "id": "optional",
                "tool": "w.flaky",
                "onError": {"action": "continue"},
                "defaultResults": {"text": "unavailable"},
            },
            {
                "id": "next",
                "tool": "w.echo",
                "dependsOn": ["optional"],
                "arguments": {
                    "status": "{{.steps.optional.status}}",
                    "text": "{{.steps.optional.output.text}}",
                    "error": "{{.steps.optional.error}}",
                },
            },
        ]
    )
    result = await wf.run({}, backend, None)
    args = backend.calls[1][1]
    assert args["status"] == "failed"
    assert args["text"] == "unavailable"
    assert "w.flaky failed" in args["error"]
    assert "isError" not in result


async def test_retry_calls_again_with_backoff_until_it_succeeds() -> None:
    backend = Backend()
    backend.failures["w.flaky"] = 2
    wf = tool(
        steps=[
            {
                "id": "s",
                "tool": "w.flaky",
                "onError": {"action": "retry", "retryCount": 3, "retryDelay": "20ms"},
            }
        ]
    )
    start = time.monotonic()
    result = await wf.run({}, backend, None)
    assert "isError" not in result
    assert len(backend.calls) == 3
    assert time.monotonic() - start >= 0.02  # waited between attempts


async def test_retry_gives_up_after_retry_count_extra_attempts() -> None:
    backend = Backend()
    backend.failures["w.flaky"] = 10
    wf = tool(
        steps=[
            {
                "id": "s",
                "tool": "w.flaky",
                "onError": {"action": "retry", "retryCount": 2, "retryDelay": "10ms"},
            }
        ]
    )
    assert "w.flaky failed" in failure(await wf.run({}, backend, None))
    assert len(backend.calls) == 3


async def test_failure_mode_continue_runs_the_rest_after_a_failure() -> None:
    backend = Backend()
    backend.failures["w.bad"] = 1
    wf = tool(
        failureMode="continue",
        steps=[
            {"id": "bad", "tool": "w.bad"},
            {
                "id": "after",
                "tool": "w.echo",
                "dependsOn": ["bad"],
                "arguments": {"saw": "{{.steps.bad.status}}"},
            },
        ],
    )
    result = await wf.run({}, backend, None)
    assert output(result) == {"text": '{"saw": "failed"}'}


async def test_failure_mode_abort_is_the_default() -> None:
    backend = Backend()
    backend.failures["w.bad"] = 1
    wf = tool(
        steps=[
            {"id": "bad", "tool": "w.bad"},
            {"id": "after", "tool": "w.echo", "dependsOn": ["bad"]},
        ]
    )
    failure(await wf.run({}, backend, None))
    assert [name for name, _ in backend.calls] == ["w.bad"]


# --------------------------------------------------------------------------- timeouts


async def test_a_step_timeout_fails_the_step_promptly() -> None:
    backend = Backend()
    backend.delays["w.hang"] = 10.0
    wf = tool(steps=[{"id": "s", "tool": "w.hang", "timeout": "200ms", "arguments": {"id": "s"}}])
    start = time.monotonic()
    message = failure(await wf.run({}, backend, None))
    assert 0.2 <= time.monotonic() - start < 1.5
    assert "step s timed out after 0.2s" in message
    assert backend.cancelled == ["s"]


async def test_a_step_timeout_with_continue_lets_the_workflow_finish() -> None:
    backend = Backend()
    backend.delays["w.hang"] = 10.0
    wf = tool(
        steps=[
            {"id": "s", "tool": "w.hang", "timeout": "100ms", "onError": {"action": "continue"}},
            {
                "id": "t",
                "tool": "w.echo",
                "dependsOn": ["s"],
                "arguments": {"saw": "{{.steps.s.status}}"},
            },
        ]
    )
    assert output(await wf.run({}, backend, None)) == {"text": '{"saw": "failed"}'}


async def test_the_workflow_timeout_ends_the_run_and_cancels_its_steps() -> None:
    backend = Backend()
    backend.delays["w.hang"] = 10.0
    wf = tool(timeout="300ms", steps=[{"id": "s", "tool": "w.hang", "arguments": {"id": "s"}}])
    start = time.monotonic()
    assert (
        failure(await wf.run({}, backend, None)) == "Workflow execution failed: workflow timed out"
    )
    assert time.monotonic() - start < 1.5
    assert backend.cancelled == ["s"]


# --------------------------------------------------------------------------- forEach


async def test_for_each_runs_the_inner_step_per_item_with_bounded_parallelism() -> None:
    backend = Backend()
    backend.delays["w.check"] = 0.1
    wf = tool(
        steps=[
            {"id": "list", "tool": "w.struct", "arguments": {"pkgs": "x"}},
            {
                "id": "check",
                "type": "forEach",
                "dependsOn": ["list"],
                "collection": '[{"name": "a"}, {"name": "b"}, {"name": "c"}, {"name": "d"}, {"name": "e"}]',
                "itemVar": "pkg",
                "maxParallel": 2,
                "step": {
                    "type": "tool",
                    "tool": "w.check",
                    "arguments": {"name": "{{.forEach.pkg.name}}", "i": "{{.forEach.index}}"},
                },
            },
        ]
    )
    start = time.monotonic()
    result = await wf.run({}, backend, None)
    elapsed = time.monotonic() - start
    assert backend.max_running == 2
    assert 0.3 <= elapsed < 0.48, elapsed  # 5 items, 2 at a time, 0.1 s each (not 0.5 s)
    out = output(result)
    assert (out["count"], out["completed"], out["failed"]) == (5, 5, 0)
    assert [it["item"]["name"] for it in out["iterations"]] == ["a", "b", "c", "d", "e"]
    assert out["iterations"][3]["output"] == {"text": '{"i": "3", "name": "d"}'}
    assert out["iterations"][3]["status"] == "completed"


async def test_for_each_collection_can_come_from_an_earlier_step() -> None:
    backend = Backend()
    wf = tool(
        steps=[
            {"id": "src", "tool": "w.struct", "arguments": {"items": "unused"}},
            {
                "id": "each",
                "type": "forEach",
                "dependsOn": ["src"],
                "collection": "{{json .steps.src.output.echo}}",  # not an array
                "step": {"tool": "w.echo", "arguments": {"v": "{{.forEach.item}}"}},
            },
        ]
    )
    message = failure(await wf.run({}, backend, None))
    assert 'collection must resolve to a JSON array, got: {"items":"unused"}' in message


async def test_a_failing_iteration_fails_the_for_each_step_unless_it_continues() -> None:
    async def caller(name: str, args: dict[str, Any]) -> dict[str, Any]:
        if args["v"] == "2":
            return {"content": [{"type": "text", "text": "bad item"}], "isError": True}
        return text(args["v"])

    steps = [
        {
            "id": "each",
            "type": "forEach",
            "collection": "[1, 2, 3]",
            "maxParallel": 1,
            "step": {"tool": "w.echo", "arguments": {"v": "{{.forEach.item}}"}},
        }
    ]
    message = failure(await tool(steps=steps).run({}, caller, None))
    assert "forEach step each iteration 1: tool call failed" in message and "bad item" in message

    steps[0]["onError"] = {"action": "continue"}
    out = output(await tool(steps=steps).run({}, caller, None))
    assert (out["completed"], out["failed"]) == (2, 1)
    assert out["iterations"][1]["status"] == "failed"
    assert "bad item" in out["iterations"][1]["error"]


async def test_for_each_refuses_more_items_than_max_iterations() -> None:
    wf = tool(
        steps=[
            {
                "id": "each",
                "type": "forEach",
                "collection": "{{json .params.items}}",
                "maxIterations": 3,
                "step": {"tool": "w.echo"},
            }
        ]
    )
    message = failure(await wf.run({"items": list(range(4))}, Backend(), None))
    assert "collection size 4 exceeds maxIterations 3" in message


async def test_for_each_over_an_empty_collection_completes_with_no_iterations() -> None:
    wf = tool(
        steps=[{"id": "each", "type": "forEach", "collection": "[]", "step": {"tool": "w.echo"}}]
    )
    assert output(await wf.run({}, Backend(), None)) == {
        "iterations": [],
        "count": 0,
        "completed": 0,
        "failed": 0,
    }


# --------------------------------------------------------------------------- elicitation


class Client:
    """Answers elicitation requests as an MCP client would."""

    def __init__(self, answer: dict[str, Any] | None, delay: float = 0.0) -> None:
        self.answer = answer
        self.delay = delay
        self.asked: list[tuple[str, dict[str, Any], float]] = []

    async def __call__(
        self, message: str, schema: dict[str, Any], timeout: float
    ) -> dict[str, Any]:
        self.asked.append((message, schema, timeout))
        await asyncio.sleep(self.delay)
        assert self.answer is not None
        return self.answer


SCHEMA = {"type": "object", "properties": {"reason": {"type": "string"}}}


def confirm_then_deploy(**confirm: Any) -> CompositeTool:
    return tool(
        steps=[
            {
                "id": "confirm",
                "type": "elicitation",
                "message": "Deploy {{.params.app}}?",
                "schema": SCHEMA,
                **confirm,
            },
            {
                "id": "deploy",
                "tool": "w.echo",
                "dependsOn": ["confirm"],
                "condition": '{{eq .steps.confirm.output.action "accept"}}',
                "arguments": {"reason": "{{.steps.confirm.output.content.reason}}"},
            },
        ]
    )


async def test_an_accepted_elicitation_feeds_its_content_to_later_steps() -> None:
    backend = Backend()
    client = Client({"action": "accept", "content": {"reason": "release"}})
    result = await confirm_then_deploy(timeout="2m").run({"app": "api"}, backend, client)
    assert client.asked == [("Deploy api?", SCHEMA, 120.0)]
    assert backend.calls == [("w.echo", {"reason": "release"})]
    assert output(result) == {"text": '{"reason": "release"}'}


async def test_a_decline_without_a_handler_fails_the_workflow() -> None:
    backend = Backend()
    result = await confirm_then_deploy().run({"app": "api"}, backend, Client({"action": "decline"}))
    assert failure(result) == (
        "Workflow execution failed: elicitation request was declined by user: step confirm"
    )
    assert backend.calls == []


async def test_a_decline_with_continue_lets_conditions_decide() -> None:
    backend = Backend()
    wf = confirm_then_deploy(onDecline={"action": "continue"})
    result = await wf.run({"app": "api"}, backend, Client({"action": "decline"}))
    assert backend.calls == []  # deploy's condition was false
    assert output(result) == {"action": "decline"}


async def test_a_cancel_with_skip_remaining_skips_the_steps_not_yet_started() -> None:
    backend = Backend()
    wf = tool(
        steps=[
            {
                "id": "confirm",
                "type": "elicitation",
                "message": "Go?",
                "schema": SCHEMA,
                "onCancel": {"action": "skip_remaining"},
            },
            {"id": "deploy", "tool": "w.echo", "dependsOn": ["confirm"]},
            {"id": "notify", "tool": "w.echo", "dependsOn": ["deploy"]},
        ]
    )
    result = await wf.run({}, backend, Client({"action": "cancel"}))
    assert backend.calls == []
    assert output(result) == {"action": "cancel", "skipped": True}


async def test_a_cancel_with_abort_fails_the_workflow() -> None:
    wf = confirm_then_deploy(onCancel={"action": "abort"})
    message = failure(await wf.run({"app": "x"}, Backend(), Client({"action": "cancel"})))
    assert message.endswith("elicitation request was cancelled by user: step confirm")


async def test_an_unanswered_elicitation_times_out_as_a_cancel() -> None:
    backend = Backend()
    client = Client({"action": "accept", "content": {}}, delay=10.0)
    wf = confirm_then_deploy(timeout="200ms", onCancel={"action": "continue"})
    start = time.monotonic()
    result = await wf.run({"app": "x"}, backend, client)
    assert time.monotonic() - start < 1.5
    assert output(result) == {"action": "timeout"}
    assert backend.calls == []

    wf = confirm_then_deploy(timeout="200ms")
    message = failure(await wf.run({"app": "x"}, backend, client))
    assert message.endswith("elicitation request timed out: step confirm")


async def test_an_elicitation_without_a_client_that_can_answer_fails() -> None:
    message = failure(await confirm_then_deploy().run({"app": "x"}, Backend(), None))
    assert "elicitation handler not configured for step confirm" in message


async def test_oversized_elicitation_content_is_refused() -> None:
    client = Client({"action": "accept", "content": {"reason": "x" * (2 * 1024 * 1024)}})
    message = failure(await confirm_then_deploy().run({"app": "x"}, Backend(), client))
    assert "response content too large" in message


# --------------------------------------------------------------------------- output config


async def test_the_output_config_builds_typed_properties_with_defaults() -> None:
    backend = Backend()
    wf = tool(
        steps=[{"id": "s", "tool": "w.struct", "arguments": {"a": "1"}}],
        output={
            "properties": {
                "n": {"type": "integer", "description": "n", "value": "{{.steps.s.output.n}}"},
                "echo": {
                    "type": "object",
                    "description": "e",
                    "value": "{{json .steps.s.output.echo}}",
                },
                "missing": {
                    "type": "string",
                    "description": "m",
                    "value": "{{.steps.s.output.nope}}",
                    "default": "none",
                },
                "meta": {
                    "type": "object",
                    "description": "nested",
                    "properties": {
                        "wf": {
                            "type": "string",
                            "description": "id",
                            "value": "{{.workflow.status}}",
                        },
                        "count": {
                            "type": "integer",
                            "description": "c",
                            "value": "{{.workflow.step_count}}",
                        },
                    },
                },
            },
            "required": ["n"],
        },
    )
    definition = wf.definition({})
    assert definition is not None
    assert definition["outputSchema"]["required"] == ["n"]
    assert definition["outputSchema"]["properties"]["n"] == {"type": "integer", "description": "n"}
    result = await wf.run({}, backend, None)
    assert result["structuredContent"] == {
        "n": 42,
        "echo": {"a": "1"},
        "missing": "none",
        "meta": {"wf": "completed", "count": 1},
    }
    assert output(result) == result["structuredContent"]


async def test_an_output_value_that_does_not_fit_its_type_fails_the_workflow() -> None:
    wf = tool(
        steps=[{"id": "s", "tool": "w.echo"}],
        output={
            "properties": {
                "n": {"type": "integer", "description": "n", "value": "{{.steps.s.output.text}}"}
            }
        },
    )
    assert "output construction failed" in failure(await wf.run({}, Backend(), None))


# --------------------------------------------------------------------------- annotations

READ_ONLY = {"readOnlyHint": True, "destructiveHint": False, "openWorldHint": False}


def annotated(**tools: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: {"name": name.split(".")[1], "annotations": ann} for name, ann in tools.items()}


def test_annotations_are_derived_from_the_step_tools() -> None:
    wf = tool(
        steps=[
            {"id": "a", "tool": "w.read"},
            {"id": "b", "type": "forEach", "collection": "[]", "step": {"tool": "w.read2"}},
        ]
    )
    safe = wf.definition(
        annotated(**{"w.read": READ_ONLY, "w.read2": {**READ_ONLY, "idempotentHint": True}})
    )
    assert safe is not None
    assert safe["annotations"] == READ_ONLY  # idempotence is never derived
    mixed = wf.definition(
        annotated(
            **{"w.read": READ_ONLY, "w.read2": {"readOnlyHint": False, "destructiveHint": True}}
        )
    )
    assert mixed is not None
    assert mixed["annotations"] == {
        "readOnlyHint": False,
        "destructiveHint": True,
        "openWorldHint": True,
    }


def test_an_unknown_step_tool_makes_the_floor_conservative() -> None:
    wf = tool(steps=[{"id": "a", "tool": "w.read"}, {"id": "b", "tool": "w.unknown"}])
    definition = wf.definition(annotated(**{"w.read": READ_ONLY}))
    assert definition is not None
    assert definition["annotations"] == {
        "readOnlyHint": False,
        "destructiveHint": True,
        "openWorldHint": True,
    }


def test_explicit_annotations_merge_over_the_floor_when_no_safer() -> None:
    wf = tool(
        steps=[{"id": "a", "tool": "w.read"}],
        annotations={"title": "Reader", "destructiveHint": True, "idempotentHint": True},
    )
    definition = wf.definition(annotated(**{"w.read": READ_ONLY}))
    assert definition is not None
    assert definition["annotations"] == {
        "title": "Reader",
        "readOnlyHint": True,
        "destructiveHint": True,
        "idempotentHint": True,
        "openWorldHint": False,
    }


@pytest.mark.parametrize(
    "explicit",
    [{"readOnlyHint": True}, {"destructiveHint": False}, {"openWorldHint": False}],
)
def test_a_composite_claiming_more_safety_than_its_steps_is_not_advertised(
    explicit: dict[str, bool], caplog: pytest.LogCaptureFixture
) -> None:
    wf = tool(steps=[{"id": "a", "tool": "w.write"}], annotations=explicit)
    with caplog.at_level(logging.WARNING, logger="toolhive.vmcp"):
        assert wf.definition(annotated(**{"w.write": {"readOnlyHint": False}})) is None
    assert "contradict the safety floor" in caplog.text and "w.write" in caplog.text


def test_an_elicitation_only_workflow_has_no_derived_annotations() -> None:
    wf = tool(steps=[{"id": "ask", "type": "elicitation", "message": "?", "schema": SCHEMA}])
    definition = wf.definition({})
    assert definition is not None
    assert "annotations" not in definition
    assert definition["inputSchema"] == {"type": "object", "properties": {}}


# --------------------------------------------------------------------------- cancellation


async def test_cancelling_the_run_cancels_the_running_steps() -> None:
    backend = Backend()
    backend.delays["w.hang"] = 10.0
    wf = tool(
        steps=[
            {"id": "a", "tool": "w.hang", "arguments": {"id": "a"}},
            {"id": "b", "tool": "w.hang", "arguments": {"id": "b"}},
            {"id": "c", "tool": "w.echo", "dependsOn": ["a"], "arguments": {"id": "c"}},
        ]
    )
    task = asyncio.create_task(wf.run({}, backend, None))
    while backend.running < 2:
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert sorted(backend.cancelled) == ["a", "b"]
    assert [args["id"] for _, args in backend.calls] == ["a", "b"]


# --------------------------------------------------------------------------- workflow data and limits


async def test_workflow_metadata_is_visible_to_templates() -> None:
    backend = Backend()
    wf = tool(
        steps=[
            {"id": "a", "tool": "w.echo"},
            {
                "id": "b",
                "tool": "w.echo",
                "dependsOn": ["a"],
                "arguments": {
                    "id": "{{.workflow.id}}",
                    "status": "{{.workflow.status}}",
                    "done": "{{.workflow.step_count}}",
                    "started": "{{.workflow.start_time}}",
                },
            },
        ]
    )
    await wf.run({}, backend, None)
    args = backend.calls[1][1]
    assert len(args["id"]) == 36 and args["id"].count("-") == 4
    assert (args["status"], args["done"]) == ("running", "1")
    assert args["started"].endswith("Z") and "T" in args["started"]


async def test_without_an_output_config_the_result_is_the_last_completed_step() -> None:
    backend = Backend()
    wf = tool(
        steps=[
            {"id": "a", "tool": "w.struct", "arguments": {"x": "1"}},
            {"id": "b", "tool": "w.echo", "dependsOn": ["a"], "condition": "{{eq 1 2}}"},
        ]
    )
    result = await wf.run({}, backend, None)
    assert result["structuredContent"] == {"echo": {"x": "1"}, "n": 42}


async def test_at_most_ten_steps_run_at_once() -> None:
    backend = Backend()
    backend.delays["w.slow"] = 0.05
    wf = tool(
        steps=[{"id": f"s{i}", "tool": "w.slow", "arguments": {"id": f"s{i}"}} for i in range(15)]
    )
    assert "isError" not in await wf.run({}, backend, None)
    assert backend.max_running == 10
    assert len(backend.calls) == 15
