"""ToolHive's vMCP configuration file as pydantic models, with loading and validation.

The format is ToolHive's (``pkg/vmcp/config/config.go``, ``examples/vmcp-config.yaml``): a YAML
(or JSON) document whose keys are camelCase exactly as in Go. A file that ToolHive's ``thv vmcp``
accepts loads here unchanged; attributes are the snake_case spelling of each key.

Three layers, as in Go:

* **Structure** (:func:`load_config`): unknown keys, wrong types, bad enum values and malformed
  durations are errors that name the key path (``aggregation.conflictResolution: must be one of
  prefix, priority, manual``). Every problem is reported at once, not the first one.
* **Semantics** (:func:`validate_config`): the rules of Go's ``DefaultValidator`` and composite-tool
  validation (required sections, strategy-specific settings, step ids, ``dependsOn`` targets and
  cycles, template references, ...). Returns a list of ``path: message`` strings.
* **Environment** (:func:`check_environment`): variables named by ``headerValueEnv`` /
  ``clientSecretEnv`` must be set, as Go's loader requires. Only the variable's *name* is ever
  printed; values never appear in messages or in a model's ``repr``.

Defaults follow Go: operational settings get ``DefaultOperationalConfig`` (30 s backend timeout,
30 s health checks, 3 failures to unhealthy, partial failure mode ``fail``, circuit breaker off
with 5 failures / 60 s); zero values are filled with those defaults as Go's ``mergo.Merge`` does.
Durations keep the string the user wrote (``"1h30m"``); ``*_seconds`` properties give floats.

Deviations from Go, each deliberate:

* ``compositeTools[].failureMode`` (``abort`` | ``continue``, default ``abort``) is accepted; Go's
  workflow engine has the setting but its YAML has no key for it.
* ``partialFailureMode: bestEffort`` (the spelling in Go's example's comment) is read as Go's
  ``best_effort``.
* Settings we parse but cannot honour are listed by :func:`unsupported_features`; ``serve`` refuses
  them instead of ignoring them (fail closed).
* A few checks Go leaves to runtime or skips are made here: duplicate backend names, a workload
  listed twice in ``priorityOrder``, a step referencing its own output.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from toolhive.errors import InvalidInputError

__all__ = [
    "SUPPORTED_OUTGOING_AUTH",
    "AggregationConfig",
    "AuditConfig",
    "AuthzConfig",
    "BackendAuthStrategy",
    "CircuitBreakerConfig",
    "CodeModeConfig",
    "CompositeToolConfig",
    "ConflictResolutionConfig",
    "FailureHandlingConfig",
    "HeaderInjectionConfig",
    "IncomingAuthConfig",
    "OIDCConfig",
    "OperationalConfig",
    "OptimizerConfig",
    "OutgoingAuthConfig",
    "OutputConfig",
    "OutputProperty",
    "SessionStorageConfig",
    "StaticBackendConfig",
    "StepErrorHandling",
    "TelemetryConfig",
    "TimeoutConfig",
    "TokenExchangeConfig",
    "ToolAnnotationsOverride",
    "ToolOverride",
    "VmcpConfig",
    "VmcpConfigError",
    "WorkflowStep",
    "WorkloadToolConfig",
    "check_environment",
    "default_config",
    "dump_config",
    "format_go_duration",
    "load_config",
    "load_validated",
    "parse_go_duration",
    "unsupported_features",
    "validate_config",
]


class VmcpConfigError(InvalidInputError):
    """A vMCP config file that cannot be used; ``problems`` lists each one with its key path."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: invalid vMCP configuration: " + "; ".join(problems))


# ---------------------------------------------------------------------------------------------
# Go durations

_DURATION_PART = re.compile(r"(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|h|m|s)")
_UNIT_SECONDS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}


