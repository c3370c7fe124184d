"""The Kubernetes objects of one MCP server, as plain JSON-ready dicts (no client import).

Per workload ``NAME`` (ToolHive's shapes, ``pkg/container/kubernetes``):

- StatefulSet ``NAME`` (one replica; pod ``NAME-0``, container ``mcp``), selected by ``app=NAME``;
- Service ``mcp-NAME-headless`` (``clusterIP: None``; the StatefulSet's governing Service);
- for HTTP transports, Service ``mcp-NAME`` (ClusterIP, client-IP affinity), the proxy's target;
- Secret ``mcp-NAME-env``: the server's environment (``envFrom``), so resolved secret values are
  not readable by everyone who may list StatefulSets (ToolHive puts them in the pod spec).

The Services and the Secret carry an owner reference to the StatefulSet: Kubernetes' garbage
collector removes them with it, even if ``thv rm`` is never run.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Mapping
from typing import Any

from toolhive.contracts import InvalidInputError
from toolhive.contracts.runtime import LABEL_TOOLHIVE, DeployRequest

#: The MCP container's name in the pod (ToolHive's ``mcpContainerName``).
CONTAINER = "mcp"
#: The selector label ToolHive puts on the StatefulSet's pods.
LABEL_APP = "app"
#: Changed on every deploy, so a deploy replaces the pod as the container engines replace the
#: container (a fresh server for a fresh proxy).
ANNOTATION_DEPLOYED = "toolhive.stacklok.dev/deployed-at"
#: The checksum of the server's environment (the Secret's content) on the pod template.
ANNOTATION_ENV = "toolhive.stacklok.dev/env-checksum"
#: Field manager of our server-side applies.
FIELD_MANAGER = "toolhive"
#: Seconds between SIGTERM and SIGKILL when the pod goes (stop, replacement).
TERMINATION_GRACE = 10
#: ToolHive's client-IP affinity timeout on the MCP Service.
AFFINITY_TIMEOUT = 1800
#: ToolHive's user and group for MCP pods (``security.go``).
RUN_AS = 1000

# A DNS-1035 label: the Service names (``mcp-NAME-headless``) must be one, at most 63 characters.
_NAME = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_MAX_NAME = 63 - len("mcp--headless")
_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")


def check_name(name: str) -> None:
    """Refuse a workload name that cannot name the StatefulSet and its Services."""
    if not _NAME.match(name) or len(name) > _MAX_NAME:
        msg = (
            f"{name!r} cannot name Kubernetes objects: use lowercase letters, digits and '-', "
            f"starting with a letter, at most {_MAX_NAME} characters (thv run --name)"
        )
        raise InvalidInputError(msg)


def headless_service_name(name: str) -> str:
    return f"mcp-{name}-headless"


def mcp_service_name(name: str) -> str:
    return f"mcp-{name}"


def env_secret_name(name: str) -> str:
    return f"mcp-{name}-env"


def pod_name(name: str) -> str:
    """The single replica's pod (a StatefulSet names its pods ``NAME-ORDINAL``)."""
    return f"{name}-0"


def workload_labels(request: DeployRequest) -> dict[str, str]:
    """The request's labels (ToolHive's ``toolhive-*``) plus ``toolhive=true`` and ``app=NAME``."""
    return {**request.labels, LABEL_TOOLHIVE: "true", LABEL_APP: request.name}


def selector(name: str) -> dict[str, str]:
    return {LABEL_APP: name}


