"""Workload events: the in-process bus, and client-config sync following it (a registered
client's real config file gains and loses the workload's entry)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from toolhive.clients import sync
from toolhive.groups import store as groups
from toolhive.models.runconfig import RunConfig
from toolhive.models.workload import WorkloadStatus
from toolhive.plugins import Hooks, build_plugin_manager
from toolhive.workloads.events import EventType, WorkloadEvent, WorkloadEvents

CONFIG = RunConfig(name="clock", base_name="clock", image="img:1", port=18123)


def test_subscribers_get_every_event_in_order_until_they_unsubscribe():
    bus = WorkloadEvents()
    seen: list[tuple[str, str]] = []
    unsubscribe = bus.subscribe(lambda e: seen.append((e.type, e.status)))
    bus.emit(EventType.CREATED, CONFIG)
    bus.emit(EventType.UNHEALTHY, CONFIG, context="server exited with code 1")
    unsubscribe()
    bus.emit(EventType.REMOVED, CONFIG)
    assert seen == [("created", "starting"), ("unhealthy", "unhealthy")]


def test_a_failing_subscriber_is_logged_and_the_others_still_run(caplog):
    bus = WorkloadEvents()
    seen: list[EventType] = []

    def broken(_event: WorkloadEvent) -> None:
        raise RuntimeError("client file on fire")

    bus.subscribe(broken)
    bus.subscribe(lambda e: seen.append(e.type))
    with caplog.at_level(logging.ERROR, logger="toolhive.workloads.events"):
        bus.emit(EventType.STOPPED, CONFIG)
    assert seen == [EventType.STOPPED]
    assert "client file on fire" in caplog.text


def test_an_event_is_json_for_the_api_event_stream():
    bus = WorkloadEvents()
    events: list[WorkloadEvent] = []
    bus.subscribe(events.append)
    bus.emit(EventType.UPDATED, CONFIG, previous=CONFIG, status=WorkloadStatus.RUNNING)
    body = json.loads(events[0].model_dump_json())
    assert body["type"] == "updated" and body["status"] == "running"
    assert body["name"] == "clock" and body["config"]["port"] == 18123 and body["at"]


# --- client sync subscribes ----------------------------------------------------------------------


@pytest.fixture
def cursor_file(thv_home, tmp_path: Path, monkeypatch) -> Path:
    """Cursor installed for a temporary user and registered with the default group."""
    home = tmp_path / "user"
    (home / ".cursor").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    groups.register_clients([groups.DEFAULT_GROUP], ["cursor"])
    return home / ".cursor" / "mcp.json"


def servers(path: Path) -> dict[str, dict]:
    return json.loads(path.read_text())["mcpServers"] if path.exists() else {}


def test_client_sync_follows_running_stopped_and_removed(cursor_file):
    hooks = Hooks(build_plugin_manager(autoload=False))
    bus = WorkloadEvents()
    sync.subscribe(bus, hooks)
    bus.emit(EventType.CREATED, CONFIG)
    bus.emit(EventType.STARTING, CONFIG)
    assert servers(cursor_file) == {}  # not serving yet
    bus.emit(EventType.RUNNING, CONFIG)
    assert servers(cursor_file)["clock"]["url"] == "http://127.0.0.1:18123/mcp"
    bus.emit(EventType.UNHEALTHY, CONFIG)
    assert "clock" in servers(cursor_file)  # the proxy still answers
    bus.emit(EventType.STOPPED, CONFIG)
    assert "clock" not in servers(cursor_file)
    bus.emit(EventType.RUNNING, CONFIG)
    bus.emit(EventType.REMOVED, CONFIG)
    assert "clock" not in servers(cursor_file)


def test_client_sync_follows_a_move_to_another_group(cursor_file):
    hooks = Hooks(build_plugin_manager(autoload=False))
    groups.create_group("team")
    bus = WorkloadEvents()
    sync.subscribe(bus, hooks)
    in_team = CONFIG.model_copy(update={"group": "team"})
    bus.emit(EventType.RUNNING, in_team)
    assert servers(cursor_file) == {}  # cursor is registered with default only
    bus.emit(EventType.UPDATED, CONFIG, previous=in_team, status=WorkloadStatus.RUNNING)
    assert "clock" in servers(cursor_file)
    bus.emit(EventType.UPDATED, in_team, previous=CONFIG, status=WorkloadStatus.RUNNING)
    assert servers(cursor_file) == {}
