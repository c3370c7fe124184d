"""MCPGroup reconcile logic (no cluster): status from the members naming it, written only on change."""

from __future__ import annotations

from typing import Any

import pytest
from toolhive_runtime_kubernetes.operator.fakekube import FakeKube
from toolhive_runtime_kubernetes.operator.framework import API_VERSION, Key, Operator
from toolhive_runtime_kubernetes.operator.group import MCPGroupController, group_ref
from toolhive_runtime_kubernetes.operator.kube import KubeError

NS = "team"


def obj(kind: str, name: str, spec: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": kind,
        "metadata": {"name": name, "namespace": NS},
        "spec": spec or {},
    }


def member(kind: str, name: str, group: str | None) -> dict[str, Any]:
    spec: dict[str, Any] = {"image": "x"} if kind == "MCPServer" else {"remoteUrl": "https://x"}
    if group is not None:
        spec["groupRef"] = {"name": group}
    return obj(kind, name, spec)


@pytest.fixture
def world() -> tuple[FakeKube, Operator]:
    kube = FakeKube()
    operator = Operator(kube)
    operator.register(MCPGroupController())
    return kube, operator


def settle(operator: Operator, *objs: dict[str, Any]) -> None:
    """What the watches would do: each object's event enqueues its keys; then run the queue."""
    for o in objs:
        operator.observe(o)
    operator.drain()


def status(kube: FakeKube, name: str = "g") -> dict[str, Any]:
    found = kube.find("MCPGroup", NS, name)
    assert found is not None
    return dict(found.get("status") or {})


def test_status_lists_and_counts_the_members_naming_it(world: tuple[FakeKube, Operator]) -> None:
    kube, operator = world
    group = kube.put(obj("MCPGroup", "g", {"description": "team"}))
    kube.put(member("MCPServer", "zeta", "g"))
    kube.put(member("MCPServer", "alpha", "g"))
    kube.put(member("MCPServer", "elsewhere", "other"))
    kube.put(member("MCPServer", "loner", None))
    kube.put(member("MCPRemoteProxy", "remote", "g"))
    settle(operator, group)
    got = status(kube)
    assert got["phase"] == "Ready"
    assert got["servers"] == ["alpha", "zeta"]
    assert got["serverCount"] == 2
    assert got["remoteProxies"] == ["remote"]
    assert got["remoteProxyCount"] == 1
    assert got["entryCount"] == 0
    assert got["observedGeneration"] == 1
    (cond,) = got["conditions"]
    assert (cond["type"], cond["status"], cond["reason"]) == (
        "MCPServersChecked",
        "True",
        "ListMCPServersCheckSucceeded",
    )


def test_members_joining_moving_and_leaving_re_reconcile_the_group(
    world: tuple[FakeKube, Operator],
) -> None:
    kube, operator = world
    settle(operator, kube.put(obj("MCPGroup", "g")), kube.put(obj("MCPGroup", "h")))
    assert status(kube)["serverCount"] == 0

    joined = kube.put(member("MCPServer", "a", "g"))
    settle(operator, joined)
    assert status(kube)["servers"] == ["a"]

    # Moving to h: the event carries only the new groupRef; the index remembers the old one.
    moved = kube.put(member("MCPServer", "a", "h"))
    assert {k.name for k in operator.keys_for_event(moved)} == {"g", "h"}
    settle(operator, moved)
    assert status(kube, "g").get("servers") is None  # [] is left out, as Go's omitempty
    assert status(kube, "g")["serverCount"] == 0
    assert status(kube, "h")["servers"] == ["a"]

    gone = kube.get(API_VERSION, "MCPServer", NS, "a")
    assert gone is not None
    kube.delete(API_VERSION, "MCPServer", NS, "a")
    settle(operator, gone)
    assert status(kube, "h")["serverCount"] == 0


def test_nothing_is_written_when_nothing_changed(world: tuple[FakeKube, Operator]) -> None:
    kube, operator = world
    group = kube.put(obj("MCPGroup", "g"))
    kube.put(member("MCPServer", "a", "g"))
    settle(operator, group)
    before = kube.writes[:]
    version = status(kube)
    operator.enqueue(Key("MCPGroup", NS, "g"))
    operator.drain()
    assert kube.writes == before
    assert status(kube) == version


def test_a_failed_listing_fails_the_group_and_clears_its_lists(
    world: tuple[FakeKube, Operator], monkeypatch: pytest.MonkeyPatch
) -> None:
    kube, operator = world
    group = kube.put(obj("MCPGroup", "g"))
    kube.put(member("MCPServer", "a", "g"))
    settle(operator, group)
    assert status(kube)["servers"] == ["a"]

    real_list = kube.list

    def failing(api_version: str, kind: str, *args: Any, **kwargs: Any) -> Any:
        if kind == "MCPRemoteProxy":
            raise KubeError(403, "forbidden")
        return real_list(api_version, kind, *args, **kwargs)

    monkeypatch.setattr(kube, "list", failing)
    operator.enqueue(Key("MCPGroup", NS, "g"))
    with pytest.raises(KubeError):
        operator.drain()
    got = status(kube)
    assert got["phase"] == "Failed"
    assert "servers" not in got
    assert got["serverCount"] == 0
    assert got["conditions"][0]["status"] == "False"
    assert got["conditions"][0]["reason"] == "ListMCPServersCheckFailed"


def test_group_ref_reads_v1beta1_objects_and_v1alpha1_strings() -> None:
    assert group_ref({"spec": {"groupRef": {"name": "g"}}}) == "g"
    assert group_ref({"spec": {"groupRef": "g"}}) == "g"
    assert group_ref({"spec": {}}) == ""
