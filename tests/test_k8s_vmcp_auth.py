"""VirtualMCPServer with ``incomingAuth`` oidc + an inline Cedar policy on the real cluster.

An MCPOIDCConfig names a real test issuer listening on docker0 (172.17.0.1: the gateway pod
reaches it there, as in ``test_k8s_operator_protection.py``); the VirtualMCPServer references it and
allows one tool with Cedar. At the gateway Service's ClusterIP: no token → 401 with a Bearer
challenge, the issuer's signed token → the allowed tool listed and answered, the other tool refused.
The operator runs out of cluster (``thv-operator`` with the test kubeconfig, watching the test's
namespace); the MCP server's proxy and the gateway run from ``scripts/build-k8s-images.sh``'s images.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from toolhive.testing.k8s_cluster import (
    KubeCluster,
    OperatorProcess,
    cluster_fixture,
    namespace_fixture,
)

from tests.test_k8s_vmcp import IMAGE, cr, diagnose, get

pytestmark = [pytest.mark.kubernetes, pytest.mark.timeout(900)]

k8s = cluster_fixture()
k8s_namespace = namespace_fixture()

#: docker0's address on this machine: the cluster's pods reach the host there.
DOCKER_HOST_IP = "172.17.0.1"
ALLOWED = "time_get_current_time"
FORBIDDEN = "time_convert_time"
ALLOW = f'permit(principal, action == Action::"call_tool", resource == Tool::"{ALLOWED}");'


async def _calls(url: str, token: str) -> dict[str, Any]:
    from toolhive.testing.chains import raw_session

    out: dict[str, Any] = {}
    async with asyncio.timeout(90):
        async with raw_session(url, start=False) as anonymous:
            response = await anonymous.start()
            out["anonymous"] = (response.status_code, response.headers.get("www-authenticate", ""))
        async with raw_session(url, {"authorization": f"Bearer {token}"}) as mcp:
            out["list"] = await mcp.rpc("tools/list")
            listed = out["list"][1].get("result") or {}
            out["tools"] = sorted(t["name"] for t in listed.get("tools") or [])
            out["allowed"] = await mcp.rpc(
                "tools/call", {"name": ALLOWED, "arguments": {"timezone": "UTC"}}
            )
            out["forbidden"] = await mcp.rpc(
                "tools/call",
                {
                    "name": FORBIDDEN,
                    "arguments": {
                        "source_timezone": "UTC",
                        "time": "12:00",
                        "target_timezone": "Europe/Paris",
                    },
                },
            )
    return out


def test_oidc_and_cedar_guard_the_virtual_mcp_server(
    k8s: KubeCluster, k8s_namespace: str, operator: OperatorProcess
) -> None:
    from toolhive.testing.oidc import OIDCIssuer

    ns = k8s_namespace
    with OIDCIssuer(host=DOCKER_HOST_IP, audience="vmcp-gw") as issuer:
        k8s.apply(cr("MCPGroup", "team", {"description": "one time server"}), ns)
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
                "MCPOIDCConfig",
                "idp",
                {
                    "type": "inline",
                    "inline": {
                        "issuer": issuer.url,
                        "jwksUrl": issuer.jwks_url,
                        # A test issuer: plain HTTP on a private address (refused unless told).
                        "insecureAllowHTTP": True,
                        "jwksAllowPrivateIP": True,
                    },
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
                    "incomingAuth": {
                        "type": "oidc",
                        "oidcConfigRef": {"name": "idp", "audience": issuer.audience},
                        "authzConfig": {"type": "inline", "inline": {"policies": [ALLOW]}},
                    },
                    "config": {"operational": {"failureHandling": {"healthCheckInterval": "2s"}}},
                },
            ),
            ns,
        )

        def gateway_ready() -> bool:
            status = get(k8s, ns, "virtualmcpserver", "gw").get("status") or {}
            return status.get("phase") == "Ready" and status.get("backendCount") == 1

        try:
            k8s.wait_for("VirtualMCPServer Ready with its backend", gateway_ready, timeout=400)
        except TimeoutError as exc:
            raise AssertionError(f"{exc}\n{diagnose(k8s, ns, operator.log)}") from None

        status = get(k8s, ns, "virtualmcpserver", "gw")["status"]
        conditions = {c["type"]: c for c in status["conditions"]}
        assert conditions["OIDCConfigRefValidated"]["status"] == "True"
        assert conditions["AuthConfigured"]["status"] == "True"
        idp = get(k8s, ns, "mcpoidcconfig", "idp")
        assert status["oidcConfigHash"] == idp["status"]["configHash"]
        config_map = get(k8s, ns, "configmap", "gw-vmcp-config")
        assert "oidc" in config_map["data"]["config.yaml"]

        # Ready is the Deployment's; kube-proxy routes the ClusterIP a moment later.
        url = f"http://{k8s.service_address(ns, 'vmcp-gw', 4483)}/mcp"
        token = issuer.token(sub="alice")
        # Ready once it listens; its backend may still be connecting: retry until it lists tools.
        seen: dict[str, Any] = {}
        for _ in range(30):
            seen = asyncio.run(_calls(url, token))
            if seen["tools"]:
                break
            time.sleep(2)
        context = f"{seen}\n{diagnose(k8s, ns, operator.log)}"
        refused, challenge = seen["anonymous"]
        assert refused == 401, context
        assert challenge.lower().startswith("bearer"), context
        assert seen["tools"] == [ALLOWED], context  # listed: only what alice may call
        status_code, answer = seen["allowed"]
        assert status_code == 200 and "error" not in answer, context
        assert '"timezone": "UTC"' in answer["result"]["content"][0]["text"], context
        status_code, answer = seen["forbidden"]
        assert status_code == 403, context  # Cedar refuses it
        assert issuer.jwks_fetches >= 1  # the gateway pod fetched the keys from the issuer
