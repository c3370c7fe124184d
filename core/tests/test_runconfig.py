import json

import pytest
from toolhive.errors import InvalidInputError, PermissionProfileError
from toolhive.models.permissions import load_profile
from toolhive.models.runconfig import RunConfig

# Shaped like `thv export` output from ToolHive (Go): nulls, PascalCase oidc keys, unknown fields.
GO_EXPORT = {
    "schema_version": "v0.1.0",
    "image": "ghcr.io/stackloklabs/osv-mcp/server:0.0.7",
    "cmd_args": None,
    "name": "osv",
    "container_name": "osv",
    "base_name": "osv",
    "transport": "streamable-http",
    "host": "127.0.0.1",
    "port": 41234,
    "target_port": 8080,
    "target_host": "127.0.0.1",
    "permission_profile_name_or_path": "network",
    "permission_profile": {
        "network": {"outbound": {"insecure_allow_all": True}},
        "read": None,
    },
    "env_vars": {"MCP_TRANSPORT": "streamable-http"},
    "container_labels": None,
    "oidc_config": {"Issuer": "https://issuer", "Audience": "aud"},
    "isolate_network": True,
    "proxy_mode": "streamable-http",
    "group": "default",
    "some_future_field": {"kept": True},
}


def test_go_export_round_trips_with_unknown_fields_kept():
    config = RunConfig.from_json(json.dumps(GO_EXPORT))
    assert config.name == "osv" and config.port == 41234 and config.cmd_args == []
    assert config.permission_profile is not None and config.permission_profile.network_unrestricted
    again = json.loads(config.to_json())
    assert again["some_future_field"] == {"kept": True}
    assert again["oidc_config"] == {"Issuer": "https://issuer", "Audience": "aud"}
    assert RunConfig.from_json(config.to_json()) == config


def test_to_json_is_two_space_indented_without_nulls():
    text = RunConfig(name="a", base_name="a", image="x").to_json()
    assert text.startswith('{\n  "schema_version": "v0.1.0"')
    assert "null" not in text


def test_missing_schema_version_defaults():
    assert RunConfig.from_json('{"name": "x"}').schema_version == "v0.1.0"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("{not json", "not valid JSON"),
        ("[1]", "expected a JSON object"),
        ('{"transport": "Carrier Pigeon!"}', "transport"),
        ('{"name": "bad name!"}', "invalid workload name"),
        ('{"port": 70000}', "field port"),
    ],
)
def test_bad_runconfig_names_the_problem(text, fragment):
    with pytest.raises(InvalidInputError, match=fragment):
        RunConfig.from_json(text, source="f.json")


def test_builtin_profiles():
    assert not load_profile("none").network_enabled
    assert load_profile("network").network_unrestricted


def test_profile_file_and_errors(tmp_path):
    good = tmp_path / "p.json"
    good.write_text(json.dumps({"name": "p", "read": ["/etc/hosts"], "write": ["/tmp/x:/out"]}))
    profile = load_profile(str(good))
    assert profile.read == ["/etc/hosts"] and not profile.network_enabled
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"read": ["/etc/../root"]}))
    with pytest.raises(PermissionProfileError, match="unsafe mount"):
        load_profile(str(bad))
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    with pytest.raises(PermissionProfileError, match="not a valid profile"):
        load_profile(str(broken))
    with pytest.raises(PermissionProfileError, match="neither a built-in"):
        load_profile(str(tmp_path / "missing.json"))
