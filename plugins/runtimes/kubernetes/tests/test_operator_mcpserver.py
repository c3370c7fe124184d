"""MCPServer reconcile logic against the in-memory API server (no cluster)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from toolhive_runtime_kubernetes.operator.apply import HASH_ANNOTATION
from toolhive_runtime_kubernetes.operator.fakekube import FakeKube
from toolhive_runtime_kubernetes.operator.framework import API_VERSION, Key, Operator
from toolhive_runtime_kubernetes.operator.mcpserver import FINALIZER, MCPServerController
from toolhive_runtime_kubernetes.operator.objects import (
    CONTENT_CHECKSUM_ANNOTATION,
    RESTARTED_AT_ANNOTATION,
    RUNCONFIG_CHECKSUM_ANNOTATION,
)
from toolhive_runtime_kubernetes.operator.status import get_condition
from toolhive_runtime_kubernetes.operator.toolconfig import (
    MCPExternalAuthConfigController,
    MCPToolConfigController,
)

NS = "team"
IMAGE = "localhost/toolhive-test/mcp-servers:latest"


def server(name: str = "time", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "MCPServer",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"image": IMAGE, "transport": "stdio", "args": ["time"], **spec},
    }


def toolconfig(name: str = "tools", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "MCPToolConfig",
        "metadata": {"name": name, "namespace": NS},
        "spec": spec,
    }


def make_operator(kube: FakeKube) -> Operator:
    operator = Operator(kube)
    operator.register(MCPServerController())
    operator.register(MCPToolConfigController())
    operator.register(MCPExternalAuthConfigController())
    return operator


@pytest.fixture
def kube() -> FakeKube:
    return FakeKube()


@pytest.fixture
def operator(kube: FakeKube) -> Operator:
    return make_operator(kube)


def put(kube: FakeKube, operator: Operator, obj: dict[str, Any]) -> dict[str, Any]:
    stored = kube.put(obj)
    operator.observe(stored)
    operator.drain()
    return stored


def get(kube: FakeKube, kind: str, name: str) -> dict[str, Any]:
    found = kube.find(kind, NS, name)
    assert found is not None, f"{kind} {name} missing"
    return found


def runconfig(kube: FakeKube, name: str = "time") -> dict[str, Any]:
    data = get(kube, "ConfigMap", f"{name}-runconfig")["data"]["runconfig.json"]
    return json.loads(data)


def test_creates_every_owned_object_with_go_names(kube: FakeKube, operator: Operator) -> None:
    put(kube, operator, server())
    owner = get(kube, "MCPServer", "time")
    assert owner["metadata"]["finalizers"] == [FINALIZER]
    for kind, name in [
        ("ServiceAccount", "time-proxy-runner"),
        ("Role", "time-proxy-runner"),
        ("RoleBinding", "time-proxy-runner"),
        ("ServiceAccount", "time-sa"),
        ("ConfigMap", "time-runconfig"),
        ("Deployment", "time"),
        ("Service", "mcp-time-proxy"),
    ]:
        obj = get(kube, kind, name)
        assert obj["metadata"]["ownerReferences"][0]["uid"] == owner["metadata"]["uid"]
        assert obj["metadata"]["labels"]["toolhive"] == "true"
        assert obj["metadata"]["labels"]["toolhive-name"] == "time"
    role = get(kube, "Role", "time-proxy-runner")
    resources = {r for rule in role["rules"] for r in rule["resources"]}
    assert {"statefulsets", "services", "pods", "pods/attach", "pods/log"} <= resources
    deployment = get(kube, "Deployment", "time")
    pod = deployment["spec"]["template"]
    container = pod["spec"]["containers"][0]
    assert container["image"] == "localhost/toolhive/proxyrunner:dev"
    assert container["args"] == ["run", IMAGE]
    assert {"name": "runconfig", "mountPath": "/etc/runconfig", "readOnly": True} in container[
        "volumeMounts"
    ]
    assert pod["spec"]["serviceAccountName"] == "time-proxy-runner"
    cm = get(kube, "ConfigMap", "time-runconfig")
    assert (
        pod["metadata"]["annotations"][RUNCONFIG_CHECKSUM_ANNOTATION]
        == cm["metadata"]["annotations"][CONTENT_CHECKSUM_ANNOTATION]
    )
    assert "replicas" not in deployment["spec"]
    service = get(kube, "Service", "mcp-time-proxy")
    assert service["spec"]["ports"][0]["port"] == 8080
    assert service["spec"]["sessionAffinity"] == "ClientIP"
    rc = runconfig(kube)
    assert rc["image"] == IMAGE and rc["transport"] == "stdio" and rc["cmd_args"] == ["time"]
    assert rc["proxy_mode"] == "streamable-http" and rc["port"] == 8080 and rc["host"] == "0.0.0.0"
    patch = json.loads(rc["k8s_pod_template_patch"])
    assert patch["spec"]["serviceAccountName"] == "time-sa"
    status = get(kube, "MCPServer", "time")["status"]
    assert status["phase"] == "Pending"
    assert status["url"] == "http://mcp-time-proxy.team.svc.cluster.local:8080/mcp"
    assert get_condition(get(kube, "MCPServer", "time"), "Ready")["status"] == "False"


def test_a_second_pass_and_a_restarted_operator_write_nothing(
    kube: FakeKube, operator: Operator
) -> None:
    put(kube, operator, server())
    before = {k: v["metadata"]["resourceVersion"] for k, v in kube.objects.items()}
    writes = len(kube.writes)
    operator.enqueue(Key("MCPServer", NS, "time"))
    operator.drain()
    restarted = make_operator(kube)  # a new process: empty index, empty memory
    for obj in list(kube.objects.values()):
        restarted.observe(obj)
    restarted.drain()
    assert kube.writes[writes:] == []
    assert {k: v["metadata"]["resourceVersion"] for k, v in kube.objects.items()} == before


def test_spec_edit_rolls_out_and_replicas_are_honoured(kube: FakeKube, operator: Operator) -> None:
    put(kube, operator, server(transport="streamable-http", mcpPort=9000))
    checksum = get(kube, "Deployment", "time")["spec"]["template"]["metadata"]["annotations"][
        RUNCONFIG_CHECKSUM_ANNOTATION
    ]
    # kubectl scale while the MCPServer sets no replicas: kept (#3329).
    kube.patch("apps/v1", "Deployment", NS, "time", {"spec": {"replicas": 3}})
    writes = len(kube.writes)
    operator.enqueue(Key("MCPServer", NS, "time"))
    operator.drain()
    assert kube.writes[writes:] == []
    assert get(kube, "Deployment", "time")["spec"]["replicas"] == 3
    # An edit of the spec: new RunConfig, new checksum on the pod template (a rollout).
    put(kube, operator, server(transport="streamable-http", mcpPort=9000, args=["time", "--x"]))
    deployment = get(kube, "Deployment", "time")
    assert (
        deployment["spec"]["template"]["metadata"]["annotations"][RUNCONFIG_CHECKSUM_ANNOTATION]
        != checksum
    )
    assert runconfig(kube)["cmd_args"] == ["time", "--x"]
    assert runconfig(kube)["target_port"] == 9000
    assert deployment["spec"]["replicas"] == 3  # still the user's
    put(kube, operator, server(transport="streamable-http", mcpPort=9000, replicas=2))
    assert get(kube, "Deployment", "time")["spec"]["replicas"] == 2


def test_stdio_replicas_capped_at_one(kube: FakeKube, operator: Operator) -> None:
    put(kube, operator, server(replicas=3))
    assert get(kube, "Deployment", "time")["spec"]["replicas"] == 1
    assert get_condition(get(kube, "MCPServer", "time"), "StdioReplicaCapped")["status"] == "True"


def test_objects_deleted_by_hand_come_back(kube: FakeKube, operator: Operator) -> None:
    put(kube, operator, server())
    for kind, name in [
        ("Deployment", "time"),
        ("Service", "mcp-time-proxy"),
        ("ConfigMap", "time-runconfig"),
    ]:
        obj = get(kube, kind, name)
        kube.delete(obj["apiVersion"], kind, NS, name)
        operator.observe(obj)  # the DELETED event of an owned object re-enqueues its owner
        operator.drain()
        assert kube.find(kind, NS, name) is not None


def test_missing_tool_config_is_a_failed_condition_then_recovers(
    kube: FakeKube, operator: Operator
) -> None:
    put(kube, operator, server(toolConfigRef={"name": "tools"}))
    obj = get(kube, "MCPServer", "time")
    assert obj["status"]["phase"] == "Failed"
    cond = get_condition(obj, "ToolConfigValidated")
    assert cond["status"] == "False" and cond["reason"] == "ToolConfigNotFound"
    assert kube.find("Deployment", NS, "time") is None
    put(kube, operator, toolconfig(toolsFilter=["get_current_time"]))
    obj = get(kube, "MCPServer", "time")
    assert get_condition(obj, "ToolConfigValidated")["status"] == "True"
    assert obj["status"]["phase"] == "Pending"
    assert runconfig(kube)["tools_filter"] == ["get_current_time"]
    assert (
        obj["status"]["toolConfigHash"]
        == get(kube, "MCPToolConfig", "tools")["status"]["configHash"]
    )


def test_tool_config_change_rolls_out_its_servers_only(kube: FakeKube, operator: Operator) -> None:
    put(kube, operator, toolconfig(toolsFilter=["a"]))
    put(kube, operator, server("one", toolConfigRef={"name": "tools"}))
    put(kube, operator, server("two"))
    one = get(kube, "Deployment", "one")["spec"]["template"]["metadata"]["annotations"]
    two_version = get(kube, "Deployment", "two")["metadata"]["resourceVersion"]
    put(
        kube,
        operator,
        toolconfig(toolsOverride={"a": {"name": "b", "description": "renamed"}}, toolsFilter=["b"]),
    )
    assert runconfig(kube, "one")["tools_override"] == {
        "a": {"name": "b", "description": "renamed"}
    }
    after = get(kube, "Deployment", "one")["spec"]["template"]["metadata"]["annotations"]
    assert after[RUNCONFIG_CHECKSUM_ANNOTATION] != one[RUNCONFIG_CHECKSUM_ANNOTATION]
    assert get(kube, "Deployment", "two")["metadata"]["resourceVersion"] == two_version


def test_referenced_tool_config_deletion_is_blocked(kube: FakeKube, operator: Operator) -> None:
    put(kube, operator, toolconfig(toolsFilter=["a"]))
    put(kube, operator, server(toolConfigRef={"name": "tools"}))
    kube.delete(API_VERSION, "MCPToolConfig", NS, "tools")
    operator.observe(get(kube, "MCPToolConfig", "tools"))
    operator.drain()
    tc = get(kube, "MCPToolConfig", "tools")
    assert get_condition(tc, "DeletionBlocked")["status"] == "True"
    # The server goes: the config is released and deleted.
    kube.delete(API_VERSION, "MCPServer", NS, "time")
    operator.observe(get(kube, "MCPServer", "time"))
    operator.drain()
    assert kube.find("MCPToolConfig", NS, "tools") is None


def test_deletion_removes_finalizer_and_everything_owned(
    kube: FakeKube, operator: Operator
) -> None:
    put(kube, operator, server())
    sts = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {
            "name": "time",
            "namespace": NS,
            "labels": {"toolhive": "true", "toolhive-name": "time"},
        },
        "spec": {},
    }
    put(kube, operator, sts)  # the proxy runner's StatefulSet: adopted
    owner_uid = get(kube, "MCPServer", "time")["metadata"]["uid"]
    assert get(kube, "StatefulSet", "time")["metadata"]["ownerReferences"][0]["uid"] == owner_uid
    kube.delete(API_VERSION, "MCPServer", NS, "time")
    assert get(kube, "MCPServer", "time")["metadata"]["deletionTimestamp"]
    operator.observe(get(kube, "MCPServer", "time"))
    operator.drain()
    assert kube.objects == {}


def test_missing_statefulset_bounces_the_proxy_and_says_pending(
    kube: FakeKube, operator: Operator
) -> None:
    put(kube, operator, server())
    # The proxy is up, the StatefulSet was deleted by hand.
    kube.patch(
        "apps/v1",
        "Deployment",
        NS,
        "time",
        {"status": {"readyReplicas": 1, "availableReplicas": 1}},
        status=True,
    )
    operator.enqueue(Key("MCPServer", NS, "time"))
    operator.drain()
    obj = get(kube, "MCPServer", "time")
    assert obj["status"]["phase"] == "Pending"
    assert "StatefulSet" in obj["status"]["message"]
    annotations = get(kube, "Deployment", "time")["spec"]["template"]["metadata"]["annotations"]
    assert RESTARTED_AT_ANNOTATION in annotations
    # Within the cooldown: no second bounce.
    version = get(kube, "Deployment", "time")["metadata"]["resourceVersion"]
    operator.enqueue(Key("MCPServer", NS, "time"))
    operator.drain()
    assert get(kube, "Deployment", "time")["metadata"]["resourceVersion"] == version
    # Back, with a ready pod: Ready.
    put(
        kube,
        operator,
        {
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": {
                "name": "time",
                "namespace": NS,
                "labels": {"toolhive": "true", "toolhive-name": "time"},
            },
            "spec": {},
            "status": {"readyReplicas": 1},
        },
    )
    obj = get(kube, "MCPServer", "time")
    assert obj["status"]["phase"] == "Ready" and obj["status"]["readyReplicas"] == 1
    assert get_condition(obj, "Ready")["status"] == "True"


def test_hand_edit_hash_annotation_removed_forces_reapply(
    kube: FakeKube, operator: Operator
) -> None:
    put(kube, operator, server())
    kube.patch(
        "apps/v1",
        "Deployment",
        NS,
        "time",
        {
            "metadata": {"annotations": {HASH_ANNOTATION: None}},
            "spec": {"template": {"spec": {"containers": []}}},
        },
    )
    operator.enqueue(Key("MCPServer", NS, "time"))
    operator.drain()
    assert (
        get(kube, "Deployment", "time")["spec"]["template"]["spec"]["containers"][0]["name"]
        == "toolhive"
    )


def test_image_pull_failure_is_failed(kube: FakeKube, operator: Operator) -> None:
    put(kube, operator, server())
    kube.create(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": "time-0",
                "namespace": NS,
                "labels": {"app": "time", "toolhive": "true"},
            },
            "status": {
                "phase": "Pending",
                "containerStatuses": [
                    {
                        "state": {
                            "waiting": {"reason": "ImagePullBackOff", "message": "no such image"}
                        }
                    }
                ],
            },
        }
    )
    kube.patch("apps/v1", "Deployment", NS, "time", {"status": {"readyReplicas": 1}}, status=True)
    operator.enqueue(Key("MCPServer", NS, "time"))
    operator.drain()
    obj = get(kube, "MCPServer", "time")
    assert obj["status"]["phase"] == "Failed"
    assert "ImagePullBackOff" in obj["status"]["message"]


def test_secrets_and_volumes_go_into_the_mcp_pod_template(
    kube: FakeKube, operator: Operator
) -> None:
    put(
        kube,
        operator,
        server(
            secrets=[{"name": "creds", "key": "token", "targetEnvName": "API_TOKEN"}],
            volumes=[
                {"name": "data", "hostPath": "/srv/data", "mountPath": "/data", "readOnly": True}
            ],
            serviceAccount="custom",
        ),
    )
    rc = runconfig(kube)
    assert "volumes" not in rc
    patch = json.loads(rc["k8s_pod_template_patch"])
    assert patch["spec"]["serviceAccountName"] == "custom"
    assert kube.find("ServiceAccount", NS, "time-sa") is None
    (mcp,) = patch["spec"]["containers"]
    assert mcp["name"] == "mcp"
    assert mcp["env"] == [
        {"name": "API_TOKEN", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "token"}}}
    ]
    assert mcp["volumeMounts"] == [{"name": "data", "mountPath": "/data", "readOnly": True}]
    assert patch["spec"]["volumes"] == [{"name": "data", "hostPath": {"path": "/srv/data"}}]


def test_a_spec_the_api_server_let_through_but_go_refuses_is_a_condition(
    kube: FakeKube, operator: Operator
) -> None:
    # Both authz forms: Go's CEL rule refuses it; the 1.20 API server cannot, the model does.
    put(
        kube,
        operator,
        server(
            authzConfig={
                "type": "inline",
                "inline": {"policies": ["permit(principal, action, resource);"]},
            },
            authzConfigRef={"name": "a"},
        ),
    )
    obj = get(kube, "MCPServer", "time")
    assert obj["status"]["phase"] == "Failed"
    ready = get_condition(obj, "Ready")
    assert ready["status"] == "False" and ready["reason"] == "InvalidSpec"
    assert "mutually exclusive" in ready["message"]
    assert kube.find("Deployment", NS, "time") is None