def parse_go_duration(text: str) -> float:
    """Seconds in a Go ``time.ParseDuration`` string (``"30s"``, ``"1h30m"``, ``"250ms"``, ``"0"``).

    Raises :class:`ValueError` as Go does for anything else, including a number without a unit.
    """
    body, sign = text, 1.0
    if body[:1] in ("+", "-"):
        sign = -1.0 if body[0] == "-" else 1.0
        body = body[1:]
    if body == "0":
        return 0.0
    if not body:
        msg = f"invalid duration {text!r}"
        raise ValueError(msg)
    total, pos = 0.0, 0
    while pos < len(body):
        match = _DURATION_PART.match(body, pos)
        if match is None:
            hint = " (missing unit)" if re.fullmatch(r"[\d.]+", body[pos:]) else ""
            msg = f"invalid duration {text!r}{hint}; use Go's form such as 30s, 5m or 1h30m"
            raise ValueError(msg)
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        pos = match.end()
    return sign * total


def format_go_duration(seconds: float) -> str:
    """Go's ``time.Duration.String`` for whole-millisecond values (``90`` → ``"1m30s"``)."""
    if seconds == 0:
        return "0s"
    sign = "-" if seconds < 0 else ""
    ms = round(abs(seconds) * 1000)
    if ms < 1000:
        return f"{sign}{ms}ms"
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs = f"{rest / 1000:.3f}".rstrip("0").rstrip(".")
    if hours:
        return f"{sign}{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{sign}{minutes}m{secs}s"
    return f"{sign}{secs}s"


def _check_duration(value: object) -> object:
    if isinstance(value, bool) or not isinstance(value, str):
        if isinstance(value, int | float):
            msg = f"must be a duration string such as '30s' (got {value!r}: missing unit)"
        else:
            msg = "must be a duration string such as '30s', '5m' or '1h30m'"
        raise ValueError(msg)
    parse_go_duration(value)
    return value


#: A Go duration string, kept as written; parse with :func:`parse_go_duration`.
GoDuration = Annotated[str, BeforeValidator(_check_duration)]


def _seconds(value: str | None, default: float) -> float:
    return default if value is None else parse_go_duration(value)


# ---------------------------------------------------------------------------------------------
# Models


class _Model(BaseModel):
    """camelCase keys as in Go; unknown keys are errors (Go's loader uses ``KnownFields``)."""

    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        alias_generator=to_camel,
        protected_namespaces=(),
    )

    @model_validator(mode="before")
    @classmethod
    def _null_is_absent(cls, data: Any) -> Any:
        # `key:` with no value is null in YAML; Go reads it as an absent (nil/zero) field.
        if isinstance(data, dict) and any(v is None for v in data.values()):
            return {k: v for k, v in data.items() if v is not None}
        return data


class StaticBackendConfig(_Model):
    """``backends[]``: a backend given by URL instead of discovered in the group."""

    name: str = ""
    url: str = ""
    transport: Literal["sse", "streamable-http"]
    #: ``entry`` for a remote MCPServerEntry; empty for container/proxy backends.
    type: Literal["entry", ""] = ""
    ca_bundle_path: str | None = None
    metadata: dict[str, str] | None = None


class OIDCConfig(_Model):
    issuer: str = ""
    client_id: str = ""
    #: Name of the environment variable holding the client secret (never the secret).
    client_secret_env: str | None = None
    audience: str = ""
    #: RFC 8707 resource indicator; defaults to ``audience``.
    resource: str | None = None
    jwks_url: str | None = None
    introspection_url: str | None = None
    scopes: list[str] | None = None
    protected_resource_allow_private_ip: bool = False
    jwks_allow_private_ip: bool = False
    insecure_allow_http: bool = False
    ca_bundle_path: str | None = None


class AuthzConfig(_Model):
    type: Literal["cedar", "none"]
    policies: list[str] = Field(default_factory=list)
    entities_json: str | None = None
    primary_upstream_provider: str | None = None
    group_claim_name: str | None = None
    role_claim_name: str | None = None
    group_entity_type: str | None = None


