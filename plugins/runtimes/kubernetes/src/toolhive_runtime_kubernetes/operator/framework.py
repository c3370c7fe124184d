"""The operator's shared core: controllers, keys, the reference index and one reconcile pass.

Level-based, like controller-runtime: every trigger (an event on the resource, on an object it
owns, on a config object it references, a timer, a retry) only *enqueues the key* of the resource;
a worker then reads the resource fresh from the API and makes the world match it. A reconcile
therefore never depends on what changed, only on what is.

kopf (``handlers.py``) turns watch events into keys; :class:`Operator` owns the controllers and
runs one key (:meth:`Operator.process`): finalizer in, reconcile; being deleted, finalize and
finalizer out. Unit tests drive the same :meth:`Operator.process` through :meth:`Operator.drain`
against :class:`~toolhive_runtime_kubernetes.operator.fakekube.FakeKube`.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from toolhive_runtime_kubernetes.operator.kube import Kube, Obj

log = logging.getLogger("toolhive.operator")

GROUP = "toolhive.stacklok.dev"
API_VERSION = f"{GROUP}/v1beta1"

#: Default proxy runner image (Go: $TOOLHIVE_RUNNER_IMAGE, else the published image).
DEFAULT_RUNNER_IMAGE = "localhost/toolhive/proxyrunner:dev"


@dataclass(frozen=True, order=True)
class Key:
    """One custom resource: what the queue holds and a reconcile is about."""

    kind: str
    namespace: str
    name: str

    @classmethod
    def of(cls, obj: Obj) -> Key:
        meta = obj["metadata"]
        return cls(obj["kind"], meta.get("namespace", ""), meta["name"])

    def __str__(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}"


@dataclass(frozen=True)
class Result:
    """What a reconcile asks for next: nothing, or another pass after ``requeue_after`` seconds."""

    requeue_after: float | None = None


@dataclass
class Settings:
    """Operator-wide settings (``thv-operator`` options and environment)."""

    runner_image: str = DEFAULT_RUNNER_IMAGE
    #: Watched namespace; None = every namespace.
    namespace: str | None = None
    #: imagePullPolicy of the containers we create (IfNotPresent: images loaded on the node).
    image_pull_policy: str = "IfNotPresent"
    #: Every resource is reconciled again this often (0: never) besides its events.
    resync_seconds: float = 300.0
    extra: dict[str, Any] = field(default_factory=dict)


class RefIndex:
    """Which resources reference which: "MCPServer a/x uses MCPToolConfig a/t".

    Reconcilers declare their references on every pass (:meth:`record`); a config object's change
    then re-enqueues exactly its referrers (:meth:`referrers`). Thread safe.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._refs: dict[Key, frozenset[Key]] = {}
        self._back: dict[Key, set[Key]] = defaultdict(set)

    def record(self, referrer: Key, referenced: Iterable[Key]) -> set[Key]:
        """Record ``referrer``'s references; returns the referenced keys that gained or lost it."""
        new = frozenset(referenced)
        with self._lock:
            old = self._refs.get(referrer, frozenset())
            for gone in old - new:
                self._back[gone].discard(referrer)
            for added in new - old:
                self._back[added].add(referrer)
            if new:
                self._refs[referrer] = new
            else:
                self._refs.pop(referrer, None)
            return set(old ^ new)

    def forget(self, referrer: Key) -> set[Key]:
        return self.record(referrer, ())

    def referrers(self, referenced: Key, kind: str | None = None) -> list[Key]:
        with self._lock:
            found = self._back.get(referenced, set())
            return sorted(k for k in found if kind is None or k.kind == kind)

    def references(self, referrer: Key) -> frozenset[Key]:
        with self._lock:
            return self._refs.get(referrer, frozenset())


Enqueue = Callable[[Key, float], None]


@dataclass
class Context:
    """What a reconcile gets besides the object."""

    kube: Kube
    enqueue: Enqueue
    index: RefIndex
    settings: Settings


