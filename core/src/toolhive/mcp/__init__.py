"""JSON-RPC / MCP message helpers shared by the proxy, middleware and the virtual MCP gateway.

Light by design: stdlib ``json`` and plain dicts, never the MCP SDK (importing it costs ~0.8 s).
"""

from toolhive.mcp.jsonrpc import (
    CONNECTION_CLOSED,
    INTERNAL_ERROR,
    INVALID_PARAMS,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    PARSE_ERROR,
    REQUEST_TIMEOUT,
    JSONRPCError,
    Message,
    MessageKind,
    RequestId,
    classify,
    encode,
    encode_line,
    error_bytes,
    error_response,
    parse_message,
    progress_token,
    request_id,
    result_response,
)

__all__ = [
    "CONNECTION_CLOSED",
    "INTERNAL_ERROR",
    "INVALID_PARAMS",
    "INVALID_REQUEST",
    "METHOD_NOT_FOUND",
    "PARSE_ERROR",
    "REQUEST_TIMEOUT",
    "JSONRPCError",
    "Message",
    "MessageKind",
    "RequestId",
    "classify",
    "encode",
    "encode_line",
    "error_bytes",
    "error_response",
    "parse_message",
    "progress_token",
    "request_id",
    "result_response",
]
