"""VirtualMCPServer reconcile logic (no cluster): the gateway's config, objects and status.

The config the operator writes is checked by the real gateway's validator (``thv vmcp validate``,
run as a command: plugins do not import core's vMCP package).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from toolhive_runtime_kubernetes.operator.fakekube import FakeKube
from toolhive_runtime_kubernetes.operator.framework import API_VERSION, Key, Operator, Settings
from toolhive_runtime_kubernetes.operator.group import MCPGroupController
from toolhive_runtime_kubernetes.operator.vmcp import VirtualMCPServerController, routable_url

NS = "team"
IMAGE = "localhost/toolhive/proxyrunner:dev"
KEY = Key("VirtualMCPServer", NS, "gw")


def cr(kind: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": kind,
        "metadata": {"name": name, "namespace": NS},
        "spec": spec,
    }


def vmcp(**spec: Any) -> dict[str, Any]:
    return cr(
        "VirtualMCPServer",
        "gw",
        {"groupRef": {"name": "g"}, "incomingAuth": {"type": "anonymous"}, **spec},
    )


class World:
    def __init__(self) -> None:
        self.kube = FakeKube()
        self.operator = Operator(self.kube, Settings(runner_image=IMAGE))
        self.operator.register(MCPGroupController())
        self.operator.register(VirtualMCPServerController())

    def put(self, obj: dict[str, Any]) -> dict[str, Any]:
        """A user's apply, and the watch events it causes."""
        stored = self.kube.put(obj)
        self.operator.observe(stored)
        return stored

    def server(
        self,
        name: str,
        ip: str,
        *,
        phase: str = "Ready",
        transport: str = "stdio",
        group: str = "g",
        **spec: Any,
    ) -> None:
        """An MCPServer as H4's controller leaves it: its proxy Service and status.url."""
        body = cr(
            "MCPServer",
            name,
            {"image": "x", "transport": transport, "groupRef": {"name": group}, **spec},
        )
        stored = self.kube.put(body)
        service = {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {
                "name": f"mcp-{name}-proxy",
                "namespace": NS,
                "labels": {"toolhive": "true"},
                "ownerReferences": [
                    {
                        "apiVersion": API_VERSION,
                        "kind": "MCPServer",
                        "name": name,
                        "uid": stored["metadata"]["uid"],
                        "controller": True,
                    }
                ],
            },
            "spec": {"clusterIP": ip, "ports": [{"port": 8080}]},
        }
        if self.kube.find("Service", NS, f"mcp-{name}-proxy") is None:
            self.put(service)
        path = "/sse#" + name if transport == "sse" else "/mcp"
        url = f"http://mcp-{name}-proxy.{NS}.svc.cluster.local:8080{path}"
        self.kube.patch(
            API_VERSION,
            "MCPServer",
            NS,
            name,
            {"status": {"phase": phase, "url": url}},
            status=True,
        )
        updated = self.kube.get(API_VERSION, "MCPServer", NS, name)
        assert updated is not None
        self.operator.observe(updated)

    def settle(self) -> None:
        self.operator.enqueue(KEY)
        self.operator.drain()

    def get(self, kind: str, name: str) -> dict[str, Any]:
        found = self.kube.find(kind, NS, name)
        assert found is not None, f"{kind} {name} missing"
        return found

    def config(self) -> dict[str, Any]:
        return dict(yaml.safe_load(self.get("ConfigMap", "gw-vmcp-config")["data"]["config.yaml"]))

    def status(self) -> dict[str, Any]:
        return dict(self.get("VirtualMCPServer", "gw").get("status") or {})

    def pods_ready(self, n: int) -> None:
        self.kube.patch(
            "apps/v1", "Deployment", NS, "gw", {"status": {"readyReplicas": n}}, status=True
        )
        self.settle()


@pytest.fixture
def world() -> World:
    w = World()
    w.put(cr("MCPGroup", "g", {}))
    w.server("fetch", "10.0.0.11")
    w.server("time", "10.0.0.12", transport="sse")
    w.operator.drain()
    return w


