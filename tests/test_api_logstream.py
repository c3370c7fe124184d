"""``GET /api/v1beta/workloads/{name}/logs/stream`` on a real ``thv serve`` with core's echo server
on the process runtime: the log's text first, then a line the server writes when a tool call is
rejected, live; the proxy log; a restart starts the text over (``reset``); removal ends the stream.
The same on Podman and Docker (the runtime's follow mode), with the echo server in the test image.
"""

from __future__ import annotations

import concurrent.futures
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
from toolhive.testing.api import ApiServer, EventStream, SseEvent, api_server
from toolhive.testing.workloads import ECHO_STDIO, require_process_runtime

from tests.conftest import ENGINE_SOCKETS, MCP_IMAGE, engine_available, require_or_skip
from tests.mcp_client import _call

STREAM = "/api/v1beta/workloads/{}/logs/stream"
#: Every test but the engines' runs core's echo server on the process runtime.
process_runtime = pytest.mark.process_runtime


@pytest.fixture
def api(thv_env: dict[str, str]) -> Iterator[ApiServer]:
    require_process_runtime()
    thv_env["TOOLHIVE_RUNTIME"] = "process"
    with api_server(thv_env) as server:
        yield server


def start_echo(api: ApiServer, name: str, group: str = "") -> str:
    """Core's echo server on stdio (in ``group``), running; its URL."""
    body = {
        "name": name,
        "image": ECHO_STDIO[0],
        "transport": "stdio",
        "cmd_arguments": list(ECHO_STDIO[4:]),
        "group": group,
    }
    created = api.client.post("/api/v1beta/workloads", json=body)
    assert created.status_code == 201, created.text
    wait_status(api, name, "running")
    rows = api.client.get("/api/v1beta/workloads").json()["workloads"]
    return next(r["url"] for r in rows if r["name"] == name)


