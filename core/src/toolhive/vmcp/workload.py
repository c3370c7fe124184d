"""The gateway as a workload: ``thv run vmcp://GROUP`` (or ``thv vmcp serve --detach``).

Such a workload is a RunConfig with a ``vmcp_config`` (the vMCP config as JSON) and no image or
runtime: the detached supervisor serves the gateway itself, so it is listed, stopped, restarted,
removed, exported and shown in the API and UI like any server, and AI clients registered for
its group get its one URL (see :func:`gateway_for_group`).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Final

from toolhive.errors import InvalidInputError

if TYPE_CHECKING:
    from toolhive.middleware.plan import Resolved
    from toolhive.models.runconfig import RunConfig
    from toolhive.plugins import Hooks
    from toolhive.vmcp.config import VmcpConfig
    from toolhive.vmcp.gateway import GatewayTransport
    from toolhive.workloads.request import RunRequest

SCHEME: Final = "vmcp://"
#: RunConfig fields the protection flags of ``thv run`` set; the gateway honours them too.
_PROTECTION = ("oidc_config", "authz_config", "audit_config", "telemetry_config")


def group_of(target: str) -> str:
    group = target[len(SCHEME) :].strip("/")
    if not group:
        msg = f"{target!r}: name the group to aggregate, e.g. vmcp://default"
        raise InvalidInputError(msg)
    return group


def config_json(cfg: VmcpConfig) -> dict[str, Any]:
    """The config as the RunConfig keeps it (camelCase keys, as the YAML)."""
    data: dict[str, Any] = json.loads(cfg.model_dump_json(by_alias=True, exclude_none=True))
    return data


def vmcp_runconfig(request: RunRequest, vmcp: VmcpConfig | None = None) -> RunConfig:
    """The RunConfig of a gateway workload for ``request.target`` (``vmcp://GROUP``), or for
    a full ``vmcp`` config (``thv vmcp serve --config F --detach``)."""
    from toolhive.models.runconfig import RunConfig, validate_workload_name
    from toolhive.vmcp.config import default_config, unsupported_features, validate_config
    from toolhive.workloads.protection_inputs import protection_fields

    if vmcp is None:
        group = group_of(request.target)
        name = validate_workload_name(request.name) if request.name else f"{group}-vmcp"
        vmcp = default_config(group, name)
        # Live lists and a dead backend that must not take the others down: best effort.
        vmcp.operational.failure_handling.partial_failure_mode = "best_effort"
    else:
        group = vmcp.group_ref
        name = validate_workload_name(request.name or vmcp.name or f"{group}-vmcp")
    vmcp = vmcp.model_copy(update={"name": name})
    problems = validate_config(vmcp) + unsupported_features(vmcp)
    if problems:
        msg = "invalid vMCP configuration: " + "; ".join(problems)
        raise InvalidInputError(msg)
    if request.session_ttl:
        from toolhive.vmcp.config import parse_go_duration

        try:
            ttl = parse_go_duration(request.session_ttl)
        except ValueError as exc:
            msg = f"--session-ttl: {exc}"
            raise InvalidInputError(msg) from None
        if ttl < 0:
            msg = f"--session-ttl must be non-negative, got {request.session_ttl}"
            raise InvalidInputError(msg)
    if request.transport not in ("", "streamable-http"):
        msg = "a vMCP gateway speaks streamable HTTP; drop --transport"
        raise InvalidInputError(msg)
    protection = protection_fields(
        oidc=request.oidc,
        authz_config=request.authz_config,
        audit_config=request.audit_config,
        enable_audit=request.enable_audit,
        telemetry_config=request.telemetry_config,
        workload=name,
    )
    # Unless --group says otherwise the gateway joins the group it serves, so clients
    # registered for that group see it (and, instead of N entries, only it).
    member_of = request.group if request.group != "default" else group
    return RunConfig(
        **protection,
        image=f"{SCHEME}{group}",
        name=name,
        base_name=name,
        container_name=name,
        transport="streamable-http",
        host=request.host,
        port=request.proxy_port,
        group=member_of,
        allowed_origins=list(request.allowed_origins),
        session_ttl=request.session_ttl,
        vmcp_config=config_json(vmcp),
        permission_profile_name_or_path="",
        runtime="",
    )


def parsed(config: RunConfig) -> VmcpConfig:
    from toolhive.vmcp.config import parse_config

    assert config.vmcp_config is not None
    return parse_config(config.vmcp_config, f"workload {config.name}'s vMCP config")


def gateway_transport(hooks: Hooks, config: RunConfig) -> tuple[GatewayTransport, list[Resolved]]:
    """The supervisor's transport for a gateway workload, and its checked middleware chain
    (the vMCP config's incomingAuth/audit/telemetry, else the RunConfig's own protection)."""
    from toolhive.vmcp.config import parse_go_duration
    from toolhive.vmcp.gateway import (
        DEFAULT_SESSION_TTL,
        Gateway,
        GatewayTransport,
        protection_config,
    )
    from toolhive.workloads.protection import require_enforceable
    from toolhive.workloads.urls import client_url

    vmcp = parsed(config)
    protected = protection_config(vmcp, client_url(config))
    updates = {
        key: getattr(config, key)
        for key in _PROTECTION
        if getattr(protected, key) is None and getattr(config, key) is not None
    }
    if updates:
        protected = protected.model_copy(update=updates)
    chain = require_enforceable(hooks, protected)
    try:
        ttl = parse_go_duration(config.session_ttl) if config.session_ttl else 0.0
    except ValueError:
        ttl = 0.0  # checked when the workload was made; an edited file gets the default
    ttl = ttl if ttl > 0 else DEFAULT_SESSION_TTL
    return GatewayTransport(Gateway(vmcp, hooks, workload=config.name), session_ttl=ttl), chain


def gateway_for_group(configs: list[RunConfig], group: str) -> RunConfig | None:
    """The gateway workload that serves ``group`` and is a member of it, if any: clients
    registered for the group get its URL instead of one entry per server."""
    for config in configs:
        if config.is_vmcp and config.group == group and config.image == f"{SCHEME}{group}":
            return config
    return None
