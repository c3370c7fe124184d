"""An in-memory API server for the operator's unit tests — a fake, and only that.

The reconcile logic must be testable where no cluster runs (every CI machine, a laptop), so this
stands in for kube-apiserver's object store: resourceVersion bumped on every real write and only
then, ``metadata.generation`` bumped when ``spec`` changes, 404/409 errors, merge patches
(RFC 7386), server-side apply reduced to "merge what is applied, drop what we applied before and
no longer send" (fields set by others stay, as with managedFields), finalizers holding a
deletion, and the garbage collector's cascade through owner references. It validates nothing else
(no schemas, no defaulting, no admission): the cluster e2e tests (tests/test_k8s_operator.py) cover
the real thing.
"""

from __future__ import annotations

import copy
import itertools
import uuid
from typing import Any

from toolhive_runtime_kubernetes.operator.kube import KubeError, Obj, ref

Key = tuple[str, str, str, str]


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge key by key, ``null`` deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _merge(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict) or not isinstance(target, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(target)
    for key, value in patch.items():
        out[key] = _merge(out.get(key), value)
    return out


def _dropped(old: Any, new: Any) -> dict[str, Any]:
    """The paths (as a nested dict, leaves True) in ``old`` but not in ``new``."""
    out: dict[str, Any] = {}
    if not isinstance(old, dict):
        return out
    for key, value in old.items():
        if not isinstance(new, dict) or key not in new:
            out[key] = True
        elif isinstance(value, dict) and isinstance(new[key], dict):
            sub = _dropped(value, new[key])
            if sub:
                out[key] = sub
    return out


def _without(obj: Any, paths: dict[str, Any]) -> Any:
    if not isinstance(obj, dict):
        return obj
    out = copy.deepcopy(obj)
    for key, sub in paths.items():
        if sub is True:
            out.pop(key, None)
        elif key in out:
            out[key] = _without(out[key], sub)
    return out


class FakeKube:
    """The :class:`~toolhive_runtime_kubernetes.operator.kube.Kube` protocol over a dict."""

    def __init__(self) -> None:
        self.objects: dict[Key, Obj] = {}
        self._applied: dict[Key, Obj] = {}
        self._versions = itertools.count(1)
        #: Every write, in order: (verb, kind, namespace, name) — what tests assert "nothing" on.
        self.writes: list[tuple[str, str, str, str]] = []

    # --- helpers for tests ------------------------------------------------------------------

    def put(self, obj: Obj) -> Obj:
        """Store an object as a user's ``kubectl apply`` would (create or replace)."""
        key = ref(obj)
        if key in self.objects:
            current = self.objects[key]
            new = copy.deepcopy(obj)
            new["metadata"] = {**current["metadata"], **obj.get("metadata", {})}
            if "status" in current and "status" not in obj:
                new["status"] = current["status"]
            return self._store(key, new, current, verb="update")
        return self.create(obj)

    def find(self, kind: str, namespace: str, name: str) -> Obj | None:
        for (_, k, ns, n), obj in self.objects.items():
            if (k, ns, n) == (kind, namespace, name):
                return obj
        return None

    # --- the protocol -----------------------------------------------------------------------

    def get(self, api_version: str, kind: str, namespace: str, name: str) -> Obj | None:
        obj = self.objects.get((api_version, kind, namespace, name))
        return copy.deepcopy(obj) if obj is not None else None

    def list(
        self,
        api_version: str,
        kind: str,
        namespace: str | None,
        labels: dict[str, str] | None = None,
    ) -> list[Obj]:
        out = []
        for (av, k, ns, _), obj in sorted(self.objects.items()):
            if (av, k) != (api_version, kind) or (namespace is not None and ns != namespace):
                continue
            have = obj["metadata"].get("labels") or {}
            if labels and any(have.get(lk) != lv for lk, lv in labels.items()):
                continue
            out.append(copy.deepcopy(obj))
        return out

    def create(self, obj: Obj) -> Obj:
        key = ref(obj)
        if key in self.objects:
            raise KubeError(409, f"{key[1]} {key[3]!r} already exists")
        new = copy.deepcopy(obj)
        meta = new["metadata"]
        meta.setdefault("namespace", key[2])
        meta["uid"] = str(uuid.uuid4())
        meta["generation"] = 1
        meta["creationTimestamp"] = "2026-01-01T00:00:00Z"
        return self._store(key, new, None, verb="create")

    def apply(self, obj: Obj) -> Obj:
        key = ref(obj)
        current = self.objects.get(key)
        if current is None:
            created = self.create(obj)
            self._applied[key] = copy.deepcopy(obj)
            return created
        # Server-side apply, reduced: fields we applied before and no longer send are removed,
        # the rest merges (maps key by key; lists and values replace); others' fields stay.
        new = _without(current, _dropped(self._applied.get(key, {}), obj))
        new = _merge(new, {k: v for k, v in obj.items() if k != "status"})
        self._applied[key] = copy.deepcopy(obj)
        return self._store(key, new, current, verb="apply")

    def patch(
        self,
        api_version: str,
        kind: str,
        namespace: str,
        name: str,
        patch: Obj,
        *,
        status: bool = False,
    ) -> Obj:
        key = (api_version, kind, namespace, name)
        current = self.objects.get(key)
        if current is None:
            raise KubeError(404, f"{kind} {name!r} not found")
        want_rv = (patch.get("metadata") or {}).get("resourceVersion")
        if want_rv is not None and want_rv != current["metadata"]["resourceVersion"]:
            raise KubeError(409, f"{kind} {name!r}: the object has been modified")
        if status:
            new = copy.deepcopy(current)
            new["status"] = merge_patch(current.get("status"), patch.get("status", {}))
        else:
            patch = {k: v for k, v in patch.items() if k != "status"}
            new = merge_patch(current, patch)
        return self._store(key, new, current, verb="patch-status" if status else "patch")

    def delete(self, api_version: str, kind: str, namespace: str, name: str) -> bool:
        key = (api_version, kind, namespace, name)
        current = self.objects.get(key)
        if current is None:
            return False
        if current["metadata"].get("finalizers"):
            if not current["metadata"].get("deletionTimestamp"):
                new = copy.deepcopy(current)
                new["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:01Z"
                self._store(key, new, current, verb="delete")
            return True
        self._remove(key)
        return True

    # --- internals --------------------------------------------------------------------------

    def _store(self, key: Key, new: Obj, current: Obj | None, *, verb: str) -> Obj:
        if current is not None:
            new["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
            if new == current:  # a no-op write does not bump the version (as the API server)
                return copy.deepcopy(current)
            if new.get("spec") != current.get("spec"):
                new["metadata"]["generation"] = current["metadata"].get("generation", 1) + 1
        new["metadata"]["resourceVersion"] = str(next(self._versions))
        self.objects[key] = new
        self.writes.append((verb, key[1], key[2], key[3]))
        meta = new["metadata"]
        if meta.get("deletionTimestamp") and not meta.get("finalizers"):
            self._remove(key)
        return copy.deepcopy(new)

    def _remove(self, key: Key) -> None:
        """Delete and cascade like the garbage collector (background propagation)."""
        gone = self.objects.pop(key)
        self.writes.append(("delete", key[1], key[2], key[3]))
        uid = gone["metadata"].get("uid")
        for other_key, other in list(self.objects.items()):
            owners = other["metadata"].get("ownerReferences") or []
            if other_key in self.objects and any(o.get("uid") == uid for o in owners):
                self.delete(*other_key)
