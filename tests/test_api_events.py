"""``GET /api/v1beta/events`` on a real ``thv serve`` (TCP and its unix socket) while the real
``thv`` CLI, another process, runs, stops and removes a workload on the process runtime (the echo
server, with its detached supervisor recording ``running``)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest
from toolhive.testing.api import ApiServer, EventStream, SseEvent, api_server
from toolhive.testing.workloads import ECHO_STDIO, ThvConsole, thv_console

pytestmark = pytest.mark.process_runtime


@pytest.fixture
def thv(thv_env: dict[str, str]) -> Iterator[ThvConsole]:
    with thv_console(thv_env) as runner:
        yield runner


@pytest.fixture(params=["tcp", "unix-socket"])
def api(request: pytest.FixtureRequest, thv_env: dict[str, str]) -> Iterator[ApiServer]:
    thv_env["TOOLHIVE_RUNTIME"] = "process"  # what POST /workloads runs on
    with api_server(thv_env, socket=request.param == "unix-socket") as server:
        yield server


def snapshot(stream: EventStream) -> dict[str, dict[str, object]]:
    """The snapshot's workloads by name (the stream's head, up to ``ready``)."""
    head = stream.until(lambda e: e.event == "ready")
    rows = {e.data["name"]: e.data for e in head if e.event == "workload"}
    assert all(r["type"] == "snapshot" for r in rows.values())
    assert head[-1].data == {"workloads": len(rows)}
    return rows


def statuses_until(stream: EventStream, name: str, final: str, timeout: float = 60) -> list[str]:
    """``name``'s statuses as the stream reports them, until ``final``."""
    events: list[SseEvent] = stream.until(
        lambda e: e.event == "workload" and e.data["name"] == name and e.data["status"] == final,
        timeout=timeout,
    )
    return [e.data["status"] for e in events if e.event == "workload" and e.data["name"] == name]


def in_order(expected: list[str], seen: list[str]) -> bool:
    """Whether ``expected`` appears in ``seen`` in that order (other statuses may come between:
    ``stopping``, ``removing``)."""
    rest = iter(seen)
    return all(status in rest for status in expected)


def test_the_stream_sees_a_cli_workload_go_starting_running_stopped_removed(
    api: ApiServer, thv: ThvConsole
) -> None:
    with api.events() as stream:
        assert stream.status == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        assert snapshot(stream) == {}
        thv("run", "--name", "watched", "--runtime", "process", *ECHO_STDIO)
        started = statuses_until(stream, "watched", "running")
        thv("stop", "watched")
        stopped = statuses_until(stream, "watched", "stopped")
        thv("rm", "watched")
        removed = statuses_until(stream, "watched", "removed")
    seen = started + stopped + removed
    assert in_order(["starting", "running", "stopped", "removed"], seen), seen
    assert seen[0] == "starting"


def test_the_stream_sees_a_workload_created_and_deleted_through_the_api_itself(
    api: ApiServer, thv: ThvConsole
) -> None:
    body = {
        "name": "via-api",
        "image": ECHO_STDIO[0],
        "transport": "stdio",
        "cmd_arguments": [ECHO_STDIO[-2], "stdio"],
    }
    with api.events(query="group=default") as stream:
        snapshot(stream)
        created = api.client.post("/api/v1beta/workloads", json=body)
        assert created.status_code == 201, created.text
        started = statuses_until(stream, "via-api", "running")
        assert api.client.delete("/api/v1beta/workloads/via-api").status_code == 202
        removed = statuses_until(stream, "via-api", "removed")
    assert in_order(["starting", "running", "removed"], started + removed), started + removed


def test_a_reconnecting_client_starts_from_a_snapshot_of_the_current_state(
    api: ApiServer, thv: ThvConsole
) -> None:
    thv("run", "--name", "already", "--runtime", "process", *ECHO_STDIO)
    url = thv("status", "already", "--format", "json")
    with api.events() as first:
        rows = snapshot(first)
    assert rows["already"]["status"] == "running" and rows["already"]["previous"] is None
    assert str(rows["already"]["url"]) in url
    thv("stop", "already")
    with api.events() as again:  # the stop happened while no client listened
        assert snapshot(again)["already"]["status"] == "stopped"


def test_the_server_stops_at_once_with_a_stream_open_and_leaves_no_process(
    thv_env: dict[str, str],
) -> None:
    server = ApiServer(thv_env, stop_timeout=30)
    with server:
        stream = server.events()
        snapshot(stream)
        started = time.monotonic()
        code = server.stop()
        took = time.monotonic() - started
        with pytest.raises(EOFError):
            while True:
                stream.next(timeout=5)
        stream.close()
    assert took < 5, f"shutdown waited {took:.1f}s for the open stream"
    assert code == 0, server.log()
    with pytest.raises(ProcessLookupError):
        os.kill(server.pid, 0)
