"""JSON-RPC helpers in ``toolhive.mcp``."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
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
from toolhive.mcp.jsonrpc import splice_id


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


# --------------------------------------------------------------------------- id splicing

_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(["id", "x", 'q"id', "text"]), inner, max_size=3)
    ),
    max_leaves=8,
)


@given(
    old=st.integers(min_value=-(2**40), max_value=2**40) | st.text(max_size=6),
    params=st.dictionaries(st.sampled_from(["id", "name", "arguments"]), _JSON_VALUES, max_size=3),
    style=st.sampled_from(["compact", "spaced", "id-first", "id-last", "pretty", "duplicate"]),
    new=st.integers(min_value=1, max_value=2**31),
)
def test_splice_id_never_changes_anything_but_the_top_level_id(
    old: int | str, params: dict[str, object], style: str, new: int
) -> None:
    """Whatever splice_id returns parses to the message with only its id replaced; when the id
    cannot be found with certainty it returns None (the bridge then re-encodes)."""
    message = {"jsonrpc": "2.0", "id": old, "method": "tools/call", "params": params}
    if style == "compact":
        body = json.dumps(message, separators=(",", ":"), ensure_ascii=False)
    elif style == "spaced":
        body = json.dumps(message)
    elif style == "id-first":
        body = json.dumps({"id": old, **{k: v for k, v in message.items() if k != "id"}})
    elif style == "id-last":  # JavaScript's JSON.stringify of {...request, jsonrpc, id}
        rest = {k: v for k, v in message.items() if k != "id"}
        body = json.dumps({**rest, "id": old}, separators=(",", ":"))
    elif style == "pretty":
        body = json.dumps(message, indent=2)
    else:  # a duplicate top-level id after the first: parsers keep the last one
        body = json.dumps(message, separators=(",", ":"))[:-1] + f',"id":{json.dumps(old)}}}'
    raw = body.encode()
    parsed, _ = parse_message(raw)
    line = splice_id(raw, parsed["id"], new)
    if line is None:
        token = json.dumps(old, ensure_ascii=False, separators=(",", ":"))
        assert (
            style in ("pretty", "duplicate")
            or '"id"' in json.dumps(params)
            or token not in body  # the client escaped the id differently
        ), (style, body)
        return
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert json.loads(line) == {**parsed, "id": new}


def test_splice_id_handles_the_usual_client_shapes() -> None:
    sdk = b'{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo"}}'
    assert splice_id(sdk, 7, 42) == sdk.replace(b'"id":7', b'"id":42') + b"\n"
    js = b'{"method":"tools/call","params":{"name":"echo"},"jsonrpc":"2.0","id":"a"}'
    assert splice_id(js, "a", 3) == js.replace(b'"id":"a"', b'"id":3') + b"\n"
    nested = b'{"jsonrpc":"2.0","id":1,"method":"m","params":{"id":1}}'
    assert splice_id(nested, 1, 9) is None  # a later "id" key: re-encode instead
    assert splice_id(b'{\n"jsonrpc":"2.0","id":1,"method":"m"}', 1, 9) is None
