"""VirtualMCPServer: our vMCP gateway over an MCPGroup's members, one endpoint for all of them.

As ToolHive's ``virtualmcpserver_controller.go`` in its *static* mode (``outgoingAuth.source:
inline``, which writes ``backends`` into the config): the operator finds the group's members —
MCPServers and MCPRemoteProxies naming the group in ``spec.groupRef``, plus MCPServerEntries — and
writes them as static ``backends`` next to ``spec.config`` into the ConfigMap ``<name>-vmcp-config``
(``config.yaml``, ToolHive's vMCP format, which ``thv vmcp serve`` reads unchanged). Here that is
the only mode: the gateway pod has no Kubernetes client of its own, so ``source: discovered`` is
resolved by the operator too (each member's ``externalAuthConfigRef`` becomes its
``outgoingAuth.backends`` entry).

A member is reached at its ``status.url`` with the host replaced by its Service's ClusterIP when the
host is a Service name (``mcp-x-proxy.ns.svc.cluster.local``): the gateway then needs no cluster
DNS. Members joining, leaving, changing URL or their Service changing re-reconcile; a new config
rolls the Deployment (its checksum is on the pod template).

``spec.incomingAuth`` (Go's ``convertIncomingAuth``): ``type: oidc`` resolves the MCPOIDCConfig
``oidcConfigRef`` names (as an MCPServer's, :func:`runconfig.resolve_oidc`) into the config's
``incomingAuth.oidc``; its client secret reaches the gateway as ``VMCP_OIDC_CLIENT_SECRET`` from the
Secret, never in the ConfigMap. ``authzConfig`` (inline policies or a ConfigMap's Cedar config)
becomes ``incomingAuth.authz`` (``type: cedar``); ``authzConfigRef`` is refused (no MCPAuthzConfig
CRD here). An MCPOIDCConfig or authz ConfigMap change rolls the gateway. Anything that cannot be
honoured — a missing MCPOIDCConfig, Secret or ConfigMap, a document that is not Cedar — leaves the
VirtualMCPServer ``Failed`` and deletes its gateway Deployment (fail closed).

Objects, with Go's names: ConfigMap ``<name>-vmcp-config``; Deployment ``<name>`` running ``thv vmcp
serve --config=/etc/vmcp-config/config.yaml --host=0.0.0.0 --port=4483`` from the proxy runner image
(``spec.replicas`` when set; otherwise the live count is left alone); Service ``vmcp-<name>``
(port 4483, ``serviceType``, ``sessionAffinity``: ClientIP unless set, as Go — with
``sessionStorage: redis`` and ``replicas > 1`` set ``None`` so new sessions spread and any replica
continues any session). Status: ``Pending`` (no pod ready, or the group
is not ready), ``Ready`` (a pod ready, every backend ready), ``Degraded`` (some backend not ready),
``Failed`` (a spec the gateway cannot run, a missing group, pods crash-looping), with ``url``,
``discoveredBackends`` and ``backendCount`` (routable backends) as Go.
"""

from __future__ import annotations

import copy
import hashlib
import ipaddress
import re
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, cast
from urllib.parse import urlsplit, urlunsplit

import yaml
from pydantic import ValidationError

from toolhive_runtime_kubernetes.crd.common import AuthzConfigRef
from toolhive_runtime_kubernetes.crd.vmcp import VirtualMCPServerSpec
from toolhive_runtime_kubernetes.operator.apply import apply_object
from toolhive_runtime_kubernetes.operator.framework import (
    API_VERSION,
    Context,
    Controller,
    Key,
    Result,
    controller_owner,
    delete_owned_deployment,
    owner_reference,
)
from toolhive_runtime_kubernetes.operator.group import group_ref, members
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
from toolhive_runtime_kubernetes.operator.status import (
    READY,
    condition,
    remove_condition,
    set_condition,
    write_status,
)
from toolhive_runtime_kubernetes.operator.toolconfig import config_hash

