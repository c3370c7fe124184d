"""A VirtualMCPServer with 2 replicas and Redis session storage on the real cluster: the Service
spreads new sessions over both pods, and a session continues when the pod serving it is deleted.

Redis runs as a pod from ``localhost/toolhive-test/redis:7`` (Debian's redis-server, built by
``scripts/build-k8s-images.sh``) with a password from a Secret, which the operator hands the
gateway pods as ``THV_SESSION_REDIS_PASSWORD``. Each session record names the pod that opened it
(``openedBy``), read back with ``redis-cli`` in the Redis pod: that is how the test knows which pod
serves a session. Raw HTTP keeps the very same ``Mcp-Session-Id`` across the deletion.
"""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest
from toolhive.testing.k8s_cluster import (
    KubeCluster,
    OperatorProcess,
    cluster_fixture,
    namespace_fixture,
)

from tests.test_k8s_vmcp import (
    IMAGE,
    cr,
    diagnose,
    get,
)

pytestmark = [pytest.mark.kubernetes, pytest.mark.timeout(900)]

k8s = cluster_fixture()
k8s_namespace = namespace_fixture()

REDIS_IMAGE = "localhost/toolhive-test/redis:7"
PASSWORD = "replicas-test-password"
PREFIX = "thv:vmcp:session:"
PROTOCOL = "2025-06-18"
HEADERS = {"accept": "application/json, text/event-stream", "content-type": "application/json"}
GATEWAY_PODS = "app=virtualmcpserver,app.kubernetes.io/instance=gw"
SESSIONS = 12  # all on one pod by chance: 2 * 2**-12


def redis_objects(ns: str) -> list[dict[str, Any]]:
    labels = {"app": "redis"}
    return [
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "redis-auth", "namespace": ns},
            "stringData": {"password": PASSWORD},
        },
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "redis", "namespace": ns, "labels": labels},
            "spec": {
                "containers": [
                    {
                        "name": "redis",
                        "image": REDIS_IMAGE,
                        "imagePullPolicy": "Never",
                        "args": ["--requirepass", "$(REDIS_PASSWORD)"],
                        "env": [
                            {
                                "name": "REDIS_PASSWORD",
                                "valueFrom": {
                                    "secretKeyRef": {"name": "redis-auth", "key": "password"}
                                },
                            }
                        ],
                        "ports": [{"containerPort": 6379}],
                        "readinessProbe": {"tcpSocket": {"port": 6379}, "periodSeconds": 1},
                    }
                ]
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "redis", "namespace": ns},
            "spec": {"selector": labels, "ports": [{"port": 6379, "targetPort": 6379}]},
        },
    ]


def opened_by(k8s: KubeCluster, ns: str, sid: str) -> str:
    """The pod that opened session ``sid``, from its record in Redis."""
    proc = k8s.kubectl(
        "exec", "redis", "-n", ns, "--", "redis-cli", "--no-auth-warning", "-a", PASSWORD,
        "GET", PREFIX + sid,
    )  # fmt: skip
    text = proc.stdout.strip()
    assert text, f"no record for session {sid} in Redis"
    return str(json.loads(text)["openedBy"])


def gateway_pods(k8s: KubeCluster, ns: str) -> set[str]:
    """The gateway's pods that are not going away."""
    listed = json.loads(
        k8s.kubectl("get", "pods", "-n", ns, "-l", GATEWAY_PODS, "-o", "json").stdout
    )
    return {
        p["metadata"]["name"] for p in listed["items"] if not p["metadata"].get("deletionTimestamp")
    }


def rpc(method: str, id: int | None, params: dict[str, Any] | None = None) -> dict[str, Any]:
    msg: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
    if id is not None:
        msg["id"] = id
    if params is not None:
        msg["params"] = params
    return msg


