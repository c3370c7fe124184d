"""MCPRegistry: a registry API (v0.1) Deployment + Service from the registry server's configYAML.

As ToolHive's ``mcpregistry_controller.go`` and ``pkg/registryapi``: the ``configYAML`` goes
verbatim into the ConfigMap ``<name>-registry-server-config`` (key ``config.yaml``, mounted at
``/config``), the Deployment ``<name>-api`` runs the registry API with ``--config=/config/config.yaml``
and the MCPRegistry's own ``volumes``/``volumeMounts`` (a ConfigMap holding the registry document,
for a ``file`` source), the Service ``<name>-api`` exposes port 8080, and the status says
``Pending`` until a replica is ready, then ``Ready`` with ``url`` ``http://<name>-api.<ns>:8080``
and ``readyReplicas``. A configYAML change rolls the pod (its hash is on the pod template).

The API itself is ours (:mod:`.registry_api`, run from the operator's proxy runner image with
``python -m``) instead of ``thv-registry-api``: it serves file sources and refuses the rest, and
the operator checks the configYAML the same way first, so a config it cannot serve is a
``Failed`` status naming the problem rather than a crash-looping pod. ``pgpassSecretRef`` (a
PostgreSQL password for the registry server's database) is refused for the same reason.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pydantic import ValidationError

from toolhive_runtime_kubernetes.crd.registry import MCPRegistrySpec
from toolhive_runtime_kubernetes.operator.apply import apply_object
from toolhive_runtime_kubernetes.operator.framework import (
    Context,
    Controller,
    Result,
    owner_reference,
)
from toolhive_runtime_kubernetes.operator.kube import Obj
from toolhive_runtime_kubernetes.operator.registry_api import (
    DEFAULT_PORT,
    ConfigError,
    parse_config,
)
from toolhive_runtime_kubernetes.operator.status import (
    READY,
    REASON_NOT_READY,
    REASON_READY,
    condition,
    set_condition,
    write_status,
)

CONTAINER = "registry-api"
CONFIG_VOLUME = "registry-server-config"
CONFIG_DIR = "/config"
CONFIG_HASH_ANNOTATION = "toolhive.stacklok.dev/config-hash"
#: Pod not ready yet: look again this soon (Deployment events re-enqueue us as well).
POLL_SECONDS = 5.0


def api_name(name: str) -> str:
    return f"{name}-api"


def config_map_name(name: str) -> str:
    return f"{name}-registry-server-config"


def labels(registry: Obj) -> dict[str, str]:
    """Go's registry API labels, plus ``toolhive: "true"`` (the operator watches owned objects by it)."""
    name = registry["metadata"]["name"]
    return {
        "app.kubernetes.io/name": api_name(name),
        "app.kubernetes.io/component": "registry-api",
        "app.kubernetes.io/managed-by": "toolhive-operator",
        "toolhive.stacklok.io/registry-name": name,
        "toolhive": "true",
        "toolhive-name": name,
    }


def selector(registry: Obj) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": api_name(registry["metadata"]["name"]),
        "app.kubernetes.io/component": "registry-api",
    }


def _meta(registry: Obj, name: str) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": registry["metadata"]["namespace"],
        "labels": labels(registry),
        "ownerReferences": [owner_reference(registry)],
    }


def desired_config_map(registry: Obj) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _meta(registry, config_map_name(registry["metadata"]["name"])),
        "data": {"config.yaml": registry["spec"]["configYAML"]},
    }


