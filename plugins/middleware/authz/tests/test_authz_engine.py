"""The Cedar model itself, decided by real Cedar: entity hierarchies from ``entities_json``,
multi-valued claims, evaluation errors, and a decision cache that never mixes up two inputs."""

from __future__ import annotations

import json
from typing import Any

import pytest
from toolhive_middleware_authz import AuthzParameters, engine
from toolhive_middleware_authz.engine import (
    CedarAuthorizer,
    argument_attributes,
    cedar_value,
    tool_call,
)


def authorizer(*policies: str, **options: Any) -> CedarAuthorizer:
    document = {
        "version": "1.0",
        "type": "cedarv1",
        "cedar": {"policies": list(policies), **options},
    }
    return CedarAuthorizer(AuthzParameters(config_data=document).cedar, "srv")


def may_call(auth: CedarAuthorizer, claims: dict[str, Any], tool: str, **args: Any) -> bool:
    principal = auth.principal(claims)
    assert principal is not None
    return auth.allowed(principal, [tool_call(tool, argument_attributes(args), {})])[0]


def test_groups_inherit_through_the_entities_json_hierarchy():
    hierarchy = [
        {"uid": {"type": "THVGroup", "id": "eng"}, "parents": [{"type": "THVGroup", "id": "staff"}]}
    ]
    auth = authorizer(
        'permit(principal in THVGroup::"staff", action == Action::"call_tool", resource);',
        entities_json=json.dumps(hierarchy),
    )
    assert may_call(auth, {"sub": "alice", "groups": ["eng"]}, "echo")
    assert not may_call(auth, {"sub": "bob", "groups": ["sales"]}, "echo")


def test_resources_are_children_of_the_workload():
    auth = authorizer('permit(principal, action, resource in MCP::"srv");')
    assert may_call(auth, {"sub": "alice"}, "echo")
    other = authorizer('permit(principal, action, resource in MCP::"other");')
    assert not may_call(other, {"sub": "alice"}, "echo")


def test_a_multi_valued_claim_matches_whole_scopes_from_a_string_or_an_array():
    auth = authorizer(
        'permit(principal, action == Action::"call_tool", resource) '
        'when { context.claimset_scp.contains("Mail.Read") && principal.claim_scp like "*Files*" };',
        multi_valued_claims=["scp"],
    )
    assert may_call(auth, {"sub": "a", "scp": "Mail.Read  Files.Read"}, "echo")
    assert may_call(auth, {"sub": "a", "scp": ["Files.Read", "Mail.Read"]}, "echo")
    assert not may_call(auth, {"sub": "a", "scp": "Mail.ReadWrite Files.Read"}, "echo")


def test_a_policy_that_fails_to_evaluate_denies_even_beside_a_matching_permit():
    auth = authorizer(
        'permit(principal, action == Action::"call_tool", resource == Tool::"echo");',
        "permit(principal, action, resource) when { principal.claim_level > 3 };",
    )
    assert may_call(auth, {"sub": "a", "level": 1}, "echo")
    assert not may_call(auth, {"sub": "a"}, "echo")  # claim_level missing: an error, so deny


def test_the_cache_keeps_apart_inputs_python_calls_equal():
    auth = authorizer(
        'permit(principal, action == Action::"call_tool", resource) when { resource.arg_flag == true };'
    )
    assert may_call(auth, {"sub": "a"}, "t", flag=True)
    assert not may_call(auth, {"sub": "a"}, "t", flag=1)  # True == 1 in Python, not in Cedar
    assert may_call(auth, {"sub": "a"}, "t", flag=True)


def test_the_decision_cache_is_bounded_and_a_cached_decision_is_the_decision(monkeypatch):
    monkeypatch.setattr(engine, "CACHE_SIZE", 4)
    auth = authorizer(
        'permit(principal, action == Action::"call_tool", resource) when { context.arg_n < 5 };'
    )
    for round_ in range(2):
        decisions = [may_call(auth, {"sub": "a"}, "t", n=n) for n in range(10)]
        assert decisions == [n < 5 for n in range(10)], round_
        assert len(auth._decisions) <= 4


