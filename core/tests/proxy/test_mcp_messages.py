"""JSON-RPC helpers in ``toolhive.mcp``."""

from __future__ import annotations

import json

import pytest
from toolhive.mcp import (
    INVALID_REQUEST,
    PARSE_ERROR,
    JSONRPCError,
    MessageKind,
    classify,
    encode,
    encode_line,
    error_bytes,
    error_response,
    methods,
    parse_message,
    progress_token,
    request_id,
    result_response,
)


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        ('{"jsonrpc":"2.0","id":1,"method":"tools/list"}', MessageKind.REQUEST),
        ('{"jsonrpc":"2.0","id":"a","method":"ping","params":{}}', MessageKind.REQUEST),
        ('{"jsonrpc":"2.0","method":"notifications/initialized"}', MessageKind.NOTIFICATION),
        ('{"jsonrpc":"2.0","id":1,"result":{}}', MessageKind.RESPONSE),
        ('{"jsonrpc":"2.0","id":null,"error":{"code":-1,"message":"x"}}', MessageKind.RESPONSE),
    ],
)
def test_classify(raw: str, kind: MessageKind) -> None:
    msg, got = parse_message(raw.encode())
    assert got is kind
    assert classify(msg) is kind


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"{not json", PARSE_ERROR),
        (b"\xff\xfe", PARSE_ERROR),
        (b"", PARSE_ERROR),
        (b'[{"jsonrpc":"2.0","id":1,"method":"ping"}]', INVALID_REQUEST),
        (b'"text"', INVALID_REQUEST),
        (b'{"id":1,"method":"ping"}', INVALID_REQUEST),
        (b'{"jsonrpc":"2.0","id":true,"method":"ping"}', INVALID_REQUEST),
        (b'{"jsonrpc":"2.0","id":null,"method":"ping"}', INVALID_REQUEST),
        (b'{"jsonrpc":"2.0","id":1.5,"method":"ping"}', INVALID_REQUEST),
        (b'{"jsonrpc":"2.0","method":7}', INVALID_REQUEST),
        (b'{"jsonrpc":"2.0","id":1,"method":"x","params":3}', INVALID_REQUEST),
        (b'{"jsonrpc":"2.0","id":1,"result":{},"error":{}}', INVALID_REQUEST),
        (b'{"jsonrpc":"2.0","id":1}', INVALID_REQUEST),
    ],
)
def test_invalid_messages(raw: bytes, code: int) -> None:
    with pytest.raises(JSONRPCError) as info:
        parse_message(raw)
    assert info.value.code == code
    reply = json.loads(info.value.to_bytes())
    assert reply["jsonrpc"] == "2.0" and reply["error"]["code"] == code


def test_batch_message_names_the_problem() -> None:
    with pytest.raises(JSONRPCError, match="batch"):
        parse_message(b"[]")


def test_builders_and_encoding() -> None:
    assert error_response(3, -32601, "nope", {"m": 1}) == {
        "jsonrpc": "2.0",
        "id": 3,
        "error": {"code": -32601, "message": "nope", "data": {"m": 1}},
    }
    assert json.loads(error_bytes(None, -32700, "bad")) == {
        "jsonrpc": "2.0",
        "id": None,
        "error": {"code": -32700, "message": "bad"},
    }
    assert result_response("a", {}) == {"jsonrpc": "2.0", "id": "a", "result": {}}
    text = {"t": "line\nbreak ✓"}
    assert encode(text) == '{"t":"line\\nbreak ✓"}'.encode()
    assert encode_line(text).count(b"\n") == 1 and encode_line(text).endswith(b"\n")


def test_accessors() -> None:
    msg = {"jsonrpc": "2.0", "id": 1, "method": "x", "params": {"_meta": {"progressToken": "t"}}}
    assert progress_token(msg) == "t"
    assert progress_token({"params": []}) is None
    assert request_id(msg) == 1
    assert request_id({"id": True}) is None
    assert methods.is_list_changed(methods.TOOLS_LIST_CHANGED)
    assert not methods.is_list_changed(methods.PROGRESS)
    assert methods.CLIENT_CAPABILITY_FOR[methods.SAMPLING_CREATE_MESSAGE] == "sampling"
