"""``toolhive.contracts.rewrite``: JSON-RPC messages in JSON bodies and SSE streams are rewritten
on their way out; everything else passes byte for byte, and SSE events leave as soon as they are
complete (a long-lived stream keeps streaming)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from toolhive.contracts.rewrite import rewrite_body, rewriting_send


def only_echo(message: dict[str, Any]) -> dict[str, Any] | None:
    """Drop every tool but ``echo`` from a tools/list result."""
    tools = message.get("result", {}).get("tools")
    if not isinstance(tools, list):
        return None
    kept = [t for t in tools if t.get("name") == "echo"]
    return {**message, "result": {**message["result"], "tools": kept}}


LIST = {"jsonrpc": "2.0", "id": 3, "result": {"tools": [{"name": "echo"}, {"name": "add"}]}}


def replay(
    start_headers: list[tuple[bytes, bytes]], chunks: list[bytes]
) -> tuple[list[dict[str, Any]], list[int]]:
    """Send a response through ``rewriting_send``; what reached the client, and after how many
    input chunks each body message was sent."""
    sent: list[dict[str, Any]] = []
    when: list[int] = []
    fed = 0

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)
        if message["type"] == "http.response.body":
            when.append(fed)

    async def go() -> None:
        nonlocal fed
        wrapped = rewriting_send(send, only_echo)
        await wrapped({"type": "http.response.start", "status": 200, "headers": start_headers})
        for index, chunk in enumerate(chunks):
            fed = index + 1
            more = index < len(chunks) - 1
            await wrapped({"type": "http.response.body", "body": chunk, "more_body": more})

    asyncio.run(go())
    return sent, when


def body_of(sent: list[dict[str, Any]]) -> bytes:
    return b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")


def test_a_json_answer_is_rewritten_and_its_length_fixed():
    raw = json.dumps(LIST).encode()
    sent, _ = replay(
        [(b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode())],
        [raw[:10], raw[10:]],
    )
    body = body_of(sent)
    assert json.loads(body)["result"]["tools"] == [{"name": "echo"}]
    (start,) = [m for m in sent if m["type"] == "http.response.start"]
    assert dict(start["headers"])[b"content-length"] == str(len(body)).encode()


def test_sse_events_are_rewritten_one_by_one_as_they_complete():
    event = b"event: message\nid: 9\ndata: " + json.dumps(LIST).encode() + b"\n\n"
    ping = b": keepalive\n\n"
    sent, when = replay(
        [(b"content-type", b"text/event-stream")],
        [ping, event[:20], event[20:], b"data: not json\n\n"],
    )
    body = body_of(sent)
    assert body.startswith(ping)  # a comment passes untouched, and at once
    assert when[0] == 1
    events = body.split(b"\n\n")
    rewritten = events[1].split(b"\n")
    assert rewritten[:2] == [b"event: message", b"id: 9"]
    assert json.loads(rewritten[2].removeprefix(b"data: "))["result"]["tools"] == [{"name": "echo"}]
    assert b"data: not json" in body


def test_other_content_types_and_untouched_messages_pass_byte_for_byte():
    raw = b'{"jsonrpc":"2.0","id":1,"result":{}}'
    sent, _ = replay([(b"content-type", b"application/json")], [raw])
    assert body_of(sent) == raw
    html = b"<html>tools</html>"
    sent, _ = replay([(b"content-type", b"text/html")], [html])
    assert body_of(sent) == html


def test_a_batch_body_is_rewritten_item_by_item():
    batch = [LIST, {"jsonrpc": "2.0", "id": 4, "result": {}}]
    out = rewrite_body(json.dumps(batch).encode(), only_echo)
    assert out is not None
    decoded = json.loads(out)
    assert decoded[0]["result"]["tools"] == [{"name": "echo"}]
    assert decoded[1] == batch[1]
    assert rewrite_body(b"[1, 2]", only_echo) is None


def test_an_sse_stream_opening_with_a_bom_is_still_rewritten():
    event = b"data: " + json.dumps(LIST).encode() + b"\n\n"
    sent, _ = replay([(b"content-type", b"text/event-stream")], [b"\xef\xbb\xbf" + event])
    body = body_of(sent)
    assert body.startswith(b"\xef\xbb\xbf")
    assert json.loads(body[3:].split(b"\n")[0].removeprefix(b"data: "))["result"]["tools"] == [
        {"name": "echo"}
    ]