def test_a_request_entity_replaces_a_configured_one_with_the_same_uid():
    configured = [
        {"uid": {"type": "Tool", "id": "echo"}, "attrs": {"owner": "alice"}, "parents": []}
    ]
    auth = authorizer(
        "permit(principal, action, resource) when { resource has owner };",
        'permit(principal, action, resource == Tool::"echo") when { resource.name == "echo" };',
        entities_json=json.dumps(configured),
    )
    # As in ToolHive: the request's Tool::"echo" (name, operation, feature…) is the one seen.
    assert may_call(auth, {"sub": "alice"}, "echo")
    assert not may_call(
        authorizer(
            "permit(principal, action, resource) when { resource has owner };",
            entities_json=json.dumps(configured),
        ),
        {"sub": "alice"},
        "echo",
    )


@pytest.mark.parametrize(
    ("value", "cedar"),
    [
        (True, True),
        (7, 7),
        (2**63, None),
        (1.5, {"__extn": {"fn": "decimal", "arg": "1.5000"}}),
        (float("nan"), None),
        ([1, "a", None], [1, "a"]),
        ({"a": {"b": 1}}, {"a": {"b": 1}}),
        ({"__entity": {"type": "THVGroup", "id": "admin"}}, None),
        (None, None),
    ],
)
def test_claim_and_argument_values_become_cedar_values_or_are_dropped(value, cedar):
    assert cedar_value(value) == cedar


def test_non_scalar_arguments_only_show_as_present():
    assert argument_attributes({"path": "/x", "opts": {"a": 1}, "tags": [1], "none": None}) == {
        "arg_path": "/x",
        "arg_opts_present": True,
        "arg_tags_present": True,
        "arg_none_present": True,
    }


def test_a_configured_principal_or_action_entity_is_replaced_by_the_requests_own():
    configured = [
        {"uid": {"type": "Client", "id": "alice"}, "attrs": {"department": "eng"}, "parents": []},
        {"uid": {"type": "Action", "id": "call_tool"}, "attrs": {}, "parents": []},
    ]
    auth = authorizer(
        "permit(principal, action, resource) when { principal has department };",
        'permit(principal, action, resource == Tool::"echo") when { action.operation == "call_tool" };',
        entities_json=json.dumps(configured),
    )
    assert may_call(auth, {"sub": "alice"}, "echo")  # the request's action entity, as ToolHive
    assert not may_call(auth, {"sub": "alice"}, "add")  # the configured department is not seen


def counting(auth: CedarAuthorizer, monkeypatch) -> list[int]:
    """How many asks reach Cedar (the real evaluation still runs)."""
    calls: list[int] = []
    evaluate = auth._evaluate

    def counted(principal, asks):
        calls.append(len(asks))
        return evaluate(principal, asks)

    monkeypatch.setattr(auth, "_evaluate", counted)
    return calls


def test_arguments_no_policy_reads_share_one_cached_decision(monkeypatch):
    auth = authorizer('permit(principal, action == Action::"call_tool", resource == Tool::"echo");')
    calls = counting(auth, monkeypatch)
    for n in range(5):
        assert may_call(auth, {"sub": "a"}, "echo", text=f"unique {n}")
    assert not may_call(auth, {"sub": "a"}, "add", a=1)
    assert calls == [1, 1]  # one decision per tool, whatever the arguments


def test_arguments_a_policy_reads_are_part_of_the_decision_and_big_ones_are_not_kept(
    monkeypatch,
):
    auth = authorizer(
        'permit(principal, action, resource) when { resource has arg_text && resource.arg_text != "no" };'
    )
    calls = counting(auth, monkeypatch)
    assert may_call(auth, {"sub": "a"}, "echo", text="yes")
    assert not may_call(auth, {"sub": "a"}, "echo", text="no")
    assert may_call(auth, {"sub": "a"}, "echo", text="yes")  # cached
    assert calls == [1, 1]
    big = "x" * 5000
    assert may_call(auth, {"sub": "a"}, "echo", text=big)
    assert may_call(auth, {"sub": "a"}, "echo", text=big)
    assert calls == [1, 1, 1, 1]  # evaluated each time, never cached
    assert all(len(repr(key)) < 5000 for key in auth._decisions)
