"""The authorization config: ToolHive's file formats and keys, checked when ``thv run`` resolves
the chain (an invalid policy is refused with Cedar's message, before any state is written)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from toolhive.errors import InvalidInputError
from toolhive.middleware.plan import Entry, resolve
from toolhive.testing.plugin_contract import plugin_hooks_for
from toolhive_middleware_authz import AuthzParameters

POLICIES = [
    'permit(principal, action == Action::"call_tool", resource == Tool::"echo");',
    "forbid(principal, action, resource) when { resource has destructiveHint && resource.destructiveHint };",
]
DOCUMENT = {
    "version": "1.0",
    "type": "cedarv1",
    "cedar": {"policies": POLICIES, "entities_json": "[]", "group_claim_name": "teams"},
}
YAML = """\
version: "1.0"
type: cedarv1
cedar:
  policies:
    - 'permit(principal, action == Action::"call_tool", resource == Tool::"echo");'
    - 'forbid(principal, action, resource) when { resource has destructiveHint && resource.destructiveHint };'
  entities_json: "[]"
  group_claim_name: teams
"""


@pytest.fixture(scope="module")
def specs() -> Any:
    return plugin_hooks_for("middleware-authz").middleware()


def resolved(specs: Any, parameters: dict[str, Any]) -> AuthzParameters:
    (item,) = resolve([Entry("authorization", parameters, "authz_config")], specs)
    assert isinstance(item.config, AuthzParameters)
    return item.config


def refusal(specs: Any, parameters: dict[str, Any]) -> str:
    with pytest.raises(InvalidInputError) as caught:
        resolve([Entry("authorization", parameters, "authz_config")], specs)
    return str(caught.value)


def test_a_json_file_a_yaml_file_and_inline_data_give_the_same_config(specs, tmp_path: Path):
    (tmp_path / "authz.json").write_text(json.dumps(DOCUMENT))
    (tmp_path / "authz.yaml").write_text(YAML)
    (tmp_path / "authz").write_text(json.dumps(DOCUMENT))  # no extension: JSON, as ToolHive
    configs = [
        resolved(specs, {"config_path": str(tmp_path / name)}).cedar
        for name in ("authz.json", "authz.yaml", "authz")
    ]
    configs.append(resolved(specs, {"config_data": DOCUMENT}).cedar)
    assert {(c.policies, c.group_claim_name, c.group_entity_type) for c in configs} == {
        (tuple(POLICIES), "teams", "THVGroup")
    }


def test_inline_data_wins_over_the_file_as_in_toolhive(specs, tmp_path: Path):
    config = resolved(specs, {"config_data": DOCUMENT, "config_path": str(tmp_path / "gone.json")})
    assert config.cedar.policies == tuple(POLICIES)


def test_an_invalid_policy_is_refused_with_cedars_message_and_its_index(specs):
    bad = {**DOCUMENT, "cedar": {"policies": [POLICIES[0], "permit(principal, action, resource"]}}
    message = refusal(specs, {"config_data": bad})
    assert "authz_config (authorization middleware) has invalid parameters" in message
    assert "failed to parse policy 1" in message
    assert "unexpected end of input" in message  # Cedar's own words


def test_an_http_pdp_config_is_refused_clearly_not_run_open(specs):
    message = refusal(
        specs, {"config_data": {"version": "1.0", "type": "httpv1", "pdp": {"http": {"url": "x"}}}}
    )
    assert "httpv1" in message and "not supported" in message


@pytest.mark.parametrize(
    ("document", "words"),
    [
        ({"type": "cedarv1", "cedar": {"policies": POLICIES}}, "version is required"),
        ({"version": "1.0", "cedar": {"policies": POLICIES}}, "type is required"),
        ({"version": "1.0", "type": "cedarv1"}, "missing 'cedar' field"),
        ({"version": "1.0", "type": "cedarv1", "cedar": {"policies": []}}, "at least one policy"),
        (
            {"version": "1.0", "type": "cedarv1", "cedar": {"policies": POLICIES, "polices": []}},
            "unknown key(s) under cedar: polices",
        ),
        (
            {
                "version": "1.0",
                "type": "cedarv1",
                "cedar": {"policies": POLICIES, "entities_json": "{"},
            },
            "failed to parse entities JSON",
        ),
        (
            {
                "version": "1.0",
                "type": "cedarv1",
                "cedar": {"policies": POLICIES, "group_entity_type": "Platform::Group"},
            },
            "namespaced entity types are not supported",
        ),
        (
            {
                "version": "1.0",
                "type": "cedarv1",
                "cedar": {"policies": POLICIES, "primary_upstream_provider": "github"},
            },
            "embedded authorization server",
        ),
        (
            {
                "version": "1.0",
                "type": "cedarv1",
                "cedar": {"policies": ["permit(principal == ?principal, action, resource);"]},
            },
            "templates are not supported",
        ),
    ],
)
def test_each_mistake_in_a_config_is_refused_with_what_is_wrong(specs, document, words):
    assert words in refusal(specs, {"config_data": document})


def test_file_problems_are_refused(specs, tmp_path: Path):
    (tmp_path / "authz.toml").write_text("x = 1")
    (tmp_path / "broken.yaml").write_text("version: [")
    assert "unsupported file format: .toml" in refusal(
        specs, {"config_path": str(tmp_path / "authz.toml")}
    )
    assert "failed to parse YAML" in refusal(specs, {"config_path": str(tmp_path / "broken.yaml")})
    assert "directory traversal" in refusal(specs, {"config_path": "../authz.json"})
    assert "failed to read" in refusal(specs, {"config_path": str(tmp_path / "missing.json")})