class IncomingAuthConfig(_Model):
    """``incomingAuth``: how clients authenticate to the gateway."""

    type: Literal["oidc", "local", "anonymous"]
    oidc: OIDCConfig | None = None
    authz: AuthzConfig | None = None


class HeaderInjectionConfig(_Model):
    header_name: str = ""
    #: A literal value (non-secret values only); exactly one of this and ``header_value_env``.
    header_value: str | None = Field(default=None, repr=False)
    header_value_env: str | None = None


class TokenExchangeConfig(_Model):
    """RFC 8693 token exchange of the client's token for one scoped to the backend."""

    token_url: str = ""
    client_id: str | None = None
    client_secret: str | None = Field(default=None, repr=False)
    client_secret_env: str | None = None
    audience: str | None = None
    scopes: list[str] | None = None
    subject_token_type: str | None = None
    subject_provider_name: str | None = None


class UpstreamInjectConfig(_Model):
    provider_name: str = ""


class RoleMapping(_Model):
    claim: str | None = None
    matcher: str | None = None
    role_arn: str = ""
    priority: int | None = None


class AwsStsConfig(_Model):
    region: str = ""
    service: str | None = None
    fallback_role_arn: str | None = None
    role_mappings: list[RoleMapping] | None = None
    role_claim: str | None = None
    session_duration: int | None = None
    session_name_claim: str | None = None
    subject_provider_name: str | None = None


class OBOConfig(_Model):
    token_url: str = ""
    client_id: str | None = None
    client_secret: str | None = Field(default=None, repr=False)
    client_secret_env: str | None = None
    audience: str | None = None
    scopes: list[str] | None = None
    subject_token_provider_name: str | None = None
    cache_skew_seconds: int | None = None


class XAAConfig(_Model):
    idp_token_url: str = Field(default="", alias="idpTokenUrl")
    idp_client_id: str | None = Field(default=None, alias="idpClientId")
    idp_client_secret: str | None = Field(default=None, alias="idpClientSecret", repr=False)
    idp_client_secret_env: str | None = Field(default=None, alias="idpClientSecretEnv")
    target_token_url: str = ""
    insecure_target_token_url: bool = False
    target_client_id: str | None = None
    target_client_secret: str | None = Field(default=None, repr=False)
    target_client_secret_env: str | None = None
    target_audience: str = ""
    target_resource: str | None = None
    scopes: list[str] | None = None
    subject_provider_name: str | None = None
    subject_token_type: str | None = None


#: Outgoing auth strategies this gateway implements; the others parse but ``serve`` refuses them.
SUPPORTED_OUTGOING_AUTH = frozenset({"unauthenticated", "header_injection", "token_exchange"})


class BackendAuthStrategy(_Model):
    """How the gateway authenticates to one backend (Go's ``authtypes.BackendAuthStrategy``)."""

    type: Literal[
        "unauthenticated",
        "header_injection",
        "token_exchange",
        "upstream_inject",
        "aws_sts",
        "obo",
        "xaa",
    ]
    header_injection: HeaderInjectionConfig | None = None
    token_exchange: TokenExchangeConfig | None = None
    upstream_inject: UpstreamInjectConfig | None = None
    aws_sts: AwsStsConfig | None = None
    obo: OBOConfig | None = Field(default=None, alias="obo")
    xaa: XAAConfig | None = Field(default=None, alias="xaa")

    @property
    def supported(self) -> bool:
        return self.type in SUPPORTED_OUTGOING_AUTH


class OutgoingAuthConfig(_Model):
    """``outgoingAuth``: per-backend credentials, falling back to ``default``."""

    source: Literal["inline", "discovered"]
    default: BackendAuthStrategy | None = None
    backends: dict[str, BackendAuthStrategy] = Field(default_factory=dict)

    def resolve_for_backend(self, backend: str) -> BackendAuthStrategy | None:
        """The backend's own strategy, else ``default``, else ``None`` (no authentication)."""
        return self.backends.get(backend) or self.default


