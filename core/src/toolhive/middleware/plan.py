"""From a RunConfig to a checked list of middleware entries — refusing what nothing enforces.

ToolHive keeps two descriptions of a chain: the RunConfig's own fields (``oidc_config``,
``authz_config``, ``tools_filter`` …, what ``thv run`` flags set) and ``middleware_configs``
(``[{type, parameters}]``, what the operator and proxy runner serialize). We honour both: explicit
entries keep their order (first = outermost), and every protection a field asks for that no
explicit entry covers is derived the way ToolHive derives it and placed by ToolHive's order.

Fail closed: an entry whose type no installed plugin provides is an error naming the field that
asked for it and the distribution that would enforce it. Only entries that enforce nothing are
dropped: ``usagemetrics`` (we never report usage) and an ``auth`` entry without an OIDC config
(ToolHive's local-user mode: it authenticates nothing, it only names the OS user as the caller —
with the auth plugin installed it runs, without it authorization names that user itself).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from toolhive.errors import InvalidInputError, ToolHiveError, format_validation_error
from toolhive.middleware.known import KNOWN_TYPES, OPTIONAL_TYPES, install_hint, rank

if TYPE_CHECKING:
    from toolhive.contracts.middleware import MiddlewareSpec
    from toolhive.models.runconfig import RunConfig


class ProtectionNotEnforcedError(ToolHiveError):
    """A RunConfig asks for protection that no installed plugin provides."""


@dataclass(frozen=True)
class Entry:
    """One middleware in a workload's chain."""

    type: str
    parameters: Mapping[str, Any]
    #: What asked for it, for messages: a RunConfig field or ``middleware_configs[i]``.
    source: str


@dataclass(frozen=True)
class Resolved:
    entry: Entry
    spec: MiddlewareSpec[Any]
    config: BaseModel


def _set(value: Any) -> bool:
    return value not in (None, "", [], {})


def derived_entries(config: RunConfig) -> list[Entry]:
    """What the RunConfig's fields ask for, as ToolHive's ``PopulateMiddlewareConfigs`` builds it.

    Core's own ``mcp-parser`` and ``recovery`` are added by :func:`plan_chain` around whatever
    remains, and only when something needs them (an empty chain costs nothing per request).
    """
    data = config.model_dump(mode="json", exclude_none=True)
    out: list[Entry] = []

    def add(kind: str, source: str, parameters: dict[str, Any]) -> None:
        out.append(Entry(kind, parameters, source))

    if _set(data.get("audit_config")) or _set(data.get("audit_config_path")):
        source = "audit_config" if _set(data.get("audit_config")) else "audit_config_path"
        params: dict[str, Any] = {"transport_type": config.transport}
        if _set(data.get("audit_config")):
            params["config_data"] = data["audit_config"]
            component = data["audit_config"].get("component")
            if component:
                params["component"] = component
        if _set(data.get("audit_config_path")):
            params["config_path"] = data["audit_config_path"]
        add("audit", source, params)
    if _set(data.get("oidc_config")):
        add("auth", "oidc_config", {"oidc_config": data["oidc_config"]})
    if _set(data.get("embedded_auth_server_config")):
        add(
            "upstreamswap",
            "embedded_auth_server_config",
            {"config": data.get("upstream_swap_config") or {}},
        )
    if _set(data.get("token_exchange_config")):
        add(
            "tokenexchange",
            "token_exchange_config",
            {"token_exchange_config": data["token_exchange_config"]},
        )
    if config.tools_filter or config.tools_override:
        source = "tools_filter" if config.tools_filter else "tools_override"
        params = {
            "filter_tools": list(config.tools_filter),
            "tools_override": data["tools_override"],
        }
        add("tool-filter", source, params)
        add("tool-call-filter", source, dict(params))
    if _set(data.get("rate_limit_config")):
        add(
            "ratelimit",
            "rate_limit_config",
            {
                "namespace": data.get("rate_limit_namespace", ""),
                "server_name": config.name,
                "config": data["rate_limit_config"],
            },
        )
    for field, kind in (
        ("mutating_webhooks", "mutating-webhook"),
        ("validating_webhooks", "validating-webhook"),
    ):
        if _set(data.get(field)):
            add(
                kind,
                field,
                {
                    "webhooks": data[field],
                    "server_name": config.name,
                    "transport": config.transport,
                },
            )
    if _set(data.get("telemetry_config")):
        add(
            "telemetry",
            "telemetry_config",
            {
                "config": data["telemetry_config"],
                "server_name": config.name,
                "transport": config.transport,
            },
        )
    if _set(data.get("authz_config")) or _set(data.get("authz_config_path")):
        source = "authz_config" if _set(data.get("authz_config")) else "authz_config_path"
        params = {}
        if _set(data.get("authz_config")):
            params["config_data"] = data["authz_config"]
        if _set(data.get("authz_config_path")):
            params["config_path"] = data["authz_config_path"]
        add("authorization", source, params)
    if _set(data.get("aws_sts_config")):
        add(
            "awssts",
            "aws_sts_config",
            {"aws_sts_config": data["aws_sts_config"], "target_url": config.remote_url},
        )
    return out


