"""MCPToolConfig, MCPExternalAuthConfig, MCPOIDCConfig, MCPTelemetryConfig: shared config
objects referenced by workloads.

Their own reconcile only writes ``status.configHash`` (and the ``Valid`` condition) and, on
deletion, holds the object while a workload still references it (Go's ``DeletionBlocked``). The
rollout when one changes comes from the workloads: an event on a config object re-enqueues every
MCPServer / MCPRemoteProxy / VirtualMCPServer that references it (``RefIndex``; the
VirtualMCPServer's MCPOIDCConfig via ``spec.incomingAuth.oidcConfigRef``), whose RunConfig or vMCP
config — and so its checksum on the pod template — changes.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, ClassVar

from pydantic import ValidationError

from toolhive_runtime_kubernetes.crd.common import CustomResource
from toolhive_runtime_kubernetes.crd.oidc_config import MCPOIDCConfig
from toolhive_runtime_kubernetes.crd.telemetry_config import MCPTelemetryConfig
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

    #: With a model: the spec is checked (Go's ``Validate``), ``Valid`` False with why if not.
    model: ClassVar[type[CustomResource] | None] = None
    valid_reasons: ClassVar[tuple[str, str]] = ("ValidationSucceeded", "ValidationFailed")

    def problem(self, obj: Obj) -> str | None:
        """Why the spec is invalid, or None."""
        if self.model is None:
            return None
        try:
            self.model.model_validate(obj)
        except ValidationError as exc:
            return status.spec_error(exc)
        return None

    def hashed_spec(self, obj: Obj, problem: str | None) -> dict[str, Any]:
        """The spec as the workloads hash it (with the model's defaults, when there is one)."""
        if self.model is None or problem is not None:
            return dict(obj.get("spec") or {})
        spec: dict[str, Any] = self.model.model_validate(obj).to_json().get("spec") or {}
        return spec

    def reconcile(self, ctx: Context, obj: Obj) -> Result | None:
        generation = obj["metadata"].get("generation")
        problem = self.problem(obj)
        ok_reason, bad_reason = self.valid_reasons
        valid = (
            status.condition(VALID, True, ok_reason, "Spec validation passed", generation)
            if problem is None
            else status.condition(VALID, False, bad_reason, problem, generation)
        )
        conditions = status.set_condition(
            status.remove_condition((obj.get("status") or {}).get("conditions"), DELETION_BLOCKED),
            valid,
        )
        status.write_status(
            ctx.kube,
            obj,
            {
                "configHash": config_hash(self.hashed_spec(obj, problem)),
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


class MCPOIDCConfigController(ConfigObjectController):
    kind = "MCPOIDCConfig"
    plural = "mcpoidcconfigs"
    finalizer = "mcpoidcconfig.toolhive.stacklok.dev/finalizer"
    model = MCPOIDCConfig
    valid_reasons = ("ConfigValid", "ConfigInvalid")


class MCPTelemetryConfigController(ConfigObjectController):
    kind = "MCPTelemetryConfig"
    plural = "mcptelemetryconfigs"
    finalizer = "mcptelemetryconfig.toolhive.stacklok.dev/finalizer"
    model = MCPTelemetryConfig

    def problem(self, obj: Obj) -> str | None:
        found = super().problem(obj)
        if found is not None:
            return found
        # Go's Validate beyond the CEL rules: what would fail only when a proxy starts.
        otel = (obj.get("spec") or {}).get("openTelemetry") or {}
        signals = (otel.get("tracing") or {}).get("enabled") or (otel.get("metrics") or {}).get(
            "enabled"
        )
        if otel.get("endpoint") and not signals:
            return "endpoint requires at least one of tracing or metrics to be enabled"
        if otel.get("caBundleRef") and otel.get("insecure"):
            return (
                "openTelemetry.caBundleRef cannot be specified when insecure is true; "
                "they are mutually exclusive"
            )
        return None