PORT = 4483
CONFIG_DIR = "/etc/vmcp-config"
CHECKSUM_ANNOTATION = "toolhive.stacklok.dev/vmcp-config-checksum"
GROUP_REF_VALIDATED = "GroupRefValidated"
#: Not ready yet: look again this soon (pods are not watched; Deployment events come too).
POLL_SECONDS = 5.0
#: Waiting reasons that mean the pod will not come up by itself.
BROKEN_WAITING = {
    "CrashLoopBackOff",
    "ErrImagePull",
    "ImagePullBackOff",
    "InvalidImageName",
    "CreateContainerConfigError",
    "CreateContainerError",
}
MEMBER_KINDS = ("MCPServer", "MCPRemoteProxy", "MCPServerEntry")


class SpecError(ValueError):
    """The VirtualMCPServer asks for something the gateway cannot run; the message says what."""


def config_map_name(name: str) -> str:
    return f"{name}-vmcp-config"


def service_name(name: str) -> str:
    return f"vmcp-{name}"


def labels(name: str) -> dict[str, str]:
    """Go's ``labelsForVirtualMCPServer`` (it already carries ``toolhive: "true"``)."""
    return {
        "app": "virtualmcpserver",
        "app.kubernetes.io/name": "virtualmcpserver",
        "app.kubernetes.io/instance": name,
        "toolhive": "true",
        "toolhive-name": name,
    }


# --- members -> backends -----------------------------------------------------------------------


@dataclass
class Backend:
    """One member as the gateway sees it."""

    name: str
    kind: str
    #: The member's own ``status.url`` (what the status reports).
    url: str
    #: Where the gateway connects ("" when the member is not routable yet).
    target: str
    transport: str
    #: ready | unavailable | unknown (Go's CRD backend statuses).
    health: str
    auth_ref: str = ""
    auth_type: str = ""
    message: str = ""
    entry: bool = False


def member_transport(member: Obj) -> str:
    """The transport the gateway speaks to a member: a stdio server's proxy mode, else its own."""
    spec = member.get("spec") or {}
    transport = str(spec.get("transport") or "")
    if member.get("kind") == "MCPServer":
        if transport in ("", "stdio"):
            return str(spec.get("proxyMode") or "streamable-http")
        return transport
    return transport or "streamable-http"


def member_health(member: Obj) -> str:
    """Go's ``mapK8SWorkloadPhaseToHealth`` in CRD terms (entries: Valid = ready)."""
    phase = str((member.get("status") or {}).get("phase") or "")
    if phase in ("Ready", "Valid"):
        return "ready"
    if phase in ("Failed", "Terminating", "Stopped"):
        return "unavailable"
    return "unknown"


def routable_url(kube: Kube, namespace: str, url: str) -> tuple[str, str]:
    """``url`` with a Service host (``svc``, ``svc.ns``, ``svc.ns.svc[.cluster.local]``) replaced
    by the Service's ClusterIP, and a problem ("" if none). IP hosts and outside names stay."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if not host:
        return "", f"URL {url!r} has no host"
    try:
        ipaddress.ip_address(host)
        return url, ""
    except ValueError:
        pass
    names = host.split(".")
    cluster_name = len(names) == 1 or (len(names) > 2 and names[2] == "svc")
    if len(names) > 2 and not cluster_name:
        return url, ""  # an outside name
    service, ns = names[0], names[1] if len(names) > 1 else namespace
    found = kube.get("v1", "Service", ns, service)
    if found is None:
        if cluster_name:
            return "", f"Service {ns}/{service} not found"
        return url, ""  # two labels and no such Service: an outside name such as example.com
    cluster_ip = str((found.get("spec") or {}).get("clusterIP") or "")
    if cluster_ip in ("", "None"):
        return "", f"Service {ns}/{service} has no ClusterIP"
    netloc = f"{cluster_ip}:{parts.port}" if parts.port else cluster_ip
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment)), ""


def backend_of(kube: Kube, member: Obj) -> Backend:
    kind = str(member["kind"])
    meta = member["metadata"]
    spec = member.get("spec") or {}
    entry = kind == "MCPServerEntry"
    url = (
        str(spec.get("remoteUrl") or "")
        if entry
        else str((member.get("status") or {}).get("url") or "")
    )
    target, problem = (
        routable_url(kube, meta.get("namespace", ""), url) if url else ("", "no URL yet")
    )
    health = member_health(member)
    if not target and health == "ready":
        health = "unknown"
    auth_ref = str(((spec.get("externalAuthConfigRef") or {}).get("name")) or "")
    return Backend(
        name=meta["name"],
        kind=kind,
        url=url,
        target=target,
        transport=member_transport(member),
        health=health,
        auth_ref=auth_ref,
        message=problem,
        entry=entry,
    )


# --- outgoing auth -----------------------------------------------------------------------------


@dataclass
class Outgoing:
    """The config's ``outgoingAuth`` and the environment it reads secrets from."""

    section: dict[str, Any]
    env: list[dict[str, Any]] = field(default_factory=list)
    #: Backend name -> (MCPExternalAuthConfig name, strategy type) for the status.
    used: dict[str, tuple[str, str]] = field(default_factory=dict)