class Controller:
    """One kind's reconciler. Subclass, set the class attributes, implement :meth:`reconcile`.

    ``reconcile`` gets the live object (never one being deleted) and must be idempotent: build
    the desired objects, :func:`~toolhive_runtime_kubernetes.operator.apply.apply_object` each,
    then :func:`~toolhive_runtime_kubernetes.operator.status.write_status`. Raise to retry with
    backoff; put validation errors in the status instead (they need the user, not a retry).
    """

    kind: ClassVar[str]
    api_version: ClassVar[str] = API_VERSION
    plural: ClassVar[str]
    #: Go's finalizer name for the kind; None: none (owner references clean up alone).
    finalizer: ClassVar[str | None] = None
    #: Kinds of owned objects whose events (by controller owner reference) re-enqueue the owner.
    owns: ClassVar[tuple[str, ...]] = ()

    def reconcile(self, ctx: Context, obj: Obj) -> Result | None:
        raise NotImplementedError

    def finalize(self, ctx: Context, obj: Obj) -> Result | None:
        """The resource is being deleted and carries our finalizer: clean up (status
        Terminating …). Return None when done (the finalizer is then removed) or a Result to
        come back later."""
        return None

    def forget(self, ctx: Context, key: Key) -> None:
        """The resource is gone from the API: drop what we remember of it."""
        for referenced in ctx.index.forget(key):
            ctx.enqueue(referenced, 0)

    def map_event(self, ctx: Context, obj: Obj) -> list[Key]:
        """Keys of this kind to reconcile for an event on some other object (default: none)."""
        return []


def owner_reference(owner: Obj) -> dict[str, Any]:
    """A controller owner reference: the garbage collector deletes the object with its owner."""
    meta = owner["metadata"]
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def controller_owner(obj: Obj) -> tuple[str, str, str] | None:
    """(apiVersion, kind, name) of the object's controller owner, if any."""
    for owner in (obj.get("metadata") or {}).get("ownerReferences") or []:
        if owner.get("controller"):
            return owner["apiVersion"], owner["kind"], owner["name"]
    return None


def delete_owned_deployment(kube: Kube, owner: Obj) -> None:
    """Delete the Deployment named like ``owner`` if ``owner`` controls it: a spec that asks for
    protection the operator cannot map must not leave the proxy of the previous spec serving."""
    meta = owner["metadata"]
    namespace, name = meta["namespace"], meta["name"]
    live = kube.get("apps/v1", "Deployment", namespace, name)
    controlled_by = controller_owner(live) if live is not None else None
    if controlled_by is not None and controlled_by[1:] == (owner["kind"], name):
        log.warning(
            "%s %s/%s: protection cannot be mapped, deleting its proxy Deployment",
            owner["kind"],
            namespace,
            name,
        )
        kube.delete("apps/v1", "Deployment", namespace, name)


