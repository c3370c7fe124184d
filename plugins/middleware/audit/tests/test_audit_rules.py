"""ToolHive's rules one by one, each against a small app served over real HTTP: how an SSE answer's
JSON-RPC data is captured and capped, how unparsed requests and failures are typed, where the
source address comes from, and the pure parts (target names, delegation chains, times)."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from audit_harness import read_events
from toolhive.contracts import MiddlewareContext
from toolhive.testing.mcp_servers import served
from toolhive_middleware_audit import AuditParameters, factory
from toolhive_middleware_audit.events import delegation_chain, rfc3339_nano, target_name

pytestmark = pytest.mark.timeout(60)

PROGRESS = {"jsonrpc": "2.0", "method": "notifications/progress", "params": {"progressToken": 1}}


def sse_app(messages: list[dict[str, Any]], chunk: int = 7):
    """Answers a POST with ``messages`` as an SSE stream, cut into ``chunk``-byte pieces."""
    stream = b"".join(
        b"event: message\r\ndata: " + json.dumps(m).encode() + b"\r\n\r\n" for m in messages
    )

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return  # no lifespan support
        while (await receive()).get("more_body"):
            pass
        headers = [(b"content-type", b"text/event-stream")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        for i in range(0, len(stream), chunk):
            await send(
                {"type": "http.response.body", "body": stream[i : i + chunk], "more_body": True}
            )
        await send({"type": "http.response.body", "body": b""})

    return app


def status_app(status: int, body: bytes = b"{}"):
    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        while (await receive()).get("more_body"):
            pass
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": body})

    return app


async def failing_app(scope, receive, send):
    if scope["type"] != "http":
        return
    raise RuntimeError("the server broke")


def audited(app, log: Path, transport: str = "streamable-http", trust: bool = False, **config: Any):
    parameters = AuditParameters.model_validate(
        {"config_data": {"logFile": str(log), **config}, "transport_type": transport}
    )
    context = MiddlewareContext(
        workload="rules",
        transport=transport,
        proxy_mode="streamable-http",
        url="http://x/mcp",
        trust_proxy_headers=trust,
    )
    return factory(app, parameters, context)


def request(app, method: str, path: str = "/mcp", **kwargs: Any) -> httpx.Response:
    async def go() -> httpx.Response:
        async with served(app) as base, httpx.AsyncClient(timeout=10) as http:
            return await http.request(method, base + path, **kwargs)

    return asyncio.run(go())


CALL = {"jsonrpc": "2.0", "id": 9, "method": "tools/call", "params": {"name": "t", "arguments": {}}}


def test_an_sse_answer_is_logged_as_its_jsonrpc_messages(tmp_path: Path):
    log = tmp_path / "a.log"
    result = {"jsonrpc": "2.0", "id": 9, "result": {"content": [{"type": "text", "text": "ok"}]}}
    app = audited(sse_app([PROGRESS, result]), log, includeResponseData=True, maxDataSize=4096)
    request(app, "POST", json=CALL)
    (event,) = read_events(log)
    assert event["data"]["response"] == [PROGRESS, result]
    assert event["outcome"] == "success"


def test_an_sse_answer_over_the_cap_is_cut_to_it(tmp_path: Path):
    log = tmp_path / "a.log"
    result = {"jsonrpc": "2.0", "id": 9, "result": {"text": "y" * 300}}
    app = audited(sse_app([result]), log, includeResponseData=True, maxDataSize=50)
    request(app, "POST", json=CALL)
    (event,) = read_events(log)
    response = event["data"]["response"]
    assert isinstance(response, str) and len(response) == 50
    assert response.startswith('{"jsonrpc": "2.0", "id": 9')
    assert event["metadata"]["extra"]["response_size_bytes"] > 300


def test_a_jsonrpc_error_in_an_sse_answer_is_an_application_error(tmp_path: Path):
    log = tmp_path / "a.log"
    error = {"jsonrpc": "2.0", "id": 9, "error": {"code": -32602, "message": "bad " * 100}}
    request(audited(sse_app([PROGRESS, error], chunk=5), log), "POST", json=CALL)
    (event,) = read_events(log)
    assert event["outcome"] == "application_error"
    assert event["metadata"]["extra"]["jsonrpc_error_code"] == -32602
    assert len(event["metadata"]["extra"]["jsonrpc_error_message"]) == 256


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (200, "success"),
        (202, "success"),
        (400, "failure"),
        (401, "denied"),
        (403, "denied"),
        (404, "failure"),
        (429, "failure"),
        (500, "error"),
        (503, "error"),
    ],
)
def test_the_outcome_follows_the_status(tmp_path: Path, status: int, outcome: str):
    log = tmp_path / "a.log"
    request(audited(status_app(status), log), "POST", json=CALL)
    assert read_events(log)[0]["outcome"] == outcome


def test_an_app_that_fails_is_audited_as_an_error(tmp_path: Path):
    log = tmp_path / "a.log"
    response = request(audited(failing_app, log), "POST", json=CALL)
    assert response.status_code == 500
    (event,) = read_events(log)
    assert event["outcome"] == "error" and event["type"] == "mcp_tool_call"


def test_what_is_not_one_jsonrpc_message_is_an_http_request(tmp_path: Path):
    log = tmp_path / "a.log"
    app = audited(status_app(200), log, includeRequestData=True)
    request(
        app,
        "POST",
        content=b"[" + json.dumps(CALL).encode() + b"]",
        headers={"content-type": "application/json"},
    )
    request(app, "POST", content=b"plain words", headers={"content-type": "text/plain"})
    request(app, "GET", path="/health-ish")
    batch, plain, get = read_events(log)
    assert [batch["type"], plain["type"], get["type"]] == ["http_request"] * 3
    assert batch["target"] == {"endpoint": "/mcp", "method": "POST", "type": "endpoint"}
    assert batch["data"]["request"] == [CALL]
    assert plain["data"]["request"] == "plain words"
    assert get["target"]["method"] == "GET" and "data" not in get


def test_on_the_sse_transport_unparsed_posts_are_mcp_requests(tmp_path: Path):
    log = tmp_path / "a.log"
    app = audited(status_app(202), log, transport="sse")
    request(app, "POST", path="/messages/", content=b"?", headers={"content-type": "text/plain"})
    request(app, "POST", path="/messages/", json=CALL)
    unparsed, call = read_events(log)
    assert unparsed["type"] == "mcp_request"
    assert call["type"] == "mcp_tool_call"
    assert call["metadata"]["extra"]["transport"] == "sse"


def test_behind_a_trusted_proxy_the_source_is_the_first_forwarded_hop_then_the_real_ip(
    tmp_path: Path,
):
    log = tmp_path / "a.log"
    app = audited(status_app(200), log, trust=True)
    request(app, "POST", json=CALL, headers={"x-forwarded-for": "203.0.113.7, 10.0.0.1"})
    request(app, "POST", json=CALL, headers={"x-real-ip": "198.51.100.2"})
    request(app, "POST", json=CALL)
    assert [e["source"]["value"] for e in read_events(log)] == [
        "203.0.113.7",
        "198.51.100.2",
        "127.0.0.1",
    ]


def test_without_trust_proxy_headers_a_client_cannot_fake_its_address(tmp_path: Path):
    log = tmp_path / "a.log"
    app = audited(status_app(200), log)
    request(app, "POST", json=CALL, headers={"x-forwarded-for": "203.0.113.7"})
    request(app, "POST", json=CALL, headers={"x-real-ip": "198.51.100.2"})
    assert [e["source"]["value"] for e in read_events(log)] == ["127.0.0.1", "127.0.0.1"]


def test_a_component_in_the_config_wins(tmp_path: Path):
    log = tmp_path / "a.log"
    request(audited(status_app(200), log, component="gateway"), "POST", json=CALL)
    assert read_events(log)[0]["component"] == "gateway"


def test_target_names_follow_toolhives_parser():
    assert target_name("tools/call", {"name": "fetch"}) == "fetch"
    assert target_name("prompts/get", {"name": "p"}) == "p"
    assert target_name("resources/read", {"uri": "file:///x"}) == "file:///x"
    assert target_name("resources/subscribe", {"uri": "u"}) == "u"
    assert target_name("tools/list", {"cursor": "page-2"}) == "page-2"
    assert target_name("tools/list", None) == ""
    assert target_name("logging/setLevel", {"level": "warning"}) == "warning"
    assert target_name("completion/complete", {"ref": {"uri": "t://{x}"}}) == "t://{x}"
    assert target_name("notifications/progress", {"progressToken": 7}) == "7"
    assert target_name("notifications/cancelled", {"requestId": "r1"}) == "r1"
    assert target_name("tasks/get", {"taskId": "t-1"}) == "t-1"
    assert target_name("notifications/tools/list_changed", {}) == "tools"
    assert target_name("sampling/createMessage", {"systemPrompt": "s" * 80}) == "s" * 50
    assert target_name("custom/thing", {"name": "x"}) == ""


def test_a_delegation_chain_is_capped_and_malformed_hops_are_flagged():
    nested: dict[str, Any] = {"sub": "a0"}
    for i in range(1, 13):
        nested = {"sub": f"a{i}", "act": nested}
    chain = delegation_chain(nested, 10)
    assert chain is not None
    assert [hop["sub"] for hop in chain["chain"]] == [f"a{i}" for i in range(12, 2, -1)]
    assert (chain["truncated"], chain["omitted"], chain["malformed"]) == (True, 3, False)
    bad = delegation_chain({"sub": 5, "act": "x"}, 10)
    assert bad == {
        "chain": [{}],
        "truncated": False,
        "omitted": 0,
        "malformed": True,
        "malformedReason": "sub_not_string",
    }
    assert delegation_chain("agent", 10)["malformedReason"] == "act_not_object"
    assert delegation_chain(None, 10) is None


def test_times_are_go_rfc3339_nano():
    assert rfc3339_nano(1_700_000_000_123_400_000) == "2023-11-14T22:13:20.1234Z"
    assert rfc3339_nano(1_700_000_000_000_000_000) == "2023-11-14T22:13:20Z"
    local = rfc3339_nano(time.time_ns(), local=True)
    assert local.endswith("Z") or local[-6] in "+-"


def test_a_config_file_may_be_json_or_yaml_and_a_bad_one_is_refused(tmp_path: Path):
    yaml_file = tmp_path / "audit.yaml"
    yaml_file.write_text("component: from-yaml\neventTypes:\n  - mcp_tool_call\nmaxDataSize: 64\n")
    config = AuditParameters.model_validate({"config_path": str(yaml_file)}).effective_config()
    assert (config.component, config.event_types, config.data_cap) == (
        "from-yaml",
        ("mcp_tool_call",),
        64,
    )
    bad = tmp_path / "bad.json"
    bad.write_text('{"eventTypes": ["mcp_teleport"]}')
    with pytest.raises(ValueError, match="unknown event type 'mcp_teleport'"):
        AuditParameters.model_validate({"config_path": str(bad)})
    # The inline config wins over the file, as in ToolHive's CreateMiddleware.
    both = AuditParameters.model_validate(
        {"config_data": {"component": "inline"}, "config_path": str(yaml_file)}
    )
    assert both.effective_config().component == "inline"


def test_a_stream_open_that_fails_before_answering_is_an_error(tmp_path: Path):
    log = tmp_path / "a.log"
    response = request(audited(failing_app, log), "GET", headers={"accept": "text/event-stream"})
    assert response.status_code == 500
    (event,) = read_events(log)
    assert (event["type"], event["outcome"]) == ("sse_connection", "error")
    assert event["metadata"]["extra"] == {"transport": "streamable-http", "user_agent": ANY_AGENT}


ANY_AGENT = f"python-httpx/{httpx.__version__}"
