"""kopf wiring: watch events → keys on the work queue; nothing else is kopf's business.

Only ``@kopf.on.event`` handlers are used. They are kopf's stateless kind: kopf keeps no progress
or "last handled" annotations on our resources and adds no finalizer of its own, so the operator
writes nothing its reconcile does not decide to write (an operator restart rewrites nothing), and
each kind keeps ToolHive's own finalizer name. kopf brings the watches (initial listing, resumed
streams, reconnects with backoff), the event loop, login (kubeconfig or service account), the
liveness endpoint and, if asked, peering between operator replicas.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from typing import Any

import kopf

from toolhive_runtime_kubernetes.detection import SERVICE_ACCOUNT_DIR, in_cluster
from toolhive_runtime_kubernetes.operator.framework import GROUP, Key, Operator
from toolhive_runtime_kubernetes.operator.queue import WorkQueue

log = logging.getLogger("toolhive.operator")

#: Built-in kinds a controller may own or watch: kind -> (group, version, plural).
BUILTIN_KINDS: dict[str, tuple[str, str, str]] = {
    "Deployment": ("apps", "v1", "deployments"),
    "StatefulSet": ("apps", "v1", "statefulsets"),
    "Service": ("", "v1", "services"),
    "ConfigMap": ("", "v1", "configmaps"),
    "ServiceAccount": ("", "v1", "serviceaccounts"),
    "Role": ("rbac.authorization.k8s.io", "v1", "roles"),
    "RoleBinding": ("rbac.authorization.k8s.io", "v1", "rolebindings"),
}

#: Owned objects carry this label (ToolHive's); only those are watched.
OWNED_SELECTOR = {"toolhive": "true"}


def service_account_login() -> kopf.ConnectionInfo | None:
    """In a pod: the service account, the API at ``KUBERNETES_SERVICE_HOST``.

    kopf's own handler names ``kubernetes.default.svc``, which needs cluster DNS; the kubelet's
    environment variables do not (the test cluster has no DNS)."""
    if not in_cluster(os.environ):
        return None
    host = os.environ["KUBERNETES_SERVICE_HOST"]
    port = os.environ.get("KUBERNETES_SERVICE_PORT", "443")
    if ":" in host:
        host = f"[{host}]"  # IPv6
    namespace_file = SERVICE_ACCOUNT_DIR / "namespace"
    return kopf.ConnectionInfo(
        server=f"https://{host}:{port}",
        ca_path=str(SERVICE_ACCOUNT_DIR / "ca.crt"),
        token=(SERVICE_ACCOUNT_DIR / "token").read_text().strip(),
        default_namespace=namespace_file.read_text().strip() if namespace_file.is_file() else None,
    )


def build_registry(operator: Operator, queue: WorkQueue) -> kopf.OperatorRegistry:
    """A kopf registry watching every registered kind and the kinds they own."""
    registry = kopf.OperatorRegistry()
    known: set[Key] = set()
    resync_task: list[asyncio.Task[None]] = []

    async def on_event(body: kopf.Body, type: str | None = None, **_: Any) -> None:
        obj = dict(body)
        if obj.get("kind") in operator.controllers:
            key = Key.of(obj)
            if type == "DELETED":
                known.discard(key)
            else:
                known.add(key)
        operator.observe(obj)

    async def resync() -> None:
        """Every resource again now and then: catches whatever no event announced."""
        while True:
            await asyncio.sleep(operator.settings.resync_seconds)
            for key in sorted(known):
                queue.add(key)

    for ctrl in operator.controllers.values():
        group, version = ctrl.api_version.split("/")
        kopf.on.event(group, version, ctrl.plural, registry=registry, id=f"watch-{ctrl.plural}")(
            on_event
        )
    owned = sorted({kind for ctrl in operator.controllers.values() for kind in ctrl.owns})
    for kind in owned:
        group, version, plural = BUILTIN_KINDS[kind]
        kopf.on.event(
            group,
            version,
            plural,
            labels=OWNED_SELECTOR,
            registry=registry,
            id=f"watch-owned-{plural}",
        )(on_event)

    @kopf.on.login(registry=registry)
    def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
        return service_account_login() or kopf.login_with_kubeconfig(**kwargs)

    @kopf.on.startup(registry=registry)
    async def startup(settings: kopf.OperatorSettings, **_: Any) -> None:
        # No Kubernetes Events for handler outcomes: our handlers only enqueue.
        settings.posting.enabled = False
        settings.watching.server_timeout = 600
        settings.watching.client_timeout = 660
        # Owned kinds: the API server sends only ToolHive's objects (not every Deployment,
        # Service, ConfigMap … of the cluster), which keeps the operator small on big clusters.
        selector = ",".join(f"{k}={v}" for k, v in OWNED_SELECTOR.items())
        for kind in owned:
            group, version, plural = BUILTIN_KINDS[kind]
            settings.watching.label_selectors[(group, version, plural)] = selector
        await queue.start()
        operator.set_enqueue(queue.add)
        if operator.settings.resync_seconds > 0:
            resync_task.append(asyncio.create_task(resync()))
        log.info("thv-operator: reconciling %s", ", ".join(sorted(operator.controllers)))

    @kopf.on.cleanup(registry=registry)
    async def cleanup(**_: Any) -> None:
        for task in resync_task:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await queue.stop()

    return registry


__all__ = ["BUILTIN_KINDS", "GROUP", "OWNED_SELECTOR", "build_registry"]
