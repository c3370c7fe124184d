"""Apply-if-changed: write an owned object only when what we want of it changed.

Each desired object carries the hash of itself in :data:`HASH_ANNOTATION`. Reconciling compares
that hash with the one on the live object: missing object → create (objects deleted by hand come
back, stacklok/toolhive#6343); same hash → no write at all, so an operator restart or a resync
rewrites nothing and starts no rollout (#4877); different hash → server-side apply as the
operator's field manager, which also drops the fields we stopped sending. Fields others own
(``kubectl scale`` on a Deployment whose MCPServer sets no ``replicas``, an HPA, annotations added
by other controllers) are left alone (#3329).

A hand edit of a field we set is not reverted until the desired object changes (or the annotation
is removed: ``kubectl annotate deploy NAME toolhive.stacklok.dev/applied-hash-``).
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass
from typing import Literal

from toolhive_runtime_kubernetes.operator.kube import Kube, Obj, ref

HASH_ANNOTATION = "toolhive.stacklok.dev/applied-hash"

Action = Literal["created", "updated", "unchanged", "deleting"]


def desired_hash(obj: Obj) -> str:
    """sha256 of the object's canonical JSON, its own hash annotation left out."""
    body = copy.deepcopy(obj)
    annotations = (body.get("metadata") or {}).get("annotations") or {}
    annotations.pop(HASH_ANNOTATION, None)
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def with_hash(obj: Obj) -> Obj:
    """A copy of ``obj`` carrying its hash annotation."""
    body = copy.deepcopy(obj)
    digest = desired_hash(body)
    body.setdefault("metadata", {}).setdefault("annotations", {})[HASH_ANNOTATION] = digest
    return body


def live_hash(obj: Obj | None) -> str | None:
    if obj is None:
        return None
    return ((obj.get("metadata") or {}).get("annotations") or {}).get(HASH_ANNOTATION)


@dataclass(frozen=True)
class Applied:
    action: Action
    obj: Obj

    @property
    def wrote(self) -> bool:
        return self.action in ("created", "updated")


def apply_object(kube: Kube, desired: Obj) -> Applied:
    """Make the live object match ``desired`` (a full object dict), writing only on change.

    ``deleting``: the live object is being deleted (foreground deletion, a finalizer); the caller
    should come back later to recreate it.
    """
    body = with_hash(desired)
    api_version, kind, namespace, name = ref(body)
    live = kube.get(api_version, kind, namespace, name)
    if live is not None and (live.get("metadata") or {}).get("deletionTimestamp"):
        return Applied("deleting", live)
    if live is not None and live_hash(live) == live_hash(body):
        return Applied("unchanged", live)
    result = kube.apply(body)
    return Applied("created" if live is None else "updated", result)


def ensure_absent(kube: Kube, api_version: str, kind: str, namespace: str, name: str) -> bool:
    """Delete if present; True when a delete was sent."""
    if kube.get(api_version, kind, namespace, name) is None:
        return False
    return kube.delete(api_version, kind, namespace, name)
