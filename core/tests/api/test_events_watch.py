"""The state watcher behind ``/api/v1beta/events``: what a scan of the state files reports, in an
isolated home, with the files written as ``thv`` writes them."""

from __future__ import annotations

import json
import os
from typing import Any

from toolhive.models.runconfig import RunConfig
from toolhive.models.workload import WorkloadStatus as S
from toolhive.state import paths, store
from toolhive.workloads.watch import StateScanner, StatusChange, WorkloadView, diff


def save(name: str, status: S | None = S.STOPPED, group: str = "default") -> None:
    store.save_runconfig(RunConfig(name=name, base_name=name, image="example/echo", group=group))
    if status is not None:
        store.set_status(name, status)


def statuses(views: dict[str, WorkloadView]) -> dict[str, str]:
    return {base: view.status for base, view in views.items()}


def test_every_write_is_seen_even_two_in_a_row_within_one_clock_tick(thv_home: Any) -> None:
    save("one")
    scanner = StateScanner()
    assert statuses(scanner.scan()) == {"one": "stopped"}
    for status in (S.ERROR, S.UNKNOWN, S.STOPPED, S.ERROR):
        store.set_status("one", status)
        assert statuses(scanner.scan()) == {"one": str(status)}


def test_an_edit_in_place_is_seen_within_a_full_listing_period(thv_home: Any) -> None:
    save("edited")
    scanner = StateScanner(full_every=3, recent_s=0)
    scanner.scan()
    path = paths.status_path("edited")
    record = json.loads(path.read_text())
    # Rewritten in place (no rename: its folder's mtime does not change), as an editor might.
    with open(path, "r+") as file:
        file.write(json.dumps({**record, "status": "error"}))
        file.truncate()
    seen = [statuses(scanner.scan())["edited"] for _ in range(3)]
    assert seen[-1] == "error"


def test_a_workload_being_created_is_hidden_until_its_status_file_or_the_grace_ends(
    thv_home: Any,
) -> None:
    save("young", status=None)
    scanner = StateScanner()
    assert scanner.scan() == {}
    store.set_status("young", S.STARTING)
    assert statuses(scanner.scan()) == {"young": "starting"}

    save("old", status=None)
    config = paths.runconfig_path("old")
    past = os.stat(config).st_mtime - 60
    os.utime(config, (past, past))  # saved a minute ago and never given a status: stopped
    assert statuses(scanner.scan())["old"] == "stopped"


def test_an_unreadable_runconfig_is_skipped_and_the_others_reported(thv_home: Any) -> None:
    save("fine")
    save("broken")
    paths.runconfig_path("broken").write_text("{not json")
    assert statuses(StateScanner().scan()) == {"fine": "stopped"}


def test_a_state_that_does_not_exist_yet_is_no_workloads(thv_home: Any) -> None:
    assert StateScanner().scan() == {}


def test_diff_names_created_changed_and_removed_workloads_with_their_previous_status() -> None:
    before = {
        "a": WorkloadView("a", "running", time="t0"),
        "b": WorkloadView("b", "running", time="t0"),
        "c": WorkloadView("c", "stopped", time="t0"),
    }
    after = {
        "a": WorkloadView("a", "running", time="t1"),  # only the time differs: no change
        "b": WorkloadView("b", "unhealthy", "proxy process not running", time="t1"),
        "d": WorkloadView("d", "starting", group="team", time="t1"),
    }
    changes = diff(before, after)
    summary = [(c.kind, c.workload.name, c.workload.status, c.previous) for c in changes]
    assert summary == [
        ("changed", "b", "unhealthy", "running"),
        ("removed", "c", "removed", "stopped"),
        ("created", "d", "starting", None),
    ]
    assert changes[0].to_json()["status_context"] == "proxy process not running"
    assert "status_context" not in changes[2].to_json() and changes[2].to_json()["group"] == "team"


def test_a_group_move_is_a_change_with_the_same_status() -> None:
    moved = diff(
        {"w": WorkloadView("w", "running", group="default")},
        {"w": WorkloadView("w", "running", group="team")},
    )
    assert moved == [StatusChange("changed", WorkloadView("w", "running", group="team"), "running")]
