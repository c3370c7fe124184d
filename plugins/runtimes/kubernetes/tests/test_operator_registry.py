"""MCPRegistry reconcile logic (no cluster): ConfigMap, Deployment, Service and status as Go's."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from toolhive_runtime_kubernetes.operator.fakekube import FakeKube
from toolhive_runtime_kubernetes.operator.framework import API_VERSION, Key, Operator, Settings
from toolhive_runtime_kubernetes.operator.registry import MCPRegistryController

NS = "toolhive-system"
IMAGE = "localhost/toolhive/proxyrunner:dev"

CONFIG_YAML = """\
sources:
  - name: production
    file:
      path: /config/registry/production/registry.json
registries:
  - name: default
    sources: ["production"]
auth:
  mode: anonymous
"""


def registry(config_yaml: str = CONFIG_YAML, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "MCPRegistry",
        "metadata": {"name": "reg", "namespace": NS},
        "spec": {
            "configYAML": config_yaml,
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
            **spec,
        },
    }


@pytest.fixture
def world() -> tuple[FakeKube, Operator]:
    kube = FakeKube()
    operator = Operator(kube, Settings(runner_image=IMAGE))
    operator.register(MCPRegistryController())
    return kube, operator


def reconcile(kube: FakeKube, operator: Operator) -> None:
    operator.enqueue(Key("MCPRegistry", NS, "reg"))
    operator.drain()


def get(kube: FakeKube, kind: str, name: str) -> dict[str, Any]:
    found = kube.find(kind, NS, name)
    assert found is not None, f"{kind} {name} missing"
    return found


def test_objects_are_go_s_names_mounts_and_command(world: tuple[FakeKube, Operator]) -> None:
    kube, operator = world
    kube.put(registry())
    reconcile(kube, operator)
    cm = get(kube, "ConfigMap", "reg-registry-server-config")
    assert cm["data"] == {"config.yaml": CONFIG_YAML}
    deployment = get(kube, "Deployment", "reg-api")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == IMAGE
    assert container["command"][:3] == [
        "python",
        "-m",
        "toolhive_runtime_kubernetes.operator.registry_api",
    ]
    assert "--config=/config/config.yaml" in container["args"]
    assert [m["mountPath"] for m in container["volumeMounts"]] == [
        "/config",
        "/config/registry/production",
    ]
    assert [v["name"] for v in pod["volumes"]] == ["registry-server-config", "registry-data"]
    assert pod["volumes"][0]["configMap"]["name"] == "reg-registry-server-config"
    service = get(kube, "Service", "reg-api")
    assert service["spec"]["ports"][0]["port"] == 8080
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    for owned in (cm, deployment, service):
        assert owned["metadata"]["labels"]["toolhive"] == "true"
        (owner,) = owned["metadata"]["ownerReferences"]
        assert (owner["kind"], owner["name"], owner["controller"]) == ("MCPRegistry", "reg", True)
    status = get(kube, "MCPRegistry", "reg")["status"]
    assert status["phase"] == "Pending"
    assert status["readyReplicas"] == 0
    assert "url" not in status


def test_ready_when_a_replica_is_ready_then_no_write(world: tuple[FakeKube, Operator]) -> None:
    kube, operator = world
    kube.put(registry())
    reconcile(kube, operator)
    deployment = copy.deepcopy(get(kube, "Deployment", "reg-api"))
    kube.patch(
        "apps/v1", "Deployment", NS, "reg-api", {"status": {"readyReplicas": 1}}, status=True
    )
    assert Key("MCPRegistry", NS, "reg") in operator.keys_for_event(deployment)
    reconcile(kube, operator)
    status = get(kube, "MCPRegistry", "reg")["status"]
    assert status["phase"] == "Ready"
    assert status["url"] == f"http://reg-api.{NS}:8080"
    assert status["readyReplicas"] == 1
    ready = [c for c in status["conditions"] if c["type"] == "Ready"]
    assert ready[0]["status"] == "True"
    before = len(kube.writes)
    reconcile(kube, operator)
    assert kube.writes[before:] == []


def test_a_config_change_rolls_the_pod_and_deleted_objects_come_back(
    world: tuple[FakeKube, Operator],
) -> None:
    kube, operator = world
    kube.put(registry())
    reconcile(kube, operator)
    first = get(kube, "Deployment", "reg-api")["spec"]["template"]["metadata"]["annotations"]
    kube.put(registry(CONFIG_YAML.replace("production", "prod")))
    reconcile(kube, operator)
    second = get(kube, "Deployment", "reg-api")["spec"]["template"]["metadata"]["annotations"]
    assert first != second
    assert "prod\n" in get(kube, "ConfigMap", "reg-registry-server-config")["data"]["config.yaml"]
    kube.delete("v1", "Service", NS, "reg-api")
    reconcile(kube, operator)
    assert kube.find("Service", NS, "reg-api") is not None


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"configYAML": "sources:\n  - name: g\n    git: {repository: https://x}\n"}, "file"),
        ({"pgpassSecretRef": {"name": "pg", "key": ".pgpass"}}, "pgpassSecretRef"),
        ({"configYAML": ""}, "configYAML"),
    ],
)
def test_configs_it_cannot_serve_fail_the_status_and_create_nothing(
    world: tuple[FakeKube, Operator], spec: dict[str, Any], expected: str
) -> None:
    kube, operator = world
    body = registry()
    body["spec"].update(spec)
    kube.put(body)
    reconcile(kube, operator)
    status = get(kube, "MCPRegistry", "reg")["status"]
    assert status["phase"] == "Failed"
    assert expected in status["message"]
    assert kube.find("Deployment", NS, "reg-api") is None
