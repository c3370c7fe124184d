"""Capability aggregation: one advertised view and routing tables over a group's backends.

Pure logic, no I/O: it runs on every backend ``list_changed``, so it copies nothing it does not
rewrite (an advertised tool is the backend's own dict unless its name, description or annotations
change, and then a shallow copy) and pre-encodes the four list results once.

The rules are ToolHive's (``pkg/vmcp/aggregator``), step by step:

1. **Overrides first** (``tool_adapter.go``): a workload's ``overrides`` rename a tool and/or
   replace its description/annotations *before* conflict resolution, so every strategy, the
   ``filter`` and the routing table see the overridden name; calls go back to the backend's own.
2. **Tool conflicts** by ``conflictResolution`` over those names:
   ``prefix``: every tool becomes ``prefixFormat`` (``{workload}`` replaced) + name;
   ``priority``: a name only one backend has stays bare; a shared name goes to the backend
   earliest in ``priorityOrder``, the others are dropped; a shared name none of whose backends is
   listed is kept from each of them as ``{workload}_name`` (ToolHive's fixed fallback format);
   ``manual``: a name still shared after the overrides fails the aggregation
   (:class:`UnresolvedConflictError`), as ToolHive fails the session.
3. **Advertising** (``shouldAdvertiseTool``): ``excludeAllTools``, ``defaultToolVisibility: deny``
   (a backend without a ``tools`` entry advertises nothing), a workload's ``excludeAll`` and its
   ``filter`` (matched against the overridden name) hide tools from ``tools/list`` only; every
   tool stays routable for composite steps (``workload.tool``, the backend's own name).
4. **Prompts** are named ``prefixFormat`` + name, except that under ``priority`` backends listed in
   ``priorityOrder`` keep bare names (a shared bare name goes to the best rank, losers dropped); an
   advertised name that two backends' prompts compose to otherwise is advertised by nobody.
5. **Resources and templates** are never rewritten: a URI (template string) several backends
   offer is advertised once, from the first backend in sorted name order.

Where this differs from ToolHive (deliberately): tool-name collisions are decided in the group's
order, not Go's map order (ToolHive's own docs call its pick nondeterministic); a tool keeps every
field its backend sent (``title``, ``icons``, ``_meta``…), where ToolHive's ``vmcp.Tool`` drops
all but name, description, schemas and annotations; ``workload.tool`` routes exist for every tool a
backend offers, including priority and collision losers, which ToolHive leaves unroutable.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from toolhive.mcp.jsonrpc import encode

if TYPE_CHECKING:
    from toolhive.vmcp.config import AggregationConfig, ToolOverride, WorkloadToolConfig

#: ``conflictResolutionConfig.prefixFormat``'s default, and the fixed format the priority
#: strategy falls back to for a shared tool name none of whose backends is in ``priorityOrder``.
DEFAULT_PREFIX_FORMAT: Final = "{workload}_"

_ANNOTATION_KEYS: Final = (
    ("title", "title"),
    ("read_only_hint", "readOnlyHint"),
    ("destructive_hint", "destructiveHint"),
    ("idempotent_hint", "idempotentHint"),
    ("open_world_hint", "openWorldHint"),
)


class UnresolvedConflictError(ValueError):
    """Under ``manual``, tool names several backends still share after the overrides."""

    def __init__(self, conflicts: Mapping[str, Sequence[str]]) -> None:
        self.conflicts = {name: list(backends) for name, backends in conflicts.items()}
        lines = [f"  - {name}: [{', '.join(b)}]" for name, b in self.conflicts.items()]
        super().__init__(
            "unresolved tool name conflicts detected:\n"
            + "\n".join(lines)
            + "\nUse 'overrides' in the aggregation config to resolve these conflicts when"
            " using conflictResolution: manual"
        )


# ---------------------------------------------------------------------------------------- results


@dataclass(frozen=True, slots=True)
class BackendCapabilities:
    """One backend's lists exactly as it returned them (all pages)."""

    name: str
    tools: list[dict[str, Any]]
    resources: list[dict[str, Any]]
    resource_templates: list[dict[str, Any]]
    prompts: list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Route:
    """Where a call goes: the backend and the tool's (prompt's) name on that backend."""

    backend: str
    name: str


