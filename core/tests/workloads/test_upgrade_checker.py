"""The upgrade checker and the upgraded RunConfig against a real local registry file (the
``file`` source of toolhive-registry-remote, set as ``thv config set-registry`` sets it)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import toolhive_registry_catalog
import toolhive_registry_remote
from toolhive.errors import InvalidInputError
from toolhive.models.runconfig import RunConfig
from toolhive.registry.models import EnvVar, ImageMetadata
from toolhive.registry.settings import set_registry
from toolhive.workloads.upgrade import (
    LOOKUP_FAILED,
    ApplyOptions,
    CheckResult,
    UpgradeChecker,
    UpgradeStatus,
    config_drift,
    env_drift,
    merge_secrets,
    upgraded_config,
)

IMAGE = "ghcr.io/example/weather"
META = "io.modelcontextprotocol.registry/publisher-provided"


@pytest.fixture
def thv_plugins() -> list[object]:
    return [toolhive_registry_catalog, toolhive_registry_remote]


def image_server(name: str, image: str, *, transport: str = "stdio", **ext: Any) -> dict:
    env = ext.pop("env", [])
    package = {
        "registryType": "oci",
        "identifier": image,
        "transport": {"type": transport},
        "environmentVariables": env,
    }
    return {
        "name": name,
        "description": name,
        "version": "1.0.0",
        "packages": [package],
        "_meta": {META: {"io.github.stacklok": {image: {"tier": "Community", **ext}}}},
    }


def remote_server(name: str) -> dict:
    remote = {"type": "streamable-http", "url": "https://remote.example/mcp"}
    return {"name": name, "description": name, "version": "1.0.0", "remotes": [remote]}


SERVERS = [
    image_server(
        "com.example/weather",
        f"{IMAGE}:1.3.0",
        transport="streamable-http",
        permissions={"name": "network"},
        env=[
            {"name": "API_KEY", "description": "the key", "isRequired": True, "isSecret": True,
             "default": "sk-not-for-display"},
            {"name": "UNITS", "description": "metric or imperial", "default": "metric"},
            {"name": "REGION", "isRequired": True},
        ],
    ),
    image_server("com.example/latest", f"{IMAGE}:latest"),
    remote_server("com.example/remote"),
]  # fmt: skip


@pytest.fixture
def registry(thv_home, thv_hooks, tmp_path: Path) -> Path:
    path = tmp_path / "registry.json"
    path.write_text(json.dumps({"version": "1.0.0", "meta": {}, "data": {"servers": SERVERS}}))
    set_registry(thv_hooks, str(path))
    return path


def workload(server: str = "com.example/weather", image: str = f"{IMAGE}:1.2.0", **kw: Any):
    fields: dict[str, Any] = {
        "name": "weather",
        "base_name": "weather",
        "image": image,
        "registry_server_name": server,
        "transport": "stdio",
    }
    return RunConfig(**(fields | kw))


def test_a_newer_registry_image_is_an_upgrade_with_its_env_and_posture_drift(registry, thv_hooks):
    config = workload(
        env_vars={"REGION": "eu"},
        secrets=["weather-key,target=API_KEY"],
        permission_profile_name_or_path="none",
    )
    result = UpgradeChecker(thv_hooks).check(config.model_copy(update={"secrets": []}))
    assert result.status == UpgradeStatus.UPGRADE_AVAILABLE
    assert (result.current_image, result.candidate_image) == (f"{IMAGE}:1.2.0", f"{IMAGE}:1.3.0")
    assert result.registry_server == "com.example/weather"
    added = result.env_var_drift.added if result.env_var_drift else []
    assert [(v.name, v.required, v.secret, v.default) for v in added] == [
        ("API_KEY", True, True, ""),  # a secret's default is never shown
        ("UNITS", False, False, "metric"),
    ]
    drift = result.config_drift
    assert drift is not None and drift.transport is not None
    assert (drift.transport.from_, drift.transport.to) == ("stdio", "streamable-http")
    assert drift.permission_profile is not None
    assert (drift.permission_profile.from_, drift.permission_profile.to) == ("none", "network")
    # A secret's target satisfies the variable as an env var does.
    satisfied = UpgradeChecker(thv_hooks).check(config)
    assert [v.name for v in satisfied.env_var_drift.added] == ["UNITS"]  # type: ignore[union-attr]
    assert "sk-not-for-display" not in json.dumps(result.to_json())


def test_the_same_or_an_older_registry_image_is_up_to_date(registry, thv_hooks):
    checker = UpgradeChecker(thv_hooks)
    for image in (f"{IMAGE}:1.3.0", f"{IMAGE}:v1.4.0"):
        result = checker.check(workload(image=image))
        assert result.status == UpgradeStatus.UP_TO_DATE, image
        assert result.env_var_drift is None and result.config_drift is None


@pytest.mark.parametrize(
    ("config", "status", "reason"),
    [
        (workload(server=""), UpgradeStatus.NOT_REGISTRY_SOURCED, ""),
        (workload(server="com.example/gone"), UpgradeStatus.SERVER_NOT_FOUND, ""),
        (workload(server="com.example/latest"), UpgradeStatus.UNKNOWN, '"latest" tag'),
        (workload(server="com.example/remote"), UpgradeStatus.UNKNOWN, "not a container image"),
        (workload(image="ghcr.io/other/weather:1.0"), UpgradeStatus.UNKNOWN, "repository differs"),
    ],
    ids=["not-sourced", "gone", "latest", "remote", "other-repo"],
)
def test_workloads_that_cannot_be_upgraded_say_why(registry, thv_hooks, config, status, reason):
    result = UpgradeChecker(thv_hooks).check(config)
    assert result.status == status
    assert reason in result.reason and bool(reason) == bool(result.reason)
    assert result.workload_name == "weather"


def test_an_unreadable_registry_gives_only_registry_lookup_failed(registry, thv_hooks):
    registry.write_text("{ not json")
    results = UpgradeChecker(thv_hooks).check_all([workload(), workload(server="")])
    assert [(r.status, r.reason) for r in results] == [
        (UpgradeStatus.UNKNOWN, LOOKUP_FAILED),
        (UpgradeStatus.NOT_REGISTRY_SOURCED, ""),
    ]
    assert str(registry) not in json.dumps([r.to_json() for r in results])


def test_results_serialize_with_gos_names_and_leave_out_what_is_empty():
    bare = CheckResult(workload_name="w", status=UpgradeStatus.NOT_REGISTRY_SOURCED)
    assert bare.to_json() == {"workload_name": "w", "status": "not-registry-sourced"}
    entry = ImageMetadata(
        name="com.example/x",
        image="x:2",
        transport="sse",
        env_vars=[EnvVar(name="A"), EnvVar(name="B", secret=True, default="hidden")],
    )
    full = CheckResult(
        workload_name="w",
        status=UpgradeStatus.UPGRADE_AVAILABLE,
        env_var_drift=env_drift(workload(), entry),
        config_drift=config_drift(workload(), entry),
    )
    assert full.to_json()["env_var_drift"] == {
        "added": [
            {"name": "A", "required": False},
            {"name": "B", "required": False, "secret": True},
        ]
    }
    assert full.to_json()["config_drift"] == {"transport": {"from": "stdio", "to": "sse"}}
    assert json.loads(full.model_dump_json()) == full.to_json()  # what the REST API sends


def test_secrets_merge_keeps_the_workloads_target_and_adds_new_ones():
    old = ["a,target=TOKEN", "b,target=OTHER"]
    merged = merge_secrets(old, ["c,target=TOKEN", "d,target=NEW"])
    assert merged == ["a,target=TOKEN", "b,target=OTHER", "d,target=NEW"]
    with pytest.raises(InvalidInputError):
        merge_secrets(old, ["no-target"])


def test_the_upgraded_runconfig_changes_only_image_env_secrets_and_registry_urls(
    registry, thv_hooks, tmp_path
):
    old = RunConfig.model_validate(
        {
            "name": "weather",
            "base_name": "weather",
            "container_name": "weather",
            "image": f"{IMAGE}:1.2.0",
            "registry_server_name": "com.example/weather",
            "registry_url": "https://old.example/registry.json",
            "cmd_args": ["--verbose"],
            "transport": "stdio",
            "proxy_mode": "sse",
            "host": "127.0.0.1",
            "port": 40123,
            "target_port": 0,
            "allowed_origins": ["https://app.example"],
            "permission_profile_name_or_path": "none",
            "permission_profile": {"read": ["/data"], "network": {"outbound": {}}},
            "env_vars": {"REGION": "eu", "UNITS": "imperial"},
            "volumes": ["/tmp:/scratch:ro"],
            "container_labels": {"team": "a"},
            "secrets": ["weather-key,target=API_KEY"],
            "isolate_network": False,
            "trust_proxy_headers": True,
            "stateless": True,
            "session_ttl": "30m",
            "endpoint_prefix": "/w",
            "group": "team",
            "tools_filter": ["forecast"],
            "tools_override": {"forecast": {"name": "weather_forecast"}},
            "middleware_configs": [{"type": "authz", "parameters": {}}],
            "oidc_config": {"Issuer": "https://issuer.example"},
            "authz_config": {"version": "1.0", "type": "cedarv1"},
            "audit_config": {"component": "w"},
            "telemetry_config": {"endpoint": "otel:4318"},
            "debug": True,
            "runtime": "podman",
            "future_field": {"kept": True},
        }
    )
    entry = UpgradeChecker(thv_hooks).lookup(old)[1]
    assert isinstance(entry, ImageMetadata)
    options = ApplyOptions(env_vars={"UNITS": "metric", "EXTRA": "1"}, secrets=["s,target=NEW"])
    source = UpgradeChecker(thv_hooks).source
    new = upgraded_config(thv_hooks, old, entry, source, options)
    changed = {"image", "env_vars", "secrets", "registry_url", "registry_api_url"}
    assert new.model_dump(exclude=changed) == old.model_dump(exclude=changed)
    assert new.image == f"{IMAGE}:1.3.0"
    assert new.env_vars == {"REGION": "eu", "UNITS": "metric", "EXTRA": "1"}
    assert new.secrets == ["weather-key,target=API_KEY", "s,target=NEW"]
    assert (new.registry_url, new.registry_api_url) == (str(registry), "")
    assert old.image == f"{IMAGE}:1.2.0" and old.env_vars == {"REGION": "eu", "UNITS": "imperial"}


def test_a_required_variable_the_candidate_adds_must_be_given(registry, thv_hooks):
    old = workload(secrets=["k,target=API_KEY"])
    entry = UpgradeChecker(thv_hooks).lookup(old)[1]
    assert isinstance(entry, ImageMetadata)
    with pytest.raises(InvalidInputError, match="REGION"):
        upgraded_config(thv_hooks, old, entry, None, ApplyOptions())
    prompted = upgraded_config(
        thv_hooks, old, entry, None, ApplyOptions(prompt=lambda label, secret: "us")
    )
    assert prompted.env_vars["REGION"] == "us" and prompted.env_vars["UNITS"] == "metric"
