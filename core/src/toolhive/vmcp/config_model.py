"""The vMCP configuration format as pydantic models, with Go's duration helpers.

:class:`VmcpConfig` is a whole file of ToolHive's format (``pkg/vmcp/config/config.go``); each
section is a model whose keys are Go's camelCase names (attributes are their snake_case spelling).
The models check the structure only (unknown keys, types, enum values, durations); the semantic
rules are in :mod:`toolhive.vmcp.config_rules`, loading and dumping in :mod:`toolhive.vmcp.config`.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
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
    "AwsStsConfig",
    "BackendAuthStrategy",
    "CircuitBreakerConfig",
    "CodeModeConfig",
    "CompositeToolConfig",
    "CompositeToolRef",
    "ConflictResolutionConfig",
    "ElicitationResponseConfig",
    "FailureHandlingConfig",
    "GoDuration",
    "HeaderInjectionConfig",
    "IncomingAuthConfig",
    "OBOConfig",
    "OIDCConfig",
    "OperationalConfig",
    "OptimizerConfig",
    "OutgoingAuthConfig",
    "OutputConfig",
    "OutputProperty",
    "RateLimitBucket",
    "RateLimitConfig",
    "RoleMapping",
    "SessionStorageConfig",
    "StaticBackendConfig",
    "StepErrorHandling",
    "TelemetryConfig",
    "TimeoutConfig",
    "TokenExchangeConfig",
    "ToolAnnotationsOverride",
    "ToolConfigRef",
    "ToolOverride",
    "ToolRateLimitConfig",
    "UpstreamInjectConfig",
    "VmcpConfig",
    "VmcpConfigError",
    "WorkflowStep",
    "WorkloadToolConfig",
    "XAAConfig",
    "format_go_duration",
    "parse_go_duration",
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
