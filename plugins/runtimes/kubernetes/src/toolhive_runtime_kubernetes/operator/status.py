"""Status of our custom resources: conditions as metav1.Condition, written only when changed."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from toolhive_runtime_kubernetes.operator.kube import Kube, Obj, ref

#: Condition types and reasons shared with ToolHive (``api/v1beta1/conditions.go``).
READY = "Ready"
REASON_READY = "Ready"
REASON_NOT_READY = "NotReady"


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def condition(
    type_: str, ok: bool | str, reason: str, message: str, generation: int | None = None
) -> dict[str, Any]:
    """A condition without its transition time (:func:`set_condition` adds it)."""
    status = ok if isinstance(ok, str) else ("True" if ok else "False")
    cond: dict[str, Any] = {"type": type_, "status": status, "reason": reason, "message": message}
    if generation is not None:
        cond["observedGeneration"] = generation
    return cond


def set_condition(
    conditions: list[dict[str, Any]] | None, new: dict[str, Any], now: str | None = None
) -> list[dict[str, Any]]:
    """Conditions with ``new`` set; ``lastTransitionTime`` moves only when the status changes."""
    out = [copy.deepcopy(c) for c in conditions or [] if c.get("type") != new["type"]]
    old = next((c for c in conditions or [] if c.get("type") == new["type"]), None)
    cond = dict(new)
    if old is not None and old.get("status") == new["status"] and old.get("lastTransitionTime"):
        cond["lastTransitionTime"] = old["lastTransitionTime"]
    else:
        cond["lastTransitionTime"] = now or now_rfc3339()
    out.append(cond)
    return sorted(out, key=lambda c: c["type"])


def remove_condition(conditions: list[dict[str, Any]] | None, type_: str) -> list[dict[str, Any]]:
    return [c for c in conditions or [] if c.get("type") != type_]


def get_condition(obj: Obj, type_: str) -> dict[str, Any] | None:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == type_:
            return dict(cond)
    return None


def spec_error(exc: Any) -> str:
    """A pydantic ValidationError as one line: where, and what (the CRD model's message, which
    for Go's CEL rules is Go's text — the 1.20 API server cannot enforce those itself)."""
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first.get("loc", ()))
    message = str(first.get("msg", "invalid")).removeprefix("Value error, ")
    return f"{where}: {message}" if where else message


def _normal(value: Any) -> Any:
    """Compare conditions in any order; drop empty values the API server would not keep."""
    if isinstance(value, dict):
        out = {k: _normal(v) for k, v in value.items() if v not in (None, "", [], {})}
        if "conditions" in out and isinstance(out["conditions"], list):
            out["conditions"] = sorted(out["conditions"], key=lambda c: str(c.get("type")))
        return out
    if isinstance(value, list):
        return [_normal(v) for v in value]
    return value


def write_status(kube: Kube, obj: Obj, status: dict[str, Any]) -> bool:
    """Make ``obj``'s status exactly ``status``; no write when it already is. True if written.

    Empty values (``""``, ``0`` is kept, ``[]``, ``{}``, None) are left out, as Go's ``omitempty``.
    """
    current = _normal(obj.get("status") or {})
    wanted = _normal(status)
    if current == wanted:
        return False
    patch: dict[str, Any] = dict(wanted)
    for key in current:
        if key not in wanted:
            patch[key] = None
    api_version, kind, namespace, name = ref(obj)
    updated = kube.patch(api_version, kind, namespace, name, {"status": patch}, status=True)
    obj["status"] = updated.get("status", wanted)
    if "resourceVersion" in updated.get("metadata", {}):
        obj["metadata"]["resourceVersion"] = updated["metadata"]["resourceVersion"]
    return True


def failure_conditions(
    conditions: list[dict[str, Any]],
    extra: dict[str, Any] | None,
    reason: str,
    message: str,
    generation: int | None,
) -> list[dict[str, Any]]:
    """``conditions`` with ``extra`` (the condition saying what failed, if any) and Ready=False."""
    if extra is not None:
        conditions = set_condition(conditions, {**extra, "observedGeneration": generation})
    return set_condition(conditions, condition(READY, False, reason, message, generation))
