"""Desired objects as plain dicts: pure functions, no API calls (unit-tested without a cluster).

Names, labels and annotations are ToolHive's (``cmd/thv-operator``), so tooling written for its
operator finds ours: Deployment ``NAME``, Service ``mcp-NAME-proxy``, ServiceAccount/Role/RoleBinding
``NAME-proxy-runner``, ConfigMap ``NAME-runconfig`` (key ``runconfig.json``) whose checksum is the
pod-template annotation ``toolhive.stacklok.dev/runconfig-checksum``.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from toolhive_runtime_kubernetes.operator.framework import owner_reference
from toolhive_runtime_kubernetes.operator.kube import Obj

RUNCONFIG_KEY = "runconfig.json"
RUNCONFIG_MOUNT = "/etc/runconfig"
#: On the RunConfig ConfigMap: the checksum of its content (Go's ``ContentChecksumAnnotation``).
CONTENT_CHECKSUM_ANNOTATION = "toolhive.stacklok.dev/content-checksum"
#: On the proxy pod template: the RunConfig's checksum, so a config change rolls the pods out.
RUNCONFIG_CHECKSUM_ANNOTATION = "toolhive.stacklok.dev/runconfig-checksum"
#: Go's restart annotation (a rolling restart of the proxy when its value changes).
RESTARTED_AT_ANNOTATION = "mcpserver.toolhive.stacklok.dev/restarted-at"
PROXY_CONTAINER = "toolhive"
TERMINATION_GRACE_SECONDS = 30
#: Seconds a proxy pod of a multi-pod Deployment keeps serving once told to go (preStop): the
#: pod leaves the Service's endpoints at once, but kube-proxy rewrites its rules up to a second or
#: more later; a connection opened meanwhile (a client re-opening its event stream after the
#: pod's own stream ended) would meet a closed port, and the official MCP client gives up its
#: session on that. Not for a stdio server's single pod (nothing else can take its traffic).
DRAIN_SECONDS = 5

#: What the proxy runner's kubernetes runtime does in its namespace (Go's ``defaultRBACRules``,
#: plus the env Secret and the StatefulSet scale the Python runtime uses, and pod deletion to
#: replace a stuck MCP pod).
PROXY_RUNNER_RULES: list[dict[str, Any]] = [
    {
        "apiGroups": ["apps"],
        "resources": ["statefulsets"],
        "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"],
    },
    {
        "apiGroups": ["apps"],
        "resources": ["statefulsets/scale"],
        "verbs": ["get", "update", "patch"],
    },
    {
        "apiGroups": [""],
        "resources": ["services", "secrets"],
        "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"],
    },
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch", "delete"]},
    {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
    {"apiGroups": [""], "resources": ["pods/attach"], "verbs": ["create", "get"]},
    {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "watch"]},
]

#: A remote proxy deploys nothing: it reads its config only (Go's ``remoteProxyRBACRules``).
REMOTE_PROXY_RULES: list[dict[str, Any]] = [
    {"apiGroups": [""], "resources": ["configmaps", "secrets"], "verbs": ["get", "list", "watch"]},
]


def labels_for(app: str, name: str) -> dict[str, str]:
    """ToolHive's labels for objects of a resource (``labelsForMCPServer`` and siblings)."""
    return {
        "app": app,
        "app.kubernetes.io/name": app,
        "app.kubernetes.io/instance": name,
        "toolhive": "true",
        "toolhive-name": name,
    }


def _meta(
    owner: Obj, name: str, labels: dict[str, str], annotations: dict[str, str] | None = None
) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": name,
        "namespace": owner["metadata"]["namespace"],
        "labels": dict(labels),
        "ownerReferences": [owner_reference(owner)],
    }
    if annotations:
        meta["annotations"] = dict(annotations)
    return meta


def proxy_runner_name(name: str) -> str:
    return f"{name}-proxy-runner"


def proxy_service_name(name: str) -> str:
    return f"mcp-{name}-proxy"


def runconfig_name(name: str) -> str:
    return f"{name}-runconfig"


def rbac_objects(
    owner: Obj, sa_name: str, labels: dict[str, str], rules: list[dict[str, Any]]
) -> list[Obj]:
    """ServiceAccount + Role + RoleBinding, all named ``sa_name``."""
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta(owner, sa_name, labels)},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": _meta(owner, sa_name, labels),
            "rules": rules,
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": _meta(owner, sa_name, labels),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": sa_name},
            "subjects": [
                {
                    "kind": "ServiceAccount",
                    "name": sa_name,
                    "namespace": owner["metadata"]["namespace"],
                }
            ],
        },
    ]


def service_account(owner: Obj, name: str, labels: dict[str, str]) -> Obj:
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta(owner, name, labels)}


def runconfig_json(runconfig: dict[str, Any]) -> str:
    """ToolHive's layout (``WriteJSON``): 2-space indented JSON."""
    return json.dumps(runconfig, indent=2, sort_keys=True) + "\n"


def checksum(data: dict[str, str]) -> str:
    """sha256 over the ConfigMap's data, keys in order."""
    digest = hashlib.sha256()
    for key in sorted(data):
        digest.update(key.encode() + b"\0" + data[key].encode() + b"\0")
    return digest.hexdigest()


def runconfig_configmap(
    owner: Obj, name: str, runconfig: dict[str, Any], labels: dict[str, str]
) -> Obj:
    """ConfigMap ``NAME-runconfig`` with ``runconfig.json`` and its content checksum."""
    data = {RUNCONFIG_KEY: runconfig_json(runconfig)}
    cm_labels = {
        **labels,
        "toolhive.stacklok.io/component": "run-config",
        "toolhive.stacklok.io/managed-by": "toolhive-operator",
    }
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _meta(
            owner, runconfig_name(name), cm_labels, {CONTENT_CHECKSUM_ANNOTATION: checksum(data)}
        ),
        "data": data,
    }


