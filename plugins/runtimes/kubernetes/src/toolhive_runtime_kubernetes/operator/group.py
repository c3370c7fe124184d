"""MCPGroup: status only — which MCPServers, MCPRemoteProxies and MCPServerEntries name it.

As ToolHive's ``mcpgroup_controller.go``: membership is each workload's ``spec.groupRef.name``
(same namespace); the group's status lists the members' names (sorted) and counts them, phase
``Ready`` with the ``MCPServersChecked`` condition, or ``Failed`` with the lists cleared when
listing fails. A member that joins, leaves or is deleted re-reconciles its group (``map_event``;
a member that moved to another group is found through the reference index).

ToolHive's MCPGroup finalizer only marks the members' ``GroupRefValidated`` condition on deletion;
here the group keeps no finalizer and, once gone, its former members are re-enqueued instead, so
their own reconcilers tell the truth about the missing group.
"""

from __future__ import annotations

from typing import Any

from toolhive_runtime_kubernetes.operator.framework import (
    API_VERSION,
    Context,
    Controller,
    Key,
    Result,
)
from toolhive_runtime_kubernetes.operator.kube import Kube, KubeError, Obj
from toolhive_runtime_kubernetes.operator.status import condition, set_condition, write_status

#: Member kinds and the status fields that list them (name list, count).
MEMBER_KINDS: dict[str, tuple[str, str]] = {
    "MCPServer": ("servers", "serverCount"),
    "MCPRemoteProxy": ("remoteProxies", "remoteProxyCount"),
    "MCPServerEntry": ("entries", "entryCount"),
}

CHECKED = "MCPServersChecked"
REASON_LISTED = "ListMCPServersCheckSucceeded"
REASON_LIST_FAILED = "ListMCPServersCheckFailed"


def group_ref(obj: Obj) -> str:
    """The MCPGroup a workload names (``spec.groupRef.name``; v1alpha1's plain string too)."""
    ref = (obj.get("spec") or {}).get("groupRef")
    if isinstance(ref, dict):
        return str(ref.get("name") or "")
    return str(ref or "")


def members(kube: Kube, namespace: str, group: str) -> dict[str, list[Obj]]:
    """Every member of ``group``, by kind. Raises :class:`KubeError` when a list fails."""
    return {
        kind: [o for o in kube.list(API_VERSION, kind, namespace) if group_ref(o) == group]
        for kind in MEMBER_KINDS
    }


def group_status(group: Obj, found: dict[str, list[Obj]]) -> dict[str, Any]:
    """The status of ``group`` with these members (Go's ``updateGroupMemberStatus``)."""
    status = dict(group.get("status") or {})
    generation = group["metadata"].get("generation")
    for kind, (names_field, count_field) in MEMBER_KINDS.items():
        names = sorted(o["metadata"]["name"] for o in found.get(kind, []))
        status[names_field] = names
        status[count_field] = len(names)
    status["phase"] = "Ready"
    status["observedGeneration"] = generation
    status["conditions"] = set_condition(
        status.get("conditions"),
        condition(
            CHECKED,
            True,
            REASON_LISTED,
            "Successfully listed MCPServers, MCPRemoteProxies, and MCPServerEntries in namespace",
            generation,
        ),
    )
    return status


def failed_status(group: Obj, what: str) -> dict[str, Any]:
    """Listing failed: phase Failed, the member lists cleared (no stale data), as Go."""
    status = dict(group.get("status") or {})
    generation = group["metadata"].get("generation")
    for names_field, count_field in MEMBER_KINDS.values():
        status.pop(names_field, None)
        status[count_field] = 0
    status["phase"] = "Failed"
    status["observedGeneration"] = generation
    status["conditions"] = set_condition(
        status.get("conditions"),
        condition(
            CHECKED, False, REASON_LIST_FAILED, f"Failed to list {what} in namespace", generation
        ),
    )
    return status


class MCPGroupController(Controller):
    """Reconciles MCPGroup status from its members."""

    kind = "MCPGroup"
    plural = "mcpgroups"

    def reconcile(self, ctx: Context, obj: Obj) -> Result | None:
        key = Key.of(obj)
        try:
            found = members(ctx.kube, key.namespace, key.name)
        except KubeError:
            what = "MCPServers, MCPRemoteProxies and MCPServerEntries"
            write_status(ctx.kube, obj, failed_status(obj, what))
            raise  # retried with backoff
        # The group references its members: one that leaves (groupRef changed) re-enqueues it.
        ctx.index.record(key, [Key.of(o) for objs in found.values() for o in objs])
        write_status(ctx.kube, obj, group_status(obj, found))
        return None

    def map_event(self, ctx: Context, obj: Obj) -> list[Key]:
        kind = obj.get("kind", "")
        if kind not in MEMBER_KINDS or obj.get("apiVersion") != API_VERSION:
            return []
        namespace = obj["metadata"].get("namespace", "")
        keys = ctx.index.referrers(Key.of(obj), kind=self.kind)  # its group until now
        if name := group_ref(obj):
            keys.append(Key(self.kind, namespace, name))
        return sorted(set(keys))


__all__ = ["MCPGroupController", "group_ref", "group_status", "members"]
