"""The playground endpoints in-process (httpx over the ASGI app, an isolated home): what a client can
get wrong answers 400/404/409 with a message, and a server that refuses or never answers is a
502 that says so — never a 500. The calls that reach real servers are in
tests/test_api_playground.py."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from api_in_process import InProcess
from toolhive.models.runconfig import RunConfig
from toolhive.models.workload import WorkloadStatus
from toolhive.state import store
from toolhive.workloads import playground

WORKLOADS = "/api/v1beta/workloads"


@pytest.fixture
def api(thv_home, thv_hooks) -> InProcess:
    return InProcess(thv_hooks)


def save_workload(name: str, port: int, status: WorkloadStatus) -> None:
    """A workload as the state holds it; ``running`` with this test's process as its supervisor,
    so the status reads as running while nothing serves MCP on ``port``."""
    config = RunConfig(
        name=name, base_name=name, container_name=name, image="example/echo", port=port
    )
    store.save_runconfig(config)
    pid = os.getpid() if status == WorkloadStatus.RUNNING else 0
    store.set_status(name, status, process_id=pid)


def error(answer: httpx.Response, status: int) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert body["code"] == status and body["message"]
    return dict(body)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield int(sock.getsockname()[1])


POSTS = [
    ("tools/call", {"name": "echo", "arguments": {"text": "hi"}}),
    ("resources/read", {"uri": "note://x"}),
    ("prompts/get", {"name": "p", "arguments": {"a": "b"}}),
]


@pytest.mark.parametrize(("what", "body"), POSTS, ids=[p[0] for p in POSTS])
def test_an_unknown_workload_is_a_404_naming_it(api, what, body):
    assert "ghost" in error(api.get(f"{WORKLOADS}/ghost/mcp/capabilities"), 404)["message"]
    assert "ghost" in error(api.post(f"{WORKLOADS}/ghost/mcp/{what}", json=body), 404)["message"]
    # A name no workload can have is not found either (nothing read).
    assert api.get(f"{WORKLOADS}/..%20x/mcp/capabilities").status_code == 404


@pytest.mark.parametrize(("what", "body"), POSTS, ids=[p[0] for p in POSTS])
def test_a_stopped_workload_is_a_409_that_says_how_to_start_it(api, what, body):
    save_workload("sleepy", free_port(), WorkloadStatus.STOPPED)
    message = error(api.post(f"{WORKLOADS}/sleepy/mcp/{what}", json=body), 409)["message"]
    assert "stopped, not running" in message and "thv start sleepy" in message
    assert error(api.get(f"{WORKLOADS}/sleepy/mcp/capabilities"), 409)


@pytest.mark.parametrize(
    ("what", "body", "field"),
    [
        ("tools/call", {}, "name"),
        ("tools/call", {"name": ""}, "name"),
        ("tools/call", {"name": "echo", "arguments": ["text"]}, "arguments"),
        ("tools/call", {"name": "echo", "args": {}}, "args"),
        ("resources/read", {"uri": ""}, "uri"),
        ("prompts/get", {"name": "p", "arguments": {"n": 1}}, "arguments.n"),
    ],
)
def test_a_body_that_does_not_fit_is_a_400_naming_the_field(api, what, body, field):
    save_workload("up", free_port(), WorkloadStatus.RUNNING)
    assert error(api.post(f"{WORKLOADS}/up/mcp/{what}", json=body), 400)["field"] == field


def test_a_body_that_is_not_json_is_a_400(api):
    answer = api.post(f"{WORKLOADS}/up/mcp/tools/call", content=b"{nope")
    assert "not valid JSON" in error(answer, 400)["message"]


def test_a_running_workload_whose_proxy_refuses_connections_is_a_502_saying_where_to_look(api):
    save_workload("gone", free_port(), WorkloadStatus.RUNNING)
    message = error(api.get(f"{WORKLOADS}/gone/mcp/capabilities"), 502)["message"]
    assert "workload 'gone'" in message and "thv logs gone" in message
    call = api.post(f"{WORKLOADS}/gone/mcp/tools/call", json={"name": "echo"})
    assert "talking to http://127.0.0.1:" in error(call, 502)["message"]


def test_a_server_that_never_answers_is_a_502_after_the_timeout(api, silent_port, monkeypatch):
    monkeypatch.setattr(playground, "LIST_TIMEOUT", 1.0)
    save_workload("mute", silent_port, WorkloadStatus.RUNNING)
    message = error(api.get(f"{WORKLOADS}/mute/mcp/capabilities"), 502)["message"]
    assert "no answer from" in message and "within 1s" in message
