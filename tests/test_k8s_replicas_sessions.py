"""MCPServer (streamable HTTP) and MCPRemoteProxy with 2 proxy replicas on the real cluster: the
Service spreads new sessions over both proxy pods, and a session continues when the proxy pod
serving it is deleted.

The proxy replicas keep no MCP session state (``ReverseProxy`` forwards every request as it
comes; the session lives in the MCP server — the one StatefulSet pod — or the remote server), so
any replica serves any session and no session store is needed. The MCP server here is the test
image's echo server plus a ``peer`` tool answering the TCP peer the server sees (the proxy pod's
IP) and the request's ``Mcp-Session-Id``: that is how the test knows which proxy pod serves a
session and that the session after the deletion is the very same one. Sessions are opened with
the official MCP client in its ``legacy`` mode (protocol 2025-11-25, which has sessions), each
over its own connection (kube-proxy balances connections).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from pathlib import Path
from typing import Any

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
    get,
)

pytestmark = [pytest.mark.kubernetes, pytest.mark.timeout(900)]

k8s = cluster_fixture()
k8s_namespace = namespace_fixture()

SESSIONS = 12  # all on one pod by chance: 2 * 2**-12
#: The echo server with a ``peer`` tool: "<peer ip> <mcp-session-id>" of the request.
PEER_SERVER = """
import sys
sys.path.insert(0, "/opt/fixtures")
from echo_server import server, serve
from mcp.server.mcpserver import Context

@server.tool()
def peer(ctx: Context) -> str:
    request = ctx.request_context.request
    if request is None or request.client is None:
        return "? ?"
    return f"{request.client.host} {request.headers.get('mcp-session-id', '?')}"

sys.exit(serve(server, sys.argv))
"""
PEER_ARGS = ["python3", "-c", PEER_SERVER, "streamable-http"]


def diagnose(k8s: KubeCluster, ns: str, log: Path) -> str:
    listing = k8s.kubectl("get", "pods,svc,deploy,sts", "-n", ns, "-o", "wide", check=False)
    status = k8s.kubectl("get", "mcpserver,mcpremoteproxy", "-n", ns, "-o", "yaml", check=False)
    tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
    return f"{listing.stdout}\n{status.stdout[-3000:]}\n--- operator log\n{tail}"


def proxy_pods(k8s: KubeCluster, ns: str, app: str, name: str) -> dict[str, str]:
    """Pod IP -> name of the proxy's pods that are not going away."""
    selector = f"app={app},app.kubernetes.io/instance={name}"
    listed = json.loads(k8s.kubectl("get", "pods", "-n", ns, "-l", selector, "-o", "json").stdout)
    return {
        p["status"]["podIP"]: p["metadata"]["name"]
        for p in listed["items"]
        if not p["metadata"].get("deletionTimestamp") and p["status"].get("podIP")
    }


def wait_two_ready(
    k8s: KubeCluster, ns: str, kind: str, name: str, operator: OperatorProcess
) -> None:
    def ready() -> bool:
        status = get(k8s, ns, kind, name).get("status") or {}
        deployment = get(k8s, ns, "deployment", name).get("status") or {}
        return status.get("phase") == "Ready" and deployment.get("readyReplicas") == 2

    try:
        k8s.wait_for(f"{kind} Ready with 2 proxy pods", ready, timeout=400)
    except TimeoutError as exc:
        raise AssertionError(f"{exc}\n{diagnose(k8s, ns, operator.log)}") from None


async def _text(client: Any, tool: str, arguments: dict[str, Any]) -> str:
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, result
    return "".join(c.text for c in result.content if c.type == "text")


async def _call(client: Any, tool: str, arguments: dict[str, Any], patience: float) -> str:
    """A call on the client's session; transport failures (the pod behind the connection going
    away, kube-proxy not yet updated) are retried on the same session for ``patience`` s."""
    deadline = time.monotonic() + patience
    while True:
        try:
            async with asyncio.timeout(20):
                return await _text(client, tool, arguments)
        except (OSError, TimeoutError, ConnectionError) as exc:
            if time.monotonic() > deadline:
                raise AssertionError(f"{tool}: no answer in {patience}s: {exc!r}") from exc
        except Exception as exc:  # the client surfaces transport errors in several types
            if "404" in str(exc) or "not found" in str(exc).lower():
                raise  # the session is gone: exactly what must not happen
            if time.monotonic() > deadline:
                raise AssertionError(f"{tool}: no answer in {patience}s: {exc!r}") from exc
        await asyncio.sleep(1)


