"""``GET /api/v1beta/events`` in-process: the ASGI app driven directly (httpx's ASGI transport
buffers whole bodies, a stream never ends), state written as other processes write it (RunConfigs
and status files), in an isolated home."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from toolhive.api.app import build_app
from toolhive.api.routes import events as events_route
from toolhive.api.state import ApiState, api_state
from toolhive.models.runconfig import RunConfig
from toolhive.models.workload import WorkloadStatus as S
from toolhive.state import store
from toolhive.workloads.events import EventType

EVENTS = "/api/v1beta/events"


def save_workload(
    name: str, status: S | None = S.STOPPED, *, group: str = "default", pid: int = 0
) -> RunConfig:
    """A workload as ``thv`` leaves it in the state: its RunConfig and its status file."""
    config = RunConfig(
        name=name, base_name=name, image="example/echo", group=group, port=18000 + len(name)
    )
    store.save_runconfig(config)
    if status is not None:
        store.set_status(name, status, process_id=pid)
    return config


def remove_workload(name: str) -> None:
    store.delete_runconfig(name)
    store.delete_status(name)


@dataclass
class Event:
    event: str = "message"
    data: Any = None
    comment: str = ""


@dataclass
class Stream:
    """One open ``GET /events`` on the in-process app."""

    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    _chunks: asyncio.Queue[bytes] = field(default_factory=asyncio.Queue)
    _buffer: str = ""

    async def next(self, timeout: float = 5.0) -> Event:
        """The next event or comment block; fails the test after ``timeout`` seconds."""
        async with asyncio.timeout(timeout):
            while "\n\n" not in self._buffer:
                chunk = await self._chunks.get()
                if chunk == b"" and self.ended.is_set():
                    raise AssertionError(f"the stream ended; unread: {self._buffer!r}")
                self._buffer += chunk.decode()
        block, self._buffer = self._buffer.split("\n\n", 1)
        event = Event()
        for line in block.split("\n"):
            if line.startswith(":"):
                event.comment = line[1:].strip()
            elif line.startswith("event: "):
                event.event = line[7:]
            elif line.startswith("data: "):
                event.data = json.loads(line[6:])
            elif line.startswith("retry: "):
                event.event, event.data = "retry", int(line[7:])
        return event

    async def until(self, predicate: Any, timeout: float = 5.0) -> list[Event]:
        """Events read until one satisfies ``predicate`` (included, last)."""
        seen: list[Event] = []
        async with asyncio.timeout(timeout):
            while True:
                seen.append(await self.next(timeout))
                if predicate(seen[-1]):
                    return seen

    async def snapshot(self) -> list[dict[str, Any]]:
        """The snapshot's workload events, once ``ready`` arrived."""
        head = await self.until(lambda e: e.event == "ready")
        assert head[0].event == "retry"
        rows = [e.data for e in head if e.event == "workload"]
        assert head[-1].data == {"workloads": len(rows)}
        return rows


@contextlib.asynccontextmanager
async def open_stream(app: Any, query: str = "") -> AsyncIterator[Stream]:
    """``GET /events`` on ``app``; leaving disconnects the client and waits for the app to end."""
    stream = Stream()
    leave = asyncio.Event()
    requested = False

    async def receive() -> dict[str, Any]:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await leave.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            stream.status = message["status"]
            stream.headers = {k.decode(): v.decode() for k, v in message["headers"]}
        elif message["type"] == "http.response.body":
            if not message.get("more_body", False):
                stream.ended.set()
            stream._chunks.put_nowait(message.get("body", b""))

    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": EVENTS,
        "raw_path": EVENTS.encode(),
        "root_path": "",
        "query_string": query.encode(),
        "headers": [(b"host", b"thv"), (b"accept", b"text/event-stream")],
        "client": ("127.0.0.1", 50000),
        "server": ("thv", 80),
    }
    task = asyncio.create_task(app(scope, receive, send))
    try:
        yield stream
    finally:
        leave.set()
        async with asyncio.timeout(5):
            await task


def watcher(app: Any) -> Any:
    """The server's watcher (on the Starlette app under the security-headers wrapper)."""
    starlette_app = app.app.open_app
    return getattr(starlette_app.state, "workload_watcher", None)


@pytest.fixture
def state(thv_home: Any, thv_hooks: Any) -> ApiState:
    return api_state(thv_hooks)


@pytest.fixture
def app(state: ApiState) -> Any:
    return build_app(state)


