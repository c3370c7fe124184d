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

This module holds the controller and the status; the steps live beside it: ``vmcp_backends.py``
(members → backends, outgoing auth), ``vmcp_gateway_config.py`` (incoming auth, the gateway's
config) and ``vmcp_objects.py`` (object names, labels, the desired ConfigMap/Deployment/Service).
"""

from __future__ import annotations

from typing import Any

import yaml
from pydantic import ValidationError

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
)
from toolhive_runtime_kubernetes.operator.group import group_ref, members
from toolhive_runtime_kubernetes.operator.kube import Kube, Obj
from toolhive_runtime_kubernetes.operator.status import (
    READY,
    condition,
    remove_condition,
    set_condition,
    write_status,
)
from toolhive_runtime_kubernetes.operator.vmcp_backends import (
    Backend,
    Outgoing,
    SpecError,
    backend_of,
    outgoing_auth,
    routable_url,
)
from toolhive_runtime_kubernetes.operator.vmcp_gateway_config import (
    AUTH_CONDITIONS,
    OIDC_CLIENT_SECRET_ENV,
    IncomingAuthError,
    asks_for_protection,
    config_yaml,
    gateway_url,
    incoming_auth,
    incoming_refs,
    session_storage,
    vmcp_config,
)
from toolhive_runtime_kubernetes.operator.vmcp_objects import (
    CHECKSUM_ANNOTATION,
    config_map_name,
    desired_config_map,
    desired_deployment,
    desired_service,
    labels,
)

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


# What other modules and the tests import from here (some re-exported from the vmcp_* modules).
__all__ = [
    "CHECKSUM_ANNOTATION",
    "OIDC_CLIENT_SECRET_ENV",
    "VirtualMCPServerController",
    "desired_config_map",
    "desired_deployment",
    "desired_service",
    "routable_url",
    "vmcp_config",
    "vmcp_status",
]