def wait_status(api: ApiServer, name: str, status: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while api.client.get(f"/api/v1beta/workloads/{name}/status").json()["status"] != status:
        assert time.monotonic() < deadline, f"{name} did not reach {status}"
        time.sleep(0.2)


def rejected_call(url: str) -> None:
    """A tools/call with an argument of the wrong type: the SDK logs "Tool 'add' rejected
    arguments" on the server's stderr (its log)."""
    # In a thread of its own: a Playwright test's thread already runs an event loop.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        result = pool.submit(anyio.run, _call, url, "add", {"a": "not a number", "b": 1}).result()
    assert result.is_error


def lines_until(stream: EventStream, text: str, timeout: float = 30) -> list[SseEvent]:
    return stream.until(
        lambda e: e.event == "lines" and any(text in line for line in e.data), timeout=timeout
    )


@process_runtime
def test_an_unknown_workload_is_404_and_an_unknown_source_400(api: ApiServer) -> None:
    missing = api.client.get(STREAM.format("ghost"))
    assert missing.status_code == 404
    assert "ghost" in missing.json()["message"]
    start_echo(api, "echo")
    bad = api.client.get(STREAM.format("echo"), params={"source": "stderr"})
    assert bad.status_code == 400
    assert bad.json()["field"] == "source"


@process_runtime
def test_the_stream_sends_the_text_first_then_each_new_line_live(api: ApiServer) -> None:
    url = start_echo(api, "echo")
    rejected_call(url)
    deadline = time.monotonic() + 30
    while "rejected arguments" not in api.client.get("/api/v1beta/workloads/echo/logs").text:
        assert time.monotonic() < deadline, "the server did not log the rejected call"
        time.sleep(0.2)
    with api.events(STREAM.format("echo")) as stream:
        assert stream.status == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        head = lines_until(stream, "rejected arguments")
        existing = [line for e in head if e.event == "lines" for line in e.data]
        assert sum("rejected arguments" in line for line in existing) == 1
        with pytest.raises(TimeoutError):  # nothing new: nothing sent
            stream.until(lambda e: e.event == "lines", timeout=1.5)
        rejected_call(url)
        later = lines_until(stream, "rejected arguments")
        assert [e.event for e in later if e.event != "message"] == ["lines"]


@process_runtime
def test_the_proxy_source_follows_the_supervisor_log(api: ApiServer) -> None:
    start_echo(api, "echo")
    with api.events(STREAM.format("echo"), query="source=proxy") as stream:
        lines_until(stream, "echo is running at")
        api.client.post("/api/v1beta/workloads/echo/restart")
        # The supervisor of the new run appends to the same file: new lines, no reset.
        later = lines_until(stream, "deploying")
        assert "reset" not in [e.event for e in later]


@process_runtime
def test_a_restart_starts_the_text_over_and_removal_ends_the_stream(api: ApiServer) -> None:
    url = start_echo(api, "echo")
    with api.events(STREAM.format("echo")) as stream:
        stream.next()  # retry:
        api.client.post("/api/v1beta/workloads/echo/restart")
        stream.until(lambda e: e.event == "reset", timeout=60)
        wait_status(api, "echo", "running")
        rejected_call(url)  # the restarted server is followed
        lines_until(stream, "rejected arguments")
        assert api.client.delete("/api/v1beta/workloads/echo").status_code == 202
        end = stream.until(lambda e: e.event == "removed", timeout=60)
        assert end[-1].data == {"name": "echo"}
        with pytest.raises(EOFError):
            stream.next(10)


@pytest.mark.engine
@pytest.mark.parametrize("engine", ["podman", "docker"])
def test_the_stream_follows_a_container_servers_log_live(
    engine: str, thv_env: dict[str, str]
) -> None:
    if not engine_available(engine):
        require_or_skip(f"{engine} engine with {MCP_IMAGE}")
    thv_env["TOOLHIVE_RUNTIME"] = engine
    thv_env["TOOLHIVE_PODMAN_SOCKET"] = ENGINE_SOCKETS["podman"]
    body = {
        "name": "echo",
        "image": MCP_IMAGE,
        "transport": "stdio",
        "cmd_arguments": ["python", "/opt/fixtures/echo_server.py", "stdio"],
    }
    with api_server(thv_env) as api:
        assert api.client.post("/api/v1beta/workloads", json=body).status_code == 201
        try:
            wait_status(api, "echo", "running", timeout=180)
            url = api.client.get("/api/v1beta/workloads").json()["workloads"][0]["url"]
            with api.events(STREAM.format("echo")) as stream:
                stream.next()  # retry:
                rejected_call(url)
                lines_until(stream, "rejected arguments")
                api.client.post("/api/v1beta/workloads/echo/restart")
                stream.until(lambda e: e.event == "reset", timeout=120)
                api.client.delete("/api/v1beta/workloads/echo")
                stream.until(lambda e: e.event == "removed", timeout=120)
        finally:
            api.client.delete("/api/v1beta/workloads/echo")


def threads_of(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("Threads:")))


@process_runtime
def test_streams_of_one_workload_share_one_follower_thread(api: ApiServer) -> None:
    url = start_echo(api, "echo")
    rejected_call(url)
    with api.events(STREAM.format("echo")) as first:
        lines_until(first, "rejected arguments")
    baseline = threads_of(api.pid)
    # Clients come and go while the server writes nothing: no thread is left behind by each.
    for _ in range(6):
        with api.events(STREAM.format("echo")) as stream:
            lines_until(stream, "rejected arguments")
    assert threads_of(api.pid) <= baseline + 1
    # Two at once share what the one follower reads.
    with api.events(STREAM.format("echo")) as one, api.events(STREAM.format("echo")) as two:
        lines_until(one, "rejected arguments")
        lines_until(two, "rejected arguments")
        rejected_call(url)
        lines_until(one, "rejected arguments")
        lines_until(two, "rejected arguments")