class Operator:
    """The registered controllers and how one key is processed."""

    def __init__(self, kube: Kube, settings: Settings | None = None) -> None:
        self.kube = kube
        self.settings = settings or Settings()
        self.index = RefIndex()
        self.controllers: dict[str, Controller] = {}
        self._enqueue: Enqueue = self._pending_add
        self._pending: dict[Key, float] = {}
        self._pending_lock = threading.Lock()

    def register(self, controller: Controller) -> None:
        self.controllers[controller.kind] = controller

    @property
    def context(self) -> Context:
        return Context(self.kube, self.enqueue, self.index, self.settings)

    def enqueue(self, key: Key, delay: float = 0) -> None:
        if key.kind in self.controllers:
            self._enqueue(key, delay)

    def set_enqueue(self, enqueue: Enqueue) -> None:
        """Route enqueues to the real work queue (``handlers.py``)."""
        self._enqueue = enqueue

    # --- events -> keys ---------------------------------------------------------------------

    def observe(self, obj: Obj) -> None:
        """An event on ``obj``: enqueue every key it concerns (the watches call it; tests call it
        after writing to :class:`~.fakekube.FakeKube`)."""
        for key in self.keys_for_event(obj):
            self.enqueue(key)

    def keys_for_event(self, obj: Obj) -> list[Key]:
        """Which resources to reconcile after an event on ``obj`` (any kind)."""
        keys: list[Key] = []
        kind = obj.get("kind", "")
        namespace = (obj.get("metadata") or {}).get("namespace", "")
        if kind in self.controllers and obj.get("apiVersion") == self.controllers[kind].api_version:
            keys.append(Key.of(obj))
        owner = controller_owner(obj)
        if owner is not None:
            api_version, owner_kind, owner_name = owner
            ctrl = self.controllers.get(owner_kind)
            if ctrl is not None and ctrl.api_version == api_version and kind in ctrl.owns:
                keys.append(Key(owner_kind, namespace, owner_name))
        for ctrl in self.controllers.values():
            keys.extend(ctrl.map_event(self.context, obj))
        return sorted(set(keys))

    # --- one pass ---------------------------------------------------------------------------

    def process(self, key: Key) -> Result | None:
        """Reconcile one key against the live object. Raises on errors (the queue retries)."""
        ctrl = self.controllers[key.kind]
        ctx = self.context
        obj = self.kube.get(ctrl.api_version, key.kind, key.namespace, key.name)
        if obj is None:
            ctrl.forget(ctx, key)
            return None
        meta = obj["metadata"]
        finalizers = list(meta.get("finalizers") or [])
        if meta.get("deletionTimestamp"):
            if ctrl.finalizer and ctrl.finalizer in finalizers:
                result = ctrl.finalize(ctx, obj)
                if result is not None:
                    return result
                fresh = self.kube.get(ctrl.api_version, key.kind, key.namespace, key.name)
                if fresh is not None:
                    left = [
                        f for f in fresh["metadata"].get("finalizers") or [] if f != ctrl.finalizer
                    ]
                    self._patch_finalizers(ctrl, fresh, left)
            ctrl.forget(ctx, key)
            return None
        if ctrl.finalizer and ctrl.finalizer not in finalizers:
            obj = self._patch_finalizers(ctrl, obj, [*finalizers, ctrl.finalizer])
        return ctrl.reconcile(ctx, obj)

    def _patch_finalizers(self, ctrl: Controller, obj: Obj, finalizers: list[str]) -> Obj:
        meta = obj["metadata"]
        # resourceVersion makes it optimistic: a concurrent change to the list is a 409 → retry.
        patch = {"metadata": {"finalizers": finalizers, "resourceVersion": meta["resourceVersion"]}}
        return self.kube.patch(
            ctrl.api_version, ctrl.kind, meta.get("namespace", ""), meta["name"], patch
        )

    # --- a synchronous queue for tests ------------------------------------------------------

    def _pending_add(self, key: Key, delay: float) -> None:
        with self._pending_lock:
            self._pending[key] = min(delay, self._pending.get(key, delay))

    def drain(self, *, max_passes: int = 100, include_delayed: bool = False) -> list[Key]:
        """Process queued keys until none is left (tests); returns the keys processed, in order.

        Keys asked for later (``requeue_after``/delayed) are kept unless ``include_delayed``.
        """
        done: list[Key] = []
        for _ in range(max_passes):
            with self._pending_lock:
                ready = sorted(k for k, d in self._pending.items() if include_delayed or d <= 0)
                for k in ready:
                    del self._pending[k]
            if not ready:
                return done
            for key in ready:
                done.append(key)
                result = self.process(key)
                if result is not None and result.requeue_after is not None:
                    self._pending_add(key, result.requeue_after)
        msg = f"the queue did not settle in {max_passes} passes"
        raise RuntimeError(msg)

    @property
    def pending(self) -> dict[Key, float]:
        with self._pending_lock:
            return dict(self._pending)
