"""thv-operator on the real cluster: an MCPServer's protection enforced by its proxy, or refused.

An inline Cedar policy in the MCPServer reaches the proxy runner's RunConfig; through the proxy's
Service the allowed tool answers, another is denied and the tool list is filtered. An
oidcConfigRef to an MCPOIDCConfig naming a real test issuer (listening on docker0, 172.17.0.1, so
the proxy pod reaches it) makes the proxy refuse a request without a token and answer one with the
issuer's signed token. Protection the operator cannot map (here a webhookConfigRef) leaves the
MCPServer Failed with no proxy.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from toolhive.testing.k8s_cluster import (
    KubeCluster,
    OperatorProcess,
    cluster_fixture,
    create_namespace,
    delete_namespace,
)

from tests.test_k8s_operator import get

pytestmark = [pytest.mark.kubernetes, pytest.mark.timeout(900)]

k8s = cluster_fixture()

REPO = Path(__file__).resolve().parents[1]
IMAGE = "localhost/toolhive-test/mcp-servers:latest"
ALLOW = 'permit(principal, action == Action::"call_tool", resource == Tool::"get_current_time");'


@pytest.fixture(scope="module", autouse=True)
def crds(k8s: KubeCluster) -> None:
    k8s.kubectl("apply", "-k", str(REPO / "deploy" / "crds"))
    k8s.kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s", timeout=70)


@pytest.fixture
def namespace(k8s: KubeCluster) -> Iterator[str]:
    name = create_namespace(k8s, prefix="thv-protect")
    try:
        yield name
    finally:
        delete_namespace(k8s, name)  # strips what finalizers remain


@pytest.fixture
def operator(k8s: KubeCluster, namespace: str, tmp_path: Path) -> Iterator[OperatorProcess]:
    import sys

    op = OperatorProcess(k8s, namespace, tmp_path / "operator.log", "--resync", "60")
    op.start()
    try:
        yield op
    finally:
        # The MCPServers go while the operator still runs (their finalizer is its to remove).
        k8s.kubectl("delete", "mcpserver", "--all", "-n", namespace, "--wait=true", timeout=120)
        k8s.kubectl(
            "delete",
            "mcpoidcconfigs,mcptelemetryconfigs",
            "--all",
            "-n",
            namespace,
            "--wait=true",
            timeout=120,
            check=False,
        )
        op.stop()
        sys.stderr.write(op.log.read_text()[-6000:])


def server(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "toolhive.stacklok.dev/v1beta1",
        "kind": "MCPServer",
        "metadata": {"name": name},
        "spec": {"image": IMAGE, "transport": "stdio", "args": ["mcp-server-time"], **spec},
    }


def status_of(k8s: KubeCluster, namespace: str, name: str) -> dict[str, Any]:
    return dict((get(k8s, namespace, "mcpserver", name) or {}).get("status") or {})


def wait_phase(k8s: KubeCluster, namespace: str, name: str, want: str) -> dict[str, Any]:
    try:
        k8s.wait_for(
            f"MCPServer {name} phase {want}",
            lambda: status_of(k8s, namespace, name).get("phase") == want,
            240,
            1,
        )
    except TimeoutError:
        pods = k8s.kubectl("get", "pods,sts,deploy", "-n", namespace, check=False).stdout
        raise AssertionError(f"status {status_of(k8s, namespace, name)}\n{pods}") from None
    return status_of(k8s, namespace, name)


async def _session(url: str) -> tuple[list[str], tuple[int, Any], tuple[int, Any]]:
    from toolhive.testing.chains import raw_session

    async with asyncio.timeout(60), raw_session(url) as mcp:
        _status, listed = await mcp.rpc("tools/list")
        names = sorted(t["name"] for t in listed["result"]["tools"])
        allowed = await mcp.rpc(
            "tools/call", {"name": "get_current_time", "arguments": {"timezone": "UTC"}}
        )
        denied = await mcp.rpc(
            "tools/call",
            {
                "name": "convert_time",
                "arguments": {
                    "source_timezone": "UTC",
                    "time": "12:00",
                    "target_timezone": "Europe/Paris",
                },
            },
        )
        return names, allowed, denied


def test_inline_cedar_policy_is_enforced_by_the_proxy(
    k8s: KubeCluster, namespace: str, operator: OperatorProcess
) -> None:
    authz = {"type": "inline", "inline": {"policies": [ALLOW]}}
    k8s.apply(server("guarded", authzConfig=authz, audit={"enabled": True}), namespace)
    status = wait_phase(k8s, namespace, "guarded", "Ready")
    assert status["authzConfigHash"]
    svc = get(k8s, namespace, "service", "mcp-guarded-proxy")
    assert svc is not None
    url = f"http://{svc['spec']['clusterIP']}:{svc['spec']['ports'][0]['port']}/mcp"
    names, allowed, denied = asyncio.run(_session(url))
    assert names == ["get_current_time"]  # the list is filtered to what the caller may call
    status_code, answer = allowed
    assert status_code == 200 and "error" not in answer, answer
    assert '"timezone": "UTC"' in answer["result"]["content"][0]["text"]
    status_code, answer = denied
    assert status_code == 403, answer


async def _listed(url: str) -> list[str]:
    from toolhive.testing.chains import raw_session

    async with asyncio.timeout(30), raw_session(url) as mcp:
        _status, listed = await mcp.rpc("tools/list")
        return sorted(t["name"] for t in listed["result"]["tools"])


def wait_listed(url: str, want: list[str], timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            last = asyncio.run(_listed(url))
            if last == want:
                return
        except Exception as exc:  # the proxy rolling out: refused, reset, 5xx for a while
            last = exc
        time.sleep(2)
    raise AssertionError(f"tools never became {want}: last {last!r}")


def policy_configmap(tool: str) -> dict[str, Any]:
    policy = f'permit(principal, action == Action::"call_tool", resource == Tool::"{tool}");'
    document = {"version": "1.0", "type": "cedarv1", "cedar": {"policies": [policy]}}
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        # Labelled: the operator watches ToolHive-labelled ConfigMaps, so the edit is seen at once.
        "metadata": {"name": "policy", "labels": {"toolhive": "true"}},
        "data": {"authz.json": json.dumps(document)},
    }


def test_authz_configmap_change_rolls_the_proxy_out(
    k8s: KubeCluster, namespace: str, operator: OperatorProcess
) -> None:
    k8s.apply(policy_configmap("get_current_time"), namespace)
    authz = {"type": "configMap", "configMap": {"name": "policy"}}
    k8s.apply(server("bycm", authzConfig=authz), namespace)
    before = wait_phase(k8s, namespace, "bycm", "Ready")["authzConfigHash"]
    svc = get(k8s, namespace, "service", "mcp-bycm-proxy")
    assert svc is not None
    url = f"http://{svc['spec']['clusterIP']}:{svc['spec']['ports'][0]['port']}/mcp"
    wait_listed(url, ["get_current_time"])
    k8s.apply(policy_configmap("convert_time"), namespace)
    wait_listed(url, ["convert_time"])
    assert status_of(k8s, namespace, "bycm")["authzConfigHash"] != before


def test_protection_that_cannot_be_mapped_runs_no_proxy(
    k8s: KubeCluster, namespace: str, operator: OperatorProcess
) -> None:
    k8s.apply(server("open", webhookConfigRef={"name": "hooks"}), namespace)
    status = wait_phase(k8s, namespace, "open", "Failed")
    assert "spec.webhookConfigRef" in status["message"]
    conds = {c["type"]: c for c in status["conditions"]}
    assert conds["WebhookConfigValidated"]["status"] == "False"
    assert conds["Ready"]["reason"] == "ProtectionNotMapped"
    assert get(k8s, namespace, "deployment", "open") is None


#: docker0's address on this machine: the cluster's pods reach the host there.
DOCKER_HOST_IP = "172.17.0.1"


async def _oidc_calls(url: str, token: str) -> tuple[int, str, int, Any]:
    from toolhive.testing.chains import raw_session

    async with asyncio.timeout(60):
        async with raw_session(url, start=False) as anonymous:
            response = await anonymous.start()
            challenge = response.headers.get("www-authenticate", "")
            refused = response.status_code
        async with raw_session(url, {"authorization": f"Bearer {token}"}) as mcp:
            status_code, answer = await mcp.rpc(
                "tools/call", {"name": "get_current_time", "arguments": {"timezone": "UTC"}}
            )
    return refused, challenge, status_code, answer


def test_oidc_config_ref_makes_the_proxy_want_the_issuers_token(
    k8s: KubeCluster, namespace: str, operator: OperatorProcess
) -> None:
    from toolhive.testing.oidc import OIDCIssuer

    with OIDCIssuer(host=DOCKER_HOST_IP, audience="mcp-secured") as issuer:
        k8s.apply(
            {
                "apiVersion": "toolhive.stacklok.dev/v1beta1",
                "kind": "MCPOIDCConfig",
                "metadata": {"name": "idp"},
                "spec": {
                    "type": "inline",
                    "inline": {
                        "issuer": issuer.url,
                        "jwksUrl": issuer.jwks_url,
                        # A test issuer: plain HTTP on a private address (core refuses both
                        # unless told).
                        "insecureAllowHTTP": True,
                        "jwksAllowPrivateIP": True,
                    },
                },
            },
            namespace,
        )
        ref = {"name": "idp", "audience": issuer.audience}
        k8s.apply(server("secured", oidcConfigRef=ref), namespace)
        status = wait_phase(k8s, namespace, "secured", "Ready")
        assert status["oidcConfigHash"]
        conds = {c["type"]: c for c in status["conditions"]}
        assert conds["OIDCConfigRefValidated"]["status"] == "True"
        config = get(k8s, namespace, "mcpoidcconfig", "idp")
        assert config is not None and config["status"]["configHash"] == status["oidcConfigHash"]
        svc = get(k8s, namespace, "service", "mcp-secured-proxy")
        assert svc is not None
        url = f"http://{svc['spec']['clusterIP']}:{svc['spec']['ports'][0]['port']}/mcp"
        refused, challenge, status_code, answer = asyncio.run(
            _oidc_calls(url, issuer.token(sub="alice"))
        )
        assert refused == 401
        assert challenge.lower().startswith("bearer"), challenge
        assert status_code == 200 and "error" not in answer, answer
        assert '"timezone": "UTC"' in answer["result"]["content"][0]["text"]
        assert issuer.jwks_fetches >= 1  # the proxy pod fetched the keys from the issuer
