"""RunConfig ⇄ Kubernetes MCPServer: the export ToolHive's ``pkg/export/k8s.go`` writes (and what we
keep beyond it), the RunConfig its operator would build back, and ToolHive's own example manifests.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from toolhive.errors import InvalidInputError
from toolhive.models.permissions import PermissionProfile, builtin_profile
from toolhive.models.runconfig import RunConfig
from toolhive.workloads.export_k8s import (
    API_VERSION,
    DEFAULT_AUDIT,
    from_documents,
    k8s_name,
    load_run_config,
    to_manifest,
)

FIXTURES = Path(__file__).parents[1] / "fixtures" / "k8s_export"
CEDAR = {
    "version": "1.0",
    "type": "cedarv1",
    "cedar": {
        "policies": ['permit(principal, action == Action::"call_tool", resource);'],
        "entities_json": "[]",
        "group_claim_name": "groups",
    },
}


def server_of(config: RunConfig) -> dict[str, Any]:
    return to_manifest(config).documents[-1]


def objects(config: RunConfig) -> dict[str, dict[str, Any]]:
    return {d["kind"]: d for d in to_manifest(config).documents}


def full_config() -> RunConfig:
    """A local workload using every field the MCPServer can carry."""
    return RunConfig(
        name="My_Server",
        base_name="My_Server",
        container_name="My_Server",
        image="ghcr.io/example/server:1.2",
        transport="stdio",
        proxy_mode="sse",
        port=18080,
        cmd_args=["--verbose", "--root", "/data"],
        env_vars={"LOG_LEVEL": "debug", "API_URL": "https://api.example.com", "ODD": " a \nb\t\n"},
        volumes=["/srv/data:/data:ro", "/tmp/out:/out"],
        secrets=["GitHub_Token,target=GITHUB_TOKEN", "db-pass,target=DB_PASSWORD"],
        permission_profile_name_or_path="/home/u/profile.json",
        permission_profile=PermissionProfile.model_validate(
            {
                "read": ["/srv/data"],
                "write": ["/tmp/out"],
                "network": {"outbound": {"allow_host": ["api.example.com"], "allow_port": [443]}},
            }
        ),
        tools_filter=["fetch", "search"],
        tools_override={"fetch": {"name": "get_page", "description": "Fetch one page"}},
        authz_config=CEDAR,
        audit_config=dict(DEFAULT_AUDIT),
        trust_proxy_headers=True,
        endpoint_prefix="/mcp-prefix",
        group="research",
    )


# ---------------------------------------------------------------------------- export (Go's cases)


def test_basic_stdio_config_as_go_writes_it() -> None:
    config = RunConfig(
        image="ghcr.io/stacklok/mcp-server-github:latest",
        name="github",
        base_name="github",
        container_name="thv-github",
        transport="stdio",
        proxy_mode="sse",
        port=8080,
        cmd_args=["--verbose"],
    )
    manifest = to_manifest(config)
    assert manifest.documents == [
        {
            "apiVersion": "toolhive.stacklok.dev/v1beta1",
            "kind": "MCPServer",
            "metadata": {"name": "github"},
            "spec": {
                "image": "ghcr.io/stacklok/mcp-server-github:latest",
                "transport": "stdio",
                "proxyMode": "sse",
                "proxyPort": 8080,
                "args": ["--verbose"],
            },
        }
    ]
    assert manifest.warnings == []
    assert yaml.safe_load(manifest.to_yaml()) == manifest.documents[0]


def test_http_transport_maps_target_port_to_mcp_port_and_has_no_proxy_mode() -> None:
    spec = server_of(
        RunConfig(
            image="ghcr.io/stacklok/mcp-server-fetch:latest",
            name="fetch",
            transport="sse",
            proxy_mode="sse",
            port=8081,
            target_port=3000,
        )
    )["spec"]
    assert (spec["transport"], spec["proxyPort"], spec["mcpPort"]) == ("sse", 8081, 3000)
    assert "proxyMode" not in spec


def test_name_is_sanitized_as_go_does() -> None:
    assert k8s_name("My_Server.v2") == "my-server-v2"
    assert k8s_name("--x--") == "x"
    assert len(k8s_name("a" * 300)) == 253
    assert server_of(full_config())["metadata"] == {"name": "my-server"}


def test_env_and_volumes() -> None:
    spec = server_of(full_config())["spec"]
    assert spec["env"] == [
        {"name": "API_URL", "value": "https://api.example.com"},
        {"name": "LOG_LEVEL", "value": "debug"},
        {"name": "ODD", "value": " a \nb\t\n"},
    ]
    assert spec["volumes"] == [
        {"name": "volume-0", "hostPath": "/srv/data", "mountPath": "/data", "readOnly": True},
        {"name": "volume-1", "hostPath": "/tmp/out", "mountPath": "/out"},
    ]


@pytest.mark.parametrize("volume", ["/only-one", "/a:/b:rw", "volume://cache:/c"])
def test_a_volume_kubernetes_cannot_mount_is_refused(volume: str) -> None:
    config = RunConfig(image="img", name="w", volumes=[volume])
    with pytest.raises(InvalidInputError, match="cannot be exported"):
        to_manifest(config)


def test_secrets_are_references_with_a_warning_never_values() -> None:
    manifest = to_manifest(full_config())
    spec = manifest.documents[-1]["spec"]
    assert spec["secrets"] == [
        {"name": "github-token", "key": "GitHub_Token", "targetEnvName": "GITHUB_TOKEN"},
        {"name": "db-pass", "key": "db-pass", "targetEnvName": "DB_PASSWORD"},
    ]
    assert not any("value" in s for s in spec["secrets"])
    [warning] = [w for w in manifest.warnings if "secrets" in w]
    assert "github-token (key GitHub_Token)" in warning


def test_a_secret_name_with_no_kubernetes_form_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="rename it"):
        to_manifest(RunConfig(image="img", name="w", secrets=["__,target=T"]))


def test_builtin_profiles_stay_builtin() -> None:
    for name in ("none", "network"):
        config = RunConfig(
            image="img",
            name="w",
            permission_profile_name_or_path=name,
            permission_profile=builtin_profile(name),
        )
        assert server_of(config)["spec"]["permissionProfile"] == {"type": "builtin", "name": name}


def test_a_custom_profile_goes_into_a_configmap_before_the_server() -> None:
    docs = to_manifest(full_config()).documents
    assert [d["kind"] for d in docs] == ["ConfigMap", "MCPToolConfig", "MCPServer"]
    configmap = docs[0]
    assert configmap["apiVersion"] == "v1"
    assert configmap["metadata"]["name"] == "my-server-permission-profile"
    assert docs[-1]["spec"]["permissionProfile"] == {
        "type": "configmap",
        "name": "my-server-permission-profile",
        "key": "profile.json",
    }
    assert "profile.json: |\n" in to_manifest(full_config()).to_yaml()  # readable block
    profile = json.loads(configmap["data"]["profile.json"])
    assert profile["read"] == ["/srv/data"]
    assert profile["network"]["outbound"]["allow_host"] == ["api.example.com"]


def test_tools_become_an_mcptoolconfig_with_a_reference() -> None:
    found = objects(full_config())
    assert found["MCPToolConfig"] == {
        "apiVersion": API_VERSION,
        "kind": "MCPToolConfig",
        "metadata": {"name": "my-server-tools"},
        "spec": {
            "toolsFilter": ["fetch", "search"],
            "toolsOverride": {"fetch": {"name": "get_page", "description": "Fetch one page"}},
        },
    }
    assert found["MCPServer"]["spec"]["toolConfigRef"] == {"name": "my-server-tools"}


def test_cedar_policies_inline_audit_enabled_and_proxy_fields() -> None:
    spec = server_of(full_config())["spec"]
    assert spec["authzConfig"] == {
        "type": "inline",
        "inline": {"policies": CEDAR["cedar"]["policies"], "entitiesJson": "[]"},  # type: ignore[index]
        "groupClaimName": "groups",
    }
    assert spec["audit"] == {"enabled": True}
    assert spec["trustProxyHeaders"] is True
    assert spec["endpointPrefix"] == "/mcp-prefix"
    assert spec["groupRef"] == {"name": "research"}


def test_default_group_gives_no_group_ref() -> None:
    assert "groupRef" not in server_of(RunConfig(image="img", name="w"))["spec"]


def test_what_an_mcpserver_cannot_hold_is_left_out_with_a_warning() -> None:
    config = RunConfig(
        image="img",
        name="w",
        oidc_config={"Issuer": "https://issuer.example"},
        telemetry_config={"endpoint": "otel:4318"},
        authz_config={"version": "1.0", "type": "httpv1", "http": {"url": "https://pdp"}},
        audit_config_path="/etc/audit.json",
    )
    manifest = to_manifest(config)
    spec = manifest.documents[-1]["spec"]
    assert "authzConfig" not in spec
    assert spec["audit"] == {"enabled": True}
    text = "\n".join(manifest.warnings)
    for expected in ("OIDC configuration", "Telemetry configuration", "'httpv1'", "audit"):
        assert expected in text
    assert "issuer.example" not in manifest.to_yaml()


def test_a_process_runtime_workload_warns_that_its_image_is_local() -> None:
    config = RunConfig(image="/usr/bin/python3", name="w", runtime="process")
    [warning] = to_manifest(config).warnings
    assert "process runtime" in warning and "/usr/bin/python3" in warning
    assert to_manifest(config.model_copy(update={"runtime": "podman"})).warnings == []


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (RunConfig(remote_url="https://mcp.example.com/mcp", name="r"), "remote MCP servers"),
        (RunConfig(vmcp_config={"groupRef": "g"}, name="gw"), "VirtualMCPServer"),
        (RunConfig(name="w"), "image is required"),
    ],
)
def test_remote_vmcp_and_imageless_workloads_are_refused(config: RunConfig, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        to_manifest(config)


# ---------------------------------------------------------------------------------- round trip


def write(tmp_path: Path, text: str, name: str = "server.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_export_then_import_gives_the_same_workload(tmp_path: Path) -> None:
    original = full_config()
    back = load_run_config(write(tmp_path, to_manifest(original).to_yaml())).config
    assert back.name == back.base_name == "my-server"
    for attr in (
        "image",
        "transport",
        "proxy_mode",
        "port",
        "target_port",
        "cmd_args",
        "env_vars",
        "volumes",
        "secrets",
        "permission_profile",
        "tools_filter",
        "tools_override",
        "authz_config",
        "audit_config",
        "trust_proxy_headers",
        "endpoint_prefix",
        "group",
    ):
        assert getattr(back, attr) == getattr(original, attr), attr
    # And the same manifest again.
    assert to_manifest(back).documents == to_manifest(original).documents


def test_builtin_profile_round_trips(tmp_path: Path) -> None:
    original = RunConfig(
        image="img",
        name="w",
        permission_profile_name_or_path="none",
        permission_profile=builtin_profile("none"),
    )
    back = load_run_config(write(tmp_path, to_manifest(original).to_yaml())).config
    assert back.permission_profile_name_or_path == "none"
    assert back.permission_profile == builtin_profile("none")


def test_a_runconfig_json_file_is_still_read_as_one(tmp_path: Path) -> None:
    config = RunConfig(image="img", name="w", port=1234)
    loaded = load_run_config(write(tmp_path, config.to_json(), "w.json"))
    assert loaded.config == config
    assert loaded.warnings == []


def test_an_mcpserver_as_json_and_a_kubectl_list(tmp_path: Path) -> None:
    server = server_of(RunConfig(image="img", name="w", port=1234))
    single = load_run_config(write(tmp_path, json.dumps(server), "s.json"))
    assert (single.config.image, single.config.port) == ("img", 1234)
    docs = to_manifest(full_config()).documents
    as_list = {"apiVersion": "v1", "kind": "List", "items": docs}
    assert from_documents([as_list]).config.tools_filter == ["fetch", "search"]


# ------------------------------------------------------------------------ ToolHive's examples


def test_go_example_fetch() -> None:
    loaded = load_run_config(FIXTURES / "mcpserver_fetch.yaml")
    config = loaded.config
    assert (config.name, config.image) == ("fetch", "ghcr.io/stackloklabs/gofetch/server")
    assert (config.transport, config.port, config.target_port) == ("streamable-http", 8080, 8080)
    assert loaded.warnings == ["Ignored (cluster-only) MCPServer fields: spec.resources."]


def test_go_example_github_secrets_and_env() -> None:
    config = load_run_config(FIXTURES / "mcpserver_github.yaml").config
    assert config.transport == "stdio"
    assert config.secrets == ["github-token,target=GITHUB_PERSONAL_ACCESS_TOKEN"]
    assert config.env_vars == {"GITHUB_API_URL": "https://api.github.com", "LOG_LEVEL": "info"}


def test_go_example_tools_filter_resolves_the_toolconfig_in_the_same_file() -> None:
    config = load_run_config(FIXTURES / "mcpserver_fetch_tools_filter.yaml").config
    assert config.tools_filter == ["fetch"]
    assert config.tools_override == {}


# ------------------------------------------------------------------------------- refusals


def manifest_text(**spec: Any) -> str:
    server = {
        "apiVersion": API_VERSION,
        "kind": "MCPServer",
        "metadata": {"name": "s"},
        "spec": {"image": "img", **spec},
    }
    return yaml.safe_dump(server)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"oidcConfigRef": {"name": "o", "audience": "a"}}, "spec.oidcConfigRef configures"),
        ({"authzConfigRef": {"name": "a"}}, "spec.authzConfigRef"),
        ({"externalAuthConfigRef": {"name": "x"}}, "spec.externalAuthConfigRef"),
        ({"rateLimiting": {"shared": {}}}, "spec.rateLimiting"),
        ({"toolConfigRef": {"name": "missing"}}, "MCPToolConfig 'missing', which is not in"),
        (
            {"permissionProfile": {"type": "configmap", "name": "p", "key": "k"}},
            "ConfigMap 'p', which is not in",
        ),
        ({"permissionProfile": {"type": "builtin", "name": "all"}}, "unknown builtin"),
        ({"authzConfig": {"type": "inline", "inline": {}}}, "needs policies"),
        ({"surprise": True}, "unknown MCPServer field spec.surprise"),
        ({"env": [{"value": "x"}]}, "spec.env must be a list"),
        ({"env": [{"name": "T", "valueFrom": {"secretKeyRef": {}}}]}, "secrets go in"),
        ({"image": ""}, "no spec.image"),
        ({"args": "--verbose"}, "spec.args must be a list of strings"),
        ({"authzConfig": {"type": "inline", "inline": {"policies": "permit"}}}, "policies must"),
        ({"transport": "Bad Transport"}, "MCPServer"),
    ],
)
def test_what_cannot_run_as_asked_is_refused(
    tmp_path: Path, spec: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidInputError, match=message):
        load_run_config(write(tmp_path, manifest_text(**spec)))


def test_other_api_versions_and_server_counts_are_refused(tmp_path: Path) -> None:
    alpha = manifest_text().replace("v1beta1", "v1alpha1")
    with pytest.raises(InvalidInputError, match="v1alpha1"):
        load_run_config(write(tmp_path, alpha))
    with pytest.raises(InvalidInputError, match="found 2"):
        load_run_config(write(tmp_path, manifest_text() + "---\n" + manifest_text()))
    with pytest.raises(InvalidInputError, match="found 0"):
        load_run_config(write(tmp_path, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n"))
    with pytest.raises(InvalidInputError, match="no apiVersion and kind"):
        load_run_config(write(tmp_path, "image: img\n"))


def test_configmap_authz_in_the_same_file(tmp_path: Path) -> None:
    configmap = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "authz"},
        "data": {"authz.json": json.dumps(CEDAR)},
    }
    text = yaml.safe_dump(configmap) + "---\n"
    text += manifest_text(authzConfig={"type": "configMap", "configMap": {"name": "authz"}})
    assert load_run_config(write(tmp_path, text)).config.authz_config == CEDAR


def test_an_unsafe_profile_in_a_configmap_is_refused(tmp_path: Path) -> None:
    configmap = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "p"},
        "data": {"profile.json": json.dumps({"read": ["/etc/../root"]})},
    }
    text = yaml.safe_dump(configmap) + "---\n"
    text += manifest_text(
        permissionProfile={"type": "configmap", "name": "p", "key": "profile.json"}
    )
    with pytest.raises(InvalidInputError, match="unsafe mount"):
        load_run_config(write(tmp_path, text))