@dataclass(frozen=True)
class Aggregate:
    """What the gateway advertises and how each name or URI routes back to a backend."""

    #: Advertised lists, MCP-shaped (tools sorted by name; resources/templates/prompts sorted by
    #: URI, template and name, as ToolHive).
    tools: list[dict[str, Any]]
    resources: list[dict[str, Any]]
    resource_templates: list[dict[str, Any]]
    prompts: list[dict[str, Any]]
    #: Advertised tool name → backend and the backend's own name.
    tool_routes: dict[str, Route]
    #: ``workload.tool`` (the backend's own name) → route, for every tool every backend offers,
    #: advertised or not: composite steps may call hidden tools (ToolHive's dot convention).
    hidden_tool_routes: dict[str, Route]
    #: Every conflict-resolved name → route, advertised or hidden by filter/excludeAll (ToolHive's
    #: routing table, which a composite step may also name).
    resolved_tool_routes: dict[str, Route]
    prompt_routes: dict[str, Route]
    #: Resource URI → backend.
    resource_routes: dict[str, str]
    #: Resource template string → backend.
    template_routes: dict[str, str]
    #: Pre-encoded list results: ``{"tools":[...]}``, ``{"resources":[...]}``,
    #: ``{"resourceTemplates":[...]}``, ``{"prompts":[...]}``.
    tools_json: bytes
    resources_json: bytes
    resource_templates_json: bytes
    prompts_json: bytes
    #: Notes on dropped or ambiguous names, for the log.
    conflicts: list[str]
    _template_matchers: tuple[tuple[re.Pattern[str], str], ...] = field(
        default=(), repr=False, compare=False
    )

    def resource_backend(self, uri: str) -> str | None:
        """The backend serving ``uri``: an advertised resource, else a template's own string
        (completion refs and subscriptions carry it), else the first template in sorted order
        whose expansion matches, else ``None``."""
        backend = self.resource_routes.get(uri)
        if backend is not None:
            return backend
        backend = self.template_routes.get(uri)
        if backend is not None:
            return backend
        for pattern, template_backend in self._template_matchers:
            if pattern.fullmatch(uri) is not None:
                return template_backend
        return None

    def tool_ref(self, ref: str) -> Route | None:
        """A composite step's ``tool``: a resolved name, else ``workload.tool``."""
        return self.resolved_tool_routes.get(ref) or self.hidden_tool_routes.get(ref)


# ---------------------------------------------------------------------------------------- tools


@dataclass(slots=True)
class _Candidate:
    backend: str
    original: str  # the backend's own name
    exposed: str  # after the workload's override (what strategies and the filter see)
    tool: dict[str, Any]
    override: ToolOverride | None


def _prefixed(prefix_format: str, backend: str, name: str) -> str:
    return prefix_format.replace("{workload}", backend) + name


def _text(value: object) -> str | None:
    """A non-empty string setting, or ``None`` (ToolHive treats "" as "not overridden")."""
    return value if type(value) is str and value else None


def _advertised_tool(candidate: _Candidate, name: str) -> dict[str, Any]:
    tool = candidate.tool
    override = candidate.override
    if override is None and name == candidate.original:
        return tool
    out = dict(tool)
    out["name"] = name
    if override is not None:
        description = _text(override.description)
        if description is not None:
            out["description"] = description
        annotations = override.annotations
        if annotations is not None:
            merged = dict(out["annotations"]) if type(out.get("annotations")) is dict else {}
            for attr, key in _ANNOTATION_KEYS:
                value = getattr(annotations, attr)
                if value is not None:
                    merged[key] = value
            out["annotations"] = merged
    return out


