"""The RunConfig the proxy runner reads (``/etc/runconfig/runconfig.json``), built from a resource.

Core's RunConfig format with Go's JSON field names (``thv export``'s), as a plain dict: plugins do
not import core's models. ``tests/test_k8s_operator.py`` checks that core's ``thv run
--from-config`` accepts what is built here.
"""

from __future__ import annotations

import json
from typing import Any

import yaml

from toolhive_runtime_kubernetes.crd.common import AuditConfig, AuthzConfigRef
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


#: Go's ``AuthzConfigVersion`` and default ConfigMap key of an authz config.
AUTHZ_CONFIG_VERSION = "1.0"
DEFAULT_AUTHZ_KEY = "authz.json"
#: ToolHive's ``audit.DefaultConfig()``: what ``audit.enabled`` (like ``thv run --enable-audit``)
#: writes as the RunConfig's ``audit_config``.
DEFAULT_AUDIT_CONFIG: dict[str, Any] = {"maxDataSize": 1024, "detectApplicationErrors": True}
#: Condition types for a protection the operator refuses (Go's names where Go has one).
OIDC_CONFIG_REF_VALIDATED = "OIDCConfigRefValidated"
AUTHZ_CONFIG_REF_VALIDATED = "AuthzConfigRefValidated"
AUTHZ_CONFIG_VALIDATED = "AuthzConfigValidated"
WEBHOOK_CONFIG_VALIDATED = "WebhookConfigValidated"
PROTECTION_SUPPORTED = "ProtectionSupported"


class ConfigError(ValueError):
    """The resource cannot be turned into a RunConfig; the message says what to fix."""


class ProtectionError(ConfigError):
    """A protection the spec asks for that this operator cannot put into the RunConfig.

    Fail closed: the resource goes Failed with this condition instead of running a proxy without
    the protection. ``field`` is the spec field (JSON name) that asked for it."""

    def __init__(self, field: str, message: str, condition_type: str, reason: str) -> None:
        super().__init__(message)
        self.field = field
        self.condition_type = condition_type
        self.reason = reason


#: Spec fields naming cluster objects or features this operator has no mapping for, with why.
#: (field attribute, JSON name, condition type, reason, explanation)
_UNMAPPED: tuple[tuple[str, str, str, str, str], ...] = (
    (
        "oidc_config_ref",
        "oidcConfigRef",
        OIDC_CONFIG_REF_VALIDATED,
        "OIDCConfigRefError",
        "MCPOIDCConfig is not installed with this operator (no CRD), so incoming tokens "
        "cannot be validated",
    ),
    (
        "authz_config_ref",
        "authzConfigRef",
        AUTHZ_CONFIG_REF_VALIDATED,
        "AuthzConfigRefError",
        "MCPAuthzConfig is not installed with this operator (no CRD); use spec.authzConfig "
        "(type inline, or type configMap naming a ConfigMap with the Cedar config)",
    ),
    (
        "telemetry_config_ref",
        "telemetryConfigRef",
        PROTECTION_SUPPORTED,
        "TelemetryConfigRefUnsupported",
        "MCPTelemetryConfig is not installed with this operator (no CRD)",
    ),
    (
        "webhook_config_ref",
        "webhookConfigRef",
        WEBHOOK_CONFIG_VALIDATED,
        "WebhookConfigRefUnsupported",
        "MCPWebhookConfig is not installed with this operator (no CRD)",
    ),
    (
        "auth_server_ref",
        "authServerRef",
        PROTECTION_SUPPORTED,
        "AuthServerRefUnsupported",
        "the embedded authorization server is not supported by this operator",
    ),
    (
        "rate_limiting",
        "rateLimiting",
        PROTECTION_SUPPORTED,
        "RateLimitingUnsupported",
        "rate limiting is not supported by this operator's proxy runner",
    ),
)


def refuse_unmapped(spec: Any) -> None:
    """Raise :class:`ProtectionError` for the first protection field that cannot be mapped.

    ``spec`` is an MCPServer or MCPRemoteProxy spec (fields one lacks are skipped)."""
    for attr, field, condition_type, reason, why in _UNMAPPED:
        if getattr(spec, attr, None) is not None:
            msg = f"spec.{field} cannot be honoured: {why}; remove it to run the server"
            raise ProtectionError(field, msg, condition_type, reason)
    storage = getattr(spec, "session_storage", None)
    if storage is not None and storage.provider != "memory":
        msg = (
            f"spec.sessionStorage provider {storage.provider!r} cannot be honoured: this "
            "operator's proxy runner keeps MCP sessions in memory; remove it or use provider memory"
        )
        raise ProtectionError(
            "sessionStorage", msg, PROTECTION_SUPPORTED, "SessionStorageUnsupported"
        )


def authz_configmap_key(ref: AuthzConfigRef) -> str:
    return (ref.config_map.key if ref.config_map else None) or DEFAULT_AUTHZ_KEY


