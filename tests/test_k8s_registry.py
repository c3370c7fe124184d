"""MCPRegistry on the real cluster: a ConfigMap source served as the registry API (v0.1).

As ToolHive's ``examples/operator/mcp-registries/mcpregistry-configyaml-configmap.yaml``: the
registry document is a ConfigMap key, mounted through the MCPRegistry's ``volumes`` and
``volumeMounts`` at the path the ``configYAML``'s file source names. The operator runs out of
cluster; the registry API runs in a pod from the proxy runner image and is called at its Service's
ClusterIP (no cluster DNS), with ``thv``'s registry client too.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from toolhive.testing.k8s_cluster import (
    KubeCluster,
    OperatorProcess,
    cluster_fixture,
    namespace_fixture,
)

from tests.test_k8s_vmcp import get

pytestmark = [pytest.mark.kubernetes, pytest.mark.timeout(900)]

k8s = cluster_fixture()
k8s_namespace = namespace_fixture()

API = "toolhive.stacklok.dev/v1beta1"
PUBLISHER = "io.modelcontextprotocol.registry/publisher-provided"


def server(name: str, image: str, tags: list[str]) -> dict[str, Any]:
    return {
        "name": name,
        "description": f"The {name} server",
        "version": "1.0.0",
        "packages": [{"registryType": "oci", "identifier": image, "transport": {"type": "stdio"}}],
        "_meta": {PUBLISHER: {"io.github.example": {image: {"tags": tags}}}},
    }


DOCUMENT = {
    "version": "1.0.0",
    "meta": {"last_updated": "2026-01-01T00:00:00Z"},
    "data": {
        "servers": [
            server("io.github.example/filesystem", "docker.io/mcp/filesystem:1", ["production"]),
            server(
                "io.github.example/github", "ghcr.io/github/github-mcp-server:1", ["production"]
            ),
            server("io.github.example/experimental-ai", "docker.io/mcp/exp:0.1", ["experimental"]),
        ]
    },
}

CONFIG_YAML = """\
sources:
  - name: production
    file:
      path: /config/registry/production/registry.json
    syncPolicy:
      interval: 1h
    filter:
      tags:
        include: ["production"]
        exclude: ["experimental"]
registries:
  - name: default
    sources: ["production"]
auth:
  mode: anonymous
"""


def test_mcp_registry_serves_v0_1_servers_from_a_config_map(
    k8s: KubeCluster, k8s_namespace: str, operator: OperatorProcess, tmp_path: Path
) -> None:
    ns = k8s_namespace
    k8s.apply(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "prod-registry"},
            "data": {"registry.json": json.dumps(DOCUMENT)},
        },
        ns,
    )
    k8s.apply(
        {
            "apiVersion": API,
            "kind": "MCPRegistry",
            "metadata": {"name": "reg"},
            "spec": {
                "displayName": "ConfigMap registry",
                "configYAML": CONFIG_YAML,
                "volumes": [
                    {
                        "name": "registry-data",
                        "configMap": {
                            "name": "prod-registry",
                            "items": [{"key": "registry.json", "path": "registry.json"}],
                        },
                    }
                ],
                "volumeMounts": [
                    {
                        "name": "registry-data",
                        "mountPath": "/config/registry/production",
                        "readOnly": True,
                    }
                ],
            },
        },
        ns,
    )

    def ready() -> bool:
        status = get(k8s, ns, "mcpregistry", "reg").get("status") or {}
        return status.get("phase") == "Ready" and status.get("readyReplicas") == 1

    try:
        k8s.wait_for("MCPRegistry Ready", ready, timeout=300)
    except TimeoutError as exc:
        pods = k8s.kubectl("get", "pods,deploy,svc", "-n", ns, "-o", "wide", check=False).stdout
        logs = k8s.kubectl("logs", "deploy/reg-api", "-n", ns, "--tail=40", check=False)
        raise AssertionError(
            f"{exc}\n{pods}\n{logs.stdout}{logs.stderr}\n{operator.log.read_text()[-3000:]}"
        ) from None
    status = get(k8s, ns, "mcpregistry", "reg")["status"]
    assert status["url"] == f"http://reg-api.{ns}:8080"

    # Ready is the Deployment's; kube-proxy routes the ClusterIP a moment later.
    base = f"http://{k8s.service_address(ns, 'reg-api', 8080)}"
    with httpx.Client(base_url=base, timeout=30) as client:
        listed = client.get("/v0.1/servers")
        one = client.get(
            f"/v0.1/servers/{quote('io.github.example/github', safe='')}/versions/latest"
        )
        missing = client.get(
            f"/v0.1/servers/{quote('io.github.example/experimental-ai', safe='')}/versions/latest"
        )
    assert listed.status_code == 200
    assert [i["server"]["name"] for i in listed.json()["servers"]] == [
        "io.github.example/filesystem",
        "io.github.example/github",
    ]
    assert one.json()["server"]["packages"][0]["identifier"] == "ghcr.io/github/github-mcp-server:1"
    assert missing.status_code == 404  # filtered out by its tag

    # An edited ConfigMap reaches the pod (the kubelet swaps the mounted file) and is served
    # without a restart.
    edited = {**DOCUMENT, "data": {"servers": [*DOCUMENT["data"]["servers"][:2]]}}
    edited["data"]["servers"].append(
        server("io.github.example/fetch", "ghcr.io/example/fetch:2", ["production"])
    )
    k8s.apply(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "prod-registry"},
            "data": {"registry.json": json.dumps(edited)},
        },
        ns,
    )
    pod_before = k8s.json("get", "pods", "-n", ns, "-l", "app.kubernetes.io/name=reg-api")

    def served() -> bool:
        with httpx.Client(base_url=base, timeout=10) as client:
            names = [i["server"]["name"] for i in client.get("/v0.1/servers").json()["servers"]]
        return "io.github.example/fetch" in names

    k8s.wait_for("the edited ConfigMap served", served, timeout=240, interval=3)
    pod_after = k8s.json("get", "pods", "-n", ns, "-l", "app.kubernetes.io/name=reg-api")
    assert [p["metadata"]["uid"] for p in pod_after["items"]] == [
        p["metadata"]["uid"] for p in pod_before["items"]
    ]

    # ToolHive's own client reads it as a registry API source.
    home = tmp_path / "home"
    env = {
        **os.environ,
        "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_DATA_HOME": str(home / "data"),
        "XDG_STATE_HOME": str(home / "state"),
        "XDG_CACHE_HOME": str(home / "cache"),
    }
    thv = [sys.executable, "-m", "toolhive"]
    subprocess.run(
        [*thv, "config", "set-registry", base, "--allow-private-ip"],
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    listing = subprocess.run(
        [*thv, "registry", "list", "--format", "json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert listing.returncode == 0, listing.stderr
    assert "io.github.example/fetch" in listing.stdout
    assert "experimental-ai" not in listing.stdout
