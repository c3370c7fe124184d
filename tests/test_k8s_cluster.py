"""The single-node test cluster itself (scripts/install-k8s.sh, scripts/k8s-cluster.sh): the node is
Ready, a pod runs on dockerd and its logs come back through the API, and a Service's ClusterIP is
reachable from the host through kube-proxy — what the runtime plugin and operator tests build on."""

from __future__ import annotations

import socket
import time

import pytest
from toolhive.testing.k8s_cluster import (
    BUSYBOX_IMAGE,
    KubeCluster,
    cluster_fixture,
    namespace_fixture,
)

pytestmark = pytest.mark.kubernetes
k8s = cluster_fixture()
k8s_namespace = namespace_fixture()


def _pod(name: str, command: str, labels: dict[str, str] | None = None) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels or {}},
        "spec": {
            # No cluster DNS here: keep pods from asking the host's resolver.
            "dnsPolicy": "None",
            "dnsConfig": {"nameservers": ["127.0.0.1"]},
            "terminationGracePeriodSeconds": 1,
            "containers": [
                {
                    "name": "main",
                    "image": BUSYBOX_IMAGE,
                    "imagePullPolicy": "Never",  # no registry: images come from dockerd
                    "command": ["sh", "-c", command],
                }
            ],
        },
    }


def test_node_is_ready_and_reports_v1_20(k8s: KubeCluster) -> None:
    assert k8s.node_ready()
    nodes = k8s.json("get", "nodes")["items"]
    assert len(nodes) == 1
    info = nodes[0]["status"]["nodeInfo"]
    assert info["kubeletVersion"] == "v1.20.2"
    assert info["containerRuntimeVersion"].startswith("docker://")


def test_pod_runs_and_logs(k8s: KubeCluster, k8s_namespace: str) -> None:
    start = time.monotonic()
    k8s.apply(_pod("hello", "echo hello-from-pod; exec sleep 3600"), k8s_namespace)
    k8s.kubectl("wait", "--for=condition=Ready", "pod/hello", "-n", k8s_namespace, "--timeout=120s")
    ready_after = time.monotonic() - start
    k8s.wait_for(
        "the pod's log line",
        lambda: "hello-from-pod" in k8s.kubectl("logs", "hello", "-n", k8s_namespace).stdout,
        timeout=30,
    )
    # The recipe measured 1.5-2.1 s; a loaded 2-core machine gets a generous bound.
    assert ready_after < 90, f"pod Ready after {ready_after:.1f} s"


def test_service_cluster_ip_reachable_from_host(k8s: KubeCluster, k8s_namespace: str) -> None:
    serve = "mkdir -p /www && echo hello-from-service > /www/index.html && exec httpd -f -p 8080 -h /www"
    k8s.apply(_pod("web", serve, labels={"app": "web"}), k8s_namespace)
    k8s.apply(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "web"},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]},
        },
        k8s_namespace,
    )
    k8s.kubectl("wait", "--for=condition=Ready", "pod/web", "-n", k8s_namespace, "--timeout=120s")
    cluster_ip = k8s.json("get", "service", "web", "-n", k8s_namespace)["spec"]["clusterIP"]
    assert cluster_ip.startswith("10.0.0.")

    def fetch() -> str:
        try:
            with socket.create_connection((cluster_ip, 80), timeout=3) as conn:
                conn.sendall(b"GET /index.html HTTP/1.0\r\n\r\n")
                chunks = []
                while chunk := conn.recv(4096):
                    chunks.append(chunk)
            return b"".join(chunks).decode(errors="replace")
        except OSError:
            return ""

    # kube-proxy writes the Service's iptables rules shortly after the endpoint appears.
    k8s.wait_for(
        "the Service answering on its ClusterIP",
        lambda: "hello-from-service" in fetch(),
        timeout=60,
    )
