"""Composite tools: a DAG of tool, elicitation and forEach steps advertised as one MCP tool.

ToolHive's workflow engine (``pkg/vmcp/composer``) is the reference; its behaviour carries over:

* **Templates** (:mod:`toolhive.vmcp.templates`) see ``.params`` (the call's arguments with the
  parameter schema's defaults), ``.steps.<id>`` (``status``, ``output``, ``content``, ``error``),
  ``.vars`` and ``.workflow`` (``id``, ``start_time``, ``status``, ``step_count``,
  ``duration_ms``); ``.forEach.<itemVar>``/``.forEach.index`` inside a loop. Arguments expand to
  strings and are then coerced to the backend tool's input schema (integer, number, boolean).
* **A step's output** is the backend's ``structuredContent``, else its content as a map
  (``text``, ``text_1``…, ``image_0``…, ``resource``…) — JSON text is not parsed (``fromJson``
  does that in a template). ``.steps.<id>.content`` is always the content map.
* **Order**: a step starts when all of its ``dependsOn`` are done (at most 10 at once); a skipped
  or failed-and-continued step counts as done, its dependents still run and see its status.
* **Failures**: ``onError.action`` ``abort`` (default) | ``continue`` (the step is ``failed``,
  its output ``defaultResults``) | ``retry`` (``retryCount`` ≤ 10, exponential backoff from
  ``retryDelay``, default 1 s, times 1.5 with jitter); the workflow's ``failureMode: continue`` treats
  every step as ``continue``. An abort cancels the running steps and starts no more.
* **Timeouts**: per step (``timeout``, default 5 min), per workflow (default 30 min).
* **Condition** false → ``skipped`` with ``defaultResults`` as output.
* **forEach**: ``collection`` must expand to a JSON array (≤ ``maxIterations``, default 100, at
  most 1000), ``maxParallel`` (default 10, at most 50), one inner tool step per item; output
  ``{iterations: [{index, item, status, output, error?}], count, completed, failed}``; an item's
  failure fails the step unless the step's ``onError.action`` is ``continue``.
* **Elicitation**: message (a template) and schema sent to the client (timeout default 5 min, at
  most 10); accept → output ``{action, content}``; decline/cancel (a timeout counts as cancel)
  → ``onDecline``/``onCancel`` ``continue`` (output ``{action}``), ``abort``, ``skip_remaining``;
  without a handler decline/cancel fail the step.
* **Result**: ``output`` config (templated, typed properties with defaults, ``required``) or the
  last completed step's output, as JSON text and ``structuredContent``; any failure is an
  ``isError`` result whose text says what failed.
* **Annotations** derived from the step tools (readOnly AND, destructive/openWorld OR, an unknown
  step counts as unsafe, idempotent never), explicit ones merged over them; explicit ones that
  claim more safety than the steps allow drop the tool (logged), as ToolHive.

Deliberate differences from ToolHive: steps start as soon as their own dependencies are done
(Go runs whole topological levels in lockstep, so a slow step holds back unrelated ones);
``skip_remaining`` skips the steps that have not started (Go records the choice but runs them
anyway, despite its documentation); ``.workflow.status``/``step_count``/``duration_ms`` are live
during the run (Go fills them only for the output).
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from toolhive.vmcp.config import (
    CompositeToolConfig,
    OutputConfig,
    OutputProperty,
    WorkflowStep,
    parse_go_duration,
)
from toolhive.vmcp.templates import (
    NO_VALUE,
    TemplateError,
    coerce_to_schema,
    evaluate_condition,
    expand,
    expand_value,
    go_json,
    parse,
)

log = logging.getLogger("toolhive.vmcp")

#: ("workload.tool" as the step names it, arguments) → the backend's CallToolResult.
ToolCaller = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]
#: (message, requestedSchema, timeout in seconds) → the client's ElicitResult.
Elicitor = Callable[[str, dict[str, Any], float], Awaitable[dict[str, Any]]]

DEFAULT_WORKFLOW_TIMEOUT: Final = 30 * 60.0
DEFAULT_STEP_TIMEOUT: Final = 5 * 60.0
#: Steps of one workflow running at once (Go's ``defaultMaxParallelSteps``).
MAX_PARALLEL_STEPS: Final = 10
MAX_WORKFLOW_STEPS: Final = 100
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
_GO_IDENTIFIER: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class CompositeToolError(ValueError):
    """A composite tool definition the engine cannot run (cycle, unknown step, bad template…)."""


# --------------------------------------------------------------------------- results


def content_to_map(content: Any) -> dict[str, Any]:
    """A CallToolResult's content as ToolHive's templates see it (``ContentArrayToMap``)."""
    out: dict[str, Any] = {}
    if not isinstance(content, list):
        return out
    texts = images = resources = 0
    for item in content:
        if not isinstance(item, dict):
            continue
        kind = item.get("type")
        if kind == "text":
            out["text" if texts == 0 else f"text_{texts}"] = item.get("text", "")
            texts += 1
        elif kind == "image":
            out[f"image_{images}"] = item.get("data", "")
            images += 1
        elif kind == "resource":
            res = item.get("resource")
            res = res if isinstance(res, dict) else {}
            out["resource" if resources == 0 else f"resource_{resources}"] = (
                res.get("text") or res.get("blob") or ""
            )
            resources += 1
    return out


def _error_message(result: Mapping[str, Any]) -> str:
    """What a backend's ``isError`` result says (ToolHive's ``extractErrorMessage``)."""
    content = result.get("content")
    if isinstance(content, list):
        for item in content:
            if isinstance(item, dict) and item.get("type") == "text" and item.get("text"):
                return str(item["text"])
    structured = result.get("structuredContent")
    if isinstance(structured, dict):
        for key in ("error", "message", "text"):
            value = structured.get(key)
            if isinstance(value, str) and value:
                return value
    return "tool execution error"


def error_result(message: str) -> dict[str, Any]:
    return {"content": [{"type": "text", "text": message}], "isError": True}


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


@dataclass(slots=True)
class StepResult:
    """One step's state as templates and the output see it."""

    status: str  # running, completed, failed, skipped
    output: Any = None
    content: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    ended: float = 0.0

    def template_view(self) -> dict[str, Any]:
        view: dict[str, Any] = {
            "status": self.status,
            # A step without output is Go's nil map: its fields are missing, not an error.
            "output": self.output if self.output is not None else {},
            "content": self.content,
        }
        if self.error is not None:
            view["error"] = self.error
        return view


