"""VirtualMCPServer: the gateway's config — the vMCP YAML its pods run with (``config.yaml``).

``spec.incomingAuth`` (OIDC via an MCPOIDCConfig, Cedar authz inline or from a ConfigMap) becomes
``incomingAuth`` (:func:`incoming_auth`; :class:`IncomingAuthError` when it cannot be honoured);
:func:`vmcp_config` puts it together with ``spec.config``, the routable backends, their outgoing
auth and ``sessionStorage`` (:func:`session_storage`).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, cast
from urllib.parse import urlsplit

import yaml

from toolhive_runtime_kubernetes.crd.common import AuthzConfigRef
from toolhive_runtime_kubernetes.crd.vmcp import VirtualMCPServerSpec
from toolhive_runtime_kubernetes.operator.framework import Key
from toolhive_runtime_kubernetes.operator.kube import Kube, Obj
from toolhive_runtime_kubernetes.operator.mcpserver import (
    Invalid,
    load_authz_configmap,
    load_protection_refs,
)
from toolhive_runtime_kubernetes.operator.runconfig import (
    AUTHZ_CONFIG_REF_VALIDATED,
    OIDC_CONFIG_REF_VALIDATED,
    ProtectionError,
    ResolvedOIDC,
    authz_config,
    oidc_client_secret_env,
    resolve_oidc,
)
from toolhive_runtime_kubernetes.operator.status import condition
from toolhive_runtime_kubernetes.operator.toolconfig import config_hash
from toolhive_runtime_kubernetes.operator.vmcp_backends import (
    Backend,
    Outgoing,
    SpecError,
    routable_url,
)
from toolhive_runtime_kubernetes.operator.vmcp_objects import PORT, service_name

# --- the config --------------------------------------------------------------------------------


#: Go's env var for the gateway's OIDC client secret (``vmcpOIDCClientSecretEnvVar``): filled
#: from the MCPOIDCConfig's Secret, named by ``clientSecretEnv`` in the config, never a value.
OIDC_CLIENT_SECRET_ENV = "VMCP_OIDC_CLIENT_SECRET"
#: Go's VirtualMCPServer condition for the incoming auth (+ the authz ConfigMap) being usable.
AUTH_CONFIGURED = "AuthConfigured"
#: Conditions this section writes; dropped when the spec no longer asks for them.
AUTH_CONDITIONS = (OIDC_CONFIG_REF_VALIDATED, AUTHZ_CONFIG_REF_VALIDATED, AUTH_CONFIGURED)


class IncomingAuthError(SpecError):
    """``spec.incomingAuth`` cannot be honoured: the gateway must not serve (fail closed)."""

    def __init__(self, message: str, cond: dict[str, Any]) -> None:
        super().__init__(message)
        self.condition = cond


@dataclass
class Incoming:
    """The config's ``incomingAuth``, the env it reads the OIDC client secret from, the
    conditions saying it is valid and the hash of the MCPOIDCConfig it came from."""

    section: dict[str, Any]
    env: list[dict[str, Any]] = field(default_factory=list)
    conditions: list[dict[str, Any]] = field(default_factory=list)
    oidc_hash: str = ""


def incoming_refs(vmcp: Obj) -> list[Key]:
    """The MCPOIDCConfig and authz ConfigMap ``spec.incomingAuth`` names (for the ref index:
    their change re-reconciles, their deletion is held while referenced)."""
    namespace = vmcp["metadata"]["namespace"]
    incoming = (vmcp.get("spec") or {}).get("incomingAuth") or {}
    refs = []
    if name := (incoming.get("oidcConfigRef") or {}).get("name"):
        refs.append(Key("MCPOIDCConfig", namespace, str(name)))
    authz = incoming.get("authzConfig") or {}
    if authz.get("type", "configMap") == "configMap" and (authz.get("configMap") or {}).get("name"):
        refs.append(Key("ConfigMap", namespace, str(authz["configMap"]["name"])))
    return refs


def asks_for_protection(vmcp: Obj) -> bool:
    incoming = (vmcp.get("spec") or {}).get("incomingAuth") or {}
    return incoming.get("type") != "anonymous" or any(
        incoming.get(k) for k in ("authzConfig", "authzConfigRef")
    )


def oidc_section(resolved: ResolvedOIDC) -> dict[str, Any]:
    """A resolved OIDC config as the gateway's ``incomingAuth.oidc`` (Go's
    ``mapResolvedOIDCToVmcpConfigFromRef``; the JWKS token file has no vMCP field, as in Go)."""
    out: dict[str, Any] = {
        "issuer": resolved.issuer,
        "clientId": resolved.client_id,
        "audience": resolved.audience,
        "resource": resolved.resource_url,
        "jwksUrl": resolved.jwks_url,
        "introspectionUrl": resolved.introspection_url,
        "scopes": list(resolved.scopes),
        "clientSecretEnv": OIDC_CLIENT_SECRET_ENV if resolved.has_client_secret else "",
        "insecureAllowHttp": resolved.insecure_allow_http,
        "jwksAllowPrivateIp": resolved.jwks_allow_private_ip,
        "protectedResourceAllowPrivateIp": resolved.protected_resource_allow_private_ip,
        "caBundlePath": resolved.ca_bundle_path,
    }
    return {k: v for k, v in out.items() if v not in ("", [], False)}


def _authz_error(message: str, reason: str) -> IncomingAuthError:
    return IncomingAuthError(
        message,
        condition(
            AUTH_CONFIGURED, False, reason, f"Authorization configuration is invalid: {message}"
        ),
    )


def authz_section(ref: AuthzConfigRef, configmap_text: str | None) -> dict[str, Any]:
    """``spec.incomingAuth.authzConfig`` (inline, or a ConfigMap's Cedar config, read the way an
    MCPServer's is) as the gateway's ``incomingAuth.authz`` (Go's ``convertAuthzConfig``)."""
    try:
        document = authz_config(ref, configmap_text)["authz_config"]
    except ProtectionError as exc:
        raise _authz_error(
            str(exc).replace("spec.authzConfig", "spec.incomingAuth.authzConfig"),
            "AuthzConfigMapInvalid",
        ) from None
    where = (
        f"authz ConfigMap {ref.config_map.name}"
        if ref.type == "configMap" and ref.config_map
        else "spec.incomingAuth.authzConfig"
    )
    cedar = document.get("cedar") if document.get("type") == "cedarv1" else None
    if not isinstance(cedar, dict):
        raise _authz_error(f"{where} is not a Cedar config (type cedarv1)", "AuthzConfigMapInvalid")
    policies = cedar.get("policies")
    if (
        not isinstance(policies, list)
        or not policies
        or not all(isinstance(p, str) for p in policies)
    ):
        raise _authz_error(f"{where} has no Cedar policies", "AuthzConfigMapInvalid")
    section: dict[str, Any] = {
        "type": "cedar",
        "policies": list(policies),
        "entitiesJson": str(cedar.get("entities_json") or "[]"),
    }
    # Claim mappings change who is allowed: each one reaches the gateway's Cedar authorizer.
    for key, camel in _CEDAR_CLAIM_KEYS:
        if cedar.get(key):
            section[camel] = str(cedar[key])
    return section


#: The Cedar document's claim settings and their names in the vMCP config's ``authz``.
_CEDAR_CLAIM_KEYS = (
    ("group_claim_name", "groupClaimName"),
    ("role_claim_name", "roleClaimName"),
    ("group_entity_type", "groupEntityType"),
    ("primary_upstream_provider", "primaryUpstreamProvider"),
)


def incoming_auth(kube: Kube, vmcp: Obj) -> Incoming:
    """Go's ``convertIncomingAuth`` plus its controller's checks: the MCPOIDCConfig
    ``oidcConfigRef`` names (and its client secret's Secret) and the authz ConfigMap must exist
    and be usable, else :class:`IncomingAuthError` (the gateway must not run without them)."""
    meta = vmcp["metadata"]
    namespace, name = meta["namespace"], meta["name"]
    incoming = VirtualMCPServerSpec.model_validate(vmcp.get("spec") or {}).incoming_auth
    if incoming.authz_config_ref is not None:
        msg = (
            "spec.incomingAuth.authzConfigRef cannot be honoured: MCPAuthzConfig is not installed "
            "with this operator (no CRD); use spec.incomingAuth.authzConfig (type inline, or type "
            "configMap naming a ConfigMap with the Cedar config)"
        )
        raise IncomingAuthError(
            msg, condition(AUTHZ_CONFIG_REF_VALIDATED, False, "AuthzConfigRefError", msg)
        )
    # The MCPServer controller's loaders, given the parts of this spec they read.
    refs = SimpleNamespace(
        spec=SimpleNamespace(
            oidc_config_ref=incoming.oidc_config_ref,
            telemetry_config_ref=None,
            authz_config=incoming.authz_config,
        )
    )
    result = Incoming({"type": incoming.type})
    if incoming.type == "oidc" and incoming.oidc_config_ref is not None:
        ref = incoming.oidc_config_ref
        try:
            oidc, _, conds = load_protection_refs(kube, namespace, refs)
            resolved = resolve_oidc(ref, oidc, resource_url=gateway_url(name, namespace))
        except Invalid as exc:
            raise IncomingAuthError(str(exc), exc.condition) from None
        except ProtectionError as exc:
            raise IncomingAuthError(
                str(exc), condition(exc.condition_type, False, exc.reason, str(exc))
            ) from None
        assert oidc is not None  # load_protection_refs raised otherwise
        result.section["oidc"] = oidc_section(resolved)
        result.env = oidc_client_secret_env(oidc, OIDC_CLIENT_SECRET_ENV)
        result.oidc_hash = config_hash(oidc.spec.to_json())
        result.conditions += [
            {**c, "message": f"MCPOIDCConfig {ref.name} is valid and ready"} for c in conds
        ]
    if incoming.authz_config is not None:
        try:
            text = load_authz_configmap(kube, namespace, cast(Any, refs))
        except Invalid as exc:
            raise _authz_error(
                str(exc).replace("spec.authzConfig", "spec.incomingAuth.authzConfig"),
                "AuthzConfigMapNotFound",
            ) from None
        result.section["authz"] = authz_section(incoming.authz_config, text)
    result.conditions.append(
        condition(AUTH_CONFIGURED, True, "AuthValid", "Authentication configuration is valid")
    )
    return result


def gateway_url(name: str, namespace: str) -> str:
    """The gateway Service's URL (the status ``url``; the default OIDC resource)."""
    return f"http://{service_name(name)}.{namespace}.svc.cluster.local:{PORT}"


#: Where the gateway reads the Redis password (Go's ``RedisPasswordEnvVar``).
REDIS_PASSWORD_ENV = "THV_SESSION_REDIS_PASSWORD"


def session_storage(kube: Kube, vmcp: Obj) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """``spec.sessionStorage`` (else ``spec.config.sessionStorage``) as the config's section,
    and the env carrying ``passwordRef`` (never the ConfigMap). A Service host in ``address`` is
    replaced by its ClusterIP, as the members' URLs are (the pods need no cluster DNS)."""
    spec = vmcp.get("spec") or {}
    storage = spec.get("sessionStorage") or (spec.get("config") or {}).get("sessionStorage")
    if not storage or storage.get("provider") in (None, "", "memory"):
        return None, []
    if storage.get("provider") != "redis":
        raise SpecError(f"sessionStorage.provider {storage.get('provider')!r}: memory or redis")
    address = str(storage.get("address") or "")
    namespace = vmcp["metadata"]["namespace"]
    routed, problem = routable_url(kube, namespace, f"redis://{address}")
    if problem or not urlsplit(routed).port:
        raise SpecError(f"sessionStorage.address {address!r}: {problem or 'expected host:port'}")
    section: dict[str, Any] = {"provider": "redis", "address": urlsplit(routed).netloc}
    if storage.get("db"):
        section["db"] = int(storage["db"])
    if storage.get("keyPrefix"):
        section["keyPrefix"] = str(storage["keyPrefix"])
    env: list[dict[str, Any]] = []
    ref = storage.get("passwordRef")
    if ref:
        secret = {"name": ref["name"], "key": ref["key"]}
        env.append({"name": REDIS_PASSWORD_ENV, "valueFrom": {"secretKeyRef": secret}})
    return section, env


def vmcp_config(
    vmcp: Obj,
    group: str,
    backends: list[Backend],
    outgoing: Outgoing,
    storage: dict[str, Any] | None = None,
    *,
    incoming: dict[str, Any],
) -> dict[str, Any]:
    """The gateway's config file (ToolHive's format): ``spec.config`` with Go's converter's
    overrides and defaults, and the routable members as static ``backends``."""
    spec = vmcp.get("spec") or {}
    config: dict[str, Any] = copy.deepcopy(spec.get("config") or {})
    # spec.incomingAuth wins over config.incomingAuth (Go): never let the free-form config
    # replace the auth the spec asks for.
    for key in ("backends", "groupRef", "name", "sessionStorage", "incomingAuth"):
        config.pop(key, None)
    if config.get("compositeToolRefs"):
        raise SpecError("spec.config.compositeToolRefs is not supported by this operator yet")
    result: dict[str, Any] = {"name": vmcp["metadata"]["name"], "groupRef": group}
    result["backends"] = [
        {
            "name": b.name,
            "url": b.target,
            "transport": b.transport,
            **({"type": "entry"} if b.entry else {}),
        }
        for b in backends
        if b.target
    ]
    result["incomingAuth"] = incoming
    result["outgoingAuth"] = outgoing.section
    aggregation = copy.deepcopy(config.pop("aggregation", None) or {})
    aggregation.setdefault("conflictResolution", "prefix")
    if "conflictResolutionConfig" not in aggregation:
        aggregation["conflictResolutionConfig"] = (
            {"prefixFormat": "{workload}_"} if aggregation["conflictResolution"] == "prefix" else {}
        )
    result["aggregation"] = aggregation
    if storage is not None:
        result["sessionStorage"] = storage
    if spec.get("passthroughHeaders"):
        config["passthroughHeaders"] = list(spec["passthroughHeaders"])
    result.update(config)
    return result


def config_yaml(config: dict[str, Any]) -> str:
    return yaml.safe_dump(config, sort_keys=False, default_flow_style=False)