class ConflictResolutionConfig(_Model):
    #: Placeholder ``{workload}``; also used for prompt names.
    prefix_format: str = "{workload}_"
    priority_order: list[str] = Field(default_factory=list)


class ToolAnnotationsOverride(_Model):
    title: str | None = None
    read_only_hint: bool | None = None
    destructive_hint: bool | None = None
    idempotent_hint: bool | None = None
    open_world_hint: bool | None = None


class ToolOverride(_Model):
    name: str | None = None
    description: str | None = None
    annotations: ToolAnnotationsOverride | None = None


class ToolConfigRef(_Model):
    name: str = ""


class WorkloadToolConfig(_Model):
    """``aggregation.tools[]``: filter, rename and hide one backend's tools."""

    workload: str = ""
    #: Kubernetes only (an MCPToolConfig resource).
    tool_config_ref: ToolConfigRef | None = None
    #: Allow-list of tool names advertised; ``None`` advertises all.
    filter: list[str] | None = None
    #: Keyed by the backend's tool name.
    overrides: dict[str, ToolOverride] = Field(default_factory=dict)
    exclude_all: bool = False


class AggregationConfig(_Model):
    """``aggregation``: conflict resolution and per-backend tool visibility."""

    conflict_resolution: Literal["prefix", "priority", "manual"] = "prefix"
    conflict_resolution_config: ConflictResolutionConfig = Field(
        default_factory=ConflictResolutionConfig
    )
    tools: list[WorkloadToolConfig] = Field(default_factory=list)
    exclude_all_tools: bool = False
    #: Whether a backend with no ``tools`` entry has its tools advertised ("" in Go = allow).
    default_tool_visibility: Literal["allow", "deny"] = "allow"

    @field_validator("default_tool_visibility", mode="before")
    @classmethod
    def _empty_is_allow(cls, value: object) -> object:
        return "allow" if value == "" else value

    def tool_config(self, workload: str) -> WorkloadToolConfig | None:
        return next((t for t in self.tools if t.workload == workload), None)


class TimeoutConfig(_Model):
    default: GoDuration = "30s"
    per_workload: dict[str, GoDuration] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _zero_is_default(self) -> TimeoutConfig:
        if parse_go_duration(self.default) == 0:  # Go's mergo fills zero values
            self.default = "30s"
        return self

    @property
    def default_seconds(self) -> float:
        return parse_go_duration(self.default)

    def seconds_for(self, workload: str) -> float:
        """The backend's own timeout, else ``default``."""
        own = self.per_workload.get(workload)
        return parse_go_duration(own) if own is not None else self.default_seconds


class CircuitBreakerConfig(_Model):
    enabled: bool = False
    failure_threshold: int = 5
    timeout: GoDuration = "60s"

    @model_validator(mode="after")
    def _zero_is_default(self) -> CircuitBreakerConfig:
        if self.failure_threshold == 0:
            self.failure_threshold = 5
        if parse_go_duration(self.timeout) == 0:
            self.timeout = "60s"
        return self

    @property
    def timeout_seconds(self) -> float:
        return parse_go_duration(self.timeout)


