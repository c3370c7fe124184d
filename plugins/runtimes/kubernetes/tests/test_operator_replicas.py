"""Past one proxy replica, against the in-memory API server: MCPServer and MCPRemoteProxy honour
``spec.replicas`` and ``sessionAffinity``; ``sessionStorage: redis`` is accepted where the proxy
keeps no session state (streamable HTTP: the server holds the session) and refused where a
session cannot leave its proxy pod (legacy SSE, stdio); ``SessionStorageWarning`` says which.
The cluster test is tests/test_k8s_replicas_sessions.py.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from toolhive_runtime_kubernetes.operator.fakekube import FakeKube
from toolhive_runtime_kubernetes.operator.framework import API_VERSION, Operator
from toolhive_runtime_kubernetes.operator.mcpserver import MCPServerController
from toolhive_runtime_kubernetes.operator.remoteproxy import MCPRemoteProxyController
from toolhive_runtime_kubernetes.operator.status import get_condition

NS = "team"
IMAGE = "localhost/toolhive-test/mcp-servers:latest"
REDIS = {
    "provider": "redis",
    "address": "redis:6379",
    "passwordRef": {"name": "redis-auth", "key": "password"},
}


def server(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "MCPServer",
        "metadata": {"name": "web", "namespace": NS},
        "spec": {"image": IMAGE, "transport": "streamable-http", "mcpPort": 8080, **spec},
    }


def remote(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "MCPRemoteProxy",
        "metadata": {"name": "far", "namespace": NS},
        "spec": {"remoteUrl": "https://mcp.example.com/mcp", **spec},
    }


@pytest.fixture
def kube() -> FakeKube:
    return FakeKube()


@pytest.fixture
def operator(kube: FakeKube) -> Operator:
    op = Operator(kube)
    op.register(MCPServerController())
    op.register(MCPRemoteProxyController())
    return op


def put(kube: FakeKube, operator: Operator, obj: dict[str, Any]) -> dict[str, Any]:
    stored = kube.put(obj)
    operator.observe(stored)
    operator.drain()
    found = kube.find(obj["kind"], NS, obj["metadata"]["name"])
    assert found is not None
    return found


def assert_no_writes_on_resync(kube: FakeKube, operator: Operator, obj: dict[str, Any]) -> None:
    before = len(kube.writes)
    operator.observe(obj)
    operator.drain()
    assert kube.writes[before:] == []


def warning(obj: dict[str, Any]) -> tuple[str, str]:
    cond = get_condition(obj, "SessionStorageWarning")
    assert cond is not None, obj.get("status")
    return cond["status"], cond["reason"]


@pytest.mark.parametrize("storage", [None, REDIS], ids=["no-store", "redis"])
def test_http_mcpserver_runs_two_replicas_that_spread_sessions(
    kube: FakeKube, operator: Operator, storage: dict[str, Any] | None
) -> None:
    extra = {"sessionStorage": storage} if storage else {}
    obj = put(kube, operator, server(replicas=2, sessionAffinity="None", **extra))
    assert obj["status"]["phase"] != "Failed", obj["status"]
    deployment = kube.find("Deployment", NS, "web")
    assert deployment is not None and deployment["spec"]["replicas"] == 2
    assert deployment["spec"].get("strategy", {}).get("type") != "Recreate"
    service = kube.find("Service", NS, "mcp-web-proxy")
    assert service is not None and service["spec"]["sessionAffinity"] == "None"
    want = "SessionStorageConfigured" if storage else "SessionStorageNotRequired"
    assert warning(obj) == ("False", want)
    # Nothing to store: no Redis address or password reaches the proxy.
    config = kube.find("ConfigMap", NS, "web-runconfig")
    assert config is not None and "redis" not in json.dumps(config["data"])
    assert "THV_SESSION_REDIS_PASSWORD" not in json.dumps(deployment)
    assert_no_writes_on_resync(kube, operator, obj)


def test_remote_proxy_runs_two_replicas_with_redis_storage_accepted(
    kube: FakeKube, operator: Operator
) -> None:
    obj = put(kube, operator, remote(replicas=2, sessionAffinity="None", sessionStorage=REDIS))
    assert obj["status"]["phase"] != "Failed", obj["status"]
    deployment = kube.find("Deployment", NS, "far")
    assert deployment is not None and deployment["spec"]["replicas"] == 2
    service = kube.find("Service", NS, "mcp-far-remote-proxy")
    assert service is not None and service["spec"]["sessionAffinity"] == "None"
    assert warning(obj) == ("False", "SessionStorageConfigured")
    assert_no_writes_on_resync(kube, operator, obj)


def test_session_affinity_defaults_to_client_ip_as_go(kube: FakeKube, operator: Operator) -> None:
    put(kube, operator, server(replicas=2))
    service = kube.find("Service", NS, "mcp-web-proxy")
    assert service is not None and service["spec"]["sessionAffinity"] == "ClientIP"


@pytest.mark.parametrize(
    ("make", "transport", "words"),
    [
        (server, "sse", "legacy SSE session"),
        (remote, "sse", "legacy SSE session"),
        (server, "stdio", "stdio server's sessions"),
    ],
    ids=["mcpserver-sse", "remoteproxy-sse", "mcpserver-stdio"],
)
def test_redis_storage_is_refused_where_a_session_cannot_leave_its_pod(
    kube: FakeKube, operator: Operator, make: Any, transport: str, words: str
) -> None:
    obj = put(kube, operator, make(transport=transport, replicas=2, sessionStorage=REDIS))
    assert obj["status"]["phase"] == "Failed"
    assert "spec.sessionStorage" in obj["status"]["message"]
    assert words in obj["status"]["message"]
    assert kube.find("Deployment", NS, obj["metadata"]["name"]) is None


def test_legacy_sse_replicas_warn_and_one_replica_does_not(
    kube: FakeKube, operator: Operator
) -> None:
    obj = put(kube, operator, server(transport="sse", replicas=2))
    assert warning(obj) == ("True", "SessionStorageMissingForReplicas")
    obj = put(kube, operator, server(transport="sse", replicas=1))
    assert warning(obj) == ("False", "SessionStorageWarningNotApplicable")
    obj = put(kube, operator, server(transport="stdio", replicas=3))
    assert warning(obj) == ("False", "SessionStorageWarningNotApplicable")
    deployment = kube.find("Deployment", NS, "web")
    assert deployment is not None and deployment["spec"]["replicas"] == 1


def pre_stop(deployment: dict[str, Any] | None) -> Any:
    assert deployment is not None
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    return container.get("lifecycle", {}).get("preStop")


def test_a_proxy_pod_drains_before_it_stops_unless_it_is_a_stdio_servers_only_one(
    kube: FakeKube, operator: Operator
) -> None:
    """kube-proxy drops a deleted pod from the Service a moment after its endpoint goes: the pod
    keeps serving meanwhile, so no new connection meets a closed port."""
    put(kube, operator, server(replicas=2))
    assert pre_stop(kube.find("Deployment", NS, "web")) == {"exec": {"command": ["sleep", "5"]}}
    put(kube, operator, remote(replicas=2))
    assert pre_stop(kube.find("Deployment", NS, "far")) is not None
    stdio = server(transport="stdio")
    stdio["metadata"]["name"] = "cli"
    put(kube, operator, stdio)
    assert pre_stop(kube.find("Deployment", NS, "cli")) is None