async def _sessions_survive(k8s: KubeCluster, ns: str, url: str, app: str, name: str) -> None:
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    pods = proxy_pods(k8s, ns, app, name)
    assert len(pods) == 2, pods
    async with contextlib.AsyncExitStack() as stack:
        clients = []
        first: dict[int, tuple[str, str]] = {}  # client index -> (pod, session id)
        for i in range(SESSIONS):
            # mode legacy: MCP 2025-11-25 has sessions (Mcp-Session-Id); the sessionless
            # 2026-07-28 revision the client prefers has none to keep.
            connect = Client(streamable_http_client(url), mode="legacy")
            client = await stack.enter_async_context(connect)
            clients.append(client)
            ip, sid = (await _call(client, "peer", {}, patience=30)).split()
            assert ip in pods, f"session {i}: peer {ip} is not a proxy pod of {pods}"
            assert sid != "?", "no Mcp-Session-Id reached the server"
            first[i] = (pods[ip], sid)
        where = {pod for pod, _sid in first.values()}
        assert where == set(pods.values()), f"new sessions did not spread over both pods: {first}"

        victim = first[0][0]
        # The pod drains for a few seconds (preStop) while kube-proxy stops routing to it; once
        # it is gone every session answers again, the victim's first: same session id at the
        # server, no new initialize, served by a pod that is not the deleted one.
        gone = time.monotonic()
        k8s.kubectl("delete", "pod", victim, "-n", ns, "--wait=true", "--timeout=120s", timeout=130)
        print(f"{app} {name}: pod {victim} gone after {time.monotonic() - gone:.1f} s")
        for i, client in enumerate(clients):
            assert await _call(client, "echo", {"text": f"after {i}"}, 90) == f"after {i}"
            ip, sid = (await _call(client, "peer", {}, 30)).split()
            assert sid == first[i][1], f"session {i} changed its id: {first[i][1]} -> {sid}"
            assert pods.get(ip) != victim, f"session {i} still served by the deleted {victim}"


def sessions_survive(k8s: KubeCluster, ns: str, url: str, app: str, name: str) -> None:
    asyncio.run(_sessions_survive(k8s, ns, url, app, name))


def service(k8s: KubeCluster, ns: str, name: str) -> dict[str, Any]:
    spec = get(k8s, ns, "service", name)["spec"]
    assert spec["sessionAffinity"] == "None", spec
    return dict(spec)


def test_mcpserver_http_two_replicas_keep_sessions(
    k8s: KubeCluster, k8s_namespace: str, operator: OperatorProcess
) -> None:
    ns = k8s_namespace
    k8s.apply(
        cr(
            "MCPServer",
            "peer",
            {
                "image": IMAGE,
                "transport": "streamable-http",
                "mcpPort": 8080,
                "args": PEER_ARGS,
                "replicas": 2,
                "sessionAffinity": "None",
            },
        ),
        ns,
    )
    wait_two_ready(k8s, ns, "mcpserver", "peer", operator)
    service(k8s, ns, "mcp-peer-proxy")  # sessionAffinity None
    # Ready is the Deployment's; kube-proxy routes the ClusterIP a moment later.
    url = f"http://{k8s.service_address(ns, 'mcp-peer-proxy')}/mcp"
    statefulset = get(k8s, ns, "statefulset", "peer")
    server_pod = get(k8s, ns, "pod", "peer-0")["metadata"]["uid"]
    try:
        sessions_survive(k8s, ns, url, "mcpserver", "peer")
    except Exception as exc:  # also the MCP client's ExceptionGroups: the cluster's view helps
        raise AssertionError(f"{exc!r}\n{diagnose(k8s, ns, operator.log)}") from exc
    # The deleted proxy pod (SIGTERM) left the shared MCP server alone: same StatefulSet
    # generation, replicas 1, and the very same server pod.
    after = get(k8s, ns, "statefulset", "peer")
    assert after["spec"]["replicas"] == 1
    assert after["metadata"]["generation"] == statefulset["metadata"]["generation"]
    assert get(k8s, ns, "pod", "peer-0")["metadata"]["uid"] == server_pod


def remote_objects(ns: str) -> list[dict[str, Any]]:
    labels = {"app": "remote-mcp"}
    return [
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "remote-mcp", "namespace": ns, "labels": labels},
            "spec": {
                "containers": [
                    {
                        "name": "mcp",
                        "image": IMAGE,
                        "imagePullPolicy": "Never",
                        "args": PEER_ARGS,
                        "env": [
                            {"name": "MCP_HOST", "value": "0.0.0.0"},
                            {"name": "MCP_PORT", "value": "8080"},
                        ],
                        "ports": [{"containerPort": 8080}],
                        "readinessProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 1},
                    }
                ]
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "remote-mcp", "namespace": ns},
            "spec": {"selector": labels, "ports": [{"port": 8080, "targetPort": 8080}]},
        },
    ]


def test_remote_proxy_two_replicas_keep_sessions(
    k8s: KubeCluster, k8s_namespace: str, operator: OperatorProcess
) -> None:
    ns = k8s_namespace
    for obj in remote_objects(ns):
        k8s.apply(obj, ns)
    k8s.kubectl("wait", "--for=condition=Ready", "pod/remote-mcp", "-n", ns, "--timeout=120s")
    remote = k8s.service_address(ns, "remote-mcp", 8080)
    k8s.apply(
        cr(
            "MCPRemoteProxy",
            "remote",
            {
                "remoteUrl": f"http://{remote}/mcp",
                "allowPrivateEndpoint": True,
                "replicas": 2,
                "sessionAffinity": "None",
            },
        ),
        ns,
    )
    wait_two_ready(k8s, ns, "mcpremoteproxy", "remote", operator)
    service(k8s, ns, "mcp-remote-remote-proxy")  # sessionAffinity None
    url = f"http://{k8s.service_address(ns, 'mcp-remote-remote-proxy')}/mcp"
    try:
        sessions_survive(k8s, ns, url, "mcpremoteproxy", "remote")
    except Exception as exc:
        raise AssertionError(f"{exc!r}\n{diagnose(k8s, ns, operator.log)}") from exc
