"""ToolHive's protection flags on `thv run`/`thv proxy` become the RunConfig fields a Go export
carries (oidc_config with Go's keys, authz inline + path, audit, telemetry, tools), `thv config
otel` supplies defaults the flags override, and bad files fail before anything runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from toolhive.errors import InvalidInputError
from toolhive.middleware.plan import plan_chain
from toolhive.workloads.request import RunRequest
from toolhive.workloads.runconfig_builder import build_runconfig


def request(*argv: str) -> RunRequest:
    from toolhive.cli.run_cmd import request_for

    return request_for([*argv, "--name", "w1", "python3", "server.py"])


def config_of(*argv: str):
    return build_runconfig(request(*argv))


def test_oidc_flags_fill_oidc_config_with_gos_keys(tmp_path: Path):
    bundle = tmp_path / "ca.pem"
    bundle.write_text("x")
    config = config_of(
        "--oidc-issuer=https://idp.example",
        "--oidc-audience=mcp",
        "--oidc-jwks-url=https://idp.example/jwks",
        "--oidc-client-id=c",
        "--oidc-introspection-url=https://idp.example/introspect",
        "--oidc-scopes=openid,mcp:tools",
        "--oidc-insecure-allow-http",
        "--jwks-allow-private-ip",
        "--resource-url=https://mcp.example/mcp",
        f"--thv-ca-bundle={bundle}",
    )
    assert config.oidc_config == {
        "Issuer": "https://idp.example",
        "Audience": "mcp",
        "JWKSURL": "https://idp.example/jwks",
        "IntrospectionURL": "https://idp.example/introspect",
        "ClientID": "c",
        "CACertPath": str(bundle.resolve()),
        "AllowPrivateIP": True,
        "InsecureAllowHTTP": True,
        "ResourceURL": "https://mcp.example/mcp",
        "Scopes": ["openid", "mcp:tools"],
    }
    assert config.thv_ca_bundle == str(bundle.resolve())
    assert [e.type for e in plan_chain(config)] == ["auth", "mcp-parser", "recovery"]


def test_no_oidc_flag_means_no_auth_and_a_resource_url_alone_only_records_it():
    assert config_of().oidc_config is None
    config = config_of("--resource-url", "https://mcp.example/mcp")
    assert config.oidc_config == {"ResourceURL": "https://mcp.example/mcp"}


def test_a_missing_ca_bundle_is_refused():
    with pytest.raises(InvalidInputError, match=r"--thv-ca-bundle /nope\.pem: no such file"):
        config_of("--oidc-issuer", "https://idp.example", "--thv-ca-bundle", "/nope.pem")


def test_authz_config_yaml_is_kept_inline_and_by_path(tmp_path: Path):
    path = tmp_path / "authz.yaml"
    path.write_text(
        "version: '1.0'\ntype: cedarv1\ncedar:\n  policies:\n"
        "    - 'permit(principal, action, resource);'\n  entities_json: '[]'\n"
    )
    config = config_of("--authz-config", str(path))
    assert config.authz_config is not None
    assert config.authz_config["type"] == "cedarv1"
    assert config.authz_config_path == str(path.resolve())
    assert "authorization" in [e.type for e in plan_chain(config)]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such file"),
        ("[1, 2]", "expected an object"),
        ("a: [unclosed", "neither valid JSON nor valid YAML"),
    ],
)
def test_a_bad_authz_file_is_refused_before_anything_runs(tmp_path: Path, content, message):
    path = tmp_path / "authz.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(InvalidInputError, match=message):
        config_of("--authz-config", str(path))


def test_enable_audit_uses_toolhives_default_config_and_audit_config_a_file(tmp_path: Path):
    assert config_of("--enable-audit").audit_config == {
        "maxDataSize": 1024,
        "detectApplicationErrors": True,
    }
    assert config_of("--enable-audit=false").audit_config is None
    path = tmp_path / "audit.json"
    path.write_text(json.dumps({"component": "payments", "includeRequestData": True}))
    config = config_of("--audit-config", str(path), "--enable-audit")
    assert config.audit_config_path == str(path.resolve())
    (audit,) = [e for e in plan_chain(config) if e.type == "audit"]
    assert audit.parameters["config_path"] == str(path.resolve())


def test_tools_flags_fill_the_filter_and_the_override(tmp_path: Path):
    path = tmp_path / "override.json"
    path.write_text(json.dumps({"toolsOverride": {"fetch": {"name": "get", "description": "d"}}}))
    config = config_of("--tools", "fetch,other", "--tools", "third", "--tools-override", str(path))
    assert config.tools_filter == ["fetch", "other", "third"]
    assert config.tools_override == {"fetch": {"name": "get", "description": "d"}}
    kinds = [e.type for e in plan_chain(config)]
    assert kinds[:2] == ["tool-filter", "tool-call-filter"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such file"),
        ("{not json", "failed to decode tools override file"),
        ("{}", "tools override are empty"),
        ('{"toolsOverride": {"a": "b"}}', "must be an object"),
    ],
)
def test_a_bad_tools_override_file_is_a_clear_error(tmp_path: Path, content, message):
    path = tmp_path / "override.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(InvalidInputError, match=message):
        request("--tools-override", str(path))


def test_otel_flags_make_toolhives_telemetry_config():
    config = config_of(
        "--otel-endpoint",
        "localhost:4318",
        "--otel-headers",
        "x-api-key=k",
        "--otel-insecure",
        "--otel-sampling-rate",
        "0.25",
        "--otel-env-vars",
        "HOME,USER",
        "--otel-custom-attributes",
        "team=platform,region=eu",
        "--otel-tracing-enabled=false",
    )
    assert config.telemetry_config == {
        "endpoint": "localhost:4318",
        "serviceName": "thv-w1",
        "tracingEnabled": False,
        "metricsEnabled": True,
        "samplingRate": "0.25",
        "headers": {"x-api-key": "k"},
        "insecure": True,
        "enablePrometheusMetricsPath": False,
        "environmentVariables": ["HOME", "USER"],
        "customAttributes": {"team": "platform", "region": "eu"},
        "useLegacyAttributes": True,
    }


def test_no_endpoint_and_no_prometheus_path_means_no_telemetry():
    assert config_of("--otel-sampling-rate", "1").telemetry_config is None
    prometheus = config_of("--otel-enable-prometheus-metrics-path").telemetry_config
    assert prometheus is not None
    assert prometheus["enablePrometheusMetricsPath"] is True


def test_thv_config_otel_sets_defaults_that_flags_override(thv_cli, thv_home):
    from toolhive.cli.protection_flags import given_parameters, telemetry_config
    from toolhive.cli.run_cmd import otel_defaults, run

    assert thv_cli("config", "otel", "set-endpoint", "collector:4318").exit_code == 0
    assert thv_cli("config", "otel", "set-sampling-rate", "0.5").exit_code == 0
    assert thv_cli("config", "otel", "set-tracing-enabled", "false").exit_code == 0
    got = thv_cli("config", "otel", "get-sampling-rate")
    assert got.output.strip() == "Current OpenTelemetry sampling rate: 0.500000"
    refused = thv_cli("config", "otel", "set-endpoint", "https://collector:4318")
    assert refused.exit_code != 0
    assert "should not start with http:// or https://" in str(refused.exception)
    assert thv_cli("config", "otel", "set-sampling-rate", "2").exit_code != 0

    ctx = run.make_context("run", ["--otel-sampling-rate", "0.75", "python3"])
    telemetry = telemetry_config(ctx.params, given_parameters(ctx), otel_defaults())
    assert telemetry is not None
    assert telemetry["endpoint"] == "collector:4318"  # from config.yaml
    assert telemetry["tracingEnabled"] is False  # from config.yaml
    assert telemetry["samplingRate"] == "0.75"  # the flag wins
    assert thv_cli("config", "otel", "unset-endpoint").exit_code == 0
    assert "No OpenTelemetry endpoint is currently configured." in (
        thv_cli("config", "otel", "get-endpoint").output
    )


def test_protection_flags_cannot_be_mixed_with_from_config(tmp_path: Path):
    from toolhive.cli.run_cmd import request_for

    exported = tmp_path / "w.json"
    exported.write_text(json.dumps({"name": "w", "image": "python3"}))
    with pytest.raises(InvalidInputError, match="--enable-audit cannot be combined"):
        request_for(["--from-config", str(exported), "--enable-audit"])


def test_go_boolean_flags_never_swallow_the_server_argument():
    got = request("--enable-audit", "--oidc-insecure-allow-http")
    assert got.image == "python3"
    assert got.enable_audit is True


def test_filtered_and_overridden_tools_are_checked_against_the_registry_entry():
    from toolhive.workloads.protection_inputs import check_tools_in_registry

    registry = ["fetch", "search"]
    rename = {"fetch": {"name": "get"}}
    check_tools_in_registry(["get", "search"], rename, registry)  # the new name maps back
    check_tools_in_registry(["anything"], {}, [])  # an entry listing no tools checks nothing
    with pytest.raises(InvalidInputError, match="tool wrong not found in registry"):
        check_tools_in_registry(["fetch", "wrong"], {}, registry)
    with pytest.raises(InvalidInputError, match="tool gone not found in registry"):
        check_tools_in_registry([], {"gone": {"description": "d"}}, registry)


def test_an_unparsable_file_is_refused_without_quoting_it(tmp_path: Path):
    """The API lets a caller name any path the server can read: the error says where, not what."""
    path = tmp_path / "shadow"
    path.write_text("root:$6$SECRET-HASH:19000:\n  - [unclosed\n")
    with pytest.raises(InvalidInputError, match=r"neither valid JSON nor valid YAML at line") as e:
        config_of("--authz-config", str(path))
    assert "SECRET" not in str(e.value)