def parse_authz_document(text: str, where: str) -> dict[str, Any]:
    """An authz config document (JSON or YAML, as Go's ``LoadAuthzConfigFromConfigMap``)."""
    if not text.strip():
        raise ProtectionError(
            "authzConfig", f"{where} is empty", AUTHZ_CONFIG_VALIDATED, "AuthzConfigInvalid"
        )
    try:
        document = yaml.safe_load(text)  # JSON is YAML
    except yaml.YAMLError as exc:
        msg = f"{where} is neither JSON nor YAML: {exc}".replace("\n", " ")
        raise ProtectionError(
            "authzConfig", msg, AUTHZ_CONFIG_VALIDATED, "AuthzConfigInvalid"
        ) from None
    if not isinstance(document, dict) or not document.get("type"):
        msg = (
            f"{where} is not an authz config: expected an object with version, type "
            "(cedarv1) and cedar {policies, entities_json}"
        )
        raise ProtectionError("authzConfig", msg, AUTHZ_CONFIG_VALIDATED, "AuthzConfigInvalid")
    return document


def authz_config(ref: AuthzConfigRef | None, configmap_text: str | None = None) -> dict[str, Any]:
    """The RunConfig's ``authz_config`` for ``spec.authzConfig`` (Go's ``AddAuthzConfigOptions``).

    Inline policies become a ``cedarv1`` config; a ConfigMap's document (``configmap_text``,
    read by the controller) is put in as it is, with the spec's claim mapping over it. The
    policy lives in the RunConfig, so a change of it changes the RunConfig's checksum and
    rolls the proxy out."""
    if ref is None:
        return {}
    claims = {
        k: v
        for k, v in (
            ("group_claim_name", ref.group_claim_name),
            ("role_claim_name", ref.role_claim_name),
            ("group_entity_type", ref.group_entity_type),
        )
        if v
    }
    if ref.type == "inline":
        if ref.inline is None:
            msg = "spec.authzConfig has type inline but no inline policies"
            raise ProtectionError("authzConfig", msg, AUTHZ_CONFIG_VALIDATED, "AuthzConfigInvalid")
        cedar: dict[str, Any] = {
            "policies": list(ref.inline.policies),
            "entities_json": ref.inline.entities_json or "[]",
        }
        if ref.inline.primary_upstream_provider:
            cedar["primary_upstream_provider"] = ref.inline.primary_upstream_provider
        cedar.update(claims)
        return {
            "authz_config": {"version": AUTHZ_CONFIG_VERSION, "type": "cedarv1", "cedar": cedar}
        }
    name = ref.config_map.name if ref.config_map else ""
    if configmap_text is None:
        msg = f"spec.authzConfig names ConfigMap {name!r}, which was not read"
        raise ProtectionError("authzConfig", msg, AUTHZ_CONFIG_VALIDATED, "AuthzConfigNotFound")
    where = f"ConfigMap {name} key {authz_configmap_key(ref)!r}"
    document = parse_authz_document(configmap_text, where)
    if claims and document.get("type") == "cedarv1":
        # Go's ApplyClaimMappingOverrides: the spec's claim mapping wins over the ConfigMap's.
        document = {**document, "cedar": {**(document.get("cedar") or {}), **claims}}
    return {"authz_config": document}


def audit_config(audit: AuditConfig | None) -> dict[str, Any]:
    """``spec.audit.enabled`` → ToolHive's default audit config (Go's ``WithAuditEnabled``)."""
    if audit is None or not audit.enabled:
        return {}
    return {"audit_config": dict(DEFAULT_AUDIT_CONFIG)}


def protection_config(spec: Any, authz_configmap_text: str | None = None) -> dict[str, Any]:
    """Every incoming-protection RunConfig field of an MCPServer/MCPRemoteProxy spec, or
    :class:`ProtectionError` for the first one that cannot be mapped."""
    refuse_unmapped(spec)
    out = authz_config(spec.authz_config, authz_configmap_text)
    out.update(audit_config(spec.audit))
    return out


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
    authz_configmap_text: str | None = None,
) -> dict[str, Any]:
    """The RunConfig for an MCPServer (Go's ``createRunConfigFromMCPServer``).

    ``authz_configmap_text``: the document of the ConfigMap ``spec.authzConfig`` names (the
    controller reads it). Raises :class:`ProtectionError` for protection it cannot map."""
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
    config.update(protection_config(spec, authz_configmap_text))
    return config


def remoteproxy_runconfig(
    proxy: MCPRemoteProxy,
    *,
    toolconfig: MCPToolConfig | None = None,
    extauth: MCPExternalAuthConfig | None = None,
) -> dict[str, Any]:
    """The RunConfig of a proxy-only workload in front of ``spec.remoteUrl``.

    Its controller reads no authz ConfigMap: ``authzConfig`` type configMap is refused here
    (fail closed), inline policies and audit are mapped as for an MCPServer."""
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
    config.update(protection_config(spec))
    return config
