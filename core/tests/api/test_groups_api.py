"""The groups endpoints in-process (httpx over the ASGI app, an isolated home): every status
code, and delete moving (or removing) a group's workloads as ``thv group rm`` does."""

from __future__ import annotations

from typing import Any

import pytest
from api_in_process import InProcess

GROUPS = "/api/v1beta/groups"


@pytest.fixture
def api(thv_home, thv_hooks) -> InProcess:
    return InProcess(thv_hooks)


def save_stopped_workload(name: str, group: str) -> None:
    """A workload that exists only as state (stopped): enough for the group to own it."""
    from toolhive.models.runconfig import RunConfig
    from toolhive.state import store

    store.save_runconfig(RunConfig(name=name, base_name=name, image="example/echo", group=group))


def workload_groups(hooks: Any) -> dict[str, str]:
    from toolhive.workloads.service import Workloads

    return {w.name: w.group for w in Workloads(hooks).list(include_all=True)}


def test_the_default_group_is_always_listed(api):
    answer = api.get(GROUPS)
    assert answer.status_code == 200
    assert answer.json() == {
        "groups": [{"name": "default", "registered_clients": [], "skills": [], "plugins": []}]
    }


def test_create_answers_201_then_409_for_the_same_name(api):
    created = api.post(GROUPS, json={"name": "team-a"})
    assert created.status_code == 201 and created.json() == {"name": "team-a"}
    again = api.post(GROUPS, json={"name": "team-a"})
    assert again.status_code == 409
    assert "already exists" in again.json()["message"]
    assert [g["name"] for g in api.get(GROUPS).json()["groups"]] == ["default", "team-a"]


@pytest.mark.parametrize("name", ["Team", "a/b", "", "x" * 101, " lead"])
def test_an_invalid_name_is_a_400(api, name):
    answer = api.post(GROUPS, json={"name": name})
    assert answer.status_code == 400
    assert "invalid group name" in answer.json()["message"]


def test_a_body_without_a_name_is_a_400_naming_the_field(api):
    answer = api.post(GROUPS, json={})
    assert answer.status_code == 400 and answer.json()["field"] == "name"


def test_get_answers_the_group_or_404(api):
    api.post(GROUPS, json={"name": "team-b"})
    assert api.get(f"{GROUPS}/team-b").json()["name"] == "team-b"
    missing = api.get(f"{GROUPS}/nope")
    assert missing.status_code == 404 and "does not exist" in missing.json()["message"]
    assert api.get(f"{GROUPS}/Bad%20Name").status_code == 400


def test_delete_answers_204_then_404(api):
    api.post(GROUPS, json={"name": "gone"})
    deleted = api.delete(f"{GROUPS}/gone")
    assert deleted.status_code == 204 and deleted.content == b""
    assert api.delete(f"{GROUPS}/gone").status_code == 404


def test_the_default_group_cannot_be_deleted(api):
    answer = api.delete(f"{GROUPS}/default")
    assert answer.status_code == 400
    assert "default group cannot be removed" in answer.json()["message"]


def test_delete_moves_the_groups_workloads_to_default(api, thv_hooks):
    api.post(GROUPS, json={"name": "movers"})
    save_stopped_workload("mover-one", "movers")
    save_stopped_workload("stayer", "default")
    assert api.delete(f"{GROUPS}/movers").status_code == 204
    assert workload_groups(thv_hooks) == {"mover-one": "default", "stayer": "default"}


def test_delete_with_workloads_removes_them(api, thv_hooks):
    api.post(GROUPS, json={"name": "doomed"})
    save_stopped_workload("doomed-one", "doomed")
    save_stopped_workload("survivor", "default")
    assert api.delete(f"{GROUPS}/doomed?with-workloads=true").status_code == 204
    assert workload_groups(thv_hooks) == {"survivor": "default"}
    assert [g["name"] for g in api.get(GROUPS).json()["groups"]] == ["default"]