def _resolve_prefix(
    candidates: list[_Candidate], prefix_format: str, notes: list[str]
) -> dict[str, _Candidate]:
    resolved: dict[str, _Candidate] = {}
    for c in candidates:
        name = _prefixed(prefix_format, c.backend, c.exposed)
        kept = resolved.get(name)
        if kept is not None:
            notes.append(
                f"tool {name!r}: {c.backend}'s {c.original!r} collides after prefixing with "
                f"{kept.backend}'s {kept.original!r}; kept {kept.backend}'s"
            )
            continue
        resolved[name] = c
    return resolved


def _by_exposed_name(candidates: list[_Candidate]) -> dict[str, list[_Candidate]]:
    groups: dict[str, list[_Candidate]] = {}
    for c in candidates:
        groups.setdefault(c.exposed, []).append(c)
    return groups


def _resolve_priority(
    candidates: list[_Candidate], order: Sequence[str], notes: list[str]
) -> dict[str, _Candidate]:
    rank: dict[str, int] = {}
    for i, backend in enumerate(order):
        rank.setdefault(backend, i)
    resolved: dict[str, _Candidate] = {}
    fallback: list[tuple[str, _Candidate]] = []
    for name, group in _by_exposed_name(candidates).items():
        if len(group) == 1:
            resolved[name] = group[0]
            continue
        listed = [c for c in group if c.backend in rank]
        if not listed:
            # No backend of this name is ranked: keep each, prefixed (ToolHive's fixed format).
            fallback.extend((_prefixed(DEFAULT_PREFIX_FORMAT, c.backend, name), c) for c in group)
            continue
        winner = min(listed, key=lambda c: rank[c.backend])
        resolved[name] = winner
        losers = ", ".join(c.backend for c in group if c is not winner)
        notes.append(f"tool {name!r}: kept {winner.backend}'s (priority), dropped {losers}'s")
    for name, c in fallback:
        kept = resolved.get(name)
        if kept is not None:
            notes.append(
                f"tool {name!r}: {c.backend}'s {c.original!r} (prefixed: no backend of it is in "
                f"priorityOrder) collides with {kept.backend}'s; kept {kept.backend}'s"
            )
            continue
        resolved[name] = c
    return resolved


def _resolve_manual(candidates: list[_Candidate]) -> dict[str, _Candidate]:
    groups = _by_exposed_name(candidates)
    unresolved = {
        name: [c.backend for c in group] for name, group in groups.items() if len(group) > 1
    }
    if unresolved:
        raise UnresolvedConflictError(unresolved)
    return {name: group[0] for name, group in groups.items()}


# ---------------------------------------------------------------------------------------- others


def _resolve_prompts(
    ordered: list[BackendCapabilities],
    prefix_format: str,
    rank: Mapping[str, int] | None,
    notes: list[str],
) -> tuple[list[dict[str, Any]], dict[str, Route]]:
    # advertised name → [(backend, listed, prompt)]
    claims: dict[str, list[tuple[str, bool, dict[str, Any]]]] = {}
    for caps in ordered:
        listed = rank is not None and caps.name in rank
        for prompt in caps.prompts:
            name = prompt.get("name")
            if type(name) is not str or not name:
                notes.append(f"prompt without a name from {caps.name} ignored")
                continue
            advertised = name if listed else _prefixed(prefix_format, caps.name, name)
            group = claims.setdefault(advertised, [])
            if any(backend == caps.name for backend, _, _ in group):
                notes.append(f"prompt {name!r}: {caps.name} lists it twice; kept the first")
                continue
            group.append((caps.name, listed, prompt))
    prompts: list[dict[str, Any]] = []
    routes: dict[str, Route] = {}
    for advertised in sorted(claims):
        group = claims[advertised]
        if len(group) > 1 and not all(listed for _, listed, _ in group):
            # No defined owner: any survivor would inherit policies written for the others.
            who = ", ".join(f"{b}'s {p['name']!r}" for b, _, p in group)
            notes.append(f"prompt {advertised!r} is ambiguous ({who}); advertised by none")
            continue
        backend, _, prompt = group[0]
        if len(group) > 1 and rank is not None:
            backend, _, prompt = min(group, key=lambda claim: rank[claim[0]])
            losers = ", ".join(b for b, _, _ in group if b != backend)
            notes.append(f"prompt {advertised!r}: kept {backend}'s (priority), dropped {losers}'s")
        original = prompt["name"]
        prompts.append(prompt if advertised == original else {**prompt, "name": advertised})
        routes[advertised] = Route(backend, original)
    return prompts, routes