def validate(config: dict[str, Any], tmp_path: Path, env: dict[str, str] | None = None) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    proc = subprocess.run(
        [sys.executable, "-m", "toolhive", "vmcp", "validate", "-c", str(path)],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_members_become_static_backends_at_their_service_cluster_ip(
    world: World, tmp_path: Path
) -> None:
    world.put(vmcp())
    world.settle()
    config = world.config()
    assert config["name"] == "gw"
    assert config["groupRef"] == "g"
    assert config["backends"] == [
        {"name": "fetch", "url": "http://10.0.0.11:8080/mcp", "transport": "streamable-http"},
        {"name": "time", "url": "http://10.0.0.12:8080/sse#time", "transport": "sse"},
    ]
    assert config["incomingAuth"] == {"type": "anonymous"}
    assert config["outgoingAuth"] == {"source": "inline", "default": {"type": "unauthenticated"}}
    assert config["aggregation"] == {
        "conflictResolution": "prefix",
        "conflictResolutionConfig": {"prefixFormat": "{workload}_"},
    }
    validate(config, tmp_path)

    deployment = world.get("Deployment", "gw")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["image"] == IMAGE
    assert container["command"] == [
        "thv",
        "vmcp",
        "serve",
        "--config=/etc/vmcp-config/config.yaml",
        "--host=0.0.0.0",
        "--port=4483",
    ]
    assert "replicas" not in deployment["spec"]  # not set: the live count is left alone
    service = world.get("Service", "vmcp-gw")
    assert service["spec"]["ports"][0]["port"] == 4483
    assert service["spec"]["sessionAffinity"] == "ClientIP"
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    status = world.status()
    assert status["phase"] == "Pending"
    assert [b["name"] for b in status["discoveredBackends"]] == ["fetch", "time"]


def test_ready_then_degraded_as_members_fail_and_nothing_written_twice(world: World) -> None:
    world.put(vmcp(replicas=2))
    world.settle()
    assert world.get("Deployment", "gw")["spec"]["replicas"] == 2
    world.pods_ready(1)
    status = world.status()
    assert status["phase"] == "Ready"
    assert status["url"] == f"http://vmcp-gw.{NS}.svc.cluster.local:4483"
    assert status["backendCount"] == 2
    assert {b["name"]: b["status"] for b in status["discoveredBackends"]} == {
        "fetch": "ready",
        "time": "ready",
    }
    before = len(world.kube.writes)
    world.settle()
    assert world.kube.writes[before:] == []

    world.server("time", "10.0.0.12", transport="sse", phase="Failed")
    world.operator.drain()
    status = world.status()
    assert status["phase"] == "Degraded"
    assert status["backendCount"] == 1
    assert "1/2 backends" in status["message"]


def test_a_member_joining_or_moving_rolls_the_gateway(world: World) -> None:
    world.put(vmcp())
    world.settle()
    checksum = world.get("Deployment", "gw")["spec"]["template"]["metadata"]["annotations"]
    world.server("extra", "10.0.0.13")
    world.operator.drain()  # the events alone, no explicit enqueue of the gateway
    assert [b["name"] for b in world.config()["backends"]] == ["extra", "fetch", "time"]
    assert world.get("Deployment", "gw")["spec"]["template"]["metadata"]["annotations"] != checksum
    assert world.get("MCPGroup", "g")["status"]["servers"] == ["extra", "fetch", "time"]

    world.server("extra", "10.0.0.13", group="other")
    world.operator.drain()
    assert [b["name"] for b in world.config()["backends"]] == ["fetch", "time"]


def test_a_recreated_member_service_moves_the_backend(world: World) -> None:
    world.put(vmcp())
    world.settle()
    world.kube.delete("v1", "Service", NS, "mcp-fetch-proxy")
    world.server("fetch", "10.0.0.99")
    world.operator.drain()
    assert world.config()["backends"][0]["url"] == "http://10.0.0.99:8080/mcp"


def test_a_member_without_url_or_service_is_not_a_backend_yet(world: World) -> None:
    world.put(
        cr("MCPServer", "new", {"image": "x", "groupRef": {"name": "g"}}),
    )
    world.put(vmcp())
    world.settle()
    assert [b["name"] for b in world.config()["backends"]] == ["fetch", "time"]
    new = next(b for b in world.status()["discoveredBackends"] if b["name"] == "new")
    assert (new["status"], new["message"]) == ("unknown", "no URL yet")


def test_missing_group_fails_and_unready_group_waits(world: World) -> None:
    world.put(vmcp(groupRef={"name": "nope"}))
    world.settle()
    status = world.status()
    assert status["phase"] == "Failed"
    assert "MCPGroup nope not found" in status["message"]
    cond = [c for c in status["conditions"] if c["type"] == "GroupRefValidated"]
    assert cond[0]["reason"] == "GroupRefNotFound"
    assert world.kube.find("Deployment", NS, "gw") is None
    # The group appears: its event re-enqueues the gateway (through the reference index).
    world.put(cr("MCPGroup", "nope", {}))
    world.operator.drain()
    assert world.kube.find("Deployment", NS, "gw") is not None


def test_outgoing_auth_from_members_refs_reads_secrets_from_env(
    world: World, tmp_path: Path
) -> None:
    world.put(
        cr(
            "MCPExternalAuthConfig",
            "github-token",
            {
                "type": "headerInjection",
                "headerInjection": {
                    "headerName": "X-Api-Key",
                    "valueSecretRef": {"name": "gh", "key": "token"},
                },
            },
        )
    )
    world.server("fetch", "10.0.0.11", externalAuthConfigRef={"name": "github-token"})
    world.put(vmcp())
    world.settle()
    config = world.config()
    assert config["outgoingAuth"]["backends"] == {
        "fetch": {
            "type": "header_injection",
            "headerInjection": {
                "headerName": "X-Api-Key",
                "headerValueEnv": "TOOLHIVE_HEADER_INJECTION_VALUE_GITHUB_TOKEN",
            },
        }
    }
    (container,) = world.get("Deployment", "gw")["spec"]["template"]["spec"]["containers"]
    assert container["env"] == [
        {
            "name": "TOOLHIVE_HEADER_INJECTION_VALUE_GITHUB_TOKEN",
            "valueFrom": {"secretKeyRef": {"name": "gh", "key": "token"}},
        }
    ]
    fetch = next(b for b in world.status()["discoveredBackends"] if b["name"] == "fetch")
    assert (fetch["authConfigRef"], fetch["authType"]) == ("github-token", "header_injection")
    validate(config, tmp_path, {"TOOLHIVE_HEADER_INJECTION_VALUE_GITHUB_TOKEN": "s3cret"})


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (
            {"incomingAuth": {"type": "oidc", "oidcConfigRef": {"name": "x", "audience": "y"}}},
            "MCPOIDCConfig x not found",
        ),
        (
            {
                "outgoingAuth": {
                    "source": "inline",
                    "backends": {
                        "fetch": {
                            "type": "externalAuthConfigRef",
                            "externalAuthConfigRef": {"name": "missing"},
                        }
                    },
                }
            },
            "MCPExternalAuthConfig team/missing not found",
        ),
        (
            {"config": {"sessionStorage": {"provider": "redis", "address": "r:6379"}}},
            "sessionStorage.address 'r:6379': Service team/r not found",
        ),
        ({"groupRef": {}}, "spec.groupRef.name"),
    ],
)
def test_specs_the_gateway_cannot_run_fail_the_status(
    world: World, spec: dict[str, Any], expected: str
) -> None:
    world.put(vmcp(**spec))
    world.settle()
    status = world.status()
    assert status["phase"] == "Failed"
    assert expected in status["message"]
    assert world.kube.find("Deployment", NS, "gw") is None


