"""The RunConfig the proxy runner reads (``/etc/runconfig/runconfig.json``), built from a resource.

Core's RunConfig format with Go's JSON field names (``thv export``'s), as a plain dict: plugins do
not import core's models. ``tests/test_k8s_operator.py`` checks that core's ``thv run
--from-config`` accepts what is built here.
"""

from __future__ import annotations

import json
from typing import Any

from toolhive_runtime_kubernetes.crd.config_objects import MCPExternalAuthConfig, MCPToolConfig
from toolhive_runtime_kubernetes.crd.mcpserver import MCPServer
from toolhive_runtime_kubernetes.crd.remoteproxy import MCPRemoteProxy

SCHEMA_VERSION = "v0.1.0"
PROXY_HOST = "0.0.0.0"
#: Go's MCP container name, which the pod template patch addresses.
MCP_CONTAINER = "mcp"
DEFAULT_MCP_PORT = 8080
#: Where a token-exchange client secret is mounted in the proxy pod.
TOKEN_EXCHANGE_SECRET_DIR = "/etc/toolhive/secrets/token-exchange"
PROFILES_DIR = "/etc/toolhive/profiles"


class ConfigError(ValueError):
    """The resource cannot be turned into a RunConfig; the message says what to fix."""


def mcp_service_account_name(name: str) -> str:
    return f"{name}-sa"


def tools_config(toolconfig: MCPToolConfig | None) -> dict[str, Any]:
    if toolconfig is None:
        return {}
    out: dict[str, Any] = {}
    if toolconfig.spec.tools_filter:
        out["tools_filter"] = list(toolconfig.spec.tools_filter)
    if toolconfig.spec.tools_override:
        out["tools_override"] = {
            tool: {
                k: v for k, v in (("name", o.name), ("description", o.description)) if v is not None
            }
            for tool, o in sorted(toolconfig.spec.tools_override.items())
        }
    return out


def external_auth_config(extauth: MCPExternalAuthConfig | None) -> dict[str, Any]:
    """RunConfig fields for outgoing auth; secrets become mounted files, never values."""
    if extauth is None:
        return {}
    spec = extauth.spec
    if spec.type == "tokenExchange" and spec.token_exchange is not None:
        te = spec.token_exchange
        cfg: dict[str, Any] = {
            "token_url": te.token_url,
            "client_id": te.client_id or "",
            "client_secret": "",
            "audience": te.audience,
        }
        if te.client_secret_ref is not None:
            cfg["client_secret_file"] = f"{TOKEN_EXCHANGE_SECRET_DIR}/{te.client_secret_ref.key}"
        if te.scopes:
            cfg["scopes"] = list(te.scopes)
        if te.subject_token_type:
            cfg["subject_token_type"] = te.subject_token_type
        if te.external_token_header_name:
            cfg["header_strategy"] = "custom"
            cfg["external_token_header_name"] = te.external_token_header_name
        return {"token_exchange_config": cfg}
    msg = (
        f"MCPExternalAuthConfig {extauth.name} has type {spec.type!r}; this operator supports "
        "type tokenExchange for MCPServer and MCPRemoteProxy"
    )
    raise ConfigError(msg)


def pod_template_patch(server: MCPServer, name: str) -> dict[str, Any]:
    """What the proxy runner merges into the MCP StatefulSet's pod template (Go's
    ``--k8s-pod-patch``): the user's podTemplateSpec, the MCP pod's service account, the
    secrets as env vars from Secrets and the hostPath volumes."""
    spec = server.spec
    patch: dict[str, Any] = json.loads(json.dumps(spec.pod_template_spec or {}))
    pod_spec = patch.setdefault("spec", {})
    pod_spec["serviceAccountName"] = spec.service_account or mcp_service_account_name(name)
    if not spec.secrets and not spec.volumes:
        return patch
    containers = pod_spec.setdefault("containers", [])
    mcp = next((c for c in containers if c.get("name") == MCP_CONTAINER), None)
    if mcp is None:
        mcp = {"name": MCP_CONTAINER}
        containers.append(mcp)
    # hostPath volumes go into the MCP pod here (the runtime takes no RunConfig volumes in a pod).
    for volume in spec.volumes or []:
        pod_spec.setdefault("volumes", []).append(
            {"name": volume.name, "hostPath": {"path": volume.host_path}}
        )
        mcp.setdefault("volumeMounts", []).append(
            {"name": volume.name, "mountPath": volume.mount_path, "readOnly": volume.read_only}
        )
    if spec.secrets:
        env = mcp.setdefault("env", [])
        for secret in spec.secrets:
            env.append(
                {
                    "name": secret.target_env_name or secret.key,
                    "valueFrom": {"secretKeyRef": {"name": secret.name, "key": secret.key}},
                }
            )
    return patch


def mcpserver_runconfig(
    server: MCPServer,
    *,
    toolconfig: MCPToolConfig | None = None,
    extauth: MCPExternalAuthConfig | None = None,
) -> dict[str, Any]:
    """The RunConfig for an MCPServer (Go's ``createRunConfigFromMCPServer``)."""
    spec = server.spec
    name = server.name
    transport = spec.transport
    proxy_mode = spec.proxy_mode if transport == "stdio" else transport
    config: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "name": name,
        "base_name": name,
        "container_name": name,
        "image": spec.image,
        "cmd_args": list(spec.args or []),
        "transport": transport,
        "proxy_mode": proxy_mode,
        "host": PROXY_HOST,
        "port": spec.proxy_port,
        "target_port": 0 if transport == "stdio" else (spec.mcp_port or DEFAULT_MCP_PORT),
        "env_vars": {e.name: e.value for e in spec.env or []},
        "trust_proxy_headers": spec.trust_proxy_headers,
        # A pod has no container network of ours to isolate (NetworkPolicies are the cluster's).
        "isolate_network": False,
        "runtime": "kubernetes",
        "k8s_pod_template_patch": json.dumps(pod_template_patch(server, name), sort_keys=True),
    }
    if spec.endpoint_prefix:
        config["endpoint_prefix"] = spec.endpoint_prefix
    profile = spec.permission_profile
    if profile is not None:
        if profile.type == "builtin":
            config["permission_profile_name_or_path"] = profile.name
        else:
            config["permission_profile_name_or_path"] = f"{PROFILES_DIR}/{profile.key or ''}"
    if spec.backend_replicas is not None:
        config["backend_replicas"] = spec.backend_replicas
    config.update(tools_config(toolconfig))
    config.update(external_auth_config(extauth))
    return config


def remoteproxy_runconfig(
    proxy: MCPRemoteProxy,
    *,
    toolconfig: MCPToolConfig | None = None,
    extauth: MCPExternalAuthConfig | None = None,
) -> dict[str, Any]:
    """The RunConfig of a proxy-only workload in front of ``spec.remoteUrl``."""
    spec = proxy.spec
    name = proxy.name
    config: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "name": name,
        "base_name": name,
        "remote_url": spec.remote_url,
        "transport": spec.transport,
        "proxy_mode": spec.transport,
        "host": PROXY_HOST,
        "port": spec.proxy_port,
        "trust_proxy_headers": spec.trust_proxy_headers,
        "isolate_network": False,
    }
    if spec.endpoint_prefix:
        config["endpoint_prefix"] = spec.endpoint_prefix
    if spec.header_forward is not None and spec.header_forward.add_plaintext_headers:
        config["header_forward"] = {
            "add_plaintext_headers": dict(sorted(spec.header_forward.add_plaintext_headers.items()))
        }
    config.update(tools_config(toolconfig))
    config.update(external_auth_config(extauth))
    return config
