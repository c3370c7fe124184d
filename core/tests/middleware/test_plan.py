"""The chain plan: what each RunConfig field asks for, in ToolHive's order, refused when nothing
installed enforces it (fail closed)."""

from __future__ import annotations

from typing import Any

import pytest
from toolhive.contracts.middleware import MiddlewareParameters, MiddlewareSpec
from toolhive.errors import InvalidInputError
from toolhive.middleware.plan import ProtectionNotEnforcedError, plan_chain, resolve
from toolhive.models.runconfig import RunConfig
from toolhive.plugins import Hooks, build_plugin_manager
from toolhive.testing import make_plugin

CEDAR_FORBID_ALL = {
    "version": "1.0",
    "type": "cedarv1",
    "cedar": {"policies": ["forbid(principal, action, resource);"], "entities_json": "[]"},
}
OIDC = {"Issuer": "https://issuer.example", "Audience": "mcp", "JWKSURL": ""}

#: field → (value, middleware type, distribution named in the refusal)
PROTECTION_FIELDS: dict[str, tuple[Any, str, str]] = {
    "oidc_config": (OIDC, "auth", "toolhive-middleware-auth"),
    "authz_config": (CEDAR_FORBID_ALL, "authorization", "toolhive-middleware-authz"),
    "authz_config_path": ("/etc/authz.json", "authorization", "toolhive-middleware-authz"),
    "audit_config": ({"component": "x"}, "audit", "toolhive-middleware-audit"),
    "audit_config_path": ("/etc/audit.json", "audit", "toolhive-middleware-audit"),
    "telemetry_config": (
        {"endpoint": "localhost:4318"},
        "telemetry",
        "toolhive-middleware-telemetry",
    ),
    "tools_filter": (["echo"], "tool-filter", "toolhive-middleware-tools"),
    "tools_override": ({"echo": {"name": "say"}}, "tool-filter", "toolhive-middleware-tools"),
    "token_exchange_config": (
        {"token_url": "https://x"},
        "tokenexchange",
        "toolhive-middleware-tokenexchange",
    ),
    "validating_webhooks": (
        [{"name": "w", "url": "https://x"}],
        "validating-webhook",
        "toolhive-middleware-webhooks",
    ),
    "rate_limit_config": ({"requests_per_minute": 1}, "ratelimit", "toolhive-middleware-ratelimit"),
}


def core_hooks(*plugins: object) -> Hooks:
    return Hooks(build_plugin_manager(autoload=False, plugins=plugins))


def types(config: RunConfig) -> list[str]:
    return [entry.type for entry in plan_chain(config)]


def test_a_config_asking_for_nothing_has_an_empty_chain() -> None:
    assert plan_chain(RunConfig(name="x")) == []


@pytest.mark.parametrize("field", sorted(PROTECTION_FIELDS))
def test_each_protection_field_is_refused_naming_the_field_and_the_plugin(field: str) -> None:
    value, kind, distribution = PROTECTION_FIELDS[field]
    config = RunConfig(name="x", **{field: value})
    assert kind in types(config)
    with pytest.raises(ProtectionNotEnforcedError) as err:
        resolve(plan_chain(config), core_hooks().middleware())
    message = str(err.value)
    assert message.startswith(f"{field} asks for ")
    assert f"'{kind}' middleware" in message
    assert f"pip install {distribution}" in message
    assert "\n" not in message


def test_an_unknown_middleware_configs_type_is_refused() -> None:
    config = RunConfig(name="x", middleware_configs=[{"type": "acme-guard", "parameters": {}}])
    with pytest.raises(ProtectionNotEnforcedError, match=r"middleware_configs\[0\] asks for"):
        resolve(plan_chain(config), core_hooks().middleware())


def test_malformed_middleware_configs_entries_are_input_errors() -> None:
    with pytest.raises(InvalidInputError, match="needs a string 'type'"):
        plan_chain(RunConfig(name="x", middleware_configs=[{"parameters": {}}]))
    with pytest.raises(InvalidInputError, match="'parameters' must be an object"):
        plan_chain(RunConfig(name="x", middleware_configs=[{"type": "auth", "parameters": [1]}]))


def test_the_toolhive_export_from_the_issue_is_refused_at_its_outermost_protection() -> None:
    config = RunConfig(
        name="fetch", oidc_config=OIDC, authz_config=CEDAR_FORBID_ALL, tools_filter=["fetch"]
    )
    assert types(config) == [
        "auth",
        "tool-filter",
        "tool-call-filter",
        "mcp-parser",
        "authorization",
        "recovery",
    ]
    with pytest.raises(ProtectionNotEnforcedError, match="oidc_config asks for OIDC"):
        resolve(plan_chain(config), core_hooks().middleware())