def _dedupe(
    ordered: list[BackendCapabilities], kind: str, key: str, notes: list[str]
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    owner: dict[str, str] = {}
    items: dict[str, dict[str, Any]] = {}
    for caps in ordered:
        for item in caps.resources if kind == "resource" else caps.resource_templates:
            value = item.get(key)
            if type(value) is not str or not value:
                notes.append(f"{kind} without a {key} from {caps.name} ignored")
                continue
            kept = owner.get(value)
            if kept is not None:
                if kept != caps.name:
                    notes.append(
                        f"{kind} {value!r}: offered by {kept} and {caps.name}; kept {kept}'s"
                    )
                continue
            owner[value] = caps.name
            items[value] = item
    return [items[k] for k in sorted(items)], owner


_EXPRESSION = re.compile(r"\{([^{}]*)\}")


@functools.lru_cache(maxsize=1024)
def _template_pattern(template: str) -> re.Pattern[str] | None:
    """A regex matching the URIs ``template`` (RFC 6570) expands to, or ``None`` if malformed.

    Lenient by design: a value may hold any character its operator could not be confused with
    (``{var}``: no ``/ ? #``; ``{+var}``/``{#var}``: anything), which is all routing needs.
    """
    parts: list[str] = []
    pos = 0
    for m in _EXPRESSION.finditer(template):
        literal = template[pos : m.start()]
        if "{" in literal or "}" in literal:
            return None
        parts.append(re.escape(literal))
        expr = m.group(1)
        op = expr[:1] if expr[:1] in "+#./;?&" else ""
        if not expr[len(op) :]:
            return None
        parts.append(
            {
                "": r"[^/?#]*",
                "+": r".*?",
                "#": r"(?:#.*)?",
                ".": r"(?:\.[^/?#]*)*",
                "/": r"(?:/[^/?#]*)*",
                ";": r"(?:;[^/?#]*)*",
                "?": r"(?:\?[^#]*)?",
                "&": r"(?:&[^#]*)?",
            }[op]
        )
        pos = m.end()
    tail = template[pos:]
    if "{" in tail or "}" in tail:
        return None
    parts.append(re.escape(tail))
    try:
        return re.compile("".join(parts), re.DOTALL)
    except re.error:
        return None


def _clean(value: Any) -> Any:
    """``value`` with every lone surrogate (a ``\\ud800`` escape a backend sent; it has no UTF-8
    form) replaced by U+FFFD, as Go's encoder does, so no later encoding of it can fail."""
    if type(value) is str:
        return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    if type(value) is dict:
        return {_clean(k): _clean(v) for k, v in value.items()}
    if type(value) is list:
        return [_clean(v) for v in value]
    return value


def _encoded(key: str, items: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], bytes]:
    try:
        return items, encode({key: items})
    except UnicodeEncodeError:
        items = _clean(items)
        return items, encode({key: items})


# ---------------------------------------------------------------------------------------- main