def _resources(spec_resources: dict[str, Any] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for part in ("limits", "requests"):
        values = {k: v for k, v in ((spec_resources or {}).get(part) or {}).items() if v}
        if values:
            out[part] = values
    return out


def _probe(initial: int, period: int, timeout: int, failures: int) -> dict[str, Any]:
    probe: dict[str, Any] = {
        "httpGet": {"path": "/health", "port": "http"},
        "periodSeconds": period,
        "timeoutSeconds": timeout,
        "failureThreshold": failures,
    }
    if initial:
        probe["initialDelaySeconds"] = initial
    return probe


def proxy_deployment(
    owner: Obj,
    *,
    name: str,
    labels: dict[str, str],
    runner_image: str,
    args: list[str],
    runconfig_checksum: str,
    proxy_port: int,
    service_account_name: str,
    replicas: int | None,
    resources: dict[str, Any] | None = None,
    overrides: dict[str, Any] | None = None,
    pull_policy: str = "IfNotPresent",
    extra_env: list[dict[str, Any]] | None = None,
    extra_volumes: list[dict[str, Any]] | None = None,
    extra_mounts: list[dict[str, Any]] | None = None,
    recreate: bool = False,
) -> Obj:
    """The proxy runner Deployment, the RunConfig mounted at ``/etc/runconfig``.

    ``replicas`` None leaves the field out, so ``kubectl scale`` or an HPA keep theirs (#3329).
    ``recreate``: the old pod goes before the new one starts (a stdio server has one stream, and
    two proxies would deploy its StatefulSet against each other during a rolling update).
    """
    overrides = overrides or {}
    template_meta = overrides.get("podTemplateMetadataOverrides") or {}
    pod_labels = {**(template_meta.get("labels") or {}), **labels}
    pod_annotations = {
        **(template_meta.get("annotations") or {}),
        RUNCONFIG_CHECKSUM_ANNOTATION: runconfig_checksum,
    }
    env: list[dict[str, Any]] = [
        {
            "name": "TOOLHIVE_KUBERNETES_NAMESPACE",
            "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}},
        },
        {"name": "TOOLHIVE_RUNTIME", "value": "kubernetes"},
        *(extra_env or []),
        *({"name": e["name"], "value": e["value"]} for e in overrides.get("env") or []),
    ]
    container: dict[str, Any] = {
        "name": PROXY_CONTAINER,
        "image": runner_image,
        "imagePullPolicy": pull_policy,
        "args": args,
        "env": env,
        "ports": [{"name": "http", "containerPort": proxy_port, "protocol": "TCP"}],
        "volumeMounts": [
            {"name": "runconfig", "mountPath": RUNCONFIG_MOUNT, "readOnly": True},
            *(extra_mounts or []),
        ],
        "startupProbe": _probe(0, 5, 3, 18),
        "livenessProbe": _probe(30, 10, 5, 3),
        "readinessProbe": _probe(5, 5, 3, 3),
    }
    if not recreate:
        container["lifecycle"] = {"preStop": {"exec": {"command": ["sleep", str(DRAIN_SECONDS)]}}}
    if _resources(resources):
        container["resources"] = _resources(resources)
    pod_spec: dict[str, Any] = {
        "serviceAccountName": service_account_name,
        "terminationGracePeriodSeconds": TERMINATION_GRACE_SECONDS,
        "containers": [container],
        "volumes": [
            {"name": "runconfig", "configMap": {"name": runconfig_name(name)}},
            *(extra_volumes or []),
        ],
    }
    pull_secrets = [s for s in overrides.get("imagePullSecrets") or [] if s.get("name")]
    if pull_secrets:
        pod_spec["imagePullSecrets"] = pull_secrets
    spec: dict[str, Any] = {
        "selector": {"matchLabels": dict(labels)},
        "template": {
            "metadata": {"labels": pod_labels, "annotations": pod_annotations},
            "spec": pod_spec,
        },
    }
    if replicas is not None:
        spec["replicas"] = replicas
    if recreate:
        spec["strategy"] = {"type": "Recreate"}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(
            owner,
            name,
            {**(overrides.get("labels") or {}), **labels},
            overrides.get("annotations"),
        ),
        "spec": spec,
    }


def proxy_service(
    owner: Obj,
    *,
    service_name: str,
    labels: dict[str, str],
    port: int,
    session_affinity: str = "ClientIP",
    overrides: dict[str, Any] | None = None,
) -> Obj:
    """The proxy's ClusterIP Service (client-IP affinity by default, as Go)."""
    overrides = overrides or {}
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(
            owner,
            service_name,
            {**(overrides.get("labels") or {}), **labels},
            overrides.get("annotations"),
        ),
        "spec": {
            "selector": dict(labels),
            "sessionAffinity": session_affinity,
            "ports": [{"name": "http", "port": port, "targetPort": port, "protocol": "TCP"}],
        },
    }


def service_url(service_name: str, namespace: str, port: int) -> str:
    return f"http://{service_name}.{namespace}.svc.cluster.local:{port}"


def mcp_url(base: str, transport: str, proxy_mode: str, name: str) -> str:
    """Go's ``GenerateMCPServerURL``: ``/mcp`` for streamable HTTP, ``/sse#NAME`` for SSE."""
    sse = proxy_mode == "sse" if transport == "stdio" else transport == "sse"
    return f"{base}/sse#{name}" if sse else f"{base}/mcp"