def test_derived_entries_carry_toolhive_parameter_names() -> None:
    config = RunConfig(
        name="x",
        tools_filter=["a"],
        tools_override={"a": {"name": "b", "description": "d"}},
        authz_config=CEDAR_FORBID_ALL,
        authz_config_path="/p.json",
        oidc_config=OIDC,
    )
    by_type = {e.type: e for e in plan_chain(config)}
    assert by_type["auth"].parameters == {"oidc_config": OIDC}
    assert by_type["tool-filter"].parameters == {
        "filter_tools": ["a"],
        "tools_override": {"a": {"name": "b", "description": "d"}},
    }
    assert by_type["tool-call-filter"].parameters == by_type["tool-filter"].parameters
    assert by_type["authorization"].parameters == {
        "config_data": CEDAR_FORBID_ALL,
        "config_path": "/p.json",
    }


def test_explicit_entries_keep_their_order_and_derived_ones_slot_in_by_toolhive_rank() -> None:
    config = RunConfig(
        name="x",
        middleware_configs=[
            {"type": "recovery", "parameters": {}},
        ],
        audit_config={"component": "c"},
        authz_config=CEDAR_FORBID_ALL,
    )
    # audit (outermost in ToolHive) and authorization go before the explicit recovery entry.
    assert types(config) == ["audit", "mcp-parser", "authorization", "recovery"]

    explicit_first = RunConfig(
        name="x",
        middleware_configs=[
            {"type": "authorization", "parameters": {}},
            {"type": "audit", "parameters": {}},
        ],
    )
    # Explicit order is kept; the parser goes outside the first entry that needs it.
    assert types(explicit_first) == ["mcp-parser", "authorization", "audit", "recovery"]


def test_an_explicit_entry_wins_over_the_field_for_the_same_type() -> None:
    config = RunConfig(
        name="x",
        oidc_config=OIDC,
        middleware_configs=[{"type": "auth", "parameters": {"oidc_config": {"Issuer": "other"}}}],
    )
    auth = [e for e in plan_chain(config) if e.type == "auth"]
    assert len(auth) == 1 and auth[0].parameters == {"oidc_config": {"Issuer": "other"}}


def test_entries_that_enforce_nothing_are_dropped_when_not_installed() -> None:
    # What a Go `thv` writes for an unauthenticated server: anonymous auth, usage metrics.
    config = RunConfig(
        name="x",
        middleware_configs=[
            {"type": "bodylimit", "parameters": {"max_bytes": 1024}},
            {"type": "auth", "parameters": {}},
            {"type": "mcp-parser", "parameters": {}},
            {"type": "usagemetrics", "parameters": {}},
            {"type": "recovery", "parameters": None},
        ],
    )
    resolved = resolve(plan_chain(config), core_hooks().middleware())
    assert [r.entry.type for r in resolved] == ["bodylimit", "mcp-parser", "recovery"]


def test_parameters_are_validated_against_the_plugin_config_model() -> None:
    class Guard(MiddlewareParameters):
        level: int

    spec = MiddlewareSpec(
        name="acme-guard", config_model=Guard, factory=lambda app, _cfg, _ctx: app
    )
    hooks = core_hooks(make_plugin("acme", thv_middleware=lambda: [spec]))
    bad = RunConfig(
        name="x", middleware_configs=[{"type": "acme-guard", "parameters": {"levle": 1}}]
    )
    with pytest.raises(InvalidInputError) as err:
        resolve(plan_chain(bad), hooks.middleware())
    assert "middleware_configs[0] (acme-guard middleware) has invalid parameters" in str(err.value)
    assert "level: Field required" in str(err.value) and "levle" in str(err.value)

    good = RunConfig(
        name="x", middleware_configs=[{"type": "acme-guard", "parameters": {"level": 2}}]
    )
    resolved = resolve(plan_chain(good), hooks.middleware())
    # A third-party type sits just inside the parser, so it can read the parsed request.
    assert [r.entry.type for r in resolved] == ["mcp-parser", "acme-guard", "recovery"]
    assert resolved[1].config == Guard(level=2)


def test_header_forward_refuses_hop_headers() -> None:
    config = RunConfig(
        name="x",
        middleware_configs=[
            {"type": "header-forward", "parameters": {"add_headers": {"Host": "h"}}}
        ],
    )
    with pytest.raises(InvalidInputError, match="cannot set the 'Host' header"):
        resolve(plan_chain(config), core_hooks().middleware())


def test_a_transport_no_plugin_provides_is_refused_listing_the_installed_ones() -> None:
    from toolhive.workloads.protection import require_enforceable

    with pytest.raises(InvalidInputError) as err:
        require_enforceable(core_hooks(), RunConfig(name="x", transport="carrier-pigeon"))
    assert str(err.value) == (
        "transport 'carrier-pigeon' is not provided by any installed plugin "
        "(available: sse, stdio, streamable-http)"
    )