def _env_name(prefix: str, config_name: str) -> str:
    return prefix + re.sub(r"[^A-Z0-9_]", "_", config_name.upper().replace("-", "_"))


def strategy_of(external: Obj, env: list[dict[str, Any]]) -> dict[str, Any]:
    """An MCPExternalAuthConfig as a vMCP outgoing strategy (Go's converters); secrets become
    environment variables filled from their Secret, never values in the ConfigMap."""
    name = external["metadata"]["name"]
    spec = external.get("spec") or {}
    kind = spec.get("type")

    def secret_env(prefix: str, ref: dict[str, Any]) -> str:
        var = _env_name(prefix, name)
        item = {
            "name": var,
            "valueFrom": {"secretKeyRef": {"name": ref["name"], "key": ref["key"]}},
        }
        if item not in env:
            env.append(item)
        return var

    if kind == "unauthenticated":
        return {"type": "unauthenticated"}
    if kind == "headerInjection":
        hi = spec.get("headerInjection") or {}
        ref = hi.get("valueSecretRef")
        if not hi.get("headerName") or not ref:
            raise SpecError(
                f"MCPExternalAuthConfig {name}: headerInjection needs headerName and valueSecretRef"
            )
        return {
            "type": "header_injection",
            "headerInjection": {
                "headerName": hi["headerName"],
                "headerValueEnv": secret_env("TOOLHIVE_HEADER_INJECTION_VALUE_", ref),
            },
        }
    if kind == "tokenExchange":
        te = spec.get("tokenExchange") or {}
        out: dict[str, Any] = {"tokenUrl": te.get("tokenUrl", "")}
        for key in ("clientId", "audience", "scopes", "subjectTokenType"):
            if te.get(key):
                out[key] = te[key]
        if te.get("clientSecretRef"):
            out["clientSecretEnv"] = secret_env(
                "TOOLHIVE_TOKEN_EXCHANGE_CLIENT_SECRET_", te["clientSecretRef"]
            )
        return {"type": "token_exchange", "tokenExchange": out}
    raise SpecError(
        f"MCPExternalAuthConfig {name}: type {kind!r} is not supported for VirtualMCPServer "
        "backends here (unauthenticated, headerInjection and tokenExchange are)"
    )


def outgoing_auth(kube: Kube, vmcp: Obj, backends: list[Backend]) -> Outgoing:
    """Go's ``convertOutgoingAuth`` plus discovery: ``discovered`` = each member's own ref."""
    namespace = vmcp["metadata"]["namespace"]
    spec_auth = (vmcp.get("spec") or {}).get("outgoingAuth") or {}
    source = spec_auth.get("source") or "discovered"
    result = Outgoing({"source": "inline"})
    cache: dict[str, Obj] = {}

    def external(ref_name: str) -> Obj:
        if ref_name not in cache:
            found = kube.get(API_VERSION, "MCPExternalAuthConfig", namespace, ref_name)
            if found is None:
                raise SpecError(f"MCPExternalAuthConfig {namespace}/{ref_name} not found")
            cache[ref_name] = found
        return cache[ref_name]

    def convert(where: str, auth: dict[str, Any]) -> tuple[dict[str, Any], str]:
        kind = auth.get("type")
        if kind == "discovered":
            return {"type": "unauthenticated"}, ""
        if kind == "externalAuthConfigRef":
            ref_name = str((auth.get("externalAuthConfigRef") or {}).get("name") or "")
            if not ref_name:
                raise SpecError(f"{where}.externalAuthConfigRef.name is required")
            return strategy_of(external(ref_name), result.env), ref_name
        raise SpecError(f"{where}.type must be one of discovered, externalAuthConfigRef")

    default = spec_auth.get("default")
    if default:
        result.section["default"] = convert("spec.outgoingAuth.default", default)[0]
    else:
        result.section["default"] = {"type": "unauthenticated"}
    per_backend: dict[str, Any] = {}
    if source == "discovered":
        for b in backends:
            if b.auth_ref:
                strategy = strategy_of(external(b.auth_ref), result.env)
                per_backend[b.name] = strategy
                result.used[b.name] = (b.auth_ref, str(strategy["type"]))
    for name, auth in sorted((spec_auth.get("backends") or {}).items()):
        strategy, ref_name = convert(f"spec.outgoingAuth.backends.{name}", auth)
        per_backend[name] = strategy
        result.used[name] = (ref_name, str(strategy["type"]))
    if per_backend:
        result.section["backends"] = per_backend
    return result


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


