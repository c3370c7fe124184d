"""toolhive-middleware-audit: ToolHive's ``audit`` middleware — one NDJSON audit event per request
to a workload's proxy, in ToolHive's event format (``pkg/audit``), to the proxy log or a file.

This module is the plugin's entry point. Every ``thv`` command imports it, so it declares what the
plugin provides and imports nothing but ``toolhive.contracts`` and pydantic; the middleware itself
is imported when a workload that uses it starts.

A chain entry is ``{"type": "audit", "parameters": {"config_data": {...}, "config_path": "...",
"component": "...", "transport_type": "..."}}`` — ToolHive's ``MiddlewareParams`` — derived from a
RunConfig's ``audit_config`` / ``audit_config_path`` (``--enable-audit``, ``--audit-config``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from toolhive.contracts import InvalidInputError, MiddlewareParameters, MiddlewareSpec, hookimpl

if TYPE_CHECKING:
    from toolhive.contracts import MiddlewareContext
    from toolhive.contracts.middleware import ASGIApp

__all__ = ["EVENT_TYPES", "AuditConfig", "AuditParameters", "factory", "thv_middleware"]

#: Event types a filter may name: ToolHive's ``Config.Validate`` list, plus ``sse_connection``
#: (which ToolHive emits but forgot to list, so it could never be filtered there).
EVENT_TYPES = frozenset(
    {
        "mcp_initialize",
        "mcp_tool_call",
        "mcp_tools_list",
        "mcp_resource_read",
        "mcp_resources_list",
        "mcp_prompt_get",
        "mcp_prompts_list",
        "mcp_notification",
        "mcp_ping",
        "mcp_logging",
        "mcp_completion",
        "mcp_roots_list_changed",
        "sse_connection",
        "mcp_request",
        "http_request",
        # vMCP composite workflows: valid in ToolHive's config, never emitted by a proxy.
        "vmcp_workflow_started",
        "vmcp_workflow_completed",
        "vmcp_workflow_failed",
        "vmcp_workflow_timed_out",
        "vmcp_workflow_step_started",
        "vmcp_workflow_step_completed",
        "vmcp_workflow_step_failed",
        "vmcp_workflow_step_skipped",
    }
)

#: ToolHive's ``DefaultConfig().MaxDataSize`` (applied when the key is absent or 0).
DEFAULT_MAX_DATA_SIZE = 1024
#: ToolHive's minting cap on RFC 8693 delegation chains (``auth.DefaultMaxDelegationDepth``).
DEFAULT_MAX_DELEGATION_DEPTH = 10


class AuditConfig(BaseModel):
    """ToolHive's audit config (``pkg/audit.Config``), with its JSON keys and defaults.

    Unknown keys are refused (a misspelt ``logFile`` must not silently log to stdout).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    #: The operator's CRD toggle; a proxy with an audit config audits whatever it says (as ToolHive).
    enabled: bool = False
    component: str = ""
    event_types: tuple[str, ...] = Field((), alias="eventTypes")
    exclude_event_types: tuple[str, ...] = Field((), alias="excludeEventTypes")
    include_request_data: bool = Field(False, alias="includeRequestData")
    include_response_data: bool = Field(False, alias="includeResponseData")
    #: ``None`` means ToolHive's default, on.
    detect_application_errors: bool | None = Field(None, alias="detectApplicationErrors")
    max_data_size: int = Field(0, alias="maxDataSize")
    max_delegation_depth: int | None = Field(None, alias="maxDelegationDepth", ge=1)
    log_file: str = Field("", alias="logFile")

    @field_validator("event_types", "exclude_event_types")
    @classmethod
    def _known_types(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [t for t in value if t not in EVENT_TYPES]
        if unknown:
            msg = f"unknown event type {unknown[0]!r} (known: {', '.join(sorted(EVENT_TYPES))})"
            raise ValueError(msg)
        return value

    @field_validator("max_data_size")
    @classmethod
    def _not_negative(cls, value: int) -> int:
        if value < 0:
            raise ValueError("maxDataSize cannot be negative")
        return value

    @property
    def data_cap(self) -> int:
        return self.max_data_size or DEFAULT_MAX_DATA_SIZE

    @property
    def delegation_cap(self) -> int:
        return self.max_delegation_depth or DEFAULT_MAX_DELEGATION_DEPTH

    @property
    def detects_application_errors(self) -> bool:
        return self.detect_application_errors is not False

    def audits(self, event_type: str) -> bool:
        """ToolHive's ``ShouldAuditEvent``: an exclusion wins; a non-empty list is an allowlist."""
        if event_type in self.exclude_event_types:
            return False
        return not self.event_types or event_type in self.event_types


class AuditParameters(MiddlewareParameters):
    """The ``parameters`` of an ``audit`` entry — ToolHive's ``audit.MiddlewareParams``.

    ``config_data`` wins over ``config_path`` (a JSON file, read when the workload starts and
    checked when the parameters are); neither means ToolHive's default config.
    """

    config_data: AuditConfig | None = None
    config_path: str = ""
    #: The component name when the config names none (ToolHive's CLI passes the server name).
    component: str = ""
    #: The workload's transport (``stdio``, ``sse``, ``streamable-http``): only ``sse`` changes
    #: an event (``metadata.extra.transport``, and which unparsed requests are ``mcp_request``).
    transport_type: str = ""

    @field_validator("config_path")
    @classmethod
    def _readable_config(cls, value: str) -> str:
        if value:
            load_config_file(value)  # refused at `thv run`, not only when the proxy starts
        return value

    def effective_config(self) -> AuditConfig:
        if self.config_data is not None:
            return self.config_data
        if self.config_path:
            return load_config_file(self.config_path)
        return AuditConfig.model_validate({})


def load_config_file(path: str) -> AuditConfig:
    """An audit config file (JSON as ToolHive's ``LoadFromFile``, or YAML as ``--audit-config``
    also takes); ``ValueError`` saying why not (so a parameters check reports it as an invalid
    ``config_path``)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        msg = f"cannot read the audit config file {path}: {getattr(exc, 'strerror', None) or exc}"
        raise ValueError(msg) from None
    try:
        data: Any = json.loads(text)
    except ValueError:
        import yaml  # only for a file that is not JSON

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            msg = f"the audit config file {path} is neither JSON nor YAML: {exc}"
            raise ValueError(msg) from None
    try:
        return AuditConfig.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "the file"
        msg = f"the audit config file {path} is invalid: {where}: {first['msg']}"
        raise ValueError(msg) from None


def factory(app: ASGIApp, parameters: AuditParameters, context: MiddlewareContext) -> ASGIApp:
    """Wrap the workload's app; called once each time a workload using it starts."""
    from toolhive_middleware_audit.middleware import AuditMiddleware
    from toolhive_middleware_audit.sink import open_sink

    try:
        config = parameters.effective_config()
    except ValueError as exc:  # the file changed since the parameters were checked
        raise InvalidInputError(str(exc)) from None
    component = config.component or parameters.component or context.workload
    return AuditMiddleware(
        app,
        config,
        sink=open_sink(config.log_file),
        component=component,
        transport_type=parameters.transport_type or context.transport,
        trust_proxy_headers=context.trust_proxy_headers,
    )


@hookimpl
def thv_middleware() -> list[MiddlewareSpec[AuditParameters]]:
    return [
        MiddlewareSpec(
            name="audit",
            description="ToolHive's NDJSON audit events for every request (incl. 401/403)",
            config_model=AuditParameters,
            factory=factory,
        )
    ]