def config_hash(spec: dict[str, Any]) -> str:
    canonical = json.dumps(spec, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def desired_deployment(registry: Obj, image: str, pull_policy: str = "IfNotPresent") -> Obj:
    spec = registry["spec"]
    name = registry["metadata"]["name"]
    mounts: list[dict[str, Any]] = [
        {"name": CONFIG_VOLUME, "mountPath": CONFIG_DIR, "readOnly": True},
        *spec.get("volumeMounts", []),
    ]
    volumes: list[dict[str, Any]] = [
        {"name": CONFIG_VOLUME, "configMap": {"name": config_map_name(name)}},
        *spec.get("volumes", []),
    ]
    probe = {"httpGet": {"path": "/health", "port": "http"}}
    container = {
        "name": CONTAINER,
        "image": image,
        "imagePullPolicy": pull_policy,
        # The image's entrypoint is thv-proxyrunner; the registry API is a module of the same venv.
        "command": ["python", "-m", "toolhive_runtime_kubernetes.operator.registry_api"],
        "args": ["serve", f"--config={CONFIG_DIR}/config.yaml", f"--port={DEFAULT_PORT}"],
        "ports": [{"name": "http", "containerPort": DEFAULT_PORT, "protocol": "TCP"}],
        "volumeMounts": mounts,
        "livenessProbe": {**probe, "initialDelaySeconds": 30, "periodSeconds": 10},
        "readinessProbe": {
            "httpGet": {"path": "/readiness", "port": "http"},
            "initialDelaySeconds": 1,
            "periodSeconds": 2,
        },
        "resources": {
            "requests": {"cpu": "100m", "memory": "128Mi"},
            "limits": {"cpu": "500m", "memory": "512Mi"},
        },
    }
    pod_spec: dict[str, Any] = {"containers": [container], "volumes": volumes}
    if spec.get("imagePullSecrets"):
        pod_spec["imagePullSecrets"] = spec["imagePullSecrets"]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(registry, api_name(name)),
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": selector(registry)},
            "template": {
                "metadata": {
                    "labels": labels(registry),
                    "annotations": {CONFIG_HASH_ANNOTATION: config_hash(spec)},
                },
                "spec": pod_spec,
            },
        },
    }


def desired_service(registry: Obj) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(registry, api_name(registry["metadata"]["name"])),
        "spec": {
            "type": "ClusterIP",
            "selector": selector(registry),
            "ports": [
                {
                    "name": "http",
                    "port": DEFAULT_PORT,
                    "targetPort": DEFAULT_PORT,
                    "protocol": "TCP",
                }
            ],
        },
    }


def problems(registry: Obj) -> list[str]:
    """Why this MCPRegistry cannot be served (empty: it can)."""
    spec = registry.get("spec") or {}
    try:
        MCPRegistrySpec.model_validate(spec)
    except ValidationError as exc:
        return [f"spec.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
    out: list[str] = []
    if spec.get("podTemplateSpec"):
        out.append("spec.podTemplateSpec is not supported by this operator yet")
    if spec.get("pgpassSecretRef"):
        out.append("spec.pgpassSecretRef: the registry API here keeps no database; remove it")
    try:
        parse_config(spec["configYAML"], "spec.configYAML")
    except ConfigError as exc:
        out.append(str(exc))
    return out


def registry_status(registry: Obj, deployment: Obj | None, failure: str = "") -> dict[str, Any]:
    """Go's ``updateRegistryStatus``: Failed with the reason, Pending until a replica is ready,
    then Ready with the URL."""
    meta = registry["metadata"]
    status = dict(registry.get("status") or {})
    generation = meta.get("generation")
    status["observedGeneration"] = generation
    if failure:
        status.update(phase="Failed", message=failure, readyReplicas=0)
        ok, reason = False, REASON_NOT_READY
    else:
        ready = int(((deployment or {}).get("status") or {}).get("readyReplicas") or 0)
        status["readyReplicas"] = ready
        if ready > 0:
            status["phase"] = "Ready"
            status["message"] = "Registry API is ready and serving requests"
            status["url"] = f"http://{api_name(meta['name'])}.{meta['namespace']}:{DEFAULT_PORT}"
            ok, reason = True, REASON_READY
        else:
            status["phase"] = "Pending"
            status["message"] = "Registry API deployment is not ready yet"
            ok, reason = False, REASON_NOT_READY
    status["conditions"] = set_condition(
        status.get("conditions"), condition(READY, ok, reason, status["message"], generation)
    )
    return status


class MCPRegistryController(Controller):
    """Reconciles MCPRegistry into its ConfigMap, Deployment and Service."""

    kind = "MCPRegistry"
    plural = "mcpregistries"
    owns = ("ConfigMap", "Deployment", "Service")

    def reconcile(self, ctx: Context, obj: Obj) -> Result | None:
        found = problems(obj)
        if found:
            write_status(ctx.kube, obj, registry_status(obj, None, "; ".join(found)))
            return None
        settings = ctx.settings
        apply_object(ctx.kube, desired_config_map(obj))
        deployment = apply_object(
            ctx.kube, desired_deployment(obj, settings.runner_image, settings.image_pull_policy)
        ).obj
        apply_object(ctx.kube, desired_service(obj))
        status = registry_status(obj, deployment)
        write_status(ctx.kube, obj, status)
        return Result(requeue_after=POLL_SECONDS) if status["phase"] != "Ready" else None


__all__ = [
    "MCPRegistryController",
    "desired_config_map",
    "desired_deployment",
    "desired_service",
    "problems",
    "registry_status",
]