def checksum(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


# --- desired objects ---------------------------------------------------------------------------


def _meta(vmcp: Obj, name: str) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": vmcp["metadata"]["namespace"],
        "labels": labels(vmcp["metadata"]["name"]),
        "ownerReferences": [owner_reference(vmcp)],
    }


def desired_config_map(vmcp: Obj, text: str) -> Obj:
    meta = _meta(vmcp, config_map_name(vmcp["metadata"]["name"]))
    meta["annotations"] = {CHECKSUM_ANNOTATION: checksum(text)}
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": meta,
        "data": {"config.yaml": text},
    }


def desired_deployment(
    vmcp: Obj,
    text: str,
    image: str,
    env: list[dict[str, Any]],
    pull_policy: str = "IfNotPresent",
) -> Obj:
    name = vmcp["metadata"]["name"]
    spec = vmcp.get("spec") or {}
    debug = ((spec.get("config") or {}).get("operational") or {}).get("logLevel") == "debug"
    container: dict[str, Any] = {
        "name": "vmcp",
        "image": image,
        "imagePullPolicy": pull_policy,
        # The image's entrypoint is thv-proxyrunner; the gateway is core's `thv vmcp serve`.
        "command": [
            "thv",
            *(["--debug"] if debug else []),
            "vmcp",
            "serve",
            f"--config={CONFIG_DIR}/config.yaml",
            "--host=0.0.0.0",
            f"--port={PORT}",
        ],
        "ports": [{"name": "http", "containerPort": PORT, "protocol": "TCP"}],
        "volumeMounts": [{"name": "vmcp-config", "mountPath": CONFIG_DIR, "readOnly": True}],
        # /health answers once the gateway started (its backends tried), 503 if it cannot serve.
        "readinessProbe": {"httpGet": {"path": "/health", "port": "http"}, "periodSeconds": 2},
        "livenessProbe": {
            "tcpSocket": {"port": "http"},
            "initialDelaySeconds": 30,
            "periodSeconds": 10,
        },
        "resources": {
            "requests": {"cpu": "100m", "memory": "128Mi"},
            "limits": {"cpu": "500m", "memory": "512Mi"},
        },
    }
    if env:
        container["env"] = env
    pod: dict[str, Any] = {
        "containers": [container],
        "volumes": [{"name": "vmcp-config", "configMap": {"name": config_map_name(name)}}],
        "terminationGracePeriodSeconds": 30,
    }
    if spec.get("serviceAccount"):
        pod["serviceAccountName"] = spec["serviceAccount"]
    if spec.get("imagePullSecrets"):
        pod["imagePullSecrets"] = spec["imagePullSecrets"]
    deployment_spec: dict[str, Any] = {
        "selector": {"matchLabels": labels(name)},
        "template": {
            "metadata": {
                "labels": labels(name),
                "annotations": {CHECKSUM_ANNOTATION: checksum(text)},
            },
            "spec": pod,
        },
    }
    if spec.get("replicas") is not None:
        deployment_spec["replicas"] = int(spec["replicas"])
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(vmcp, name),
        "spec": deployment_spec,
    }


def desired_service(vmcp: Obj) -> Obj:
    name = vmcp["metadata"]["name"]
    spec = vmcp.get("spec") or {}
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(vmcp, service_name(name)),
        "spec": {
            "type": spec.get("serviceType") or "ClusterIP",
            "sessionAffinity": spec.get("sessionAffinity") or "ClientIP",
            "selector": labels(name),
            "ports": [{"name": "http", "port": PORT, "targetPort": PORT, "protocol": "TCP"}],
        },
    }


