"""The semantic rules of a vMCP configuration (Go's ``DefaultValidator`` and composite-tool
validation), the environment check, and the list of settings this gateway cannot honour.

Each function returns ``key.path: message`` strings, empty when there is nothing to report; the
models they check are in :mod:`toolhive.vmcp.config_model`.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from typing import Any

from toolhive.vmcp.config_model import (
    SUPPORTED_OUTGOING_AUTH,
    BackendAuthStrategy,
    CompositeToolConfig,
    CompositeToolRef,
    OperationalConfig,
    OutputProperty,
    VmcpConfig,
    WorkflowStep,
    parse_go_duration,
)

__all__ = ["check_environment", "unsupported_features", "validate_config"]

# ---------------------------------------------------------------------------------------------
# Semantic validation (Go's DefaultValidator and composite_validation.go)

_RESTRICTED_HEADERS = frozenset(
    h.lower()
    for h in (
        "Host",
        "Connection",
        "Keep-Alive",
        "Te",
        "Trailer",
        "Upgrade",
        "Http2-Settings",
        "Proxy-Authorization",
        "Proxy-Authenticate",
        "Proxy-Connection",
        "Transfer-Encoding",
        "Content-Length",
        "Forwarded",
        "X-Forwarded-For",
        "X-Forwarded-Host",
        "X-Forwarded-Proto",
        "X-Real-Ip",
        # vMCP adds these: forwarding caller credentials to every backend leaks them.
        "Authorization",
        "Cookie",
    )
)
_HEADER_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_TOOL_REF = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9._-]*$")
_GO_IDENT = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_RATIO = re.compile(r"^([0-9]*[.])?[0-9]+$")


def validate_config(cfg: VmcpConfig) -> list[str]:
    """Every semantic problem of ``cfg`` as ``key.path: message``; empty when valid."""
    out: list[str] = []
    if not cfg.name:
        out.append("name: is required")
    if not cfg.group_ref:
        out.append("groupRef: is required")
    _check_backends(cfg, out)
    _check_incoming(cfg, out)
    _check_outgoing(cfg, out)
    _check_aggregation(cfg, out)
    _check_operational(cfg.operational, out)
    _check_composites(cfg.composite_tools, out)
    _check_refs(cfg.composite_tool_refs, out)
    _check_passthrough(cfg.passthrough_headers, out)
    _check_extras(cfg, out)
    return out


def _check_abs_path(where: str, path: str, out: list[str]) -> None:
    if "\x00" in path or ".." in path:
        out.append(f"{where}: contains invalid path characters")
    elif not os.path.isabs(path):
        out.append(f"{where}: must be an absolute path")


def _check_backends(cfg: VmcpConfig, out: list[str]) -> None:
    seen: set[str] = set()
    for i, b in enumerate(cfg.backends):
        where = f"backends[{i}]"
        if not b.name:
            out.append(f"{where}.name: is required")
        elif b.name in seen:
            out.append(f"{where}.name: duplicate backend name {b.name!r}")
        seen.add(b.name)
        if not re.match(r"^https?://", b.url):
            out.append(f"{where}.url: must be an http:// or https:// URL")
        if b.ca_bundle_path:
            if b.type != "entry":
                out.append(f"{where}.caBundlePath: is only valid when type is 'entry'")
            _check_abs_path(f"{where}.caBundlePath", b.ca_bundle_path, out)


def _check_incoming(cfg: VmcpConfig, out: list[str]) -> None:
    auth = cfg.incoming_auth
    if auth is None:
        out.append("incomingAuth: is required (type: anonymous or oidc)")
        return
    if auth.type == "oidc":
        oidc = auth.oidc
        if oidc is None:
            out.append("incomingAuth.oidc: is required when type is 'oidc'")
        else:
            if not oidc.issuer:
                out.append("incomingAuth.oidc.issuer: is required")
            elif not re.match(r"^https?://", oidc.issuer):
                out.append("incomingAuth.oidc.issuer: must be an http:// or https:// URL")
            if not oidc.audience:
                out.append("incomingAuth.oidc.audience: is required")
            if oidc.ca_bundle_path:
                _check_abs_path("incomingAuth.oidc.caBundlePath", oidc.ca_bundle_path, out)
    if auth.authz is not None and auth.authz.type == "cedar" and not auth.authz.policies:
        out.append("incomingAuth.authz.policies: are required when type is 'cedar'")


def _check_strategy(where: str, s: BackendAuthStrategy, out: list[str]) -> None:
    if s.type == "header_injection":
        hi = s.header_injection
        if hi is None:
            out.append(f"{where}.headerInjection: is required for type header_injection")
            return
        if not hi.header_name:
            out.append(f"{where}.headerInjection.headerName: is required")
        else:
            _check_injected_header(f"{where}.headerInjection.headerName", hi.header_name, out)
        if bool(hi.header_value) == bool(hi.header_value_env):
            out.append(
                f"{where}.headerInjection: exactly one of headerValue or headerValueEnv must be set"
            )
    elif s.type == "token_exchange":
        if s.token_exchange is None:
            out.append(f"{where}.tokenExchange: is required for type token_exchange")
        else:
            te = s.token_exchange
            if not te.token_url:
                out.append(f"{where}.tokenExchange.tokenUrl: is required")
            if te.client_secret and te.client_secret_env:
                out.append(
                    f"{where}.tokenExchange: clientSecret and clientSecretEnv are mutually exclusive"
                )
    elif s.type == "upstream_inject":
        if s.upstream_inject is None:
            out.append(f"{where}.upstreamInject: is required for type upstream_inject")
    elif s.type == "aws_sts":
        if s.aws_sts is None or not s.aws_sts.region:
            out.append(f"{where}.awsSts.region: is required for type aws_sts")
    elif s.type == "obo":
        if s.obo is None or not s.obo.token_url:
            out.append(f"{where}.obo.tokenUrl: is required for type obo")
        elif s.obo.client_secret and s.obo.client_secret_env:
            out.append(f"{where}.obo: clientSecret and clientSecretEnv are mutually exclusive")
    elif s.type == "xaa":
        x = s.xaa
        if x is None:
            out.append(f"{where}.xaa: is required for type xaa")
            return
        for key, value in (
            ("idpTokenUrl", x.idp_token_url),
            ("targetTokenUrl", x.target_token_url),
            ("targetAudience", x.target_audience),
        ):
            if not value:
                out.append(f"{where}.xaa.{key}: is required")
        id_token = "urn:ietf:params:oauth:token-type:id_token"
        if x.subject_token_type and x.subject_token_type != id_token:
            out.append(f"{where}.xaa.subjectTokenType: only {id_token!r} is accepted")


def _check_injected_header(where: str, name: str, out: list[str]) -> None:
    """A header the backend client sets itself (or an invalid name) would fail every request."""
    from toolhive.vmcp.backend_client import RESERVED_HEADERS

    if not _HEADER_TOKEN.match(name):
        out.append(f"{where}: invalid header name {name!r}")
    elif name.lower().encode() in RESERVED_HEADERS:
        out.append(f"{where}: {name!r} is set by the gateway itself and cannot be injected")


def _check_outgoing(cfg: VmcpConfig, out: list[str]) -> None:
    auth = cfg.outgoing_auth
    if auth is None:
        out.append("outgoingAuth: is required (source: inline)")
        return
    if auth.default is not None:
        _check_strategy("outgoingAuth.default", auth.default, out)
    for name, strategy in auth.backends.items():
        _check_strategy(f"outgoingAuth.backends.{name}", strategy, out)


def _check_aggregation(cfg: VmcpConfig, out: list[str]) -> None:
    if "aggregation" not in cfg.model_fields_set:
        out.append("aggregation: is required (conflictResolution and conflictResolutionConfig)")
        return
    agg = cfg.aggregation
    if "conflict_resolution" not in agg.model_fields_set:
        out.append("aggregation.conflictResolution: is required (prefix, priority or manual)")
    if "conflict_resolution_config" not in agg.model_fields_set:
        out.append("aggregation.conflictResolutionConfig: is required")
    crc = agg.conflict_resolution_config
    if agg.conflict_resolution == "prefix" and not crc.prefix_format:
        out.append(
            "aggregation.conflictResolutionConfig.prefixFormat: is required for prefix strategy"
        )
    if agg.conflict_resolution == "priority":
        if not crc.priority_order:
            out.append(
                "aggregation.conflictResolutionConfig.priorityOrder: "
                "is required for priority strategy"
            )
        dupes = sorted({w for w in crc.priority_order if crc.priority_order.count(w) > 1})
        if dupes:
            out.append(
                "aggregation.conflictResolutionConfig.priorityOrder: "
                f"lists {', '.join(dupes)} more than once"
            )
    if agg.conflict_resolution == "manual" and not agg.tools:
        out.append("aggregation.tools: tool overrides are required for manual strategy")
    if agg.default_tool_visibility == "deny" and agg.conflict_resolution == "priority":
        listed = {t.workload for t in agg.tools}
        for workload in crc.priority_order:
            if workload not in listed:
                out.append(
                    "aggregation.conflictResolutionConfig.priorityOrder: "
                    f"{workload!r} has no tools entry while defaultToolVisibility is deny; it "
                    "could win a name conflict and then be withheld, hiding the tool entirely"
                )
    seen: set[str] = set()
    for i, tool in enumerate(agg.tools):
        where = f"aggregation.tools[{i}]"
        if not tool.workload:
            out.append(f"{where}.workload: is required")
        elif tool.workload in seen:
            out.append(f"{where}.workload: duplicate workload configuration {tool.workload!r}")
        seen.add(tool.workload)
        for name, override in tool.overrides.items():
            if not override.name and not override.description:
                out.append(
                    f"{where}.overrides.{name}: at least one of name or description "
                    "must be specified"
                )


def _check_operational(ops: OperationalConfig, out: list[str]) -> None:
    t = ops.timeouts
    if t.default_seconds <= 0:
        out.append("operational.timeouts.default: must be positive")
    for workload, value in t.per_workload.items():
        if parse_go_duration(value) <= 0:
            out.append(f"operational.timeouts.perWorkload.{workload}: must be positive")
    fh = ops.failure_handling
    where = "operational.failureHandling"
    if fh.health_check_interval_seconds <= 0:
        out.append(f"{where}.healthCheckInterval: must be positive")
    if fh.unhealthy_threshold <= 0:
        out.append(f"{where}.unhealthyThreshold: must be positive")
    if fh.health_check_timeout is not None:
        hct = parse_go_duration(fh.health_check_timeout)
        if hct < 0:
            out.append(f"{where}.healthCheckTimeout: must be >= 0 (zero means no timeout)")
        elif hct > 0 and hct >= fh.health_check_interval_seconds:
            out.append(
                f"{where}.healthCheckTimeout: must be less than healthCheckInterval "
                f"({fh.health_check_interval}) so checks do not queue up"
            )
    cb = fh.circuit_breaker
    if cb.enabled:
        if cb.failure_threshold < 1:
            out.append(f"{where}.circuitBreaker.failureThreshold: must be >= 1")
        if cb.timeout_seconds < 1:
            out.append(f"{where}.circuitBreaker.timeout: must be >= 1s to prevent thrashing")


def _template_problem(text: str) -> str | None:
    """Why ``text`` is not a template Go's ``text/template`` (with ToolHive's functions) parses."""
    from toolhive.vmcp.templates import TemplateError, parse

    try:
        parse(text)
    except TemplateError as exc:
        return f"{exc.message} (at {exc.line}:{exc.col})"
    return None


def _template_step_refs(text: str) -> list[tuple[str, str | None, str | None]]:
    """``(step_id, attribute, field)`` for each ``.steps.ID.ATTRIBUTE.FIELD`` the template reads
    (Go's ``templates.ExtractReferences``); none when it does not parse (reported apart)."""
    from toolhive.vmcp.templates import TemplateError, references

    try:
        found = references(text)
    except TemplateError:
        return []
    out = []
    for ref in found:
        parts = ref.split(".")  # "", "steps", id, attribute, field, ...
        if len(parts) >= 3 and parts[1] == "steps" and parts[2]:
            attr = parts[3] if len(parts) > 3 else None
            field = parts[4] if len(parts) > 4 else None
            out.append((parts[2], attr, field))
    return out


def _step_templates(step: WorkflowStep) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for key, value in (step.arguments or {}).items():
        if isinstance(value, str):
            found.append((f"arguments.{key}", value))
    for key, text in (
        ("condition", step.condition),
        ("message", step.message),
        ("collection", step.collection),
    ):
        if text:
            found.append((key, text))
    return found


def _check_step(
    where: str, step: WorkflowStep, ids: set[str], out: list[str], *, inner: bool = False
) -> None:
    explicit_type = "type" in step.model_fields_set
    if not explicit_type and step.tool and step.message:
        out.append(f"{where}: cannot have both tool and message fields; set type to clarify")
    if step.type == "tool":
        if not step.tool:
            out.append(f"{where}.tool: is required when type is tool")
        elif not _TOOL_REF.match(step.tool):
            out.append(f"{where}.tool: must be a tool reference such as 'workload.tool_name'")
    elif inner:
        out.append(f"{where}.type: must be 'tool'; only tool inner steps are supported")
    elif step.type == "elicitation":
        if not step.message:
            out.append(f"{where}.message: is required when type is elicitation")
        for handler_name, handler in (("onDecline", step.on_decline), ("onCancel", step.on_cancel)):
            if handler is not None and handler.action is None:
                out.append(f"{where}.{handler_name}.action: is required")
    elif step.type == "forEach":
        _check_for_each(where, step, ids, out)
    for key, text in _step_templates(step):
        problem = _template_problem(text)
        if problem:
            out.append(f"{where}.{key}: invalid template: {problem}")
        for ref, _attr, _field in _template_step_refs(text):
            if ref not in ids:
                out.append(f"{where}.{key}: references unknown step {ref!r}")
            elif ref == step.id and not inner:
                out.append(f"{where}.{key}: a step cannot reference its own output")
    if step.schema_:
        _check_json_schema(f"{where}.schema", step.schema_, out)
    if not inner:
        for dep in step.depends_on:
            if dep not in ids:
                out.append(f"{where}.dependsOn: references unknown step {dep!r}")
    retry = step.on_error is not None and step.on_error.action == "retry"
    if retry and step.on_error is not None and step.on_error.retry_count < 1:
        out.append(f"{where}.onError.retryCount: must be at least 1 when action is retry")


def _check_for_each(where: str, step: WorkflowStep, ids: set[str], out: list[str]) -> None:
    if step.tool:
        out.append(f"{where}.tool: a forEach step must not have 'tool' (put it in 'step')")
    if step.message:
        out.append(f"{where}.message: a forEach step must not have 'message'")
    if not step.collection:
        out.append(f"{where}.collection: is required for forEach steps")
    if step.step is None:
        out.append(f"{where}.step: is required for forEach steps")
    else:
        _check_step(f"{where}.step", step.step, ids | {step.step.id}, out, inner=True)
    if step.item_var is not None:
        if not _GO_IDENT.match(step.item_var):
            out.append(f"{where}.itemVar: must be a valid identifier (got {step.item_var!r})")
        elif step.item_var == "index":
            out.append(f"{where}.itemVar: cannot be 'index' (reserved)")
    if step.max_parallel is not None and not 0 <= step.max_parallel <= 50:
        out.append(f"{where}.maxParallel: must be between 0 and 50")
    if step.max_iterations is not None and not 0 <= step.max_iterations <= 1000:
        out.append(f"{where}.maxIterations: must be between 0 and 1000")


def _cycle(steps: list[WorkflowStep]) -> str | None:
    """A step id on a dependency cycle, or ``None``."""
    graph = {s.id: s.depends_on for s in steps}
    state: dict[str, int] = {}  # 1 = on the stack, 2 = done

    def visit(node: str) -> str | None:
        state[node] = 1
        for dep in graph.get(node, []):
            if state.get(dep) == 1:
                return dep
            if dep in graph and dep not in state:
                found = visit(dep)
                if found:
                    return found
        state[node] = 2
        return None

    for node in graph:
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def _check_parameters(where: str, params: dict[str, Any] | None, out: list[str]) -> None:
    if not params:
        return
    kind = params.get("type")
    if kind is None:
        out.append(f"{where}.parameters.type: is required ('object')")
    elif kind != "object":
        out.append(f"{where}.parameters.type: must be 'object' (got {kind!r})")
    if "properties" in params and not isinstance(params["properties"], dict):
        out.append(f"{where}.parameters.properties: must be a mapping")
    if "required" in params and not isinstance(params["required"], list):
        out.append(f"{where}.parameters.required: must be a list")
    if kind == "object":
        _check_json_schema(f"{where}.parameters", params, out)


def _check_json_schema(where: str, schema: dict[str, Any], out: list[str]) -> None:
    """A schema the validator cannot compile is an error, as gojsonschema's is for Go."""
    import importlib

    # jsonschema comes with the MCP SDK (a dependency of core) but ships no type stubs.
    jsonschema: Any = importlib.import_module("jsonschema")
    try:
        jsonschema.Draft7Validator.check_schema(schema)
    except jsonschema.SchemaError as exc:
        inner = "".join(f".{p}" if isinstance(p, str) else f"[{p}]" for p in exc.path)
        out.append(f"{where}{inner}: invalid JSON Schema: {exc.message}")


def _output_refs(props: Mapping[str, OutputProperty]) -> list[tuple[str, str]]:
    found = []
    for name, prop in props.items():
        if prop.value:
            found.append((name, prop.value))
        if prop.properties:
            found.extend(_output_refs(prop.properties))
    return found


def _check_composites(tools: list[CompositeToolConfig], out: list[str]) -> None:
    names: set[str] = set()
    for t_index, tool in enumerate(tools):
        where = f"compositeTools[{t_index}]"
        if not tool.name:
            out.append(f"{where}.name: is required")
        elif tool.name in names:
            out.append(f"{where}.name: duplicate composite tool name {tool.name!r}")
        names.add(tool.name)
        if not tool.description:
            out.append(f"{where}.description: is required")
        if not tool.steps:
            out.append(f"{where}.steps: must have at least one step")
        elif len(tool.steps) > 100:  # Go's engine refuses larger workflows (maxWorkflowSteps)
            out.append(f"{where}.steps: too many steps: {len(tool.steps)} (max 100)")
        if tool.timeout is not None and parse_go_duration(tool.timeout) < 0:
            out.append(f"{where}.timeout: cannot be negative")
        _check_parameters(where, tool.parameters, out)
        ids: set[str] = set()
        for s_index, step in enumerate(tool.steps):
            if not step.id:
                out.append(f"{where}.steps[{s_index}].id: is required")
            elif step.id in ids:
                out.append(f"{where}.steps[{s_index}].id: {step.id!r} is duplicated")
            ids.add(step.id)
        for s_index, step in enumerate(tool.steps):
            _check_step(f"{where}.steps[{s_index}]", step, ids, out)
        on_cycle = _cycle(tool.steps)
        if on_cycle:
            out.append(f"{where}.steps: dependency cycle involving step {on_cycle!r}")
        if tool.output is not None:
            for name, text in _output_refs(tool.output.properties):
                problem = _template_problem(text)
                if problem:
                    out.append(
                        f"{where}.output.properties.{name}.value: invalid template: {problem}"
                    )
                for ref, _a, _f in _template_step_refs(text):
                    if ref not in ids:
                        out.append(
                            f"{where}.output.properties.{name}.value: "
                            f"references unknown step {ref!r}"
                        )
        _check_default_results(where, tool, out)


def _check_default_results(where: str, tool: CompositeToolConfig, out: list[str]) -> None:
    """A step that may be skipped needs defaultResults for each output field used downstream."""
    skippable = {
        s.id: set((s.default_results or {}).keys())
        for s in tool.steps
        if s.condition or (s.on_error is not None and s.on_error.action == "continue")
    }
    if not skippable:
        return
    uses: list[tuple[str, str]] = []  # (template, who)
    for step in tool.steps:
        uses.extend(
            (text, f"step {step.id!r}")
            for key, text in _step_templates(step)
            if key != "collection"
        )
    if tool.output is not None:
        uses.extend((text, "output") for _name, text in _output_refs(tool.output.properties))
    reported: set[tuple[str, str]] = set()
    for text, who in uses:
        for ref, attr, field in _template_step_refs(text):
            if attr != "output" or not field or ref not in skippable:
                continue
            if field not in skippable[ref] and (ref, field) not in reported:
                reported.add((ref, field))
                index = next(i for i, s in enumerate(tool.steps) if s.id == ref)
                out.append(
                    f"{where}.steps[{index}].defaultResults.{field}: is required: step {ref!r} "
                    f"may be skipped and its output field {field!r} is used by {who}"
                )


def _check_refs(refs: list[CompositeToolRef], out: list[str]) -> None:
    seen: set[str] = set()
    for i, ref in enumerate(refs):
        if not ref.name:
            out.append(f"compositeToolRefs[{i}].name: is required")
        elif ref.name in seen:
            out.append(f"compositeToolRefs[{i}].name: duplicate reference {ref.name!r}")
        seen.add(ref.name)


def _check_passthrough(headers: list[str], out: list[str]) -> None:
    for i, name in enumerate(headers):
        where = f"passthroughHeaders[{i}]"
        if not name:
            out.append(f"{where}: header name must not be empty")
        elif name.lower() in _RESTRICTED_HEADERS:
            out.append(f"{where}: {name!r} is a restricted header and cannot be forwarded")
        else:
            _check_injected_header(where, name, out)


def _check_extras(cfg: VmcpConfig, out: list[str]) -> None:
    opt = cfg.optimizer
    if opt is not None:
        n = opt.max_tools_to_return
        if n is not None and not 1 <= n <= 50:
            out.append("optimizer.maxToolsToReturn: must be between 1 and 50")
        for key, ratio in (
            ("hybridSearchSemanticRatio", opt.hybrid_search_semantic_ratio),
            ("semanticDistanceThreshold", opt.semantic_distance_threshold),
        ):
            if ratio is not None and not _RATIO.match(ratio):
                out.append(f"optimizer.{key}: must be a decimal number such as '0.5'")
        if opt.embedding_headers and opt.embedding_provider != "openai":
            out.append(
                "optimizer.embeddingHeaders: only supported when embeddingProvider is openai"
            )
        if opt.embedding_provider == "openai" and not opt.embedding_model:
            out.append("optimizer.embeddingModel: is required when embeddingProvider is openai")
    store = cfg.session_storage
    if store is not None and store.provider == "redis" and not store.address:
        out.append("sessionStorage.address: is required when provider is redis")
    tel = cfg.telemetry
    if tel is not None and tel.sampling_rate is not None:
        try:
            rate = float(tel.sampling_rate)
        except ValueError:
            rate = math.nan
        if not 0.0 <= rate <= 1.0:
            out.append("telemetry.samplingRate: must be a number between 0 and 1")


def _env_refs(cfg: VmcpConfig) -> list[tuple[str, str]]:
    """``(key path, variable name)`` for each secret read from the environment."""
    refs: list[tuple[str, str]] = []
    if cfg.incoming_auth and cfg.incoming_auth.oidc and cfg.incoming_auth.oidc.client_secret_env:
        refs.append(("incomingAuth.oidc.clientSecretEnv", cfg.incoming_auth.oidc.client_secret_env))
    auth = cfg.outgoing_auth
    if auth is None:
        return refs
    strategies = [("outgoingAuth.default", auth.default)] + [
        (f"outgoingAuth.backends.{name}", s) for name, s in auth.backends.items()
    ]
    for where, s in strategies:
        if s is None:
            continue
        if (
            s.type == "header_injection"
            and s.header_injection
            and s.header_injection.header_value_env
        ):
            refs.append(
                (f"{where}.headerInjection.headerValueEnv", s.header_injection.header_value_env)
            )
        if s.type == "token_exchange" and s.token_exchange and s.token_exchange.client_secret_env:
            refs.append(
                (f"{where}.tokenExchange.clientSecretEnv", s.token_exchange.client_secret_env)
            )
        if s.type == "obo" and s.obo and s.obo.client_secret_env:
            refs.append((f"{where}.obo.clientSecretEnv", s.obo.client_secret_env))
    return refs


def check_environment(cfg: VmcpConfig, environ: Mapping[str, str] | None = None) -> list[str]:
    """Variables the config reads secrets from must be set and non-empty (names only in output).

    ``incomingAuth.oidc.clientSecretEnv`` is not checked: like Go, a missing one only matters to
    flows that use the secret.
    """
    env = os.environ if environ is None else environ
    return [
        f"{where}: environment variable {name} is not set or empty"
        for where, name in _env_refs(cfg)
        if not where.startswith("incomingAuth") and not env.get(name)
    ]


def unsupported_features(cfg: VmcpConfig) -> list[str]:
    """Settings that parse (they are ToolHive's) but that this gateway does not implement.

    ``serve`` refuses a config with any of them rather than silently running without them.
    """
    out: list[str] = []
    if cfg.incoming_auth is not None and cfg.incoming_auth.type == "local":
        out.append("incomingAuth.type: 'local' is not supported (use oidc or anonymous)")
    auth = cfg.outgoing_auth
    if auth is not None:
        strategies = [("outgoingAuth.default", auth.default)] + [
            (f"outgoingAuth.backends.{name}", s) for name, s in auth.backends.items()
        ]
        for where, s in strategies:
            if s is not None and not s.supported:
                out.append(
                    f"{where}.type: {s.type!r} is not supported by this gateway "
                    f"(supported: {', '.join(sorted(SUPPORTED_OUTGOING_AUTH))})"
                )
    if cfg.composite_tool_refs:
        out.append("compositeToolRefs: Kubernetes only; define the tools under compositeTools")
    for i, tool in enumerate(cfg.aggregation.tools):
        if tool.tool_config_ref is not None:
            out.append(
                f"aggregation.tools[{i}].toolConfigRef: Kubernetes only; use filter/overrides"
            )
    if cfg.optimizer is not None and (
        cfg.optimizer.embedding_service or cfg.optimizer.embedding_provider == "openai"
    ):
        out.append(
            "optimizer.embeddingService: semantic search is not supported "
            "(the optimizer ranks by keywords with SQLite FTS5)"
        )
    if cfg.code_mode is not None and cfg.code_mode.enabled:
        out.append("codeMode.enabled: code mode (execute_tool_script) is not supported")
    return out
