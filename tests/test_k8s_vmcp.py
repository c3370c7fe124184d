"""MCPGroup + two MCPServers + VirtualMCPServer on the real cluster → one endpoint, both servers' tools.

The operator runs out of cluster (``thv-operator`` with the test kubeconfig, watching the test's
namespace); the MCP servers' proxies and the gateway run from the images
``scripts/build-k8s-images.sh`` builds. The official ``mcp`` client reaches the gateway at its
Service's ClusterIP (the node routes ClusterIPs through kube-proxy; there is no cluster DNS, so the
gateway reaches its backends by ClusterIP too).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.types import TextContent
from toolhive.testing.k8s_cluster import (
    KubeCluster,
    OperatorProcess,
    cluster_fixture,
    namespace_fixture,
)

pytestmark = [pytest.mark.kubernetes, pytest.mark.timeout(900)]

k8s = cluster_fixture()
k8s_namespace = namespace_fixture()

API = "toolhive.stacklok.dev/v1beta1"
IMAGE = "localhost/toolhive-test/mcp-servers:latest"
#: The operator out of cluster: pods use the node's images, and a quick resync.


def cr(kind: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": API, "kind": kind, "metadata": {"name": name}, "spec": spec}


def get(k8s: KubeCluster, namespace: str, kind: str, name: str) -> dict[str, Any]:
    proc = k8s.kubectl("get", kind, name, "-n", namespace, "-o", "json", check=False)
    if proc.returncode != 0:
        return {}
    return dict(json.loads(proc.stdout))


def diagnose(k8s: KubeCluster, namespace: str, log: Path) -> str:
    pods = k8s.kubectl("get", "pods,svc,deploy", "-n", namespace, "-o", "wide", check=False).stdout
    gateway = k8s.kubectl("logs", "deploy/gw", "-n", namespace, "--tail=60", check=False)
    status = get(k8s, namespace, "virtualmcpserver", "gw").get("status")
    return (
        f"{pods}\n--- gateway status\n{status}\n--- gateway log\n{gateway.stdout}{gateway.stderr}"
        "\n--- operator log\n" + log.read_text(errors="replace")[-4000:]
    )


def test_virtual_mcp_server_serves_both_members_tools(
    k8s: KubeCluster, k8s_namespace: str, operator: OperatorProcess
) -> None:
    ns = k8s_namespace
    k8s.apply(cr("MCPGroup", "team", {"description": "two servers"}), ns)
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
    k8s.apply(
        cr(
            "MCPServer",
            "time",
            {
                "image": IMAGE,
                "transport": "stdio",
                "args": ["mcp-server-time", "--local-timezone", "UTC"],
                "groupRef": {"name": "team"},
            },
        ),
        ns,
    )
    k8s.apply(
        cr(
            "VirtualMCPServer",
            "gw",
            {
                "groupRef": {"name": "team"},
                "incomingAuth": {"type": "anonymous"},
                "config": {
                    "operational": {
                        "failureHandling": {
                            "healthCheckInterval": "2s",
                            "partialFailureMode": "best_effort",
                        }
                    }
                },
            },
        ),
        ns,
    )

    def group_lists_both() -> bool:
        status = get(k8s, ns, "mcpgroup", "team").get("status") or {}
        return status.get("servers") == ["echo", "time"] and status.get("phase") == "Ready"

    def gateway_ready() -> bool:
        status = get(k8s, ns, "virtualmcpserver", "gw").get("status") or {}
        return status.get("phase") == "Ready" and status.get("backendCount") == 2

    try:
        k8s.wait_for("MCPGroup lists both servers", group_lists_both, timeout=120)
        k8s.wait_for("VirtualMCPServer Ready with 2 backends", gateway_ready, timeout=400)
    except TimeoutError as exc:
        raise AssertionError(f"{exc}\n{diagnose(k8s, ns, operator.log)}") from None

    status = get(k8s, ns, "virtualmcpserver", "gw")["status"]
    assert status["url"] == f"http://vmcp-gw.{ns}.svc.cluster.local:4483"
    assert sorted(b["name"] for b in status["discoveredBackends"]) == ["echo", "time"]
    url = f"http://{k8s.service_address(ns, 'vmcp-gw', 4483)}/mcp"

    async def session() -> tuple[list[str], str]:
        with anyio.fail_after(120):
            async with Client(url) as client:
                tools = await client.list_tools()
                names = sorted(t.name for t in tools.tools)
                if "echo_echo" not in names:
                    return names, ""  # still connecting (or an older pod of the rollout)
                called = await client.call_tool("echo_echo", {"text": "through the gateway"})
                text = "".join(c.text for c in called.content if isinstance(c, TextContent))
                return names, text

    # The gateway's pod is Ready once it listens; its backends may still be connecting.
    deadline_names: list[str] = []
    for _ in range(30):
        names, text = anyio.run(session)
        deadline_names = names
        if any(n.startswith("time_") for n in names) and "echo_echo" in names:
            break
        anyio.run(anyio.sleep, 2)
    else:
        raise AssertionError(f"tools: {deadline_names}\n{diagnose(k8s, ns, operator.log)}")
    assert {"echo_echo", "echo_add", "time_get_current_time"} <= set(names)
    assert text == "through the gateway"

    # Nothing changed, nothing written: not by the resyncs (every 5 s), not by a restart.
    objects = [
        ("virtualmcpserver", "gw"),
        ("mcpgroup", "team"),
        ("configmap", "gw-vmcp-config"),
        ("deployment", "gw"),
        ("service", "vmcp-gw"),
    ]

    def versions() -> dict[str, str]:
        return {
            f"{kind}/{name}": get(k8s, ns, kind, name)["metadata"]["resourceVersion"]
            for kind, name in objects
        }

    anyio.run(anyio.sleep, 3)  # the Deployment's own status settles (the controller-manager's)
    before = versions()
    operator.stop()
    operator.start()
    anyio.run(anyio.sleep, 15)  # the restarted operator lists everything, then resyncs twice
    assert versions() == before, diagnose(k8s, ns, operator.log)
