"""The RunConfig the proxy runner reads (``/etc/runconfig/runconfig.json``), built from a resource.

Core's RunConfig format with Go's JSON field names (``thv export``'s), as a plain dict: plugins do
not import core's models. ``tests/test_k8s_operator.py`` checks that core's ``thv run
--from-config`` accepts what is built here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import yaml

from toolhive_runtime_kubernetes.crd.common import (
    AuditConfig,
    AuthzConfigRef,
    MCPOIDCConfigReference,
    MCPTelemetryConfigReference,
)
from toolhive_runtime_kubernetes.crd.config_objects import MCPExternalAuthConfig, MCPToolConfig
from toolhive_runtime_kubernetes.crd.mcpserver import MCPServer
from toolhive_runtime_kubernetes.crd.oidc_config import MCPOIDCConfig
from toolhive_runtime_kubernetes.crd.remoteproxy import MCPRemoteProxy
from toolhive_runtime_kubernetes.crd.telemetry_config import MCPTelemetryConfig
from toolhive_runtime_kubernetes.operator import sessions

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
TELEMETRY_CONFIG_REF_VALIDATED = "TelemetryConfigRefValidated"
PROTECTION_SUPPORTED = "ProtectionSupported"
#: The proxy reads an OIDC client secret from this env var (Go's; the auth plugin's too), which
#: the proxy Deployment fills from the Secret: the value is never in the RunConfig ConfigMap.
OIDC_CLIENT_SECRET_ENV = "TOOLHIVE_OIDC_CLIENT_SECRET"
#: Go's kubernetesServiceAccount defaults (``pkg/oidc/resolver.go``).
K8S_ISSUER = "https://kubernetes.default.svc"
K8S_CA_BUNDLE = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt"
K8S_TOKEN_FILE = "/var/run/secrets/kubernetes.io/serviceaccount/token"


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
        "authz_config_ref",
        "authzConfigRef",
        AUTHZ_CONFIG_REF_VALIDATED,
        "AuthzConfigRefError",
        "MCPAuthzConfig is not installed with this operator (no CRD); use spec.authzConfig "
        "(type inline, or type configMap naming a ConfigMap with the Cedar config)",
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
    refusal = sessions.storage_refusal(spec)
    if refusal is not None:
        raise ProtectionError(
            "sessionStorage", refusal, PROTECTION_SUPPORTED, "SessionStorageUnsupported"
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


def _oidc_error(message: str, reason: str = "OIDCConfigRefNotValid") -> ProtectionError:
    return ProtectionError("oidcConfigRef", message, OIDC_CONFIG_REF_VALIDATED, reason)


@dataclass(frozen=True)
class ResolvedOIDC:
    """An ``oidcConfigRef`` and the MCPOIDCConfig it names, resolved (Go's ``oidc.OIDCConfig``
    from ``ResolveFromConfigRef``): what both the proxy's RunConfig and the vMCP gateway's
    ``incomingAuth.oidc`` are written from. Never holds a client secret."""

    issuer: str
    audience: str
    resource_url: str
    jwks_url: str = ""
    introspection_url: str = ""
    client_id: str = ""
    ca_bundle_path: str = ""
    jwks_auth_token_path: str = ""
    jwks_allow_private_ip: bool = False
    protected_resource_allow_private_ip: bool = False
    insecure_allow_http: bool = False
    scopes: tuple[str, ...] = ()
    #: The MCPOIDCConfig has a ``clientSecretRef`` (its value reaches the pod as an env var).
    has_client_secret: bool = False


def resolve_oidc(
    ref: MCPOIDCConfigReference,
    oidc: MCPOIDCConfig | None,
    *,
    resource_url: str,
) -> ResolvedOIDC:
    """Go's ``ResolveFromConfigRef``: the audience, scopes and resource URL are the workload's
    (the ref's; ``resource_url`` is the default of the latter), the rest the MCPOIDCConfig's.
    Raises :class:`ProtectionError` when it is missing or cannot be honoured (fail closed)."""
    if oidc is None:
        raise _oidc_error(
            f"spec.oidcConfigRef: MCPOIDCConfig {ref.name} not found", "OIDCConfigRefNotFound"
        )
    spec = oidc.spec
    common: dict[str, Any] = {
        "audience": ref.audience,
        "resource_url": ref.resource_url or resource_url,
        "scopes": tuple(ref.scopes or ()),
    }
    if spec.type == "kubernetesServiceAccount" and spec.kubernetes_service_account is not None:
        sa = spec.kubernetes_service_account
        cluster_auth = sa.use_cluster_auth is not False
        return ResolvedOIDC(
            issuer=sa.issuer or K8S_ISSUER,
            jwks_url=sa.jwks_url or "",
            introspection_url=sa.introspection_url or "",
            # The pod's own service account: the cluster CA and its token for discovery/JWKS.
            ca_bundle_path=K8S_CA_BUNDLE if cluster_auth else "",
            jwks_auth_token_path=K8S_TOKEN_FILE if cluster_auth else "",
            jwks_allow_private_ip=cluster_auth,
            **common,
        )
    if spec.type == "inline" and spec.inline is not None:
        inline = spec.inline
        if inline.ca_bundle_ref is not None:
            msg = (
                f"MCPOIDCConfig {oidc.name}: caBundleRef cannot be honoured: this operator does "
                "not mount CA bundles into the proxy; use a publicly trusted issuer certificate"
            )
            raise ProtectionError(
                "oidcConfigRef", msg, OIDC_CONFIG_REF_VALIDATED, "OIDCConfigRefError"
            )
        return ResolvedOIDC(
            issuer=inline.issuer,
            jwks_url=inline.jwks_url or "",
            introspection_url=inline.introspection_url or "",
            client_id=inline.client_id or "",
            jwks_auth_token_path=inline.jwks_auth_token_path or "",
            jwks_allow_private_ip=inline.jwks_allow_private_ip,
            protected_resource_allow_private_ip=inline.protected_resource_allow_private_ip,
            insecure_allow_http=inline.insecure_allow_http,
            has_client_secret=inline.client_secret_ref is not None,
            **common,
        )
    # The model refuses this; kept so a new type cannot run unvalidated.
    raise _oidc_error(f"MCPOIDCConfig {oidc.name} has no configuration for type {spec.type}")


def oidc_config(
    ref: MCPOIDCConfigReference | None,
    oidc: MCPOIDCConfig | None,
    *,
    resource_url: str,
) -> dict[str, Any]:
    """The RunConfig's ``oidc_config`` (+ ``thv_ca_bundle``/``jwks_auth_token_file``) for
    ``spec.oidcConfigRef`` and the MCPOIDCConfig it names, with the keys core's ``thv run
    --oidc-*`` writes (Go's TokenValidatorConfig names).

    A client secret is never put in here: the proxy gets it as :data:`OIDC_CLIENT_SECRET_ENV`
    from the Secret."""
    if ref is None:
        return {}
    resolved = resolve_oidc(ref, oidc, resource_url=resource_url)
    out: dict[str, Any] = {
        "Audience": resolved.audience,
        "ResourceURL": resolved.resource_url,
        "Issuer": resolved.issuer,
        "JWKSURL": resolved.jwks_url,
        "IntrospectionURL": resolved.introspection_url,
        "ClientID": resolved.client_id,
        "CACertPath": resolved.ca_bundle_path,
        "AuthTokenFile": resolved.jwks_auth_token_path,
        # Go: either flag allows private addresses for every OIDC request at runtime.
        "AllowPrivateIP": resolved.jwks_allow_private_ip
        or resolved.protected_resource_allow_private_ip,
        "InsecureAllowHTTP": resolved.insecure_allow_http,
    }
    if resolved.scopes:
        out["Scopes"] = list(resolved.scopes)
    config = {k: v for k, v in out.items() if v not in ("", None, False)}
    fields: dict[str, Any] = {"oidc_config": config}
    # As ``thv run`` (and Go's WithOIDCConfig): the CA bundle and JWKS token file also top level.
    if config.get("CACertPath"):
        fields["thv_ca_bundle"] = config["CACertPath"]
    if config.get("AuthTokenFile"):
        fields["jwks_auth_token_file"] = config["AuthTokenFile"]
    return fields


def oidc_client_secret_env(
    oidc: MCPOIDCConfig | None, name: str = OIDC_CLIENT_SECRET_ENV
) -> list[dict[str, Any]]:
    """The container's env var ``name`` for an inline MCPOIDCConfig's ``clientSecretRef``."""
    inline = oidc.spec.inline if oidc is not None else None
    if inline is None or inline.client_secret_ref is None:
        return []
    ref = inline.client_secret_ref
    return [
        {
            "name": name,
            "valueFrom": {"secretKeyRef": {"name": ref.name, "key": ref.key}},
        }
    ]


def _go_float(value: float) -> str:
    """Go's ``FormatFloat(v, 'f', -1, 64)`` (what ``--otel-sampling-rate`` writes): ``0.1``, ``1``."""
    return repr(float(value)).removesuffix(".0")


def telemetry_config(
    ref: MCPTelemetryConfigReference | None,
    telemetry: MCPTelemetryConfig | None,
    *,
    workload: str,
) -> dict[str, Any]:
    """The RunConfig's ``telemetry_config`` for ``spec.telemetryConfigRef`` and the
    MCPTelemetryConfig it names, with the keys ``thv run --otel-*`` writes (Go's
    ``NormalizeMCPTelemetryConfig``: the endpoint without its scheme, the service name the ref's
    or else the workload's name). Nothing when no signal is on (as the CLI)."""
    if ref is None:
        return {}
    if telemetry is None:
        msg = f"spec.telemetryConfigRef: MCPTelemetryConfig {ref.name} not found"
        raise ProtectionError(
            "telemetryConfigRef", msg, TELEMETRY_CONFIG_REF_VALIDATED, "TelemetryConfigRefNotFound"
        )
    spec = telemetry.spec
    out: dict[str, Any] = {}
    otel = spec.open_telemetry
    if otel is not None and otel.enabled:
        for field, value in (
            ("sensitiveHeaders", otel.sensitive_headers),
            ("caBundleRef", otel.ca_bundle_ref),
        ):
            if value:
                msg = (
                    f"MCPTelemetryConfig {telemetry.name}: openTelemetry.{field} cannot be "
                    "honoured by this operator (no Secret headers or CA bundles are mounted into "
                    "the proxy); remove it"
                )
                raise ProtectionError(
                    "telemetryConfigRef",
                    msg,
                    TELEMETRY_CONFIG_REF_VALIDATED,
                    "TelemetryConfigRefInvalid",
                )
        tracing = otel.tracing.enabled if otel.tracing else False
        metrics = otel.metrics.enabled if otel.metrics else False
        if otel.endpoint and not tracing and not metrics:
            msg = (
                f"MCPTelemetryConfig {telemetry.name}: endpoint requires at least one of "
                "tracing or metrics to be enabled"
            )
            raise ProtectionError(
                "telemetryConfigRef",
                msg,
                TELEMETRY_CONFIG_REF_VALIDATED,
                "TelemetryConfigRefInvalid",
            )
        endpoint = (otel.endpoint or "").removeprefix("https://").removeprefix("http://")
        out.update(
            endpoint=endpoint,
            tracingEnabled=tracing,
            metricsEnabled=metrics,
            headers=dict(sorted((otel.headers or {}).items())),
            insecure=otel.insecure,
            customAttributes=dict(sorted((otel.resource_attributes or {}).items())),
            useLegacyAttributes=otel.use_legacy_attributes,
        )
        if otel.tracing is not None and otel.tracing.sampling_rate:
            rate = min(max(float(otel.tracing.sampling_rate), 0.0), 1.0)
            out["samplingRate"] = _go_float(rate)
    prometheus = bool(spec.prometheus and spec.prometheus.enabled)
    out["enablePrometheusMetricsPath"] = prometheus
    if not out.get("endpoint") and not prometheus:
        return {}  # nothing to export nor to serve: the CLI configures no telemetry either
    out["serviceName"] = ref.service_name or workload
    return {"telemetry_config": {k: v for k, v in out.items() if v not in ("", {}, [])}}


def protection_config(
    spec: Any,
    authz_configmap_text: str | None = None,
    *,
    workload: str = "",
    resource_url: str = "",
    oidc: MCPOIDCConfig | None = None,
    telemetry: MCPTelemetryConfig | None = None,
) -> dict[str, Any]:
    """Every incoming-protection RunConfig field of an MCPServer/MCPRemoteProxy spec, or
    :class:`ProtectionError` for the first one that cannot be mapped.

    ``oidc``/``telemetry``: the objects ``spec.oidcConfigRef``/``spec.telemetryConfigRef`` name,
    read by the controller (None when missing: refused, fail closed)."""
    refuse_unmapped(spec)
    out = oidc_config(spec.oidc_config_ref, oidc, resource_url=resource_url)
    out.update(authz_config(spec.authz_config, authz_configmap_text))
    out.update(audit_config(spec.audit))
    out.update(telemetry_config(spec.telemetry_config_ref, telemetry, workload=workload))
    return out


def proxy_service_url(name: str, namespace: str, port: int) -> str:
    """The proxy Service's URL in the cluster (``objects.proxy_service_name``'s Service): the
    default RFC 9728 resource of a protected workload."""
    return f"http://mcp-{name}-proxy.{namespace}.svc.cluster.local:{port}"


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
    oidc: MCPOIDCConfig | None = None,
    telemetry: MCPTelemetryConfig | None = None,
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
    config.update(
        protection_config(
            spec,
            authz_configmap_text,
            workload=name,
            resource_url=proxy_service_url(name, server.namespace, spec.proxy_port),
            oidc=oidc,
            telemetry=telemetry,
        )
    )
    return config


def remoteproxy_runconfig(
    proxy: MCPRemoteProxy,
    *,
    toolconfig: MCPToolConfig | None = None,
    extauth: MCPExternalAuthConfig | None = None,
    oidc: MCPOIDCConfig | None = None,
    telemetry: MCPTelemetryConfig | None = None,
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
    config.update(
        protection_config(
            spec,
            workload=name,
            resource_url=proxy_service_url(name, proxy.namespace, spec.proxy_port),
            oidc=oidc,
            telemetry=telemetry,
        )
    )
    return config