def _owner(owner: Mapping[str, str]) -> list[dict[str, Any]]:
    return [
        {
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "name": owner["name"],
            "uid": owner["uid"],
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]


def env_secret(
    request: DeployRequest, namespace: str, owner: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The server's environment as a Secret (values base64, as the API stores them)."""
    for key in request.env:
        if not _ENV_NAME.match(key):
            msg = f"environment variable name {key!r} is not valid in a Kubernetes pod"
            raise InvalidInputError(msg)
    metadata: dict[str, Any] = {
        "name": env_secret_name(request.name),
        "namespace": namespace,
        "labels": workload_labels(request),
    }
    if owner is not None:
        metadata["ownerReferences"] = _owner(owner)
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": metadata,
        "type": "Opaque",
        "data": {
            key: base64.b64encode(value.encode()).decode("ascii")
            for key, value in sorted(request.env.items())
        },
    }


def env_checksum(request: DeployRequest) -> str:
    """SHA-256 of the environment (names and values, sorted)."""
    digest = hashlib.sha256()
    for key, value in sorted(request.env.items()):
        digest.update(f"{key}\0{value}\0".encode())
    return digest.hexdigest()


def container(request: DeployRequest, pull_policy: str = "IfNotPresent") -> dict[str, Any]:
    """The ``mcp`` container: ToolHive's hardened security context, stdin kept open for stdio."""
    spec: dict[str, Any] = {
        "name": CONTAINER,
        "image": request.image,
        "imagePullPolicy": pull_policy,
        # ToolHive passes the command as args: the image's entrypoint runs them.
        "args": list(request.command),
        "envFrom": [{"secretRef": {"name": env_secret_name(request.name)}}],
        "stdin": request.stdio,
        # Several attaches over the pod's life (re-attach after a proxy restart) share one stdin.
        "stdinOnce": False,
        "tty": False,
        "securityContext": {
            "privileged": False,
            "runAsNonRoot": True,
            "runAsUser": RUN_AS,
            "runAsGroup": RUN_AS,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "seccompProfile": {"type": "RuntimeDefault"},
            "capabilities": {"drop": ["ALL"]},
        },
        # A read-only root needs somewhere to write temporary files.
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }
    if not request.stdio and request.target_port:
        spec["ports"] = [{"containerPort": request.target_port, "protocol": "TCP"}]
    return spec


def stateful_set(
    request: DeployRequest,
    namespace: str,
    *,
    deployed_at: str | None,
    replicas: int = 1,
    pull_policy: str = "IfNotPresent",
    pod_patch: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The StatefulSet running the server (``pod_patch`` merged into its pod template).

    ``deployed_at`` (the deploy's time) replaces the pod on every deploy; ``None`` keeps a pod
    whose template did not change (a StatefulSet another controller owns)."""
    labels = workload_labels(request)
    # The environment lives in the Secret, outside the template: its checksum here rolls the
    # pod when it changes (and only then, when deployed_at is None).
    annotations = {ANNOTATION_ENV: env_checksum(request)}
    if deployed_at is not None:
        annotations[ANNOTATION_DEPLOYED] = deployed_at
    metadata: dict[str, Any] = {"labels": labels, "annotations": annotations}
    template: dict[str, Any] = {
        "metadata": metadata,
        "spec": {
            "restartPolicy": "Always",
            "terminationGracePeriodSeconds": TERMINATION_GRACE,
            "automountServiceAccountToken": False,
            # The pause container is PID 1, so the server gets SIGTERM (a PID 1 server ignores
            # it and every stop or replacement would wait out the grace period).
            "shareProcessNamespace": True,
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": RUN_AS,
                "runAsGroup": RUN_AS,
                "fsGroup": RUN_AS,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "containers": [container(request, pull_policy)],
            "volumes": [{"name": "tmp", "emptyDir": {}}],
        },
    }
    if pod_patch:
        template = merge_pod_template(template, pod_patch)
        # The selector must keep matching whatever the patch did to the labels.
        template.setdefault("metadata", {}).setdefault("labels", {}).update(selector(request.name))
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": request.name, "namespace": namespace, "labels": labels},
        "spec": {
            "replicas": replicas,
            "serviceName": headless_service_name(request.name),
            "selector": {"matchLabels": selector(request.name)},
            # Parallel: a replaced pod need not wait for its predecessor's ordinal dance.
            "podManagementPolicy": "Parallel",
            "template": template,
        },
    }


def _ports(request: DeployRequest) -> list[dict[str, Any]]:
    if request.stdio or not request.target_port:
        return []
    port = request.target_port
    return [{"name": f"port-{port}", "port": port, "targetPort": port, "protocol": "TCP"}]


def headless_service(
    request: DeployRequest, namespace: str, owner: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """``mcp-NAME-headless``: the StatefulSet's governing Service (stable pod identity)."""
    metadata: dict[str, Any] = {
        "name": headless_service_name(request.name),
        "namespace": namespace,
        "labels": workload_labels(request),
    }
    if owner is not None:
        metadata["ownerReferences"] = _owner(owner)
    spec: dict[str, Any] = {"clusterIP": "None", "selector": selector(request.name)}
    ports = _ports(request)
    if ports:
        spec["ports"] = ports
    return {"apiVersion": "v1", "kind": "Service", "metadata": metadata, "spec": spec}


def mcp_service(
    request: DeployRequest, namespace: str, owner: Mapping[str, str] | None = None
) -> dict[str, Any] | None:
    """``mcp-NAME``: the ClusterIP Service the proxy targets (HTTP transports only)."""
    ports = _ports(request)
    if not ports:
        return None
    metadata: dict[str, Any] = {
        "name": mcp_service_name(request.name),
        "namespace": namespace,
        "labels": workload_labels(request),
    }
    if owner is not None:
        metadata["ownerReferences"] = _owner(owner)
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata,
        "spec": {
            "type": "ClusterIP",
            "selector": selector(request.name),
            "ports": ports,
            "sessionAffinity": "ClientIP",
            "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": AFFINITY_TIMEOUT}},
        },
    }


def merge_pod_template(base: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``patch`` merged in, the way a strategic merge patch treats a pod template:
    mappings merge key by key, lists of named items (containers, volumes, env …) merge by
    ``name``, other lists and values are replaced, ``None`` deletes a key."""
    out: dict[str, Any] = dict(base)
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge_pod_template(out[key], value)
        elif isinstance(value, list) and isinstance(out.get(key), list) and _named(value):
            merged = {item["name"]: item for item in out[key] if isinstance(item, Mapping)}
            order = [item["name"] for item in out[key] if isinstance(item, Mapping)]
            for item in value:
                name = item["name"]
                if name in merged:
                    merged[name] = merge_pod_template(merged[name], item)
                else:
                    merged[name] = dict(item)
                    order.append(name)
            out[key] = [merged[name] for name in order]
        else:
            out[key] = value
    return out


def _named(items: list[Any]) -> bool:
    return bool(items) and all(isinstance(i, Mapping) and "name" in i for i in items)