class FailureHandlingConfig(_Model):
    health_check_interval: GoDuration = "30s"
    unhealthy_threshold: int = 3
    #: Per health check; unset → 10 s, ``0`` → no timeout.
    health_check_timeout: GoDuration | None = None
    status_reporting_interval: GoDuration = "30s"
    partial_failure_mode: Literal["fail", "best_effort"] = "fail"
    circuit_breaker: CircuitBreakerConfig = Field(default_factory=CircuitBreakerConfig)

    @field_validator("partial_failure_mode", mode="before")
    @classmethod
    def _go_example_spelling(cls, value: object) -> object:
        # Go's example comments "fail | bestEffort"; its validator only knows best_effort.
        return "best_effort" if value == "bestEffort" else ("fail" if value == "" else value)

    @model_validator(mode="after")
    def _zero_is_default(self) -> FailureHandlingConfig:
        if parse_go_duration(self.health_check_interval) == 0:
            self.health_check_interval = "30s"
        if self.unhealthy_threshold == 0:
            self.unhealthy_threshold = 3
        if parse_go_duration(self.status_reporting_interval) == 0:
            self.status_reporting_interval = "30s"
        return self

    @property
    def health_check_interval_seconds(self) -> float:
        return parse_go_duration(self.health_check_interval)

    @property
    def health_check_timeout_seconds(self) -> float:
        """``0.0`` means no timeout."""
        return _seconds(self.health_check_timeout, 10.0)

    @property
    def status_reporting_interval_seconds(self) -> float:
        return parse_go_duration(self.status_reporting_interval)


class OperationalConfig(_Model):
    log_level: Literal["debug"] | None = None
    timeouts: TimeoutConfig = Field(default_factory=TimeoutConfig)
    failure_handling: FailureHandlingConfig = Field(default_factory=FailureHandlingConfig)


class StepErrorHandling(_Model):
    action: Literal["abort", "continue", "retry"] = "abort"
    retry_count: int = 0
    retry_delay: GoDuration | None = None

    @property
    def retry_delay_seconds(self) -> float:
        """Go's engine waits 1 s between attempts unless told otherwise."""
        delay = _seconds(self.retry_delay, 1.0)
        return delay if delay > 0 else 1.0

    @property
    def retries(self) -> int:
        """Retries Go's engine makes: ``retryCount`` for ``retry``, capped at 10; else 0."""
        return min(max(self.retry_count, 0), 10) if self.action == "retry" else 0


class ElicitationResponseConfig(_Model):
    action: Literal["skip_remaining", "abort", "continue"] | None = None


class WorkflowStep(_Model):
    """One step of a composite tool (Go's ``WorkflowStepConfig``)."""

    id: str = ""
    type: Literal["tool", "elicitation", "forEach"] = "tool"
    #: ``workload.tool`` (or an aggregated / bare tool name, as Go accepts).
    tool: str | None = None
    #: Top-level string values are templates (``{{.params.x}}``, ``{{.steps.id.output.f}}``).
    arguments: dict[str, Any] | None = None
    condition: str | None = None
    depends_on: list[str] = Field(default_factory=list)
    on_error: StepErrorHandling | None = None
    #: Elicitation message (a template).
    message: str | None = None
    #: Elicitation response JSON schema.
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")
    timeout: GoDuration | None = None
    on_decline: ElicitationResponseConfig | None = None
    on_cancel: ElicitationResponseConfig | None = None
    #: Output used when the step is skipped or fails with ``onError.action: continue``.
    default_results: dict[str, Any] | None = None
    # forEach
    collection: str | None = None
    item_var: str | None = None
    max_parallel: int | None = None
    max_iterations: int | None = None
    #: forEach's inner step (tool steps only).
    step: WorkflowStep | None = None

    @property
    def timeout_seconds(self) -> float:
        """The step's own timeout, else Go's 5 minutes (``defaultStepTimeout``)."""
        return _seconds(self.timeout, 300.0)

    @property
    def item_var_name(self) -> str:
        return self.item_var or "item"

    @property
    def max_iterations_effective(self) -> int:
        """Go: 100 when unset, never more than 1000."""
        return min(self.max_iterations or 100, 1000)

    def tool_ref(self) -> tuple[str, str] | None:
        """``("workload", "tool")`` for a ``workload.tool`` reference, else ``None``."""
        if not self.tool or "." not in self.tool:
            return None
        workload, _, name = self.tool.partition(".")
        return (workload, name) if workload and name else None


class OutputProperty(_Model):
    type: Literal["string", "integer", "number", "boolean", "object", "array"]
    description: str = ""
    #: A template producing the value.
    value: str | None = None
    properties: dict[str, OutputProperty] | None = None
    default: Any = None


