"""The filters in a real workload chain: the official MCP client, through the proxy, to the SDK
echo server (tools ``echo`` and ``add``) behind core's stdio bridge."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from toolhive.testing.chains import answer_of, raw_session
from tools_harness import filtered_proxy, sdk_session

pytestmark = pytest.mark.timeout(120)

ECHO_DESCRIPTION = "Return the given text unchanged."
ADD_DESCRIPTION = "Return the sum of two integers."


def run(coro: Any) -> Any:
    return asyncio.run(coro)


async def listed_and_called(
    calls: list[tuple[str, dict[str, Any]]], *, sse: bool = False, **config: Any
) -> tuple[dict[str, str | None], list[Any]]:
    mode = "sse" if sse else "streamable-http"
    async with filtered_proxy(proxy_mode=mode, **config) as base, sdk_session(base, sse=sse) as s:
        tools = await s.tools()
        outcomes = [await s.call(name, args) for name, args in calls]
        return tools, outcomes


def test_the_filter_keeps_only_the_named_tools():
    tools, (echo, add) = run(
        listed_and_called(
            [("echo", {"text": "kept"}), ("add", {"a": 1, "b": 2})], tools_filter=["echo"]
        )
    )
    assert tools == {"echo": ECHO_DESCRIPTION}
    assert echo.text == "kept"
    assert (add.error_code, add.error_message) == (-32602, "tool not found")


def test_a_rename_with_a_description_is_listed_and_reaches_the_backend_tool():
    override = {"echo": {"name": "say", "description": "Say it back"}}
    tools, (say, echo) = run(
        listed_and_called(
            [("say", {"text": "hi ✓"}), ("echo", {"text": "old"})], tools_override=override
        )
    )
    assert tools == {"say": "Say it back", "add": ADD_DESCRIPTION}
    assert say.text == "hi ✓"
    # The old name is gone with the rename.
    assert (echo.error_code, echo.error_message) == (-32602, "tool not found")


def test_a_description_only_override_keeps_the_name():
    tools, (echo,) = run(
        listed_and_called(
            [("echo", {"text": "same"})], tools_override={"echo": {"description": "Parrot"}}
        )
    )
    assert tools == {"echo": "Parrot", "add": ADD_DESCRIPTION}
    assert echo.text == "same"


def test_a_name_only_override_keeps_the_description():
    override = {"add": {"name": "sum", "description": ""}}  # "" is unset, as ToolHive exports it
    tools, (total,) = run(listed_and_called([("sum", {"a": 20, "b": 22})], tools_override=override))
    assert tools == {"echo": ECHO_DESCRIPTION, "sum": ADD_DESCRIPTION}
    assert total.text == "42"


def test_filter_and_override_together_filter_by_the_new_name():
    tools, (total, echo) = run(
        listed_and_called(
            [("sum", {"a": 2, "b": 3}), ("echo", {"text": "filtered"})],
            tools_filter=["sum"],
            tools_override={"add": {"name": "sum", "description": "Adds"}},
        )
    )
    assert tools == {"sum": "Adds"}
    assert total.text == "5"
    assert echo.error_message == "tool not found"


def test_two_tools_can_swap_names():
    override = {"echo": {"name": "add"}, "add": {"name": "echo"}}
    tools, (add, echo) = run(
        listed_and_called(
            [("add", {"text": "swapped"}), ("echo", {"a": 1, "b": 1})], tools_override=override
        )
    )
    assert tools == {"add": ECHO_DESCRIPTION, "echo": ADD_DESCRIPTION}
    assert (add.text, echo.text) == ("swapped", "2")


def test_legacy_sse_lists_filtered_tools_and_answers_refusals_on_the_stream():
    override = {"echo": {"name": "say", "description": "Say it back"}}
    tools, (say, add) = run(
        listed_and_called(
            [("say", {"text": "over sse"}), ("add", {"a": 1, "b": 2})],
            sse=True,
            tools_filter=["say"],
            tools_override=override,
        )
    )
    assert tools == {"say": "Say it back"}
    assert say.text == "over sse"
    # The refusal reached the client where its answers go (the GET stream), not as a failed POST.
    assert (add.error_code, add.error_message) == (-32602, "tool not found")


def test_a_streamable_http_server_behind_the_reverse_proxy_is_filtered_and_mapped():
    async def session() -> tuple[dict[str, str | None], Any, Any]:
        async with (
            filtered_proxy(
                transport="streamable-http",
                tools_override={"add": {"name": "sum"}, "echo": {"description": "Parrot"}},
            ) as base,
            sdk_session(base) as s,
        ):
            return (await s.tools(), await s.call("sum", {"a": 40, "b": 2}),
                    await s.call("add", {"a": 1, "b": 2}))  # fmt: skip

    tools, total, add = run(session())
    assert tools == {"echo": "Parrot", "sum": ADD_DESCRIPTION}
    assert total.text == "42"
    assert add.error_message == "tool not found"


def test_a_server_speaking_sse_itself_is_filtered_through_the_reverse_proxy():
    """A ``--transport sse`` workload: the SDK server's own stream (CRLF framing, its own
    endpoint event) carries the filtered list and the injected refusal."""

    async def session() -> tuple[dict[str, str | None], Any, Any]:
        async with (
            filtered_proxy(
                transport="sse",
                tools_filter=["say"],
                tools_override={"echo": {"name": "say", "description": "Say it back"}},
            ) as base,
            sdk_session(base, sse=True) as s,
        ):
            return (await s.tools(), await s.call("say", {"text": "proxied"}),
                    await s.call("add", {"a": 1, "b": 2}))  # fmt: skip

    tools, say, add = run(session())
    assert tools == {"say": "Say it back"}
    assert say.text == "proxied"
    assert (add.error_code, add.error_message) == (-32602, "tool not found")


# --- what the SDK client never sends: raw requests ---------------------------------------------


def call(name: Any, id: Any = 9, **params: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": id, "method": "tools/call",
            "params": {"name": name, "arguments": {"text": "x"}, **params}}  # fmt: skip


async def raw(requests: list[dict[str, Any]], **config: Any) -> list[httpx.Response]:
    async with filtered_proxy(**config) as base, raw_session(f"{base}/mcp") as session:
        out = []
        for request in requests:
            body = request["raw"] if "raw" in request else request["json"]
            out.append(await session.post(body, **request.get("headers", {})))
        return out


def test_a_refused_call_is_an_http_200_json_rpc_error_as_in_toolhive():
    (response,) = run(raw([{"json": call("add")}], tools_filter=["echo"]))
    assert response.status_code == 200
    assert response.json() == {
        "jsonrpc": "2.0",
        "id": 9,
        "error": {"code": -32602, "message": "tool not found"},
    }


def test_a_client_accepting_only_event_streams_gets_the_refusal_as_one():
    (response,) = run(
        raw(
            [{"json": call("add", id="s"), "headers": {"accept": "text/event-stream"}}],
            tools_filter=["echo"],
        )
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/event-stream"
    assert answer_of(response)["error"]["message"] == "tool not found"


def test_a_call_without_a_tool_name_is_a_bad_request():
    responses = run(
        raw(
            [{"json": call("")}, {"json": call(None)}, {"json": call(["echo"])}],
            tools_filter=["echo"],
        )
    )
    for response in responses:
        assert response.status_code == 400
        assert response.json()["error"]["code"] == -32602


def test_a_refused_notification_is_accepted_and_dropped():
    notification = call("add")
    del notification["id"]
    (response,) = run(raw([{"json": notification}], tools_filter=["echo"]))
    assert response.status_code == 202
    assert response.content == b""


def test_a_batch_cannot_smuggle_a_filtered_call():
    batch = [{"jsonrpc": "2.0", "id": 1, "method": "ping"}, call("add", id=2)]
    (response,) = run(raw([{"json": batch}], tools_filter=["echo"]))
    assert response.status_code == 400
    assert response.json()["error"] == {"code": -32602, "message": "tool not found"}


def test_a_batch_of_allowed_calls_is_forwarded_with_backend_names():
    """What the server does with a batch is its business; the filter maps the names first."""
    batch = [call("say", id=1), call("add", id=2)]
    override = {"echo": {"name": "say"}}
    (response,) = run(raw([{"json": batch}], tools_override=override))
    # The bridge refuses batches (MCP 2025-06-18 has none): the point is that the filter did not.
    assert "tool not found" not in response.text


def test_duplicate_keys_cannot_name_two_tools():
    body = (b'{"jsonrpc":"2.0","id":3,"method":"tools/call",'
            b'"params":{"name":"add","name":"echo","arguments":{"text":"x"}}}')  # fmt: skip
    sneaky_method = b'{"jsonrpc":"2.0","id":4,"method":"tools/call","method":"ping","params":{}}'
    first, second = run(raw([{"raw": body}, {"raw": sneaky_method}], tools_filter=["echo"]))
    for response in (first, second):
        assert response.status_code == 400
        assert response.json()["error"]["code"] == -32600


def test_a_body_that_is_not_json_is_refused_not_forwarded():
    garbage, text_plain, bom = run(
        raw(
            [
                {"raw": b'{"jsonrpc":"2.0","id":1,"method":"tools/call",'},
                {"json": call("add"), "headers": {"content-type": "text/plain"}},
                {"raw": b"\xef\xbb\xbf" + json.dumps(call("add", id=5)).encode()},
            ],
            tools_filter=["echo"],
        )
    )
    assert garbage.status_code == 400
    assert garbage.json()["error"]["code"] == -32700
    # Not declared as JSON, but JSON all the same: still checked.
    assert text_plain.json()["error"]["message"] == "tool not found"
    assert bom.json() == {"jsonrpc": "2.0", "id": 5,
                          "error": {"code": -32602, "message": "tool not found"}}  # fmt: skip


def test_other_methods_pass_through_untouched():
    ping = {"jsonrpc": "2.0", "id": 11, "method": "ping"}
    (response,) = run(raw([{"json": ping}], tools_filter=["echo"]))
    assert response.status_code == 200
    assert answer_of(response) == {"jsonrpc": "2.0", "id": 11, "result": {}}


def test_the_renamed_call_reaches_the_parser_with_the_backend_name():
    """The rewritten body, its length and the parsed request inside all name the backend tool:
    the server answers it (a wrong content-length or stale parse would break the call)."""
    (response,) = run(raw([{"json": call("say", id=12)}], tools_override={"echo": {"name": "say"}}))
    assert response.status_code == 200
    assert answer_of(response)["result"]["content"][0]["text"] == "x"