def aggregate(backends: Sequence[BackendCapabilities], config: AggregationConfig) -> Aggregate:
    """The advertised view and routing tables over ``backends`` (in the group's order).

    Raises :class:`UnresolvedConflictError` under ``manual`` when the overrides leave a tool
    name shared by several backends (ToolHive fails the session's aggregation the same way).
    """
    notes: list[str] = []
    strategy = config.conflict_resolution
    cr = config.conflict_resolution_config
    prefix_format = _text(cr.prefix_format) or DEFAULT_PREFIX_FORMAT
    priority_order = cr.priority_order

    workload_configs: dict[str, WorkloadToolConfig] = {}
    for entry in config.tools:
        workload_configs[entry.workload] = entry  # a repeated workload: the last entry wins, as Go

    # 1. Every backend tool, after its workload's overrides.
    candidates: list[_Candidate] = []
    hidden: dict[str, Route] = {}
    for caps in backends:
        backend_config = workload_configs.get(caps.name)
        overrides = backend_config.overrides if backend_config is not None else {}
        seen: set[str] = set()
        for tool in caps.tools:
            name = tool.get("name")
            if type(name) is not str or not name:
                notes.append(f"tool without a name from {caps.name} ignored")
                continue
            if name in seen:
                notes.append(f"tool {name!r}: {caps.name} lists it twice; kept the first")
                continue
            seen.add(name)
            # setdefault: "a.b" + "c" and "a" + "b.c" spell one reference; the first keeps it.
            hidden.setdefault(f"{caps.name}.{name}", Route(caps.name, name))
            override = overrides.get(name) if overrides else None
            exposed = (_text(override.name) if override is not None else None) or name
            candidates.append(_Candidate(caps.name, name, exposed, tool, override))

    # 2. Conflict resolution over the overridden names.
    if strategy == "prefix":
        resolved = _resolve_prefix(candidates, prefix_format, notes)
    elif strategy == "priority":
        resolved = _resolve_priority(candidates, priority_order, notes)
    else:
        resolved = _resolve_manual(candidates)

    # 3. Advertising: every resolved tool stays routable; only the list is filtered.
    exclude_all = config.exclude_all_tools
    deny_unlisted = config.default_tool_visibility == "deny"
    filters: dict[str, frozenset[str] | None] = {
        name: frozenset(wc.filter) if wc.filter else None for name, wc in workload_configs.items()
    }
    tools: list[dict[str, Any]] = []
    tool_routes: dict[str, Route] = {}
    resolved_routes: dict[str, Route] = {}
    for name in sorted(resolved):
        c = resolved[name]
        route = Route(c.backend, c.original)
        resolved_routes[name] = route
        if exclude_all:
            continue
        tools_config = workload_configs.get(c.backend)
        if tools_config is None:
            if deny_unlisted:
                continue
        elif tools_config.exclude_all:
            continue
        else:
            allowed = filters[c.backend]
            if allowed is not None and c.exposed not in allowed:
                continue
        tools.append(_advertised_tool(c, name))
        tool_routes[name] = route

    # 4./5. Prompts, resources and templates, in sorted backend order (ToolHive's determinism).
    ordered = sorted(backends, key=lambda caps: caps.name)
    rank: dict[str, int] | None = None
    if strategy == "priority":
        rank = {}
        for i, backend in enumerate(priority_order):
            rank.setdefault(backend, i)
    prompts, prompt_routes = _resolve_prompts(ordered, prefix_format, rank, notes)
    resources, resource_routes = _dedupe(ordered, "resource", "uri", notes)
    templates, template_routes = _dedupe(ordered, "resource template", "uriTemplate", notes)
    matchers: list[tuple[re.Pattern[str], str]] = []
    for template in sorted(template_routes):
        pattern = _template_pattern(template)
        if pattern is None:
            notes.append(f"resource template {template!r} is not a valid URI template")
            continue
        matchers.append((pattern, template_routes[template]))

    tools, tools_json = _encoded("tools", tools)
    resources, resources_json = _encoded("resources", resources)
    templates, templates_json = _encoded("resourceTemplates", templates)
    prompts, prompts_json = _encoded("prompts", prompts)
    return Aggregate(
        tools=tools,
        resources=resources,
        resource_templates=templates,
        prompts=prompts,
        tool_routes=tool_routes,
        hidden_tool_routes=hidden,
        resolved_tool_routes=resolved_routes,
        prompt_routes=prompt_routes,
        resource_routes=resource_routes,
        template_routes=template_routes,
        tools_json=tools_json,
        resources_json=resources_json,
        resource_templates_json=templates_json,
        prompts_json=prompts_json,
        conflicts=notes,
        _template_matchers=tuple(matchers),
    )