class OutputConfig(_Model):
    properties: dict[str, OutputProperty] = Field(default_factory=dict)
    required: list[str] | None = None


class CompositeToolConfig(_Model):
    """``compositeTools[]``: a DAG of steps advertised as one tool."""

    name: str = ""
    description: str = ""
    #: JSON Schema of the tool's input (``type: object``).
    parameters: dict[str, Any] | None = None
    #: Workflow timeout as written; see :attr:`timeout_seconds` (default 30 minutes).
    timeout: GoDuration | None = None
    steps: list[WorkflowStep] = Field(default_factory=list)
    output: OutputConfig | None = None
    annotations: ToolAnnotationsOverride | None = None
    #: Extension (not a key of Go's YAML): ``continue`` runs independent steps after a failure.
    failure_mode: Literal["abort", "continue"] = "abort"

    @property
    def timeout_seconds(self) -> float:
        return _seconds(self.timeout, 1800.0)


class CompositeToolRef(_Model):
    name: str = ""


class TelemetryConfig(_Model):
    """``telemetry`` (Go's ``telemetry.Config``)."""

    endpoint: str | None = None
    service_name: str | None = None
    service_version: str | None = None
    tracing_enabled: bool = False
    metrics_enabled: bool = False
    sampling_rate: str | None = None
    headers: dict[str, str] | None = Field(default=None, repr=False)
    insecure: bool = False
    enable_prometheus_metrics_path: bool = False
    prometheus_port: int | None = None
    metrics_on_transport_port: bool | None = None
    environment_variables: list[str] | None = None
    custom_attributes: dict[str, str] | None = None
    use_legacy_attributes: bool = False
    ca_cert_path: str | None = None

    @field_validator("sampling_rate", mode="before")
    @classmethod
    def _number_as_string(cls, value: object) -> object:
        # Go keeps the rate a string; a bare YAML number means the same.
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        return value


class AuditConfig(_Model):
    """``audit`` (Go's ``audit.Config``)."""

    enabled: bool = False
    component: str | None = None
    event_types: list[str] | None = None
    exclude_event_types: list[str] | None = None
    include_request_data: bool = False
    include_response_data: bool = False
    detect_application_errors: bool | None = None
    max_data_size: int | None = None
    max_delegation_depth: int | None = None
    log_file: str | None = None


class OptimizerConfig(_Model):
    """``optimizer``: present (even ``{}``) means on — only ``find_tool``/``call_tool`` are listed."""

    #: Semantic search (Tier 2) via an embedding service; keyword search needs none.
    embedding_service: str | None = None
    embedding_service_timeout: GoDuration | None = None
    embedding_provider: Literal["tei", "openai"] | None = None
    embedding_model: str | None = None
    embedding_headers: dict[str, str] | None = Field(default=None, repr=False)
    #: Results per ``find_tool`` query: 1..50, default 8.
    max_tools_to_return: int | None = None
    hybrid_search_semantic_ratio: str | None = None
    semantic_distance_threshold: str | None = None

    @property
    def max_results(self) -> int:
        return self.max_tools_to_return or 8


class CodeModeConfig(_Model):
    enabled: bool = False
    step_limit: int | None = None
    parallel_max_concurrency: int | None = None
    tool_call_timeout: GoDuration | None = None


class SessionStorageConfig(_Model):
    provider: Literal["memory", "redis"]
    address: str | None = None
    db: int = 0
    key_prefix: str | None = None


class RateLimitBucket(_Model):
    max_tokens: int
    refill_period: GoDuration


class ToolRateLimitConfig(_Model):
    name: str
    shared: RateLimitBucket | None = None
    per_user: RateLimitBucket | None = None


class RateLimitConfig(_Model):
    shared: RateLimitBucket | None = None
    per_user: RateLimitBucket | None = None
    tools: list[ToolRateLimitConfig] | None = None


