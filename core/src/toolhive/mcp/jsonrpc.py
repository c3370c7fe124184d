"""JSON-RPC 2.0 messages as plain dicts: parse, classify, build errors, encode.

This sits on the proxy's hot path, so it uses the stdlib :mod:`json` and plain ``dict`` messages (no
pydantic models, no MCP SDK). A message is the decoded JSON object; helpers never copy it.
"""

from __future__ import annotations

import enum
import json
from typing import Any, Final

Message = dict[str, Any]
RequestId = str | int

# Standard JSON-RPC 2.0 codes.
PARSE_ERROR: Final = -32700
INVALID_REQUEST: Final = -32600
METHOD_NOT_FOUND: Final = -32601
INVALID_PARAMS: Final = -32602
INTERNAL_ERROR: Final = -32603
# Implementation-defined codes used by MCP SDKs (server-error range -32000..-32099).
CONNECTION_CLOSED: Final = -32000
REQUEST_TIMEOUT: Final = -32001

_decode = json.loads
#: Compact, UTF-8-friendly encoder built once (``json.dumps`` with arguments builds one per call).
_encoder = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
_encode = _encoder.encode


class MessageKind(enum.Enum):
    """What a JSON-RPC message is, as seen by whoever receives it."""

    REQUEST = "request"
    NOTIFICATION = "notification"
    RESPONSE = "response"  # a result or an error answering a request


class JSONRPCError(Exception):
    """A protocol-level failure that is answered with a JSON-RPC error object."""

    def __init__(
        self, code: int, message: str, *, data: Any = None, id: RequestId | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data
        self.id = id

    def to_message(self) -> Message:
        return error_response(self.id, self.code, self.message, self.data)

    def to_bytes(self) -> bytes:
        return encode(self.to_message())


def _valid_id(value: Any) -> bool:
    # bool is an int subclass but not a valid id; MCP forbids null ids.
    return (type(value) is str) or (type(value) is int)


def classify(msg: Message) -> MessageKind:
    """Tell a request, a notification and a response apart; raise :class:`JSONRPCError` if none."""
    if msg.get("jsonrpc") != "2.0":
        raise JSONRPCError(INVALID_REQUEST, 'Invalid Request: "jsonrpc" must be "2.0"')
    method = msg.get("method")
    if method is not None:
        if type(method) is not str:
            raise JSONRPCError(INVALID_REQUEST, 'Invalid Request: "method" must be a string')
        if "id" not in msg:
            return MessageKind.NOTIFICATION
        if not _valid_id(msg["id"]):
            raise JSONRPCError(INVALID_REQUEST, 'Invalid Request: "id" must be a string or integer')
        params = msg.get("params")
        if params is not None and not isinstance(params, dict | list):
            raise JSONRPCError(
                INVALID_REQUEST, 'Invalid Request: "params" must be an object', id=msg["id"]
            )
        return MessageKind.REQUEST
    if "id" in msg and (("result" in msg) != ("error" in msg)):
        return MessageKind.RESPONSE
    raise JSONRPCError(INVALID_REQUEST, "Invalid Request: not a request, notification or response")


def parse_message(data: bytes | str) -> tuple[Message, MessageKind]:
    """Decode one JSON-RPC message and classify it.

    Raises :class:`JSONRPCError` with ``PARSE_ERROR`` for malformed JSON and ``INVALID_REQUEST`` for
    anything that is not a single JSON-RPC message (batches are not supported: MCP removed them in
    2025-06-18).
    """
    try:
        msg = _decode(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise JSONRPCError(PARSE_ERROR, f"Parse error: {exc}") from None
    if type(msg) is not dict:
        if type(msg) is list:
            raise JSONRPCError(INVALID_REQUEST, "Invalid Request: batch requests are not supported")
        raise JSONRPCError(INVALID_REQUEST, "Invalid Request: expected a JSON object")
    return msg, classify(msg)


def error_response(id: RequestId | None, code: int, message: str, data: Any = None) -> Message:
    """A JSON-RPC error response (``id`` is ``None`` when the request's id is unknown)."""
    error: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return {"jsonrpc": "2.0", "id": id, "error": error}


def result_response(id: RequestId, result: Any) -> Message:
    return {"jsonrpc": "2.0", "id": id, "result": result}


def encode(msg: Any) -> bytes:
    """Compact UTF-8 JSON, one line (JSON strings never contain raw newlines)."""
    return _encode(msg).encode()


def encode_line(msg: Any) -> bytes:
    """:func:`encode` plus the newline that frames a message on stdio."""
    return (_encode(msg) + "\n").encode()


#: Openings that certainly put the top-level ``id`` next (Python/pydantic and ``json.dumps`` styles),
#: longest first: ``{"id": `` must not be taken for ``{"id":``.
_ID_PREFIXES: Final = (
    b'{"jsonrpc": "2.0", "id": ',
    b'{"jsonrpc":"2.0","id":',
    b'{"id": ',
    b'{"id":',
)


def splice_id(body: bytes, old: RequestId, new: int) -> bytes | None:
    """``body`` — the raw text of a message already parsed, whose id is ``old`` — as one stdio
    line with the top-level id replaced by ``new``, without re-encoding; ``None`` when the id
    cannot be located with certainty (then re-encode the parsed message).

    At the front, the splice is refused if ``"id"`` occurs again later (a duplicate key would win
    in the server's parser; nested ``"id"`` keys just take the slow path). At the end, the member
    is the last one, which is the one parsers keep.

    The id is found where it must be top-level: right after the object's opening (optionally
    after ``"jsonrpc":"2.0"``) or as the last member (``…,"id":<old>}``, JavaScript's order). A
    body with a raw line break (whitespace between tokens) would split the stdio line: ``None``.
    """
    if b"\n" in body or b"\r" in body:
        return None
    token = b"%d" % old if type(old) is int else _encode(old).encode()
    for prefix in _ID_PREFIXES:
        if body.startswith(prefix):
            start = len(prefix)
            end = start + len(token)
            if (
                body.startswith(token, start)
                and body[end : end + 1] in (b",", b"}", b" ")
                # a later duplicate "id" key would win over this one in the server's parser
                and body.find(b'"id"', end) < 0
            ):
                return b"%s%d%s\n" % (body[:start], new, body[end:])
            return None
    tail = b'"id":' + token + b"}"
    if body.endswith(tail):
        start = len(body) - len(tail)
        if body[start - 1 : start] == b",":
            return b'%s"id":%d}\n' % (body[:start], new)
    return None


def error_bytes(id: RequestId | None, code: int, message: str, data: Any = None) -> bytes:
    return encode(error_response(id, code, message, data))


def request_id(msg: Message) -> RequestId | None:
    value = msg.get("id")
    return value if _valid_id(value) else None


def progress_token(msg: Message) -> Any:
    """``params._meta.progressToken`` of a request, or ``None``."""
    params = msg.get("params")
    if type(params) is dict:
        meta = params.get("_meta")
        if type(meta) is dict:
            return meta.get("progressToken")
    return None
