"""While a new workload's package is installed (or its image pulled or built) it is already on
``GET /api/v1beta/events`` as ``starting``, the installer's progress as its ``status_context`` —
before ``POST /workloads`` answers — and a failed install leaves nothing behind. A real
``thv serve`` on the process runtime with a cold package cache (its own HOME)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from toolhive.testing.api import ApiServer, SseEvent, api_server

from tests.conftest import process_runtime_available, require_or_skip

pytestmark = pytest.mark.process_runtime

WORKLOADS = "/api/v1beta/workloads"


@pytest.fixture
def api(thv_env: dict[str, str], tmp_path: Path) -> Iterator[ApiServer]:
    if not process_runtime_available():
        require_or_skip("bubblewrap and uv for the process runtime")
    thv_env["TOOLHIVE_RUNTIME"] = "process"
    thv_env["HOME"] = str(tmp_path / "user")  # its package cache is empty: the install happens
    with api_server(thv_env) as server:
        yield server


def post_in_background(
    api: ApiServer, body: dict[str, Any]
) -> tuple[threading.Thread, list[httpx.Response]]:
    answers: list[httpx.Response] = []

    def send() -> None:
        with httpx.Client(base_url=api.base_url, timeout=300) as client:
            answers.append(client.post(WORKLOADS, json=body))

    thread = threading.Thread(target=send)
    thread.start()
    return thread, answers


def events_of(events: list[SseEvent], name: str) -> list[dict[str, Any]]:
    return [e.data for e in events if e.event == "workload" and e.data["name"] == name]


def test_the_install_shows_as_starting_with_its_progress_before_the_create_answers(
    api: ApiServer,
) -> None:
    with api.events() as stream:
        stream.until(lambda e: e.event == "ready")
        thread, answers = post_in_background(
            api, {"name": "clock", "image": "uvx://mcp-server-time"}
        )
        first = stream.until(lambda e: e.event == "workload", timeout=120)[-1].data
        assert not answers, "the workload appeared only once the create had answered"
        assert (first["name"], first["type"], first["status"]) == ("clock", "created", "starting")
        # The watcher may coalesce the first writes: "preparing …" or already the installer's.
        assert first["status_context"] in (
            "preparing uvx://mcp-server-time",
            "installing mcp-server-time with uv",
        )
        seen = [
            first,
            *events_of(
                stream.until(
                    lambda e: e.event == "workload" and e.data["status"] == "running", timeout=240
                ),
                "clock",
            ),
        ]
        thread.join(timeout=60)
    assert answers and answers[0].status_code == 201, answers and answers[0].text
    contexts = [e.get("status_context", "") for e in seen if e["status"] == "starting"]
    assert "installing mcp-server-time with uv" in contexts, contexts
    assert seen[-1]["status"] == "running" and "status_context" not in seen[-1]


def test_a_failed_install_is_removed_again_and_answers_the_error(api: ApiServer) -> None:
    with api.events() as stream:
        stream.until(lambda e: e.event == "ready")
        thread, answers = post_in_background(
            api, {"name": "ghost", "image": "uvx://thv-test-no-such-package-4f2a"}
        )
        seen = events_of(
            stream.until(
                lambda e: e.event == "workload" and e.data["status"] == "removed", timeout=240
            ),
            "ghost",
        )
        thread.join(timeout=60)
    assert seen[0]["status"] == "starting"
    assert seen[-1]["status"] == "removed"
    assert answers and answers[0].status_code in (400, 404), answers[0].text
    assert "thv-test-no-such-package-4f2a" in answers[0].json()["message"]
    assert api.client.get(f"{WORKLOADS}/ghost").status_code == 404