class VmcpConfig(_Model):
    """A whole vMCP configuration file (Go's ``config.Config``)."""

    name: str = ""
    group_ref: str = ""
    #: Static backends; when empty, backends are the group's workloads (discovered live).
    backends: list[StaticBackendConfig] = Field(default_factory=list)
    #: Required by :func:`validate_config`; ``None`` only in unvalidated configs.
    incoming_auth: IncomingAuthConfig | None = None
    #: Required by :func:`validate_config`; ``None`` only in unvalidated configs.
    outgoing_auth: OutgoingAuthConfig | None = None
    aggregation: AggregationConfig = Field(default_factory=AggregationConfig)
    composite_tools: list[CompositeToolConfig] = Field(default_factory=list)
    #: Kubernetes only (VirtualMCPCompositeToolDefinition resources).
    composite_tool_refs: list[CompositeToolRef] = Field(default_factory=list)
    operational: OperationalConfig = Field(default_factory=OperationalConfig)
    metadata: dict[str, str] | None = None
    telemetry: TelemetryConfig | None = None
    audit: AuditConfig | None = None
    optimizer: OptimizerConfig | None = None
    code_mode: CodeModeConfig | None = None
    session_storage: SessionStorageConfig | None = None
    rate_limiting: RateLimitConfig | None = None
    #: Incoming request headers forwarded verbatim to every backend.
    passthrough_headers: list[str] = Field(default_factory=list)

    @property
    def optimizer_enabled(self) -> bool:
        return self.optimizer is not None

    def outgoing_auth_for(self, backend: str) -> BackendAuthStrategy | None:
        """The strategy for ``backend`` (its own, else the default); ``None`` = unauthenticated."""
        return self.outgoing_auth.resolve_for_backend(backend) if self.outgoing_auth else None


WorkflowStep.model_rebuild()
OutputProperty.model_rebuild()