def test_spec_config_is_kept_and_go_s_overrides_win(world: World, tmp_path: Path) -> None:
    world.put(
        vmcp(
            passthroughHeaders=["X-Tenant"],
            config={
                "name": "ignored",
                "groupRef": "ignored",
                "aggregation": {
                    "conflictResolution": "priority",
                    "conflictResolutionConfig": {"priorityOrder": ["time", "fetch"]},
                },
                "operational": {"failureHandling": {"partialFailureMode": "best_effort"}},
            },
        )
    )
    world.settle()
    config = world.config()
    assert (config["name"], config["groupRef"]) == ("gw", "g")
    assert config["aggregation"]["conflictResolution"] == "priority"
    assert config["passthroughHeaders"] == ["X-Tenant"]
    assert config["operational"] == {"failureHandling": {"partialFailureMode": "best_effort"}}
    validate(config, tmp_path)


def test_redis_session_storage_reaches_the_gateway_and_replicas_spread(
    world: World, tmp_path: Path
) -> None:
    """spec.sessionStorage → the config's section (Service host → ClusterIP, no cluster DNS in
    the pods), the password from its Secret as THV_SESSION_REDIS_PASSWORD, replicas as asked and
    the Service's affinity as the spec says (None spreads new sessions)."""
    world.put(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "redis", "namespace": NS},
            "spec": {"clusterIP": "10.0.0.50", "ports": [{"port": 6379}]},
        }
    )
    world.put(
        vmcp(
            replicas=2,
            sessionAffinity="None",
            sessionStorage={
                "provider": "redis",
                "address": "redis:6379",
                "db": 2,
                "keyPrefix": "team:",
                "passwordRef": {"name": "redis-auth", "key": "password"},
            },
        )
    )
    world.settle()
    config = world.config()
    assert config["sessionStorage"] == {
        "provider": "redis",
        "address": "10.0.0.50:6379",
        "db": 2,
        "keyPrefix": "team:",
    }
    deployment = world.get("Deployment", "gw")
    assert deployment["spec"]["replicas"] == 2
    env = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {
        "name": "THV_SESSION_REDIS_PASSWORD",
        "valueFrom": {"secretKeyRef": {"name": "redis-auth", "key": "password"}},
    } in env
    assert "password" not in world.get("ConfigMap", "gw-vmcp-config")["data"]["config.yaml"]
    assert world.get("Service", "vmcp-gw")["spec"]["sessionAffinity"] == "None"
    validate(config, tmp_path)
    warning = {c["type"]: c for c in world.status()["conditions"]}["SessionStorageWarning"]
    assert (warning["status"], warning["reason"]) == ("False", "SessionStorageConfigured")


