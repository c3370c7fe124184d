"""One execution of a composite tool's workflow (:class:`WorkflowRun`): the DAG scheduler, tool,
forEach and elicitation steps, retries and timeouts, and the output built from the steps' results.

The behaviour (and where it differs from ToolHive's) is described in :mod:`toolhive.vmcp.composite`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

from toolhive.vmcp.composite_results import StepResult, content_to_map, error_message, error_result
from toolhive.vmcp.config import OutputProperty, WorkflowStep, parse_go_duration
from toolhive.vmcp.templates import (
    NO_VALUE,
    TemplateError,
    coerce_to_schema,
    evaluate_condition,
    expand,
    expand_value,
    go_json,
)

if TYPE_CHECKING:
    from toolhive.vmcp.composite import CompositeTool

log = logging.getLogger("toolhive.vmcp")

#: ("workload.tool" as the step names it, arguments) → the backend's CallToolResult.
ToolCaller = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]
#: (message, requestedSchema, timeout in seconds) → the client's ElicitResult.
Elicitor = Callable[[str, dict[str, Any], float], Awaitable[dict[str, Any]]]

DEFAULT_WORKFLOW_TIMEOUT: Final = 30 * 60.0
DEFAULT_STEP_TIMEOUT: Final = 5 * 60.0
#: Steps of one workflow running at once (Go's ``defaultMaxParallelSteps``).
MAX_PARALLEL_STEPS: Final = 10
MAX_RETRIES: Final = 10
DEFAULT_RETRY_DELAY: Final = 1.0
FOREACH_DEFAULT_ITERATIONS: Final = 100
FOREACH_MAX_ITERATIONS: Final = 1000
FOREACH_MAX_PARALLEL: Final = 50
ELICITATION_DEFAULT_TIMEOUT: Final = 5 * 60.0
ELICITATION_MAX_TIMEOUT: Final = 10 * 60.0
_SCHEMA_MAX_BYTES: Final = 100 * 1024
_CONTENT_MAX_BYTES: Final = 1024 * 1024
_MAX_DEPTH: Final = 10


def _depth_exceeds(value: Any, limit: int, depth: int = 0) -> bool:
    if depth > limit:
        return True
    if isinstance(value, dict):
        return any(_depth_exceeds(v, limit, depth + 1) for v in value.values())
    if isinstance(value, list):
        return any(_depth_exceeds(v, limit, depth + 1) for v in value)
    return False


def _seconds(duration: str | None, default: float) -> float:
    if duration is None:
        return default
    seconds = parse_go_duration(duration)
    return seconds if seconds > 0 else default


class _StepFailed(Exception):
    def __init__(self, message: str, output: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.output = output


class _SkipRemaining(Exception):
    """An elicitation answered with ``skip_remaining``: the step completed, the rest skip."""


def _apply_defaults(schema: Any, params: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(params)
    props = schema.get("properties") if isinstance(schema, dict) else None
    if isinstance(props, dict):
        for name, prop in props.items():
            if name not in out and isinstance(prop, dict) and "default" in prop:
                out[name] = prop["default"]
    return out


class WorkflowRun:
    """One execution of a composite tool."""

    def __init__(
        self,
        tool: CompositeTool,
        arguments: dict[str, Any],
        call_tool: ToolCaller,
        elicit: Elicitor | None,
        step_tools: Mapping[str, dict[str, Any]],
    ) -> None:
        self.tool = tool
        self.cfg = tool.config
        self.params = _apply_defaults(self.cfg.parameters, arguments)
        self.call_tool = call_tool
        self.elicit = elicit
        self.step_tools = step_tools
        self.results: dict[str, StepResult] = {}
        self.workflow_id = str(uuid.uuid4())
        self.started = time.monotonic()
        self.start_time = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        self.status = "running"
        self.skip_remaining = False

    # -- template data

    def context(self, for_each: dict[str, Any] | None = None) -> dict[str, Any]:
        data: dict[str, Any] = {
            "params": self.params,
            "steps": {sid: r.template_view() for sid, r in self.results.items()},
            "vars": {},
            "workflow": {
                "id": self.workflow_id,
                "duration_ms": int((time.monotonic() - self.started) * 1000),
                "step_count": sum(1 for r in self.results.values() if r.status == "completed"),
                "status": self.status,
                "start_time": self.start_time,
            },
        }
        if for_each is not None:
            data["forEach"] = for_each
        return data

    # -- the DAG

    async def execute(self) -> dict[str, Any]:
        try:
            async with asyncio.timeout(_seconds(self.cfg.timeout, DEFAULT_WORKFLOW_TIMEOUT)):
                failure = await self._schedule()
        except TimeoutError:
            log.warning("composite tool %s: workflow timed out", self.tool.name)
            return error_result("Workflow execution failed: workflow timed out")
        if failure is not None:
            log.warning("composite tool %s failed: %s", self.tool.name, failure)
            return error_result(f"Workflow execution failed: {failure}")
        self.status = "completed"
        try:
            output = self._output()
        except (_StepFailed, TemplateError, ValueError) as exc:
            return error_result(f"Workflow execution failed: output construction failed: {exc}")
        try:
            text = go_json(output)
        except ValueError as exc:
            return error_result(f"failed to marshal output: {exc}")
        result: dict[str, Any] = {"content": [{"type": "text", "text": text}]}
        if isinstance(output, dict):
            result["structuredContent"] = output
        return result

    def _continues(self, step: WorkflowStep) -> bool:
        return self.cfg.failure_mode == "continue" or (
            step.on_error is not None and step.on_error.action == "continue"
        )

    async def _schedule(self) -> str | None:
        """Run every step once its dependencies are done; the error that aborted, or None."""
        steps = self.tool.steps
        waiting = {sid: set(step.depends_on) for sid, step in steps.items()}
        ready = [s.id for s in self.cfg.steps if not waiting[s.id]]
        running: dict[asyncio.Task[str | None], str] = {}
        failure: str | None = None

        def done(sid: str) -> None:
            for user in self.tool.dependents[sid]:
                waiting[user].discard(sid)
                if not waiting[user]:
                    ready.append(user)

        try:
            while ready or running:
                while ready and failure is None and len(running) < MAX_PARALLEL_STEPS:
                    sid = ready.pop(0)
                    if self.skip_remaining:
                        self._skip(steps[sid])
                        done(sid)
                        continue
                    self.results[sid] = StepResult("running")
                    task = asyncio.create_task(self._step(steps[sid]), name=f"step {sid}")
                    running[task] = sid
                if not running:
                    break
                finished, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                for task in finished:
                    sid = running.pop(task)
                    error = task.result()
                    if error is not None and not self._continues(steps[sid]):
                        failure = failure or error
                    done(sid)
                if failure is not None:
                    break
        finally:
            for task in running:
                task.cancel()
            if running:
                await asyncio.gather(*running, return_exceptions=True)
                for sid in running.values():
                    result = self.results[sid]
                    if result.status == "running":
                        result.status, result.error = "failed", "context canceled"
        return failure

    def _skip(self, step: WorkflowStep) -> None:
        self.results[step.id] = StepResult(
            "skipped", output=step.default_results, ended=time.monotonic()
        )

    async def _step(self, step: WorkflowStep) -> str | None:
        """Run one step and record its result; the error message if it failed."""
        result = self.results[step.id]
        content: dict[str, Any] = {}
        try:
            if step.condition:
                try:
                    go = evaluate_condition(
                        step.condition, self.context(), f"{self.tool.label(step)}.condition"
                    )
                except TemplateError as exc:
                    raise _StepFailed(
                        f"template expansion failed: failed to evaluate condition for step "
                        f"{step.id}: {exc}"
                    ) from None
                if not go:
                    self._skip(step)
                    return None
            if step.type == "elicitation":
                # Its own timeout (the same setting, capped) decides; expiry counts as cancel.
                output = await self._elicitation(step)
            else:
                timeout = _seconds(step.timeout, DEFAULT_STEP_TIMEOUT)
                try:
                    async with asyncio.timeout(timeout):
                        if step.type == "forEach":
                            output = await self._for_each(step)
                        else:
                            output, content = await self._tool_step(step)
                except TimeoutError:
                    raise _StepFailed(
                        f"step {step.id} timed out after {timeout:g}s (context deadline exceeded)"
                    ) from None
        except _SkipRemaining:
            self.skip_remaining = True
            return None
        except _StepFailed as exc:
            failure, output = exc.message, exc.output
        except Exception as exc:  # a bug here must fail the step, not the gateway's request
            log.exception("composite tool %s: step %s", self.tool.name, step.id)
            failure, output = f"step {step.id}: internal error: {exc}", None
        else:
            result.status, result.output, result.content = "completed", output, content
            result.ended = time.monotonic()
            return None
        result.status, result.error, result.ended = "failed", failure, time.monotonic()
        result.output = output
        if self._continues(step) and step.default_results is not None:
            result.output = step.default_results
        return failure

    # -- tool steps

    def _arguments(
        self, step: WorkflowStep, for_each: dict[str, Any] | None, label: str
    ) -> dict[str, Any]:
        try:
            args = expand_value(step.arguments or {}, self.context(for_each), label)
        except TemplateError as exc:
            raise _StepFailed(
                f"template expansion failed: failed to expand arguments for step {step.id}: {exc}"
            ) from None
        backend_tool = self.step_tools.get(step.tool or "")
        schema = backend_tool.get("inputSchema") if isinstance(backend_tool, dict) else None
        coerced = coerce_to_schema(args, schema)
        return coerced if isinstance(coerced, dict) else args

    async def _call(self, step: WorkflowStep, args: dict[str, Any]) -> dict[str, Any]:
        """Call the step's tool, retrying as its ``onError`` says; the successful result."""
        tool = step.tool or ""
        retries, delay = 0, DEFAULT_RETRY_DELAY
        if step.on_error is not None and step.on_error.action == "retry":
            retries = min(max(step.on_error.retry_count, 0), MAX_RETRIES)
            delay = _seconds(step.on_error.retry_delay, DEFAULT_RETRY_DELAY)
        attempt = 0
        interval = delay
        while True:
            try:
                result = await self.call_tool(tool, args)
                if not isinstance(result, dict):
                    raise RuntimeError(f"nil tool result for step {step.id}")
                if result.get("isError") is True:
                    raise RuntimeError(f"tool execution failed: {error_message(result)}")
                return result
            except (asyncio.CancelledError, _StepFailed):
                raise
            except Exception as exc:
                reason = str(exc) or type(exc).__name__
                if attempt >= retries:
                    raise _StepFailed(
                        f"tool call failed: tool {tool} in step {step.id}: {reason}"
                    ) from None
                log.info(
                    "composite tool %s: step %s attempt %d failed, retrying: %s",
                    self.tool.name,
                    step.id,
                    attempt + 1,
                    reason,
                )
            attempt += 1
            # cenkalti/backoff's defaults as ToolHive uses them: times 1.5, ±50 % jitter, at most 60 times the delay.
            await asyncio.sleep(interval * random.uniform(0.5, 1.5))
            interval = min(interval * 1.5, delay * 60)

    @staticmethod
    def _step_output(result: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        content = content_to_map(result.get("content"))
        structured = result.get("structuredContent")
        return (structured if isinstance(structured, dict) else content), content

    async def _tool_step(self, step: WorkflowStep) -> tuple[Any, dict[str, Any]]:
        args = self._arguments(step, None, f"{self.tool.label(step)}.arguments")
        result = await self._call(step, args)
        return self._step_output(result)

    # -- forEach

    async def _for_each(self, step: WorkflowStep) -> dict[str, Any]:
        inner = step.step
        assert inner is not None  # validated
        label = f"{self.tool.label(step)}.collection"
        label_inner = f"{self.tool.label(step)}.step"
        try:
            text = expand(step.collection or "", self.context(), label)
        except TemplateError as exc:
            raise _StepFailed(
                f"forEach step {step.id}: failed to expand collection template: {exc}"
            ) from None
        try:
            items = json.loads(text)
        except (ValueError, RecursionError):
            items = None
        if not isinstance(items, list):
            shown = text if len(text) <= 100 else text[:100] + "..."
            raise _StepFailed(
                f"forEach step {step.id}: collection must resolve to a JSON array, got: {shown}"
            )
        limit = min(step.max_iterations or FOREACH_DEFAULT_ITERATIONS, FOREACH_MAX_ITERATIONS)
        if len(items) > limit:
            raise _StepFailed(
                f"forEach step {step.id}: collection size {len(items)} exceeds "
                f"maxIterations {limit}"
            )
        item_var = step.item_var or "item"
        parallel = min(step.max_parallel or MAX_PARALLEL_STEPS, FOREACH_MAX_PARALLEL)
        tolerate = step.on_error is not None and step.on_error.action == "continue"
        gate = asyncio.Semaphore(parallel)
        iterations: list[dict[str, Any]] = [
            {"index": i, "item": item, "status": "cancelled", "output": None}
            for i, item in enumerate(items)
        ]

        async def iterate(i: int, item: Any) -> str | None:
            async with gate:
                try:
                    args = self._arguments(
                        inner, {item_var: item, "index": i}, f"{label_inner}.arguments"
                    )
                    result = await self._call(inner, args)
                except _StepFailed as exc:
                    iterations[i].update(status="failed", error=exc.message)
                    return exc.message
                iterations[i].update(status="completed", output=self._step_output(result)[0])
                return None

        tasks = [asyncio.create_task(iterate(i, item)) for i, item in enumerate(items)]
        failure: str | None = None
        try:
            pending: set[asyncio.Task[str | None]] = set(tasks)
            while pending and failure is None:
                finished, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in finished:
                    error = task.result()
                    if error is not None and not tolerate and failure is None:
                        failure = f"forEach step {step.id} iteration {tasks.index(task)}: {error}"
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        for it in iterations:
            if it["status"] == "cancelled":
                it["error"] = "context canceled"
        completed = sum(1 for it in iterations if it["status"] == "completed")
        output = {
            "iterations": iterations,
            "count": len(items),
            "completed": completed,
            "failed": len(items) - completed,
        }
        if failure is not None:
            raise _StepFailed(failure, output)
        return output

    # -- elicitation

    async def _elicitation(self, step: WorkflowStep) -> dict[str, Any]:
        if self.elicit is None:
            raise _StepFailed(f"elicitation handler not configured for step {step.id}")
        try:
            message = expand(step.message or "", self.context(), f"{self.tool.label(step)}.message")
        except TemplateError as exc:
            raise _StepFailed(
                f"template expansion failed: failed to expand elicitation message for step "
                f"{step.id}: {exc}"
            ) from None
        schema = step.schema_
        if not isinstance(schema, dict):
            raise _StepFailed(f"elicitation request failed for step {step.id}: schema is required")
        if len(go_json(schema)) > _SCHEMA_MAX_BYTES or _depth_exceeds(schema, _MAX_DEPTH):
            raise _StepFailed(f"invalid schema for step {step.id}: schema too large or too deep")
        timeout = min(_seconds(step.timeout, ELICITATION_DEFAULT_TIMEOUT), ELICITATION_MAX_TIMEOUT)
        try:
            async with asyncio.timeout(timeout):
                answer = await self.elicit(message, schema, timeout)
        except TimeoutError:
            return self._elicitation_outcome(step, "timeout")
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            raise _StepFailed(
                f"elicitation request failed for step {step.id}: {exc or type(exc).__name__}"
            ) from None
        action = answer.get("action") if isinstance(answer, dict) else None
        if action == "accept":
            content = answer.get("content")
            if content is not None:
                if len(go_json(content)) > _CONTENT_MAX_BYTES:
                    raise _StepFailed(
                        f"invalid response content for step {step.id}: response content too large"
                    )
                if _depth_exceeds(content, _MAX_DEPTH):
                    raise _StepFailed(
                        f"invalid response content depth for step {step.id}: nesting too deep"
                    )
            return {"action": "accept", "content": content if isinstance(content, dict) else None}
        if action in ("decline", "cancel"):
            return self._elicitation_outcome(step, action)
        raise _StepFailed(f"invalid elicitation response action {action!r} for step {step.id}")

    def _elicitation_outcome(self, step: WorkflowStep, reason: str) -> dict[str, Any]:
        handler = step.on_decline if reason == "decline" else step.on_cancel
        action = handler.action if handler is not None else None
        if action == "continue":
            return {"action": reason}
        if action == "skip_remaining":
            result = self.results[step.id]
            result.status, result.output = "completed", {"action": reason, "skipped": True}
            result.ended = time.monotonic()
            raise _SkipRemaining()
        if reason == "decline":
            raise _StepFailed(f"elicitation request was declined by user: step {step.id}")
        if reason == "cancel" or action == "abort":
            raise _StepFailed(f"elicitation request was cancelled by user: step {step.id}")
        raise _StepFailed(f"elicitation request timed out: step {step.id}")

    # -- output

    def _last_output(self) -> Any:
        last: StepResult | None = None
        for result in self.results.values():
            if result.status == "completed" and (last is None or result.ended >= last.ended):
                last = result
        return last.output if last is not None else None

    def _output(self) -> Any:
        output = self.cfg.output
        if output is None:
            return self._last_output()
        data = self.context()
        built = {name: self._property(name, prop, data) for name, prop in output.properties.items()}
        for name in output.required or ():
            if built.get(name) is None:
                raise _StepFailed(f"required output field {name!r} is missing")
        return built

    def _property(self, name: str, prop: OutputProperty, data: dict[str, Any]) -> Any:
        if prop.value:
            try:
                text = expand(prop.value, data, f"{self.tool.name}.output.{name}")
            except TemplateError as exc:
                return self._default(name, prop, f"failed to expand template: {exc}")
            if text == repr(NO_VALUE):
                return self._default(name, prop, "template expanded to <no value>", text)
            try:
                return _typed(text, prop.type)
            except ValueError as exc:
                return self._default(name, prop, str(exc))
        if prop.properties:
            return {k: self._property(f"{name}.{k}", v, data) for k, v in prop.properties.items()}
        raise _StepFailed(f"property {name!r} has neither value nor properties")

    def _default(self, name: str, prop: OutputProperty, why: str, text: str | None = None) -> Any:
        if prop.default is None:
            if text is not None:  # "<no value>" without a default is kept as Go keeps it
                return _typed(text, prop.type)
            raise _StepFailed(f"property {name!r}: {why}")
        log.warning(
            "composite tool %s: output %s: %s; using its default", self.tool.name, name, why
        )
        return _typed_default(prop.default, prop.type)


def _typed(text: str, kind: str) -> Any:
    """An output property's expanded text as its declared type (ToolHive's coercion)."""
    if kind == "string":
        return text
    if kind in ("object", "array"):
        try:
            value = json.loads(text)
        except (ValueError, RecursionError):
            value = None
        if kind == "object" and not isinstance(value, dict):
            raise ValueError(f"cannot deserialize {text[:100]!r} as a JSON object")
        if kind == "array" and not isinstance(value, list):
            raise ValueError(f"cannot deserialize {text[:100]!r} as a JSON array")
        return value
    coerced = coerce_to_schema(text, {"type": kind})
    if isinstance(coerced, str):
        raise ValueError(f"cannot coerce {text[:100]!r} to {kind}")
    return coerced


def _typed_default(value: Any, kind: str) -> Any:
    """A property's configured default as its declared type (ToolHive's ``coerceDefaultValue``)."""
    if kind == "string":
        return value if isinstance(value, str) else str(value)
    if isinstance(value, str) and kind != "string":
        return _typed(value, kind)
    if kind == "integer" and isinstance(value, int | float) and not isinstance(value, bool):
        return int(value)
    if kind == "number" and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if kind == "boolean" and isinstance(value, bool):
        return value
    if kind == "boolean" and isinstance(value, int):
        return value == 1
    if kind == "object" and isinstance(value, dict):
        return value
    if kind == "array" and isinstance(value, list):
        return value
    raise _StepFailed(f"cannot coerce default value {value!r} to {kind}")