def test_the_stream_starts_with_every_workload_then_ready(app: Any) -> None:
    save_workload("alpha", S.RUNNING, pid=1)  # pid 1: a live process, so running holds
    save_workload("beta", S.STOPPED, group="team")

    async def scenario() -> list[dict[str, Any]]:
        async with open_stream(app) as stream:
            rows = await stream.snapshot()
            assert stream.status == 200
            assert stream.headers["content-type"].startswith("text/event-stream")
            assert stream.headers["cache-control"] == "no-cache"
            return rows

    rows = asyncio.run(scenario())
    assert [(r["type"], r["name"], r["status"], r["previous"]) for r in rows] == [
        ("snapshot", "alpha", "running", None),
        ("snapshot", "beta", "stopped", None),
    ]
    assert rows[1]["group"] == "team" and rows[0]["url"] == "http://127.0.0.1:18005/mcp"
    assert rows[0]["time"] and rows[0]["time"].endswith("Z")


def test_an_empty_state_gives_an_empty_snapshot_and_ready(app: Any) -> None:
    async def scenario() -> list[dict[str, Any]]:
        async with open_stream(app) as stream:
            return await stream.snapshot()

    assert asyncio.run(scenario()) == []


def test_status_files_written_elsewhere_become_created_changed_and_removed_events(
    app: Any,
) -> None:
    async def scenario() -> list[tuple[str, str, str, str | None]]:
        async with open_stream(app) as stream:
            await stream.snapshot()
            save_workload("gamma", S.STARTING, pid=1)
            created = await stream.next()
            store.set_status("gamma", S.RUNNING, process_id=1)
            running = await stream.next()
            store.set_status("gamma", S.STOPPED, process_id=0)
            stopped = await stream.next()
            remove_workload("gamma")
            removed = await stream.next()
        out = []
        for e in (created, running, stopped, removed):
            assert e.event == "workload", e
            out.append((e.data["type"], e.data["name"], e.data["status"], e.data["previous"]))
        return out

    assert asyncio.run(scenario()) == [
        ("created", "gamma", "starting", None),
        ("changed", "gamma", "running", "starting"),
        ("changed", "gamma", "stopped", "running"),
        ("removed", "gamma", "removed", "stopped"),
    ]


def test_a_status_change_event_carries_the_status_files_time_and_context(app: Any) -> None:
    save_workload("delta", S.RUNNING, pid=1)

    async def scenario() -> tuple[dict[str, Any], str]:
        async with open_stream(app) as stream:
            await stream.snapshot()
            record = store.set_status("delta", S.ERROR, "the image is gone")
            return (await stream.next()).data, record.updated_at

    data, updated_at = asyncio.run(scenario())
    assert data["status"] == "error" and data["status_context"] == "the image is gone"
    assert data["time"] == updated_at


def test_a_supervisor_that_dies_turns_running_into_unhealthy_without_any_file_write(
    app: Any,
) -> None:
    supervisor = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        save_workload("epsilon", S.RUNNING, pid=supervisor.pid)

        async def scenario() -> tuple[list[dict[str, Any]], Any]:
            async with open_stream(app) as stream:
                rows = await stream.snapshot()
                supervisor.kill()
                supervisor.wait()
                return rows, await stream.next()

        rows, change = asyncio.run(scenario())
    finally:
        supervisor.kill()
        supervisor.wait()
    assert rows[0]["status"] == "running"
    assert change.data["status"] == "unhealthy" and change.data["previous"] == "running"
    assert change.data["status_context"] == "proxy process not running"


def test_group_filter_keeps_only_that_groups_workloads(app: Any) -> None:
    save_workload("in-team", S.STOPPED, group="team")
    save_workload("elsewhere", S.STOPPED)

    async def scenario() -> tuple[list[dict[str, Any]], Any]:
        async with open_stream(app, "group=team") as stream:
            rows = await stream.snapshot()
            store.set_status("elsewhere", S.ERROR, "not for this client")
            store.set_status("in-team", S.ERROR, "for this client")
            return rows, await stream.next()

    rows, change = asyncio.run(scenario())
    assert [r["name"] for r in rows] == ["in-team"]
    assert change.data["name"] == "in-team" and change.data["status"] == "error"


def test_an_invalid_group_name_is_a_400_naming_the_field(app: Any) -> None:
    async def scenario() -> tuple[int, dict[str, Any]]:
        async with open_stream(app, "group=Not%20Valid%21") as stream:
            async with asyncio.timeout(5):
                await stream.ended.wait()
            body = b""
            while not stream._chunks.empty():
                body += stream._chunks.get_nowait()
            return stream.status, json.loads(body)

    status, body = asyncio.run(scenario())
    assert status == 400 and body["field"] == "group" and "invalid group name" in body["message"]
    assert watcher(app) is None  # refused before any watcher started


