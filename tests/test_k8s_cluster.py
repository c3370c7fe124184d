"""The single-node test cluster itself (scripts/install-k8s.sh, scripts/k8s-cluster.sh): the node is
Ready, a pod runs on dockerd and its logs come back through the API, and a Service's ClusterIP is
reachable from the host through kube-proxy — what the runtime plugin and operator tests build on."""

from __future__ import annotations

import json
import socket
import time

import pytest
from toolhive.testing.k8s_cluster import (
    BUSYBOX_IMAGE,
    KubeCluster,
    cluster_fixture,
    namespace_fixture,
)

PYTHON_IMAGE = "localhost/toolhive-test/python-base:bookworm"

pytestmark = pytest.mark.kubernetes
k8s = cluster_fixture()
k8s_namespace = namespace_fixture()


def _pod(
    name: str,
    command: list[str],
    labels: dict[str, str] | None = None,
    image: str = BUSYBOX_IMAGE,
    restart: str = "Always",
) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels or {}},
        "spec": {
            # No cluster DNS here: keep pods from asking the host's resolver.
            "dnsPolicy": "None",
            "dnsConfig": {"nameservers": ["127.0.0.1"]},
            "terminationGracePeriodSeconds": 1,
            "restartPolicy": restart,
            "containers": [
                {
                    "name": "main",
                    "image": image,
                    "imagePullPolicy": "Never",  # no registry: images come from dockerd
                    "command": command,
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
    k8s.apply(_pod("hello", ["sh", "-c", "echo hello-from-pod; exec sleep 3600"]), k8s_namespace)
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
    k8s.apply(_pod("web", ["sh", "-c", serve], labels={"app": "web"}), k8s_namespace)
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


PROBE = """
import json, os, ssl, urllib.error, urllib.request
d = "/var/run/secrets/kubernetes.io/serviceaccount/"
ctx = ssl.create_default_context(cafile=d + "ca.crt")
host = os.environ["KUBERNETES_SERVICE_HOST"] + ":" + os.environ["KUBERNETES_SERVICE_PORT"]
token = open(d + "token").read()
namespace = open(d + "namespace").read()
for path in ("/api", "/api/v1/namespaces/" + namespace + "/pods"):
    req = urllib.request.Request("https://" + host + path, headers={"Authorization": "Bearer " + token})
    try:
        status = urllib.request.urlopen(req, context=ctx, timeout=10).status
    except urllib.error.HTTPError as e:
        status = e.code
    print(json.dumps({"path": path, "status": status}))
"""


def test_pod_reaches_the_api_with_its_service_account(k8s: KubeCluster, k8s_namespace: str) -> None:
    """What an in-cluster operator or proxy runner relies on: kubernetes.default (10.0.0.1:443)
    leads to the API server, TLS verifies against the service-account CA, the token authenticates
    (discovery allowed, pods forbidden without a RoleBinding)."""
    probe = _pod("probe", ["python3", "-c", PROBE], image=PYTHON_IMAGE, restart="Never")
    k8s.apply(probe, k8s_namespace)

    def phase() -> str:
        return str(k8s.json("get", "pod", "probe", "-n", k8s_namespace)["status"].get("phase", ""))

    k8s.wait_for("the probe pod to finish", lambda: phase() in {"Succeeded", "Failed"}, timeout=120)
    logs = k8s.kubectl("logs", "probe", "-n", k8s_namespace).stdout
    assert phase() == "Succeeded", logs
    statuses = {line["path"]: line["status"] for line in map(json.loads, logs.splitlines())}
    assert statuses == {"/api": 200, f"/api/v1/namespaces/{k8s_namespace}/pods": 403}
