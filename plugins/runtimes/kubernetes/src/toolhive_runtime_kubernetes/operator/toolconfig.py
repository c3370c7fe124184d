"""MCPToolConfig and MCPExternalAuthConfig: shared config objects referenced by workloads.

Their own reconcile only writes ``status.configHash`` (and the ``Valid`` condition) and, on
deletion, holds the object while a workload still references it (Go's ``DeletionBlocked``). The
rollout when one changes comes from the workloads: an event on a config object re-enqueues every
MCPServer / MCPRemoteProxy that references it (``RefIndex``), whose RunConfig — and so its
checksum on the proxy pod template — changes.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from toolhive_runtime_kubernetes.operator import status
from toolhive_runtime_kubernetes.operator.framework import Context, Controller, Key, Result
from toolhive_runtime_kubernetes.operator.kube import Obj

VALID = "Valid"
DELETION_BLOCKED = "DeletionBlocked"
#: Kinds whose reconcile records references to config objects.
WORKLOAD_KINDS = ("MCPServer", "MCPRemoteProxy", "VirtualMCPServer")


def config_hash(spec: dict[str, Any]) -> str:
    """A stable hash of a config object's spec (Go writes an FNV of its own dump; ours differs
    in value, not in use: it changes exactly when the spec does)."""
    canonical = json.dumps(spec, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


class ConfigObjectController(Controller):
    """configHash in the status; deletion held while referenced."""

    def reconcile(self, ctx: Context, obj: Obj) -> Result | None:
        generation = obj["metadata"].get("generation")
        conditions = status.set_condition(
            status.remove_condition((obj.get("status") or {}).get("conditions"), DELETION_BLOCKED),
            status.condition(
                VALID, True, "ValidationSucceeded", "Spec validation passed", generation
            ),
        )
        status.write_status(
            ctx.kube,
            obj,
            {
                "configHash": config_hash(obj.get("spec") or {}),
                "observedGeneration": generation,
                "conditions": conditions,
            },
        )
        return None

    def finalize(self, ctx: Context, obj: Obj) -> Result | None:
        users = [k for k in ctx.index.referrers(Key.of(obj)) if k.kind in WORKLOAD_KINDS]
        if not users:
            return None
        names = ", ".join(f"{k.kind}/{k.name}" for k in users)
        conditions = status.set_condition(
            (obj.get("status") or {}).get("conditions"),
            status.condition(
                DELETION_BLOCKED,
                True,
                "ReferencedByWorkloads",
                f"Cannot delete: referenced by workloads: {names}",
                obj["metadata"].get("generation"),
            ),
        )
        status.write_status(ctx.kube, obj, {**(obj.get("status") or {}), "conditions": conditions})
        return Result(requeue_after=30.0)


class MCPToolConfigController(ConfigObjectController):
    kind = "MCPToolConfig"
    plural = "mcptoolconfigs"
    finalizer = "toolhive.stacklok.dev/toolconfig-finalizer"


class MCPExternalAuthConfigController(ConfigObjectController):
    kind = "MCPExternalAuthConfig"
    plural = "mcpexternalauthconfigs"
    finalizer = "mcpexternalauthconfig.toolhive.stacklok.dev/finalizer"