def test_clients_share_one_watcher_that_stops_with_the_last_disconnect(app: Any) -> None:
    async def scenario() -> None:
        async with open_stream(app) as first:
            await first.snapshot()
            shared = watcher(app)
            assert shared is not None and shared.running and shared.subscribers == 1
            async with open_stream(app) as second:
                await second.snapshot()
                assert watcher(app) is shared and shared.subscribers == 2
                save_workload("zeta", S.STOPPED)
                assert (await first.next()).data["name"] == "zeta"
                assert (await second.next()).data["name"] == "zeta"
            assert shared.subscribers == 1 and shared.running
        assert shared.subscribers == 0 and not shared.running
        leftover = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        assert leftover == []

    asyncio.run(scenario())


def test_a_client_that_leaves_mid_stream_stops_its_generator_and_the_watcher(app: Any) -> None:
    async def scenario() -> None:
        async with open_stream(app) as stream:
            await stream.snapshot()
        shared = watcher(app)
        assert shared.subscribers == 0 and not shared.running
        # A new client starts it again, from a fresh snapshot.
        save_workload("eta", S.STOPPED)
        async with open_stream(app) as again:
            assert [r["name"] for r in await again.snapshot()] == ["eta"]
            assert shared.running
        assert not shared.running

    asyncio.run(scenario())


def test_an_idle_stream_gets_keep_alive_comments(app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(events_route, "KEEPALIVE_S", 0.1)

    async def scenario() -> Event:
        async with open_stream(app) as stream:
            await stream.snapshot()
            return await stream.next(timeout=2)

    assert asyncio.run(scenario()).comment == "keep-alive"


def test_draining_the_app_ends_every_stream_so_shutdown_does_not_wait(app: Any) -> None:
    async def scenario() -> None:
        async with open_stream(app) as stream:
            await stream.snapshot()
            await app.drain()
            async with asyncio.timeout(2):
                await stream.ended.wait()
        assert not watcher(app).running

    asyncio.run(scenario())


def test_a_change_published_by_this_servers_use_cases_is_seen_without_waiting_for_the_tick(
    app: Any, state: ApiState
) -> None:
    config = save_workload("theta", S.RUNNING, pid=1)

    async def scenario() -> float:
        async with open_stream(app) as stream:
            await stream.snapshot()
            watcher(app).interval = 30.0  # only a poke can make it scan now
            await asyncio.sleep(0.3)  # the tick waiting then began with the old interval
            store.set_status("theta", S.STOPPED, process_id=0)
            loop = asyncio.get_running_loop()
            started = loop.time()
            # The use cases publish from a worker thread (Call.run).
            await asyncio.to_thread(state.workloads.events.emit, EventType.STOPPED, config)
            change = await stream.next(timeout=5)
            assert change.data["status"] == "stopped"
            return loop.time() - started

    assert asyncio.run(scenario()) < 1.0


def test_the_endpoint_is_in_the_openapi_document_as_an_event_stream(state: ApiState) -> None:
    from toolhive.api.openapi import openapi_document
    from toolhive.api.routes import all_endpoints

    document = openapi_document(all_endpoints())
    operation = document["paths"][EVENTS]["get"]
    assert operation["operationId"] == "stream_workload_events"
    assert "text/event-stream" in operation["responses"]["200"]["content"]
    assert [p["name"] for p in operation.get("parameters", [])] == ["group"]


def test_one_app_serves_streams_from_one_event_loop_after_another(app: Any) -> None:
    save_workload("iota", S.STOPPED)

    async def scenario() -> list[str]:
        async with open_stream(app) as first, open_stream(app) as second:
            rows = await first.snapshot()
            await second.snapshot()
            return [r["name"] for r in rows]

    assert asyncio.run(scenario()) == ["iota"]
    assert asyncio.run(scenario()) == ["iota"]  # a new loop: the watcher starts again in it


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="inotify is Linux's")
def test_a_status_file_written_by_another_process_wakes_the_watcher_at_once(app: Any) -> None:
    save_workload("kappa", S.STOPPED)

    async def scenario() -> None:
        async with open_stream(app) as stream:
            await stream.snapshot()
            watcher(app).interval = 30.0  # only inotify can make it scan within the test
            await asyncio.sleep(0.3)  # the tick waiting then began with the old interval
            code = (
                "from toolhive.state import store; store.set_status('kappa', 'error', 'elsewhere')"
            )
            writer = await asyncio.create_subprocess_exec(sys.executable, "-c", code)
            assert await writer.wait() == 0
            change = await stream.next(timeout=5)
            assert change.data["status"] == "error" and change.data["status_context"] == "elsewhere"

    asyncio.run(scenario())
