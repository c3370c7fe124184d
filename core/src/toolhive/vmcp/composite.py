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

This module holds the tool's definition (validation, advertised schema and annotations); a run is
:class:`toolhive.vmcp.composite_run.WorkflowRun`, step results are in
:mod:`toolhive.vmcp.composite_results`. The public names of both are re-exported here.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any, Final

from toolhive.vmcp.composite_results import StepResult, content_to_map, error_result
from toolhive.vmcp.composite_run import (
    DEFAULT_RETRY_DELAY,
    DEFAULT_STEP_TIMEOUT,
    DEFAULT_WORKFLOW_TIMEOUT,
    ELICITATION_DEFAULT_TIMEOUT,
    ELICITATION_MAX_TIMEOUT,
    FOREACH_DEFAULT_ITERATIONS,
    FOREACH_MAX_ITERATIONS,
    FOREACH_MAX_PARALLEL,
    MAX_PARALLEL_STEPS,
    MAX_RETRIES,
    Elicitor,
    ToolCaller,
    WorkflowRun,
)
from toolhive.vmcp.config import CompositeToolConfig, OutputConfig, OutputProperty, WorkflowStep
from toolhive.vmcp.templates import TemplateError, parse

__all__ = [
    "DEFAULT_RETRY_DELAY",
    "DEFAULT_STEP_TIMEOUT",
    "DEFAULT_WORKFLOW_TIMEOUT",
    "ELICITATION_DEFAULT_TIMEOUT",
    "ELICITATION_MAX_TIMEOUT",
    "FOREACH_DEFAULT_ITERATIONS",
    "FOREACH_MAX_ITERATIONS",
    "FOREACH_MAX_PARALLEL",
    "MAX_PARALLEL_STEPS",
    "MAX_RETRIES",
    "MAX_WORKFLOW_STEPS",
    "CompositeTool",
    "CompositeToolError",
    "Elicitor",
    "StepResult",
    "ToolCaller",
    "annotation_contradiction",
    "content_to_map",
    "derive_annotations",
    "error_result",
]

log = logging.getLogger("toolhive.vmcp")

MAX_WORKFLOW_STEPS: Final = 100
_GO_IDENTIFIER: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class CompositeToolError(ValueError):
    """A composite tool definition the engine cannot run (cycle, unknown step, bad template…)."""


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
        self.steps = {step.id: step for step in config.steps}
        self.dependents: dict[str, list[str]] = {sid: [] for sid in self.steps}
        self._validate()
        for step in config.steps:
            for dep in step.depends_on:
                self.dependents[dep].append(step.id)

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
        if len(self.steps) != len(cfg.steps):
            seen: set[str] = set()
            for step in cfg.steps:
                if step.id in seen:
                    raise CompositeToolError(f"{where}: duplicate step ID: {step.id}")
                seen.add(step.id)
        for step in cfg.steps:
            if not step.id:
                raise CompositeToolError(f"{where}: step ID is required")
            for dep in step.depends_on:
                if dep not in self.steps:
                    raise CompositeToolError(
                        f"{where}: step {step.id} depends on non-existent step {dep}"
                    )
            self._validate_step(where, step)
        # Cycles: Kahn's algorithm must consume every step.
        indegree = {sid: len(set(s.depends_on)) for sid, s in self.steps.items()}
        users: dict[str, list[str]] = {sid: [] for sid in self.steps}
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
        if seen_count != len(self.steps):
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
        label = inner or self.label(step)
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

    def label(self, step: WorkflowStep) -> str:
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
        run = WorkflowRun(self, arguments, call_tool, elicit, step_tools or {})
        return await run.execute()