# ---------------------------------------------------------------------------------------------
# Loading


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader read the way Go's yaml.v3 reads: a key given twice is an error, and plain
    scalars follow YAML 1.2 (``yes``/``on`` and ``2024-01-01`` stay strings, ``1:30`` is no
    sexagesimal number)."""

    yaml_implicit_resolvers = {
        first: [
            (tag, rx)
            for tag, rx in resolvers
            if tag not in ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:timestamp")
            and tag != "tag:yaml.org,2002:int"
        ]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in seen:
            msg = f"key {key!r} is given twice"
            raise yaml.constructor.ConstructorError(None, None, msg, key_node.start_mark)
        seen.add(key)
    return dict(loader.construct_pairs(node, deep=True))


_UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _construct_mapping,
)
_UniqueKeyLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_UniqueKeyLoader.add_implicit_resolver(
    "tag:yaml.org,2002:int",
    re.compile(r"^(?:[-+]?(?:0|[1-9][0-9]*)|0x[0-9a-fA-F]+|0o[0-7]+)$"),
    list("-+0123456789"),
)


def _path(loc: Iterable[str | int]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def _problems(exc: ValidationError) -> list[str]:
    problems = []
    for err in exc.errors(include_url=False):
        kind, msg = err["type"], err["msg"]
        if kind == "missing":
            msg = "is required"
        elif kind == "extra_forbidden":
            msg = "unknown key"
        elif kind == "literal_error":
            expected = str(err.get("ctx", {}).get("expected", ""))
            choices = expected.replace("'", "").replace(" or ", ", ")
            got = err.get("input")
            msg = f"must be one of {choices}" + (
                f" (got {got!r})" if isinstance(got, str | int | float | bool) else ""
            )
        elif kind == "value_error":
            msg = msg.removeprefix("Value error, ")
        else:
            msg = msg[:1].lower() + msg[1:]
        problems.append(f"{_path(err['loc'])}: {msg}")
    return problems


def parse_config(data: object, source: str = "vMCP config") -> VmcpConfig:
    """Build a :class:`VmcpConfig` from already-parsed YAML/JSON data."""
    if not isinstance(data, Mapping):
        raise VmcpConfigError(source, ["(top level): must be a mapping of keys to values"])
    try:
        return VmcpConfig.model_validate(data)
    except ValidationError as exc:
        raise VmcpConfigError(source, _problems(exc)) from None


def load_config(path: Path) -> VmcpConfig:
    """Read a vMCP config file (YAML, or JSON) and check its structure.

    Raises :class:`VmcpConfigError` naming every bad key. Semantic rules are
    :func:`validate_config`'s; :func:`load_validated` does both.
    """
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise VmcpConfigError(source, ["file not found"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise VmcpConfigError(
            source, [f"cannot read the file ({exc.__class__.__name__})"]
        ) from None
    try:
        if Path(path).suffix.lower() == ".json":
            data = json.loads(text)
        else:
            data = yaml.load(text, Loader=_UniqueKeyLoader)
    except json.JSONDecodeError as exc:
        raise VmcpConfigError(source, [f"line {exc.lineno}: invalid JSON: {exc.msg}"]) from None
    except yaml.YAMLError as exc:
        raise VmcpConfigError(source, [f"invalid YAML: {_yaml_problem(exc)}"]) from None
    if data is None:
        raise VmcpConfigError(source, ["(top level): the file is empty"])
    return parse_config(data, source)


def _yaml_problem(exc: yaml.YAMLError) -> str:
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        mark = exc.problem_mark
        return f"line {mark.line + 1}, column {mark.column + 1}: {exc.problem}"
    return str(exc)


def load_validated(path: Path, environ: Mapping[str, str] | None = None) -> VmcpConfig:
    """:func:`load_config`, then :func:`validate_config` and :func:`check_environment`."""
    cfg = load_config(path)
    problems = validate_config(cfg) + check_environment(cfg, environ)
    if problems:
        raise VmcpConfigError(str(path), problems)
    return cfg


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


# ---------------------------------------------------------------------------------------------
# Writing


def default_config(group: str, name: str | None = None) -> VmcpConfig:
    """The configuration of ``thv vmcp serve --group`` (and, named ``<group>-vmcp``, of ``init``).

    Anonymous clients, unauthenticated backends, ``prefix`` conflict resolution with
    ``{workload}_``: Go's quick-mode config. Fields are set explicitly so :func:`dump_config`
    writes them (Go's validator requires each).
    """
    return VmcpConfig(
        name=name or group,
        group_ref=group,
        incoming_auth=IncomingAuthConfig(type="anonymous"),
        outgoing_auth=OutgoingAuthConfig(
            source="inline", default=BackendAuthStrategy(type="unauthenticated")
        ),
        aggregation=AggregationConfig(
            conflict_resolution="prefix",
            conflict_resolution_config=ConflictResolutionConfig(prefix_format="{workload}_"),
        ),
    )


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (Cedar policies) as ``|`` blocks."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


def _mark_set(model: BaseModel) -> bool:
    """Count a section as set when something inside it was set (``cfg.operational.x = …`` sets
    ``x`` but not ``operational``); whether anything in ``model`` was set."""
    for name in type(model).model_fields:
        value = getattr(model, name)
        items = (
            value.values()
            if isinstance(value, dict)
            else value
            if isinstance(value, list)
            else [value]
        )
        inner = [_mark_set(v) for v in items if isinstance(v, BaseModel)]
        if any(inner):
            model.model_fields_set.add(name)
    return bool(model.model_fields_set)


def dump_config(cfg: VmcpConfig) -> str:
    """YAML with Go's camelCase keys, in Go's order; settings nobody set are left out."""
    cfg = cfg.model_copy(deep=True)
    _mark_set(cfg)
    data = cfg.model_dump(mode="json", by_alias=True, exclude_unset=True, exclude_none=True)
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)