# --- status ------------------------------------------------------------------------------------


def discovered(backends: list[Backend], outgoing: Outgoing | None) -> list[dict[str, Any]]:
    out = []
    for b in backends:
        item: dict[str, Any] = {"name": b.name, "url": b.url, "status": b.health}
        ref, kind = (outgoing.used.get(b.name) if outgoing else None) or ("", "")
        if ref:
            item["authConfigRef"] = ref
        if kind:
            item["authType"] = kind
        if b.message:
            item["message"] = b.message
        out.append(item)
    return out


def pods_broken(kube: Kube, vmcp: Obj) -> str:
    """Why the gateway's pods cannot come up ("" when none is stuck)."""
    meta = vmcp["metadata"]
    for pod in kube.list("v1", "Pod", meta["namespace"], labels(meta["name"])):
        for cs in (pod.get("status") or {}).get("containerStatuses") or []:
            waiting = (cs.get("state") or {}).get("waiting") or {}
            if waiting.get("reason") in BROKEN_WAITING:
                return f"pod {pod['metadata']['name']}: {waiting['reason']}: {waiting.get('message', '')}".rstrip(
                    ": "
                )
    return ""


def vmcp_status(
    vmcp: Obj,
    *,
    phase: str | None = None,
    message: str = "",
    group_ok: tuple[bool, str, str] | None = None,
    deployment: Obj | None = None,
    backends: list[Backend] | None = None,
    outgoing: Outgoing | None = None,
    broken: str = "",
) -> dict[str, Any]:
    """Go's status decision (``determineStatusFromPods`` then ``determineStatusFromBackends``);
    ``phase`` given: that phase with ``message`` (validation, group problems)."""
    meta = vmcp["metadata"]
    generation = meta.get("generation")
    status = dict(vmcp.get("status") or {})
    status["observedGeneration"] = generation
    conditions = status.get("conditions")
    if group_ok is not None:
        ok, reason, text = group_ok
        conditions = set_condition(
            conditions, condition(GROUP_REF_VALIDATED, ok, reason, text, generation)
        )
    backends = backends or []
    status["discoveredBackends"] = discovered(backends, outgoing)
    routable = sum(1 for b in backends if b.health == "ready" and b.target)
    status["backendCount"] = routable
    ready_pods = int(((deployment or {}).get("status") or {}).get("readyReplicas") or 0)
    if phase is None:
        if ready_pods == 0:
            if broken:
                phase, message, reason = (
                    "Failed",
                    f"Virtual MCP server failed to start: {broken}",
                    "DeploymentFailed",
                )
            else:
                phase, message, reason = (
                    "Pending",
                    "Virtual MCP server is starting",
                    "DeploymentNotReady",
                )
        elif not backends:
            phase, message, reason = "Ready", "Virtual MCP server is running", "DeploymentReady"
        elif routable == 0:
            phase, reason = "Degraded", "BackendsUnavailable"
            message = (
                f"Virtual MCP server is running but all {len(backends)} backends are unhealthy"
            )
        elif routable < len(backends):
            phase, reason = "Degraded", "BackendsDegraded"
            message = (
                f"Virtual MCP server is running with {routable}/{len(backends)} backends available"
            )
        else:
            phase, message, reason = "Ready", "Virtual MCP server is running", "DeploymentReady"
    else:
        reason = "DeploymentFailed" if phase == "Failed" else "DeploymentNotReady"
    status["phase"] = phase
    status["message"] = message
    if phase in ("Ready", "Degraded"):
        status["url"] = gateway_url(meta["name"], meta["namespace"])
    conditions = set_condition(
        conditions, condition(READY, phase == "Ready", reason, message, generation)
    )
    conditions = set_condition(conditions, session_storage_warning(vmcp, generation))
    status["conditions"] = conditions
    return status


