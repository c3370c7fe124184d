"""The operator's shared core: apply-if-changed, status writes, the reference index, the queue."""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

from toolhive_runtime_kubernetes.operator import controllers
from toolhive_runtime_kubernetes.operator.apply import HASH_ANNOTATION, apply_object, desired_hash
from toolhive_runtime_kubernetes.operator.fakekube import FakeKube
from toolhive_runtime_kubernetes.operator.framework import (
    API_VERSION,
    Key,
    Operator,
    RefIndex,
    Result,
)
from toolhive_runtime_kubernetes.operator.kube import object_path, plural
from toolhive_runtime_kubernetes.operator.queue import WorkQueue
from toolhive_runtime_kubernetes.operator.remoteproxy import MCPRemoteProxyController
from toolhive_runtime_kubernetes.operator.status import condition, set_condition, write_status


def configmap(value: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "c", "namespace": "ns", "labels": {"a": "b"}},
        "data": {"k": value},
    }


def test_apply_creates_skips_and_updates_by_hash() -> None:
    kube = FakeKube()
    assert apply_object(kube, configmap("1")).action == "created"
    live = kube.find("ConfigMap", "ns", "c")
    assert live is not None and live["metadata"]["annotations"][HASH_ANNOTATION] == desired_hash(
        configmap("1")
    )
    version = live["metadata"]["resourceVersion"]
    assert apply_object(kube, configmap("1")).action == "unchanged"
    assert kube.find("ConfigMap", "ns", "c")["metadata"]["resourceVersion"] == version  # type: ignore[index]
    # Someone else's label survives our update; our changed field is written.
    kube.patch("v1", "ConfigMap", "ns", "c", {"metadata": {"labels": {"theirs": "x"}}})
    applied = apply_object(kube, configmap("2"))
    assert applied.action == "updated" and applied.wrote
    live = kube.find("ConfigMap", "ns", "c")
    assert (
        live is not None
        and live["data"] == {"k": "2"}
        and live["metadata"]["labels"]["theirs"] == "x"
    )


def test_apply_waits_for_an_object_being_deleted() -> None:
    kube = FakeKube()
    obj = configmap("1")
    obj["metadata"]["finalizers"] = ["someone/else"]
    apply_object(kube, obj)
    kube.delete("v1", "ConfigMap", "ns", "c")
    assert apply_object(kube, configmap("1")).action == "deleting"


def test_status_written_only_on_change_and_transition_time_kept() -> None:
    kube = FakeKube()
    obj = kube.create(
        {
            "apiVersion": API_VERSION,
            "kind": "MCPToolConfig",
            "metadata": {"name": "t", "namespace": "ns"},
        }
    )
    ready = set_condition([], condition("Ready", True, "Ready", "ok"), now="2026-01-01T00:00:00Z")
    assert write_status(kube, obj, {"phase": "Ready", "conditions": ready})
    again = set_condition(
        obj["status"]["conditions"],
        condition("Ready", True, "Ready", "ok"),
        now="2030-01-01T00:00:00Z",
    )
    assert again[0]["lastTransitionTime"] == "2026-01-01T00:00:00Z"
    writes = len(kube.writes)
    assert not write_status(kube, obj, {"phase": "Ready", "conditions": again})
    assert kube.writes[writes:] == []
    flipped = set_condition(
        again, condition("Ready", False, "NotReady", "down"), now="2030-01-01T00:00:00Z"
    )
    assert flipped[0]["lastTransitionTime"] == "2030-01-01T00:00:00Z"
    assert write_status(kube, obj, {"conditions": flipped})  # phase left out: removed
    assert "phase" not in kube.find("MCPToolConfig", "ns", "t")["status"]  # type: ignore[index]


def test_ref_index_tracks_referrers() -> None:
    index = RefIndex()
    server, tools = Key("MCPServer", "ns", "s"), Key("MCPToolConfig", "ns", "t")
    assert index.record(server, [tools]) == {tools}
    assert index.referrers(tools) == [server]
    assert index.record(server, [tools]) == set()
    other = Key("MCPToolConfig", "ns", "u")
    assert index.record(server, [other]) == {tools, other}
    assert index.referrers(tools) == []
    assert index.forget(server) == {other}


def test_paths_and_plurals() -> None:
    assert plural("MCPRemoteProxy") == "mcpremoteproxies"
    assert plural("MCPToolConfig") == "mcptoolconfigs"
    assert (
        object_path("apps/v1", "Deployment", "ns", "d")
        == "/apis/apps/v1/namespaces/ns/deployments/d"
    )
    assert object_path("v1", "Service", "ns") == "/api/v1/namespaces/ns/services"


def test_every_controller_registers() -> None:
    kinds = {c.kind for c in controllers()}
    assert {"MCPServer", "MCPRemoteProxy", "MCPToolConfig", "MCPExternalAuthConfig"} <= kinds


def test_remote_proxy_objects() -> None:
    kube = FakeKube()
    operator = Operator(kube)
    operator.register(MCPRemoteProxyController())
    kube.create(
        {
            "apiVersion": API_VERSION,
            "kind": "MCPRemoteProxy",
            "metadata": {"name": "r", "namespace": "ns"},
            "spec": {"remoteUrl": "https://mcp.example.com/mcp", "proxyPort": 9090},
        }
    )
    operator.enqueue(Key("MCPRemoteProxy", "ns", "r"))
    operator.drain()

    cm = kube.find("ConfigMap", "ns", "r-runconfig")
    assert cm is not None
    rc = json.loads(cm["data"]["runconfig.json"])
    assert rc["remote_url"] == "https://mcp.example.com/mcp" and rc["port"] == 9090
    assert kube.find("Service", "ns", "mcp-r-remote-proxy") is not None
    assert kube.find("Role", "ns", "r-remote-proxy-runner") is not None
    proxy = kube.find("MCPRemoteProxy", "ns", "r")
    assert proxy is not None
    assert proxy["status"]["url"] == "http://mcp-r-remote-proxy.ns.svc.cluster.local:9090"
    assert proxy["status"]["phase"] == "Pending"


def test_work_queue_dedups_serialises_and_retries() -> None:
    calls: list[Key] = []
    running: set[Key] = set()
    overlap: list[Key] = []
    lock = threading.Lock()
    failures = {"n": 0}
    a, b = Key("MCPServer", "ns", "a"), Key("MCPServer", "ns", "b")

    def process(key: Key) -> Result | None:
        with lock:
            if key in running:
                overlap.append(key)
            running.add(key)
            calls.append(key)
        try:
            if key == b and failures["n"] < 2:
                failures["n"] += 1
                msg = "transient"
                raise RuntimeError(msg)
            return None
        finally:
            with lock:
                running.discard(key)

    async def scenario() -> None:
        queue = WorkQueue(process, workers=3)
        await queue.start()
        for _ in range(5):
            queue.add(a)
        queue.add(b)
        await asyncio.sleep(2.5)  # b: fails, 0.5 s, fails, 1 s, succeeds
        await queue.wait_idle()
        await queue.stop()
        assert queue.failed == 2

    asyncio.run(scenario())
    assert overlap == []
    assert calls.count(b) == 3
    assert 1 <= calls.count(a) <= 2  # deduplicated (a second pass only if added while running)
