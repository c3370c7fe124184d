"""The ``authorization`` middleware: each MCP request decided by Cedar, list answers filtered.

Per JSON-RPC POST, as ToolHive's ``pkg/authz`` middleware decides it:

- ``tools/call``, ``prompts/get``, ``resources/read``/``subscribe``/``unsubscribe``: a Cedar
  decision (:mod:`toolhive_middleware_authz.engine`); denied → HTTP 403 with the JSON-RPC error
  ``{code: 403, message: "Unauthorized"}`` for the request's id. A tool that does not exist is
  denied exactly like one that exists (no policy names it), so the answer reveals nothing.
- ``tools/list``, ``prompts/list``, ``resources/list``, ``resources/templates/list``: let through,
  and every list in the answer is cut down to the items the caller could call / get / read. A
  resource template is kept when the caller may read ``Resource::"<uriTemplate>"`` (ToolHive
  passes templates through unfiltered). Answers arrive in the POST's response (JSON or SSE) or,
  on the legacy SSE transport and on resumed streams, on a GET event stream: GET streams are
  filtered too, by the shape of each answer, for the identity that opened the stream.
- Protocol methods (``initialize``, ``ping``, ``notifications/initialized`` …, ToolHive's list)
  pass; every other method is denied (403), as are notifications not on the list.
- A client's JSON-RPC *response* (to a server's sampling or elicitation request) passes: it asks
  for nothing. A batch (JSON array) or a body that is not one JSON-RPC message is refused (400),
  and so is a POST that is not JSON: nothing reaches the server without a decision.

A list answer that a filter cannot read safely (a ``result`` beside an ``error``, a list that is
not a list, a request-shaped message carrying a ``result``, a list answer in a body labelled
neither JSON nor SSE) is replaced by a JSON-RPC internal error rather than passed on.

The caller is the :class:`~toolhive.contracts.middleware.Identity` the ``auth`` middleware put in
the scope. Without one (no OIDC configured) the caller is ToolHive's local user: the OS user name,
with the claims ToolHive's local-user mode gives (``sub``, ``name: "Local User: <user>"`` …).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from toolhive.contracts.middleware import (
    describe_mcp_request,
    identity,
    read_body,
    read_mcp_request,
    replaying_receive,
    send_jsonrpc_error,
)
from toolhive.contracts.rewrite import rewriting_send

from toolhive_middleware_authz.engine import (
    Ask,
    CedarAuthorizer,
    Principal,
    argument_attributes,
    prompt_get,
    resource_read,
    tool_call,
)

if TYPE_CHECKING:
    from toolhive.contracts.middleware import ASGIApp, ParsedMCPRequest
    from toolhive.contracts.transport import Message, Receive, Scope, Send

#: ToolHive's always-allowed methods (``MCPMethodToFeatureOperation`` entries with no feature).
ALWAYS_ALLOWED: Final = frozenset(
    {
        "initialize",
        "ping",
        "features/list",
        "roots/list",
        "server/discover",
        "subscriptions/listen",
        "logging/setLevel",
        "completion/complete",
        "notifications/message",
        "notifications/initialized",
        "notifications/progress",
        "notifications/cancelled",
        "notifications/roots/list_changed",
        "notifications/tools/list_changed",
        "notifications/prompts/list_changed",
        "notifications/resources/list_changed",
        "notifications/resources/updated",
        "notifications/tasks/status",
    }
)
#: List methods and the key of the list their result holds.
LISTS: Final = {
    "tools/list": "tools",
    "prompts/list": "prompts",
    "resources/list": "resources",
    "resources/templates/list": "resourceTemplates",
}
_BY_URI: Final = frozenset({"resources/read", "resources/subscribe", "resources/unsubscribe"})
_HINTS: Final = ("readOnlyHint", "destructiveHint", "idempotentHint", "openWorldHint")

DENIED_CODE: Final = 403
DENIED_MESSAGE: Final = "Unauthorized"
INVALID_REQUEST: Final = -32600
INTERNAL_ERROR: Final = -32603


def _content_type(headers: list[tuple[bytes, bytes]]) -> bytes:
    for key, value in headers:
        if key.lower() == b"content-type":
            return bytes(value).lower()
    return b""


def _is_client_response(message: Any) -> bool:
    """A JSON-RPC response (no method): an answer to the server, asking for nothing."""
    return (
        isinstance(message, dict)
        and message.get("jsonrpc") == "2.0"
        and "method" not in message
        and "id" in message
        and ("result" in message) != ("error" in message)
    )


async def _whole_body(receive: Receive) -> tuple[bytes | None, Receive]:
    """The request body (``None`` if the client left first) and a ``receive`` replaying it."""
    body, rest = await read_body(receive)
    if body is None:
        return None, rest
    return body, replaying_receive(body, receive)


def _hints(tool: dict[str, Any]) -> dict[str, bool]:
    annotations = tool.get("annotations")
    if not isinstance(annotations, dict):
        return {}
    return {h: annotations[h] for h in _HINTS if isinstance(annotations.get(h), bool)}


class AuthzMiddleware:
    def __init__(self, app: ASGIApp, authorizer: CedarAuthorizer) -> None:
        self.app = app
        self.authorizer = authorizer
        #: Tool annotations from the last tools/list answer (the server's word, never the
        #: client's), read when a tools/call is decided; replaced whole by each list.
        self.annotations: dict[str, dict[str, bool]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["method"] == "GET":
            # Answers can arrive on an event stream (legacy SSE; resumed streams).
            who = self.authorizer.principal_of(identity(scope))
            await self.app(scope, receive, rewriting_send(send, self._list_filter(who, None)))
            return
        if scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        if b"json" not in _content_type(scope["headers"]):
            await send_jsonrpc_error(
                send, 400, None, INVALID_REQUEST, "Invalid or malformed MCP request"
            )
            return
        request, receive = await read_mcp_request(scope, receive)
        if request is None:
            # Not decoded by the parser (a batch, garbage, a client's response, or a JSON type
            # the parser did not recognize): read it here; only a client's response passes.
            body, receive = await _whole_body(receive)
            if body is None:
                return  # the client is gone
            request = describe_mcp_request(body)
            if request is None:
                await self._undescribed(body, scope, receive, send)
                return
        method = request.method
        if method in ALWAYS_ALLOWED:
            await self.app(scope, receive, send)
            return
        principal = self.authorizer.principal_of(identity(scope))
        if method in LISTS:
            rewrite = self._list_filter(principal, method)
            await self.app(scope, receive, _guard_unlabelled(rewriting_send(send, rewrite)))
            return
        ask = self._ask(request)
        if ask is None or principal is None or not self.authorizer.allowed(principal, [ask])[0]:
            await send_jsonrpc_error(send, 403, request.id, DENIED_CODE, DENIED_MESSAGE)
            return
        await self.app(scope, receive, send)

    def _ask(self, request: ParsedMCPRequest) -> Ask | None:
        method = request.method
        if method == "tools/call":
            name = request.resource_id
            args = argument_attributes(request.arguments)
            return tool_call(name, args, self.annotations.get(name, {}))
        if method == "prompts/get":
            return prompt_get(request.resource_id, argument_attributes(request.arguments))
        if method in _BY_URI:
            return resource_read(request.resource_id, {})
        return None  # unknown: denied

    async def _undescribed(self, body: bytes, scope: Scope, receive: Receive, send: Send) -> None:
        """A JSON POST that is not one JSON-RPC request: a client's response passes, the rest
        (batches, garbage) is refused — nothing reaches the server undecided."""
        try:
            message = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            message = None
        if _is_client_response(message):
            await self.app(scope, receive, send)
            return
        text = (
            "JSON-RPC batch requests are not supported"
            if isinstance(message, list)
            else "Invalid or malformed MCP request"
        )
        await send_jsonrpc_error(send, 400, None, INVALID_REQUEST, text)

    # -- list answers ---------------------------------------------------------------------------

    def _list_filter(
        self, principal: Principal | None, method: str | None
    ) -> Callable[[dict[str, Any]], dict[str, Any] | None]:
        """The rewrite for a list answer (``method`` known) or for a GET stream (by shape)."""

        def rewrite(message: dict[str, Any]) -> dict[str, Any] | None:
            if "result" not in message:
                return None
            result = message["result"]
            if "method" in message or (message.get("error") is not None and result is not None):
                return _internal_error(message)
            if method is not None:
                keys = [LISTS[method]] if isinstance(result, dict) and result else []
            else:
                keys = [k for k in LISTS.values() if isinstance(result, dict) and k in result]
            if not keys:
                return None
            assert isinstance(result, dict)
            filtered = dict(result)
            for key in keys:
                items = result.get(key)
                if items is None:
                    continue
                if not isinstance(items, list):
                    return _internal_error(message)
                filtered[key] = self._allowed_items(principal, key, items)
            return {**message, "result": filtered}

        return rewrite

    def _allowed_items(self, principal: Principal | None, key: str, items: list[Any]) -> list[Any]:
        if key == "tools":
            # ToolHive caches annotations from the whole list, before filtering.
            self.annotations = {
                t["name"]: hints
                for t in items
                if isinstance(t, dict) and isinstance(t.get("name"), str) and (hints := _hints(t))
            }
        if principal is None:
            return []
        asks: list[Ask] = []
        kept: list[Any] = []
        for item in items:
            ask = _item_ask(key, item)
            if ask is not None:  # malformed items are dropped
                asks.append(ask)
                kept.append(item)
        if not asks:
            return []
        decisions = self.authorizer.allowed(principal, asks)
        return [item for item, ok in zip(kept, decisions, strict=True) if ok]


def _item_ask(key: str, item: Any) -> Ask | None:
    if not isinstance(item, dict):
        return None
    if key == "tools":
        name = item.get("name")
        return tool_call(name, {}, _hints(item)) if isinstance(name, str) else None
    if key == "prompts":
        name = item.get("name")
        return prompt_get(name, {}) if isinstance(name, str) else None
    uri = item.get("uriTemplate" if key == "resourceTemplates" else "uri")
    return resource_read(uri, {}) if isinstance(uri, str) else None


def _internal_error(message: dict[str, Any]) -> dict[str, Any]:
    ident = message.get("id")
    return {
        "jsonrpc": "2.0",
        "id": ident if isinstance(ident, str | int) else None,
        "error": {"code": INTERNAL_ERROR, "message": "internal error"},
    }


def _guard_unlabelled(send: Send) -> Send:
    """Fail closed on a 2xx list answer labelled neither JSON nor SSE that carries a result
    (the filter above never read it): it becomes a JSON-RPC internal error."""
    held: Message | None = None
    chunks: list[bytes] = []

    async def guarded(message: Message) -> None:
        nonlocal held
        if message["type"] == "http.response.start":
            ctype = _content_type(message.get("headers", []))
            ok = 200 <= message["status"] < 300
            if ok and not ctype.startswith((b"application/json", b"text/event-stream")):
                held = message
                return
            await send(message)
            return
        if held is None or message["type"] != "http.response.body":
            await send(message)
            return
        chunks.append(message.get("body", b""))
        if message.get("more_body", False):
            return
        body = b"".join(chunks)
        if b'"result"' in body:
            await send_jsonrpc_error(send, 500, None, INTERNAL_ERROR, "internal error")
            return
        await send(held)
        await send({"type": "http.response.body", "body": body, "more_body": False})

    return guarded