def session_storage_warning(vmcp: Obj, generation: int | None) -> dict[str, Any]:
    """Go's advisory ``SessionStorageWarning``: True when replicas > 1 share no sessions."""
    spec = vmcp.get("spec") or {}
    storage = spec.get("sessionStorage") or (spec.get("config") or {}).get("sessionStorage") or {}
    if int(spec.get("replicas") or 0) <= 1:
        return condition(
            "SessionStorageWarning",
            False,
            "SessionStorageWarningNotApplicable",
            "session storage warning is not active",
            generation,
        )
    if storage.get("provider") != "redis":
        return condition(
            "SessionStorageWarning",
            True,
            "SessionStorageMissingForReplicas",
            "replicas > 1 but sessionStorage.provider is not redis; "
            "sessions are not shared across replicas",
            generation,
        )
    return condition(
        "SessionStorageWarning",
        False,
        "SessionStorageConfigured",
        "Redis session storage is configured",
        generation,
    )


def with_auth(
    vmcp: Obj, status: dict[str, Any], conds: list[dict[str, Any]], oidc_hash: str = ""
) -> dict[str, Any]:
    """``status`` with the incoming-auth conditions ``conds`` (the others of
    :data:`AUTH_CONDITIONS` dropped) and ``oidcConfigHash`` (Go's: the MCPOIDCConfig's
    ``configHash`` while the gateway runs from it)."""
    generation = vmcp["metadata"].get("generation")
    conditions = list(status.get("conditions") or [])
    wanted = {c["type"] for c in conds}
    for kind in AUTH_CONDITIONS:
        if kind not in wanted:
            conditions = remove_condition(conditions, kind)
    for cond in conds:  # the previous entry keeps its lastTransitionTime when unchanged
        conditions = set_condition(conditions, {**cond, "observedGeneration": generation})
    status = {**status, "conditions": conditions}
    status.pop("oidcConfigHash", None)
    if oidc_hash:
        status["oidcConfigHash"] = oidc_hash
    return status


# --- the controller ----------------------------------------------------------------------------