def test_replicas_without_redis_are_warned_about(world: World) -> None:
    world.put(vmcp(replicas=3))
    world.settle()
    warning = {c["type"]: c for c in world.status()["conditions"]}["SessionStorageWarning"]
    assert (warning["status"], warning["reason"]) == ("True", "SessionStorageMissingForReplicas")
    assert world.get("Deployment", "gw")["spec"]["replicas"] == 3


def test_routable_url_resolves_service_names_only() -> None:
    kube = FakeKube()
    kube.put(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "svc", "namespace": NS},
            "spec": {"clusterIP": "10.1.2.3"},
        }
    )
    assert routable_url(kube, NS, "http://svc.team.svc.cluster.local:8080/mcp") == (
        "http://10.1.2.3:8080/mcp",
        "",
    )
    assert routable_url(kube, NS, "http://svc:9/x")[0] == "http://10.1.2.3:9/x"
    assert routable_url(kube, NS, "http://svc.team:9/x")[0] == "http://10.1.2.3:9/x"
    assert routable_url(kube, NS, "http://10.9.9.9:1/mcp")[0] == "http://10.9.9.9:1/mcp"
    assert routable_url(kube, NS, "https://mcp.example.com/mcp")[0] == "https://mcp.example.com/mcp"
    assert routable_url(kube, NS, "http://gone.team.svc.cluster.local/mcp") == (
        "",
        "Service team/gone not found",
    )
