"""VirtualMCPServer: its group's members as the gateway's backends, and their outgoing auth.

A member (MCPServer, MCPRemoteProxy, MCPServerEntry) becomes a :class:`Backend` reached at its URL
with a Service host replaced by the ClusterIP (:func:`routable_url`); ``spec.outgoingAuth`` and the
members' ``externalAuthConfigRef`` become the config's ``outgoingAuth`` (:func:`outgoing_auth`).
:class:`SpecError` is raised here and by the gateway config for a spec the gateway cannot run.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from toolhive_runtime_kubernetes.operator.framework import API_VERSION
from toolhive_runtime_kubernetes.operator.kube import Kube, Obj


class SpecError(ValueError):
    """The VirtualMCPServer asks for something the gateway cannot run; the message says what."""


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
