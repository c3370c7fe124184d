"""The events, through a workload's real chain (built from a RunConfig's ``audit_config`` by the
installed plugin) in front of the stdio bridge and the echo MCP server, over real HTTP."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from audit_harness import (
    ACCEPT,
    INIT_PARAMS,
    TOKEN,
    WORKLOAD,
    Client,
    audited_proxy,
    fake_auth,
    fake_authz,
    of_type,
    read_events,
)
from toolhive.testing.chains import answer_of

pytestmark = pytest.mark.timeout(120)

INITIALIZE = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": INIT_PARAMS}


def run(coro: Any) -> Any:
    return asyncio.run(coro)


async def session_through(log: Path, config: dict[str, Any], steps) -> None:
    """Serve the proxy with ``config`` (logging to ``log``) and run ``steps(client)``."""
    async with (
        audited_proxy({"logFile": str(log), **config}, inner=[fake_auth, fake_authz]) as url,
        httpx.AsyncClient(timeout=30) as http,
    ):
        await steps(Client(http, url))


def test_each_request_of_an_mcp_session_is_one_event_of_its_type(tmp_path: Path):
    log = tmp_path / "audit.log"

    async def steps(client: Client) -> None:
        await client.initialize()
        assert answer_of(await client.request("ping"))["result"] == {}
        assert "tools" in answer_of(await client.request("tools/list"))["result"]
        called = answer_of(
            await client.request("tools/call", {"name": "echo", "arguments": {"text": "x"}})
        )
        assert called["result"]["content"][0]["text"] == "x"
        gone = await client.http.delete(client.url, headers=client.headers)
        assert gone.status_code in (200, 204), gone.text

    run(session_through(log, {}, steps))
    events = read_events(log)
    assert [e["type"] for e in events] == [
        "mcp_initialize",
        "mcp_request",  # notifications/initialized has no type of its own in ToolHive
        "mcp_ping",
        "mcp_tools_list",
        "mcp_tool_call",
        "http_request",  # DELETE of the session
    ]
    for event in events:
        assert list(event)[:8] == [
            "time",
            "level",
            "msg",
            "audit_id",
            "type",
            "logged_at",
            "outcome",
            "component",
        ]
        assert event["level"] == "AUDIT" and event["msg"] == "audit_event"
        assert uuid.UUID(event["audit_id"]).version == 4
        assert event["logged_at"].endswith("Z")
        assert event["outcome"] == "success"
        assert event["component"] == WORKLOAD  # no component configured: the server's name
        assert event["source"] == {
            "type": "network",
            "value": "127.0.0.1",
            "extra": {"request_id": "req-42", "user_agent": "audit-tests/1.0"},
        }
        assert event["subjects"] == {
            "client_name": "audit-tests",
            "client_version": "3.1.4",
            "user": "Alice Doe",
            "user_id": "user-1",
        }
        assert event["delegation"] == {
            "chain": [{"sub": "agent-2"}, {"iss": "https://issuer.test", "sub": "agent-1"}],
            "truncated": False,
            "omitted": 0,
            "malformed": False,
        }
        extra = event["metadata"]["extra"]
        assert set(extra) == {"duration_ms", "response_size_bytes", "transport"}
        assert isinstance(extra["duration_ms"], int) and extra["transport"] == "http"
        assert "data" not in event  # request/response data are off by default

    init, initialized, ping, listed, called, deleted = events
    assert init["target"] == {
        "endpoint": "/mcp",
        "method": "initialize",
        "name": "audit-tests",
        "type": "endpoint",
    }
    assert initialized["target"]["name"] == "initialized"
    assert ping["target"] == {
        "endpoint": "/mcp",
        "method": "ping",
        "name": "ping",
        "type": "endpoint",
    }
    assert listed["target"] == {"endpoint": "/mcp", "method": "tools/list", "type": "endpoint"}
    assert called["target"] == {
        "endpoint": "/mcp",
        "method": "tools/call",
        "name": "echo",
        "type": "tool",
    }
    assert called["metadata"]["extra"]["response_size_bytes"] > 0
    assert deleted["target"] == {"endpoint": "/mcp", "method": "DELETE", "type": "endpoint"}


def test_a_401_and_a_403_from_inside_the_chain_are_denied(tmp_path: Path):
    log = tmp_path / "audit.log"

    async def steps(client: Client) -> None:
        await client.initialize()
        forbidden = await client.request(
            "tools/call", {"name": "add", "arguments": {"a": 1, "b": 2}}
        )
        assert forbidden.status_code == 403
        stranger = Client(client.http, client.url, token="not-the-token", session=client.session)
        assert (await stranger.request("tools/list")).status_code == 401

    run(session_through(log, {}, steps))
    forbidden, unauthenticated = read_events(log)[-2:]
    assert forbidden["type"] == "mcp_tool_call" and forbidden["outcome"] == "denied"
    assert forbidden["target"]["name"] == "add"
    assert forbidden["subjects"]["user_id"] == "user-1"  # authenticated, then refused
    assert unauthenticated["outcome"] == "denied"
    assert unauthenticated["type"] == "mcp_tools_list"
    # No identity: anonymous, no delegation, and not the client of a session someone else opened.
    assert unauthenticated["subjects"] == {"user": "anonymous"}
    assert "delegation" not in unauthenticated


def test_a_jsonrpc_error_inside_a_200_is_an_application_error(tmp_path: Path):
    log = tmp_path / "audit.log"

    async def steps(client: Client) -> None:
        await client.initialize()
        reply = answer_of(await client.request("no/such-method"))
        assert reply["error"]["code"] == -32601

    run(session_through(log, {}, steps))
    event = read_events(log)[-1]
    assert event["type"] == "mcp_request"
    assert event["outcome"] == "application_error"
    assert event["metadata"]["extra"]["jsonrpc_error_code"] == -32601
    assert event["metadata"]["extra"]["jsonrpc_error_message"]


def test_application_error_detection_can_be_turned_off(tmp_path: Path):
    log = tmp_path / "audit.log"

    async def steps(client: Client) -> None:
        await client.initialize()
        await client.request("no/such-method")

    run(session_through(log, {"detectApplicationErrors": False}, steps))
    assert read_events(log)[-1]["outcome"] == "success"


def test_a_stream_open_is_logged_while_the_stream_is_still_open(tmp_path: Path):
    log = tmp_path / "audit.log"

    async def steps(client: Client) -> None:
        await client.initialize()
        headers = {**client.headers, "accept": "text/event-stream"}
        async with client.http.stream("GET", client.url, headers=headers) as stream:
            assert stream.status_code == 200
            opened = of_type(read_events(log), "sse_connection")
            assert len(opened) == 1, "the event is written when the stream opens, not when it ends"
        no_token = {"accept": "text/event-stream", "mcp-session-id": client.session or ""}
        refused = await client.http.get(client.url, headers=no_token)
        assert refused.status_code == 401

    run(session_through(log, {}, steps))
    opened, refused = of_type(read_events(log), "sse_connection")
    assert opened["outcome"] == "success"
    assert opened["target"] == {"endpoint": "/mcp", "method": "GET", "type": "sse_endpoint"}
    assert opened["metadata"] == {"extra": {"transport": "stdio", "user_agent": "audit-tests/1.0"}}
    assert opened["subjects"]["user_id"] == "user-1"
    assert refused["outcome"] == "denied" and refused["subjects"]["user"] == "anonymous"


def test_event_type_filters_include_and_exclude(tmp_path: Path):
    only = tmp_path / "only.log"
    without = tmp_path / "without.log"

    async def steps(client: Client) -> None:
        await client.initialize()
        await client.request("ping")
        await client.request("tools/list")
        await client.request("tools/call", {"name": "echo", "arguments": {"text": "x"}})

    run(session_through(only, {"eventTypes": ["mcp_tool_call", "mcp_ping"]}, steps))
    assert [e["type"] for e in read_events(only)] == ["mcp_ping", "mcp_tool_call"]
    # An exclusion wins over the list (ToolHive's rule).
    config = {"eventTypes": ["mcp_tool_call", "mcp_ping"], "excludeEventTypes": ["mcp_ping"]}
    run(session_through(without, config, steps))
    assert [e["type"] for e in read_events(without)] == ["mcp_tool_call"]


def test_request_and_response_data_are_logged_when_asked(tmp_path: Path):
    log = tmp_path / "audit.log"
    config = {"includeRequestData": True, "includeResponseData": True, "maxDataSize": 4096}
    received: list[int] = []

    async def steps(client: Client) -> None:
        await client.initialize()
        reply = await client.request(
            "tools/call", {"name": "echo", "arguments": {"text": "data ✓"}}
        )
        received.append(len(reply.content))

    run(session_through(log, config, steps))
    call = read_events(log)[-1]
    assert call["data"]["request"] == {
        "jsonrpc": "2.0",
        "method": "tools/call",
        "id": 1,
        "params": {"name": "echo", "arguments": {"text": "data ✓"}},
    }
    response = call["data"]["response"]
    assert response["id"] == 1 and response["result"]["content"][0]["text"] == "data ✓"
    assert call["metadata"]["extra"]["response_size_bytes"] == received[0]


def test_request_and_response_data_are_capped_at_max_data_size(tmp_path: Path):
    log = tmp_path / "audit.log"
    config = {"includeRequestData": True, "includeResponseData": True, "maxDataSize": 40}
    long_text = "z" * 500

    async def steps(client: Client) -> None:
        await client.initialize()
        await client.request("tools/call", {"name": "echo", "arguments": {"text": long_text}})

    run(session_through(log, config, steps))
    call = read_events(log)[-1]
    request, response = call["data"]["request"], call["data"]["response"]
    assert isinstance(request, str) and len(request.encode()) == 40
    assert request.startswith('{"jsonrpc"') or request.startswith('{"')
    assert isinstance(response, str) and len(response.encode()) <= 40
    assert call["metadata"]["extra"]["response_size_bytes"] > 500  # the real size, uncapped


def test_the_log_file_is_created_private_and_appended(tmp_path: Path):
    log = tmp_path / "audit.log"

    async def steps(client: Client) -> None:
        await client.initialize()

    run(session_through(log, {}, steps))
    assert stat.S_IMODE(os.stat(log).st_mode) == 0o600
    first = len(read_events(log))
    run(session_through(log, {}, steps))
    assert len(read_events(log)) == 2 * first  # a restart appends, never truncates


def test_no_event_carries_the_token_or_any_header_but_the_user_agent(tmp_path: Path):
    log = tmp_path / "audit.log"
    config = {"includeRequestData": True, "includeResponseData": True, "maxDataSize": 100000}

    async def steps(client: Client) -> None:
        await client.initialize()
        await client.request("tools/list")
        await client.request("tools/call", {"name": "echo", "arguments": {"text": "x"}})
        await client.request("tools/call", {"name": "add", "arguments": {"a": 1, "b": 2}})
        headers = {**client.headers, "accept": "text/event-stream"}
        async with client.http.stream("GET", client.url, headers=headers):
            pass
        wrong = Client(client.http, client.url, token=TOKEN[::-1])
        await wrong.request("tools/list")

    run(session_through(log, config, steps))
    text = log.read_text()
    assert len(read_events(log)) == 7
    assert TOKEN not in text and TOKEN[::-1] not in text
    for part in TOKEN.split("."):
        assert part not in text
    assert "authorization" not in text.lower() and "bearer" not in text.lower()


def test_events_go_to_standard_output_by_default(capfd: pytest.CaptureFixture[str]):
    async def main() -> None:
        async with (
            audited_proxy({"maxDataSize": 1024}) as url,
            httpx.AsyncClient(timeout=30) as http,
        ):
            response = await http.post(url, json=INITIALIZE, headers={"accept": ACCEPT})
            assert response.status_code == 200

    run(main())
    lines = [line for line in capfd.readouterr().out.splitlines() if '"audit_event"' in line]
    (event,) = [json.loads(line) for line in lines]
    assert event["type"] == "mcp_initialize" and event["outcome"] == "success"
    assert event["subjects"] == {
        "client_name": "audit-tests",
        "client_version": "3.1.4",
        "user": "anonymous",
    }


def test_audit_config_path_is_read_when_no_inline_config(tmp_path: Path):
    log = tmp_path / "from-file.log"
    path = tmp_path / "audit.json"
    path.write_text(json.dumps({"component": "from-file", "logFile": str(log)}))

    async def main() -> None:
        async with (
            audited_proxy(None, audit_config_path=str(path)) as url,
            httpx.AsyncClient(timeout=30) as http,
        ):
            await http.post(url, json=INITIALIZE, headers={"accept": ACCEPT})

    run(main())
    (event,) = read_events(log)
    assert event["component"] == "from-file"


def test_on_the_legacy_sse_endpoint_the_stream_and_each_message_are_audited(tmp_path: Path):
    """SSE proxy mode: the GET stream is logged when it opens; each POST to the message URL is
    typed by its method and knows its client through the session named in its query."""
    from toolhive.testing.mcp_servers import echo_session

    log = tmp_path / "audit.log"
    headers = {"authorization": f"Bearer {TOKEN}", "user-agent": "sse-client/2"}

    async def main() -> None:
        async with audited_proxy({"logFile": str(log)}, inner=[fake_auth], proxy_mode="sse") as url:
            session = await echo_session(url, sse=True, headers=headers, text="over sse")
            assert session.echoed == "over sse"

    run(main())
    events = read_events(log)
    assert events[0]["type"] == "sse_connection" and events[0]["outcome"] == "success"
    assert events[0]["target"] == {"endpoint": "/sse", "method": "GET", "type": "sse_endpoint"}
    posts = events[1:]
    assert [e["type"] for e in posts] == [
        "mcp_request",  # server/discover: the 2026 SDK client probes first
        "mcp_initialize",
        "mcp_request",
        "mcp_tools_list",
        "mcp_tool_call",
        "mcp_tool_call",
    ]
    assert posts[0]["target"]["method"] == "server/discover"
    for event in posts:
        assert event["target"]["endpoint"] == "/messages"
        assert event["outcome"] == "success"  # 202 Accepted: the answer goes down the stream
        assert event["subjects"]["user_id"] == "user-1"
    for event in posts[1:]:  # from initialize on, through the session in the message URL
        assert event["subjects"]["client_name"] == "mcp"