def spec_problems(vmcp: Obj) -> str:
    try:
        VirtualMCPServerSpec.model_validate(vmcp.get("spec") or {})
    except ValidationError as exc:
        return "; ".join(
            f"spec.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
    return ""


class VirtualMCPServerController(Controller):
    """Reconciles a VirtualMCPServer into its config, gateway Deployment and Service."""

    kind = "VirtualMCPServer"
    plural = "virtualmcpservers"
    owns = ("ConfigMap", "Deployment", "Service")

    def reconcile(self, ctx: Context, obj: Obj) -> Result | None:
        kube = ctx.kube
        key = Key.of(obj)
        problem = spec_problems(obj)
        if problem:
            if asks_for_protection(obj):
                # Fail closed: the gateway of an earlier spec must not serve without it.
                delete_owned_deployment(kube, obj)
            write_status(kube, obj, vmcp_status(obj, phase="Failed", message=problem))
            return None
        group_name = str(obj["spec"]["groupRef"]["name"])
        group_key = Key("MCPGroup", key.namespace, group_name)
        group = kube.get(API_VERSION, "MCPGroup", key.namespace, group_name)
        found = members(kube, key.namespace, group_name) if group is not None else {}
        member_objs = [o for kind in MEMBER_KINDS for o in found.get(kind, [])]
        refs = [group_key, *(Key.of(o) for o in member_objs), *incoming_refs(obj)]
        refs += [
            Key("MCPExternalAuthConfig", key.namespace, str(r["name"]))
            for o in member_objs
            if (r := (o.get("spec") or {}).get("externalAuthConfigRef"))
        ]
        ctx.index.record(key, refs)
        try:
            incoming = incoming_auth(kube, obj)
        except IncomingAuthError as exc:
            # Fail closed: no gateway serves without the auth the spec asks for.
            delete_owned_deployment(kube, obj)
            failed = vmcp_status(obj, phase="Failed", message=str(exc))
            write_status(kube, obj, with_auth(obj, failed, [exc.condition]))
            return None
        if group is None or (group.get("status") or {}).get("phase") != "Ready":
            # No new config is written while the group is not there: a gateway still running
            # an earlier incomingAuth goes (fail closed), one with the same auth keeps serving.
            self._drop_stale_gateway(kube, obj, incoming.section)
        if group is None:
            text = f"MCPGroup {group_name} not found"
            status = vmcp_status(
                obj, phase="Failed", message=text, group_ok=(False, "GroupRefNotFound", text)
            )
            write_status(kube, obj, with_auth(obj, status, incoming.conditions, incoming.oidc_hash))
            return None
        group_phase = (group.get("status") or {}).get("phase")
        if group_phase != "Ready":
            text = f"MCPGroup {group_name} is not ready (phase {group_phase or 'unset'})"
            status = vmcp_status(
                obj, phase="Pending", message=text, group_ok=(False, "GroupRefNotReady", text)
            )
            write_status(kube, obj, with_auth(obj, status, incoming.conditions, incoming.oidc_hash))
            return Result(requeue_after=POLL_SECONDS)
        group_ok = (True, "GroupRefValid", f"MCPGroup {group_name} is valid and ready")
        backends = sorted((backend_of(kube, o) for o in member_objs), key=lambda b: b.name)
        try:
            outgoing = outgoing_auth(kube, obj, backends)
            storage, storage_env = session_storage(kube, obj)
            config = vmcp_config(
                obj, group_name, backends, outgoing, storage, incoming=incoming.section
            )
        except SpecError as exc:
            self._drop_stale_gateway(kube, obj, incoming.section)
            status = vmcp_status(
                obj, phase="Failed", message=str(exc), group_ok=group_ok, backends=backends
            )
            write_status(kube, obj, with_auth(obj, status, incoming.conditions, incoming.oidc_hash))
            return None
        text = config_yaml(config)
        settings = ctx.settings
        apply_object(kube, desired_config_map(obj, text))
        deployment = apply_object(
            kube,
            desired_deployment(
                obj,
                text,
                settings.runner_image,
                incoming.env + outgoing.env + storage_env,
                settings.image_pull_policy,
            ),
        ).obj
        apply_object(kube, desired_service(obj))
        ready = int((deployment.get("status") or {}).get("readyReplicas") or 0)
        broken = pods_broken(kube, obj) if ready == 0 else ""
        status = vmcp_status(
            obj,
            group_ok=group_ok,
            deployment=deployment,
            backends=backends,
            outgoing=outgoing,
            broken=broken,
        )
        write_status(kube, obj, with_auth(obj, status, incoming.conditions, incoming.oidc_hash))
        return Result(requeue_after=POLL_SECONDS) if status["phase"] != "Ready" else None

    @staticmethod
    def _drop_stale_gateway(kube: Kube, obj: Obj, incoming: dict[str, Any]) -> None:
        """Delete the gateway when its config (not rewritten this pass) has other incomingAuth."""
        live = kube.get(
            "v1",
            "ConfigMap",
            obj["metadata"]["namespace"],
            config_map_name(obj["metadata"]["name"]),
        )
        if live is None:
            return
        try:
            running = yaml.safe_load((live.get("data") or {}).get("config.yaml") or "") or {}
        except yaml.YAMLError:
            running = {}
        if not isinstance(running, dict) or running.get("incomingAuth") != incoming:
            delete_owned_deployment(kube, obj)

    def map_event(self, ctx: Context, obj: Obj) -> list[Key]:
        kind = obj.get("kind", "")
        meta = obj.get("metadata") or {}
        namespace = meta.get("namespace", "")
        keys: list[Key] = []
        if obj.get("apiVersion") == API_VERSION and kind in (
            *MEMBER_KINDS,
            "MCPGroup",
            "MCPExternalAuthConfig",
            "MCPOIDCConfig",
        ):
            keys += ctx.index.referrers(Key.of(obj), kind=self.kind)
            if kind in MEMBER_KINDS and (name := group_ref(obj)):
                keys += ctx.index.referrers(Key("MCPGroup", namespace, name), kind=self.kind)
        elif kind == "ConfigMap" and obj.get("apiVersion") == "v1":
            # An authz ConfigMap named by spec.incomingAuth.authzConfig (watched with the label
            # toolhive=true; without it the resync picks a change up).
            keys += ctx.index.referrers(Key.of(obj), kind=self.kind)
        elif kind == "Service":
            # A member's Service (re)created: its ClusterIP is where the gateway connects.
            owner = controller_owner(obj)
            if owner is not None and owner[0] == API_VERSION and owner[1] in MEMBER_KINDS:
                keys += ctx.index.referrers(Key(owner[1], namespace, owner[2]), kind=self.kind)
        return sorted(set(keys))


__all__ = [
    "VirtualMCPServerController",
    "desired_config_map",
    "desired_deployment",
    "desired_service",
    "routable_url",
    "vmcp_config",
    "vmcp_status",
]