class _StepFailed(Exception):
    def __init__(self, message: str, output: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.output = output


class _SkipRemaining(Exception):
    """An elicitation answered with ``skip_remaining``: the step completed, the rest skip."""


# --------------------------------------------------------------------------- annotations

_HINTS: Final = ("readOnlyHint", "destructiveHint", "idempotentHint", "openWorldHint")


def derive_annotations(step_annotations: list[dict[str, Any] | None]) -> dict[str, Any] | None:
    """ToolHive's safety floor over the step tools' annotations (``None`` = unknown)."""
    if not step_annotations:
        return None
    read_only, destructive, open_world = True, False, False
    for ann in step_annotations:
        ann = ann or {}
        if ann.get("readOnlyHint") is not True:
            read_only = False
        if ann.get("destructiveHint") is not False:
            destructive = True
        if ann.get("openWorldHint") is not False:
            open_world = True
    return {"readOnlyHint": read_only, "destructiveHint": destructive, "openWorldHint": open_world}


def annotation_contradiction(explicit: Mapping[str, Any], floor: Mapping[str, Any]) -> str | None:
    """Why explicit annotations would make the tool look safer than its steps, or ``None``."""
    if explicit.get("readOnlyHint") is True and floor.get("readOnlyHint") is not True:
        return (
            "annotations declare readOnlyHint=true, but not every step tool is read-only; "
            "the composite tool cannot be advertised as read-only"
        )
    if explicit.get("destructiveHint") is False and floor.get("destructiveHint") is True:
        return (
            "annotations declare destructiveHint=false, but at least one step tool is "
            "destructive or unknown; the composite tool cannot be advertised as non-destructive"
        )
    if explicit.get("openWorldHint") is False and floor.get("openWorldHint") is True:
        return (
            "annotations declare openWorldHint=false, but at least one step tool is open-world "
            "or unknown; the composite tool cannot be advertised as closed-world"
        )
    return None


def _output_schema(output: OutputConfig) -> dict[str, Any]:
    def prop(p: OutputProperty) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": p.type, "description": p.description}
        if p.type == "object" and p.properties:
            schema["properties"] = {k: prop(v) for k, v in p.properties.items()}
        return schema

    schema: dict[str, Any] = {
        "type": "object",
        "properties": {k: prop(v) for k, v in output.properties.items()},
    }
    if output.required:
        schema["required"] = list(output.required)
    return schema


# --------------------------------------------------------------------------- the tool


def _tool_steps(steps: list[WorkflowStep]) -> list[WorkflowStep]:
    """The steps that call a backend tool, forEach inner steps included."""
    out: list[WorkflowStep] = []
    for step in steps:
        if step.type == "tool":
            out.append(step)
        elif step.type == "forEach" and step.step is not None and step.step.type == "tool":
            out.append(step.step)
    return out


class CompositeTool:
    """One ``compositeTools[]`` entry: its advertised definition and its workflow engine."""

    def __init__(self, config: CompositeToolConfig) -> None:
        self.config = config
        self.name = config.name
        self._steps = {step.id: step for step in config.steps}
        self._dependents: dict[str, list[str]] = {sid: [] for sid in self._steps}
        self._validate()
        for step in config.steps:
            for dep in step.depends_on:
                self._dependents[dep].append(step.id)

    # -- definition

    def _validate(self) -> None:
        cfg = self.config
        where = f"composite tool {cfg.name!r}"
        if not cfg.name:
            raise CompositeToolError("composite tool name is required")
        if not cfg.steps:
            raise CompositeToolError(f"{where}: workflow must have at least one step")
        if len(cfg.steps) > MAX_WORKFLOW_STEPS:
            raise CompositeToolError(
                f"{where}: too many steps: {len(cfg.steps)} (max {MAX_WORKFLOW_STEPS})"
            )
        if len(self._steps) != len(cfg.steps):
            seen: set[str] = set()
            for step in cfg.steps:
                if step.id in seen:
                    raise CompositeToolError(f"{where}: duplicate step ID: {step.id}")
                seen.add(step.id)
        for step in cfg.steps:
            if not step.id:
                raise CompositeToolError(f"{where}: step ID is required")
            for dep in step.depends_on:
                if dep not in self._steps:
                    raise CompositeToolError(
                        f"{where}: step {step.id} depends on non-existent step {dep}"
                    )
            self._validate_step(where, step)
        # Cycles: Kahn's algorithm must consume every step.
        indegree = {sid: len(set(s.depends_on)) for sid, s in self._steps.items()}
        users: dict[str, list[str]] = {sid: [] for sid in self._steps}
        for step in cfg.steps:
            for dep in set(step.depends_on):
                users[dep].append(step.id)
        queue = [sid for sid, n in indegree.items() if n == 0]
        seen_count = 0
        while queue:
            sid = queue.pop()
            seen_count += 1
            for user in users[sid]:
                indegree[user] -= 1
                if indegree[user] == 0:
                    queue.append(user)
        if seen_count != len(self._steps):
            stuck = sorted(sid for sid, n in indegree.items() if n > 0)
            raise CompositeToolError(
                f"{where}: circular dependency detected involving step {stuck[0]}"
            )
        if cfg.output is not None:
            self._check_output(where, cfg.output.properties, "output")

    def _template(self, where: str, source: str | None, label: str) -> None:
        if source:
            try:
                parse(source, label)
            except TemplateError as exc:
                raise CompositeToolError(f"{where}: {exc}") from None

    def _templates_in(self, where: str, value: Any, label: str) -> None:
        if isinstance(value, str):
            self._template(where, value, label)
        elif isinstance(value, dict):
            for k, v in value.items():
                self._templates_in(where, v, f"{label}.{k}")
        elif isinstance(value, list):
            for i, v in enumerate(value):
                self._templates_in(where, v, f"{label}[{i}]")

    def _validate_step(self, where: str, step: WorkflowStep, inner: str = "") -> None:
        label = inner or self._label(step)
        if step.type == "tool":
            if not step.tool:
                raise CompositeToolError(f"{where}: tool name is required for tool step {step.id}")
            self._templates_in(where, step.arguments or {}, f"{label}.arguments")
        elif inner:
            raise CompositeToolError(
                f"{where}: forEach inner step must be a tool step (got {step.type!r})"
            )
        elif step.type == "elicitation":
            if not step.message:
                raise CompositeToolError(
                    f"{where}: elicitation message is required for step {step.id}"
                )
            self._template(where, step.message, f"{label}.message")
            if not step.schema_:
                raise CompositeToolError(
                    f"{where}: step {step.id}: schema is required for elicitation steps"
                )
        elif step.type == "forEach":
            if not step.collection:
                raise CompositeToolError(
                    f"{where}: collection is required for forEach step {step.id}"
                )
            if step.step is None:
                raise CompositeToolError(
                    f"{where}: inner step is required for forEach step {step.id}"
                )
            if step.item_var is not None and not _GO_IDENTIFIER.fullmatch(step.item_var):
                raise CompositeToolError(
                    f"{where}: step {step.id}: itemVar must be a valid Go identifier "
                    f"(got {step.item_var!r})"
                )
            if step.item_var == "index":
                raise CompositeToolError(f"{where}: step {step.id}: itemVar cannot be 'index'")
            self._template(where, step.collection, f"{label}.collection")
            self._validate_step(where, step.step, inner=f"{label}.step")
        self._template(where, step.condition, f"{label}.condition")

    def _check_output(self, where: str, props: Mapping[str, OutputProperty], path: str) -> None:
        for name, prop in props.items():
            if prop.value:
                self._template(where, prop.value, f"{self.name}.{path}.{name}")
            if prop.properties:
                self._check_output(where, prop.properties, f"{path}.{name}")

    def _label(self, step: WorkflowStep) -> str:
        return f"{self.name}.steps.{step.id}"

    def step_refs(self) -> list[str]:
        """The tools the workflow's steps name (``workload.tool`` or a resolved name)."""
        return [step.tool for step in _tool_steps(self.config.steps) if step.tool]

    def definition(self, step_tools: Mapping[str, dict[str, Any]]) -> dict[str, Any] | None:
        """The MCP tool clients see, given the step tools' definitions by the names the steps
        use; ``None`` when explicit annotations contradict what the steps allow."""
        cfg = self.config
        tool: dict[str, Any] = {
            "name": cfg.name,
            "description": cfg.description,
            "inputSchema": cfg.parameters or {"type": "object", "properties": {}},
        }
        if cfg.output is not None and cfg.output.properties:
            tool["outputSchema"] = _output_schema(cfg.output)
        refs: list[str] = []
        step_ann: list[dict[str, Any] | None] = []
        for step in _tool_steps(cfg.steps):
            backend_tool = step_tools.get(step.tool or "")
            ann = backend_tool.get("annotations") if isinstance(backend_tool, dict) else None
            step_ann.append(ann if isinstance(ann, dict) else None)
            refs.append(step.tool or "")
        floor = derive_annotations(step_ann)
        explicit: dict[str, Any] = {}
        if cfg.annotations is not None:
            a = cfg.annotations
            for key, value in (
                ("title", a.title),
                ("readOnlyHint", a.read_only_hint),
                ("destructiveHint", a.destructive_hint),
                ("idempotentHint", a.idempotent_hint),
                ("openWorldHint", a.open_world_hint),
            ):
                if value is not None and value != "":
                    explicit[key] = value
        if floor is not None and explicit:
            why = annotation_contradiction(explicit, floor)
            if why is not None:
                log.warning(
                    "composite tool %s: annotations contradict the safety floor of its step "
                    "tools %s; not advertising it: %s",
                    cfg.name,
                    refs,
                    why,
                )
                return None
        merged = {**(floor or {}), **explicit}
        if merged:
            tool["annotations"] = merged
        return tool

    # -- execution

    async def run(
        self,
        arguments: dict[str, Any],
        call_tool: ToolCaller,
        elicit: Elicitor | None,
        *,
        step_tools: Mapping[str, dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """Run the workflow; an MCP CallToolResult (failures are ``isError`` results).

        ``step_tools`` (the step tools' definitions, as for :meth:`definition`) lets expanded
        arguments be coerced to each backend tool's input schema, as ToolHive does.
        Cancelling the call cancels the running steps.
        """
        run = _Run(self, arguments, call_tool, elicit, step_tools or {})
        return await run.execute()


def _apply_defaults(schema: Any, params: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(params)
    props = schema.get("properties") if isinstance(schema, dict) else None
    if isinstance(props, dict):
        for name, prop in props.items():
            if name not in out and isinstance(prop, dict) and "default" in prop:
                out[name] = prop["default"]
    return out


class _Run:
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
        steps = self.tool._steps
        waiting = {sid: set(step.depends_on) for sid, step in steps.items()}
        ready = [s.id for s in self.cfg.steps if not waiting[s.id]]
        running: dict[asyncio.Task[str | None], str] = {}
        failure: str | None = None

        def done(sid: str) -> None:
            for user in self.tool._dependents[sid]:
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
                        step.condition, self.context(), f"{self.tool._label(step)}.condition"
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
                    raise RuntimeError(f"tool execution failed: {_error_message(result)}")
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
        args = self._arguments(step, None, f"{self.tool._label(step)}.arguments")
        result = await self._call(step, args)
        return self._step_output(result)

    # -- forEach

    async def _for_each(self, step: WorkflowStep) -> dict[str, Any]:
        inner = step.step
        assert inner is not None  # validated
        label = f"{self.tool._label(step)}.collection"
        label_inner = f"{self.tool._label(step)}.step"
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
            message = expand(
                step.message or "", self.context(), f"{self.tool._label(step)}.message"
            )
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
