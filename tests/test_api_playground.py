"""The playground endpoints end to end: a real ``thv serve`` on the process runtime speaking MCP to
real running workloads through their proxies — ``uvx://mcp-server-time`` (listed, called, failing,
filtered and renamed by an edit, stopped) and a fixture server with resources, prompts,
structured output and an image."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from toolhive.testing.api import ApiServer, api_server

from tests.conftest import FIXTURES, process_runtime_available, require_or_skip

pytestmark = pytest.mark.process_runtime

WORKLOADS = "/api/v1beta/workloads"


@pytest.fixture
def server(thv_env: dict[str, str]) -> Iterator[ApiServer]:
    if not process_runtime_available():
        require_or_skip("bubblewrap and uv for the process runtime")
    thv_env["TOOLHIVE_RUNTIME"] = "process"
    with api_server(thv_env) as started:
        try:
            yield started
        finally:
            started.client.post(f"{WORKLOADS}/delete", json={"group": "default"})


def wait_status(api: httpx.Client, name: str, wanted: str, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while (status := api.get(f"{WORKLOADS}/{name}/status").json().get("status")) != wanted:
        assert time.monotonic() < deadline, f"{name} is {status}, not {wanted}"
        time.sleep(0.25)


def run(api: httpx.Client, body: dict[str, Any]) -> None:
    created = api.post(WORKLOADS, json=body)
    assert created.status_code == 201, created.text
    wait_status(api, body["name"], "running")


def mcp(api: httpx.Client, name: str, what: str, body: dict[str, Any] | None = None) -> Any:
    path = f"{WORKLOADS}/{name}/mcp/{what}"
    return api.get(path) if body is None else api.post(path, json=body, timeout=90)


def text_of(result: dict[str, Any]) -> str:
    return "".join(item.get("text", "") for item in result["content"])


def test_the_time_server_is_listed_called_filtered_and_refused_when_stopped(server: ApiServer):
    api = server.client
    run(api, {"name": "time", "image": "uvx://mcp-server-time"})

    caps = mcp(api, "time", "capabilities")
    assert caps.status_code == 200, caps.text
    body = caps.json()
    assert body["server_info"]["name"] == "mcp-time"
    tools = {t["name"]: t for t in body["tools"]}
    assert set(tools) == {"get_current_time", "convert_time"}
    assert "timezone" in tools["get_current_time"]["inputSchema"]["properties"]
    assert body["resources"] == [] and body["prompts"] == []

    answer = mcp(
        api, "time", "tools/call", {"name": "get_current_time", "arguments": {"timezone": "UTC"}}
    )
    assert answer.status_code == 200, answer.text
    called = answer.json()
    assert called["result"]["isError"] is False
    assert '"timezone": "UTC"' in text_of(called["result"])
    assert called["duration_ms"] > 0

    # The tool failing is its result, not an API error.
    bad = mcp(
        api,
        "time",
        "tools/call",
        {"name": "get_current_time", "arguments": {"timezone": "Mars/Olympus"}},
    )
    assert bad.status_code == 200, bad.text
    assert bad.json()["result"]["isError"] is True
    assert "Mars/Olympus" in text_of(bad.json()["result"])

    # Filtered and renamed by an edit: the playground sees what clients see.
    config = api.get(f"{WORKLOADS}/time").json()
    config["tools"] = ["now"]
    config["tools_override"] = {"get_current_time": {"name": "now", "description": "The time now"}}
    edited = api.post(f"{WORKLOADS}/time/edit", json=config)
    assert edited.status_code == 200, edited.text
    wait_status(api, "time", "running")
    tools = mcp(api, "time", "capabilities").json()["tools"]
    assert [(t["name"], t["description"]) for t in tools] == [("now", "The time now")]
    renamed = mcp(api, "time", "tools/call", {"name": "now", "arguments": {"timezone": "UTC"}})
    assert renamed.status_code == 200 and "UTC" in text_of(renamed.json()["result"])
    hidden = mcp(api, "time", "tools/call", {"name": "convert_time", "arguments": {}})
    assert hidden.status_code == 502, hidden.text
    assert "tool not found" in hidden.json()["message"]

    assert api.post(f"{WORKLOADS}/time/stop").status_code == 202
    wait_status(api, "time", "stopped")
    stopped = mcp(api, "time", "capabilities")
    assert stopped.status_code == 409
    assert "not running" in stopped.json()["message"] and "start" in stopped.json()["message"]
    assert mcp(api, "nobody", "capabilities").status_code == 404


def test_resources_prompts_structured_output_and_images_come_through(server: ApiServer):
    api = server.client
    fixture = str(FIXTURES / "playground_server.py")
    run(api, {"name": "fixture", "image": sys.executable, "cmd_arguments": [fixture]})

    body = mcp(api, "fixture", "capabilities").json()
    assert body["server_info"] == {"name": "playground-fixture", "version": "2.0.0"}
    assert [r["uri"] for r in body["resources"]] == ["note://greeting"]
    assert [t["uriTemplate"] for t in body["resource_templates"]] == ["note://{topic}"]
    prompt = body["prompts"][0]
    assert prompt["name"] == "summarize"
    assert [(a["name"], a["required"]) for a in prompt["arguments"]] == [
        ("topic", True),
        ("style", False),
    ]

    measured = mcp(
        api,
        "fixture",
        "tools/call",
        {"name": "measure", "arguments": {"word": "héllo", "unit": "bytes"}},
    )
    assert measured.json()["result"]["structuredContent"]["size"] == 6
    image = mcp(api, "fixture", "tools/call", {"name": "pixel"}).json()["result"]["content"][0]
    assert image["type"] == "image" and image["mimeType"] == "image/png" and image["data"]

    read = mcp(api, "fixture", "resources/read", {"uri": "note://cats"})
    assert read.status_code == 200, read.text
    assert read.json()["result"]["contents"][0]["text"] == "A note about cats"
    got = mcp(api, "fixture", "prompts/get", {"name": "summarize", "arguments": {"topic": "owls"}})
    assert got.status_code == 200, got.text
    message = got.json()["result"]["messages"][0]
    assert (
        message["role"] == "user" and message["content"]["text"] == "Summarize owls in a short way."
    )

    # What the server refuses as an MCP error is a bad gateway that says so.
    missing = mcp(api, "fixture", "prompts/get", {"name": "nope"})
    assert missing.status_code == 502
    assert "fixture" in missing.json()["message"] and "MCP error" in missing.json()["message"]
