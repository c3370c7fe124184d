"""VirtualMCPServer: the gateway's Kubernetes objects — their names, labels and port, and the
desired ConfigMap (``<name>-vmcp-config``), Deployment (``<name>``) and Service (``vmcp-<name>``)."""

from __future__ import annotations

import hashlib
from typing import Any

from toolhive_runtime_kubernetes.operator.framework import owner_reference
from toolhive_runtime_kubernetes.operator.kube import Obj

PORT = 4483
CONFIG_DIR = "/etc/vmcp-config"
CHECKSUM_ANNOTATION = "toolhive.stacklok.dev/vmcp-config-checksum"


def config_map_name(name: str) -> str:
    return f"{name}-vmcp-config"


def service_name(name: str) -> str:
    return f"vmcp-{name}"


def labels(name: str) -> dict[str, str]:
    """Go's ``labelsForVirtualMCPServer`` (it already carries ``toolhive: "true"``)."""
    return {
        "app": "virtualmcpserver",
        "app.kubernetes.io/name": "virtualmcpserver",
        "app.kubernetes.io/instance": name,
        "toolhive": "true",
        "toolhive-name": name,
    }


def checksum(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


# --- desired objects ---------------------------------------------------------------------------


def _meta(vmcp: Obj, name: str) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": vmcp["metadata"]["namespace"],
        "labels": labels(vmcp["metadata"]["name"]),
        "ownerReferences": [owner_reference(vmcp)],
    }


def desired_config_map(vmcp: Obj, text: str) -> Obj:
    meta = _meta(vmcp, config_map_name(vmcp["metadata"]["name"]))
    meta["annotations"] = {CHECKSUM_ANNOTATION: checksum(text)}
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": meta,
        "data": {"config.yaml": text},
    }


def desired_deployment(
    vmcp: Obj,
    text: str,
    image: str,
    env: list[dict[str, Any]],
    pull_policy: str = "IfNotPresent",
) -> Obj:
    name = vmcp["metadata"]["name"]
    spec = vmcp.get("spec") or {}
    debug = ((spec.get("config") or {}).get("operational") or {}).get("logLevel") == "debug"
    container: dict[str, Any] = {
        "name": "vmcp",
        "image": image,
        "imagePullPolicy": pull_policy,
        # The image's entrypoint is thv-proxyrunner; the gateway is core's `thv vmcp serve`.
        "command": [
            "thv",
            *(["--debug"] if debug else []),
            "vmcp",
            "serve",
            f"--config={CONFIG_DIR}/config.yaml",
            "--host=0.0.0.0",
            f"--port={PORT}",
        ],
        "ports": [{"name": "http", "containerPort": PORT, "protocol": "TCP"}],
        "volumeMounts": [{"name": "vmcp-config", "mountPath": CONFIG_DIR, "readOnly": True}],
        # /health answers once the gateway started (its backends tried), 503 if it cannot serve.
        "readinessProbe": {"httpGet": {"path": "/health", "port": "http"}, "periodSeconds": 2},
        "livenessProbe": {
            "tcpSocket": {"port": "http"},
            "initialDelaySeconds": 30,
            "periodSeconds": 10,
        },
        "resources": {
            "requests": {"cpu": "100m", "memory": "128Mi"},
            "limits": {"cpu": "500m", "memory": "512Mi"},
        },
    }
    if env:
        container["env"] = env
    pod: dict[str, Any] = {
        "containers": [container],
        "volumes": [{"name": "vmcp-config", "configMap": {"name": config_map_name(name)}}],
        "terminationGracePeriodSeconds": 30,
    }
    if spec.get("serviceAccount"):
        pod["serviceAccountName"] = spec["serviceAccount"]
    if spec.get("imagePullSecrets"):
        pod["imagePullSecrets"] = spec["imagePullSecrets"]
    deployment_spec: dict[str, Any] = {
        "selector": {"matchLabels": labels(name)},
        "template": {
            "metadata": {
                "labels": labels(name),
                "annotations": {CHECKSUM_ANNOTATION: checksum(text)},
            },
            "spec": pod,
        },
    }
    if spec.get("replicas") is not None:
        deployment_spec["replicas"] = int(spec["replicas"])
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(vmcp, name),
        "spec": deployment_spec,
    }


def desired_service(vmcp: Obj) -> Obj:
    name = vmcp["metadata"]["name"]
    spec = vmcp.get("spec") or {}
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(vmcp, service_name(name)),
        "spec": {
            "type": spec.get("serviceType") or "ClusterIP",
            "sessionAffinity": spec.get("sessionAffinity") or "ClientIP",
            "selector": labels(name),
            "ports": [{"name": "http", "port": PORT, "targetPort": PORT, "protocol": "TCP"}],
        },
    }