def answer(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, f"{response.status_code}: {response.text}"
    text = response.text
    if response.headers["content-type"].startswith("text/event-stream"):
        text = [ln[5:].strip() for ln in text.splitlines() if ln.startswith("data:")][-1]
    return dict(json.loads(text))


def open_session(url: str) -> str:
    """A new session over a new connection (kube-proxy balances connections)."""
    init = rpc(
        "initialize",
        1,
        {
            "protocolVersion": PROTOCOL,
            "capabilities": {},
            "clientInfo": {"name": "replicas-test", "version": "1"},
        },
    )
    with httpx.Client(timeout=30) as client:
        response = client.post(url, json=init, headers=HEADERS)
        answer(response)
        sid = response.headers["mcp-session-id"]
        headers = {**HEADERS, "mcp-session-id": sid, "mcp-protocol-version": PROTOCOL}
        note = client.post(url, json=rpc("notifications/initialized", None), headers=headers)
        assert note.status_code == 202, note.text
    return str(sid)


def echo(url: str, sid: str, text: str, *, patience: float = 0) -> str:
    """``echo_echo(text)`` on session ``sid``; connection failures (a pod going away behind the
    Service, kube-proxy not yet updated) are retried for ``patience`` seconds — never a 404."""
    headers = {**HEADERS, "mcp-session-id": sid, "mcp-protocol-version": PROTOCOL}
    call = rpc("tools/call", 7, {"name": "echo_echo", "arguments": {"text": text}})
    deadline = time.monotonic() + patience
    while True:
        try:
            with httpx.Client(timeout=30) as client:
                response = client.post(url, json=call, headers=headers)
            if response.status_code != 503:
                break
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"session {sid}: no answer in {patience}s")
        time.sleep(1)
    reply = answer(response)
    assert "result" in reply, f"session {sid}: {reply}"
    result = reply["result"]
    return "".join(c.get("text", "") for c in result["content"])


def test_two_replicas_share_sessions_through_redis(
    k8s: KubeCluster, k8s_namespace: str, operator: OperatorProcess
) -> None:
    ns = k8s_namespace
    for obj in redis_objects(ns):
        k8s.apply(obj, ns)
    k8s.apply(cr("MCPGroup", "team", {}), ns)
    k8s.apply(
        cr(
            "MCPServer",
            "echo",
            {
                "image": IMAGE,
                "transport": "stdio",
                "args": ["python3", "/opt/fixtures/echo_server.py", "stdio"],
                "groupRef": {"name": "team"},
            },
        ),
        ns,
    )
    k8s.kubectl("wait", "--for=condition=Ready", "pod/redis", "-n", ns, "--timeout=120s")
    k8s.apply(
        cr(
            "VirtualMCPServer",
            "gw",
            {
                "groupRef": {"name": "team"},
                "incomingAuth": {"type": "anonymous"},
                "replicas": 2,
                "sessionAffinity": "None",
                "sessionStorage": {
                    "provider": "redis",
                    "address": "redis:6379",
                    "passwordRef": {"name": "redis-auth", "key": "password"},
                },
            },
        ),
        ns,
    )

    def both_ready() -> bool:
        status = get(k8s, ns, "virtualmcpserver", "gw").get("status") or {}
        deployment = get(k8s, ns, "deployment", "gw").get("status") or {}
        return status.get("phase") == "Ready" and deployment.get("readyReplicas") == 2

    try:
        k8s.wait_for("VirtualMCPServer Ready with 2 pods", both_ready, timeout=400)
    except TimeoutError as exc:
        raise AssertionError(f"{exc}\n{diagnose(k8s, ns, operator.log)}") from None
    service = get(k8s, ns, "service", "vmcp-gw")["spec"]
    assert service["sessionAffinity"] == "None"
    url = f"http://{k8s.service_address(ns, 'vmcp-gw', 4483)}/mcp"
    config = get(k8s, ns, "configmap", "gw-vmcp-config")["data"]["config.yaml"]
    assert PASSWORD not in config

    pods = gateway_pods(k8s, ns)
    assert len(pods) == 2, pods
    # The gateway's backends may still be connecting just after Ready: wait for the tool.
    first = open_session(url)
    for _ in range(60):
        try:
            assert echo(url, first, "warm-up") == "warm-up"
            break
        except AssertionError:
            time.sleep(2)
    else:
        raise AssertionError(f"echo_echo never answered\n{diagnose(k8s, ns, operator.log)}")

    sessions = [first, *(open_session(url) for _ in range(SESSIONS - 1))]
    where = {sid: opened_by(k8s, ns, sid) for sid in sessions}
    assert set(where.values()) == pods, f"new sessions did not spread over both pods: {where}"

    victim = where[first]
    k8s.kubectl("delete", "pod", victim, "-n", ns, "--wait=false")
    # Every session answers again, the victim's included (restored on the other pod, or the new
    # one the Deployment starts): same Mcp-Session-Id, no new initialize.
    for i, sid in enumerate(sessions):
        try:
            assert echo(url, sid, f"after {i}", patience=60) == f"after {i}"
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{diagnose(k8s, ns, operator.log)}") from None
    logs = ""
    for pod in gateway_pods(k8s, ns):
        proc = k8s.kubectl("logs", pod, "-n", ns, check=False)
        logs += f"--- {pod}\n{proc.stdout}{proc.stderr}"
    assert "restored from the session store" in logs, logs[-3000:]