def _explicit(config: RunConfig) -> list[Entry]:
    out: list[Entry] = []
    for field in ("middleware_configs", "additional_middleware_configs"):
        raw = getattr(config, field, None) or []
        if not isinstance(raw, list):
            msg = f"RunConfig field {field} must be a list of {{type, parameters}} objects"
            raise InvalidInputError(msg)
        for index, item in enumerate(raw):
            where = f"{field}[{index}]"
            kind = item.get("type") if isinstance(item, dict) else None
            params = item.get("parameters") if isinstance(item, dict) else None
            if not isinstance(kind, str) or not kind:
                msg = f"RunConfig {where}: each middleware entry needs a string 'type'"
                raise InvalidInputError(msg)
            if params is None:
                params = {}
            if not isinstance(params, dict):
                msg = f"RunConfig {where} ({kind}): 'parameters' must be an object"
                raise InvalidInputError(msg)
            out.append(Entry(kind, params, where))
    return out


def _insert_by_rank(entries: list[Entry], new: Entry) -> None:
    """Place ``new`` before the first entry ToolHive would put inside it."""
    for index, existing in enumerate(entries):
        if rank(existing.type) > rank(new.type):
            entries.insert(index, new)
            return
    entries.append(new)


def plan_chain(config: RunConfig) -> list[Entry]:
    """Every middleware entry the workload's proxy must run, outermost first (not yet checked)."""
    entries = _explicit(config)
    present = {e.type for e in entries}
    for entry in derived_entries(config):
        if entry.type not in present:
            _insert_by_rank(entries, entry)
    if not entries:
        return []
    present = {e.type for e in entries}
    # ToolHive always runs the parser and recovery; we do once anything else runs.
    if "mcp-parser" not in present:
        _insert_by_rank(entries, Entry("mcp-parser", {}, "the middleware chain"))
    if "recovery" not in present:
        entries.append(Entry("recovery", {}, "the middleware chain"))
    return entries


def _enforces_nothing(entry: Entry) -> bool:
    if entry.type in OPTIONAL_TYPES:
        return True
    return entry.type == "auth" and not entry.parameters.get("oidc_config")


def resolve(entries: list[Entry], specs: Mapping[str, MiddlewareSpec[Any]]) -> list[Resolved]:
    """Match each entry with the plugin that enforces it and validate its parameters.

    Raises :class:`ProtectionNotEnforcedError` for the first entry nothing installed enforces.
    """
    out: list[Resolved] = []
    for entry in entries:
        spec = specs.get(entry.type)
        if spec is None:
            if _enforces_nothing(entry):
                continue
            known = KNOWN_TYPES.get(entry.type)
            purpose = known.purpose if known else f"the {entry.type!r} middleware"
            msg = (
                f"{entry.source} asks for {purpose}, but no installed plugin provides the "
                f"{entry.type!r} middleware: {install_hint(entry.type)}"
            )
            raise ProtectionNotEnforcedError(msg)
        try:
            validated = spec.config_model.model_validate(dict(entry.parameters))
        except ValidationError as exc:
            msg = (
                f"{entry.source} ({entry.type} middleware) has invalid parameters: "
                f"{format_validation_error(exc)}"
            )
            raise InvalidInputError(msg) from None
        out.append(Resolved(entry, spec, validated))
    return out
