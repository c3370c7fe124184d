"""ToolHive's audit event vocabulary (``pkg/audit``, ``toolhive-core/audit``) and the pure functions
that turn a request into its parts: event type, target name, subjects, delegation chain, times.

Key order inside maps follows Go's ``encoding/json`` (sorted), and the top level follows ToolHive's
``slog`` record (``time``, ``level``, ``msg``, then the event's attributes), so a line from this
plugin and one from ToolHive's proxy read the same to a log pipeline.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from typing import Any

#: MCP method → event type (ToolHive's ``mapMCPMethodToEventType``); others are ``mcp_request``.
EVENT_TYPE_FOR_METHOD: dict[str, str] = {
    "initialize": "mcp_initialize",
    "tools/call": "mcp_tool_call",
    "tools/list": "mcp_tools_list",
    "resources/read": "mcp_resource_read",
    "resources/list": "mcp_resources_list",
    "prompts/get": "mcp_prompt_get",
    "prompts/list": "mcp_prompts_list",
    "notifications/message": "mcp_notification",
    "ping": "mcp_ping",
    "logging/setLevel": "mcp_logging",
    "completion/complete": "mcp_completion",
    "notifications/roots/list_changed": "mcp_roots_list_changed",
}
MCP_REQUEST = "mcp_request"
HTTP_REQUEST = "http_request"
SSE_CONNECTION = "sse_connection"

#: ``target.type`` for the three event types that name a callable thing; every other is
#: ``endpoint`` (ToolHive's ``extractTarget``).
TARGET_TYPE_FOR_EVENT: dict[str, str] = {
    "mcp_tool_call": "tool",
    "mcp_resource_read": "resource",
    "mcp_prompt_get": "prompt",
}

#: Resource ids of methods whose params say nothing (ToolHive's parser, ``staticResourceIDs``).
_STATIC_NAMES: dict[str, str] = {
    "ping": "ping",
    "notifications/roots/list_changed": "roots",
    "notifications/initialized": "initialized",
    "notifications/prompts/list_changed": "prompts",
    "notifications/resources/list_changed": "resources",
    "notifications/resources/updated": "resources",
    "notifications/tools/list_changed": "tools",
    "server/discover": "discover",
}
_LIST_METHODS = frozenset(
    {
        "resources/list",
        "tools/list",
        "prompts/list",
        "resources/templates/list",
        "roots/list",
        "tasks/list",
    }
)
_BY_NAME = frozenset({"tools/call", "prompts/get"})
_BY_URI = frozenset({"resources/read", "resources/subscribe", "resources/unsubscribe"})
_BY_TASK_ID = frozenset({"tasks/get", "tasks/cancel", "tasks/result", "notifications/tasks/status"})
#: Every method ToolHive's parser has a handler for (a handler's empty answer is final).
_HANDLED = (
    _LIST_METHODS
    | _BY_NAME
    | _BY_URI
    | _BY_TASK_ID
    | {
        "initialize",
        "notifications/message",
        "logging/setLevel",
        "completion/complete",
        "elicitation/create",
        "sampling/createMessage",
        "notifications/progress",
        "notifications/cancelled",
        "notifications/elicitation/complete",
    }
)

#: ``params._meta`` key of a stateless (2026) request's client info.
META_CLIENT_INFO = "io.modelcontextprotocol/clientInfo"


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _str_or_number(value: Any) -> str:
    """A JSON string, or a JSON number written as Go's ``FormatFloat(v, 'f', 0, 64)``."""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"{float(value):.0f}"
    return ""


def target_name(method: str, params: Mapping[str, Any] | None) -> str:
    """ToolHive's MCP resource id for ``method`` (``target.name``; empty means none)."""
    if not params or method not in _HANDLED:
        return _STATIC_NAMES.get(method, "")
    if method in _BY_NAME:
        return _str(params.get("name"))
    if method in _BY_URI:
        return _str(params.get("uri"))
    if method in _LIST_METHODS:
        return _str(params.get("cursor"))
    if method in _BY_TASK_ID:
        return _str_or_number(params.get("taskId"))
    if method == "initialize":
        info = params.get("clientInfo")
        return _str(info.get("name")) if isinstance(info, dict) else ""
    if method == "notifications/message":
        return _str(params.get("method"))
    if method == "logging/setLevel":
        return _str(params.get("level"))
    if method == "completion/complete":
        ref = params.get("ref")
        if isinstance(ref, dict):
            return _str(ref.get("name")) or _str(ref.get("uri"))
        return _str(ref)
    if method == "elicitation/create":
        return _str(params.get("message"))
    if method == "notifications/elicitation/complete":
        return _str(params.get("elicitationId"))
    if method == "notifications/progress":
        return _str_or_number(params.get("progressToken"))
    if method == "notifications/cancelled":
        return _str_or_number(params.get("requestId"))
    # sampling/createMessage: the model asked for, else the start of the system prompt.
    prefs = params.get("modelPreferences")
    if isinstance(prefs, dict):
        if name := _str(prefs.get("name")):
            return name
        hints = prefs.get("hints")
        hint = hints[0] if isinstance(hints, list) and hints else None
        if isinstance(hint, dict) and (name := _str(hint.get("name"))):
            return name
    return _str(params.get("systemPrompt"))[:50]


def client_info(value: Any) -> tuple[str, str] | None:
    """``(name, version)`` of an MCP ``clientInfo`` object, if it names the client."""
    if isinstance(value, dict):
        name = _str(value.get("name"))
        if name:
            return name, _str(value.get("version"))
    return None


def subjects(
    subject: str,
    name: str,
    email: str,
    claims: Mapping[str, Any],
    client: tuple[str, str] | None,
) -> dict[str, str]:
    """ToolHive's ``extractSubjects``: ``user_id`` (sub), ``user`` (name → preferred_username →
    email → ``anonymous``), ``client_name``/``client_version`` from the token's claims — and here,
    when the token has none, from the MCP client's own ``clientInfo``. Keys in Go's sorted order."""
    client_name = _str(claims.get("client_name"))
    client_version = _str(claims.get("client_version"))
    if not client_name and not client_version and client is not None:
        client_name, client_version = client
    user = name or _str(claims.get("preferred_username")) or email or "anonymous"
    out: dict[str, str] = {}
    if client_name:
        out["client_name"] = client_name
    if client_version:
        out["client_version"] = client_version
    out["user"] = user
    if subject:
        out["user_id"] = subject
    return out


def delegation_chain(act: Any, max_depth: int) -> dict[str, Any] | None:
    """An RFC 8693 ``act`` claim as toolhive-core's ``DelegationChain`` (outermost actor first,
    only ``iss``/``sub`` per hop), or ``None`` when the token asserts no delegation."""
    if act is None:
        return None
    hops: list[dict[str, str]] = []
    chain: dict[str, Any] = {"chain": hops, "truncated": False, "omitted": 0, "malformed": False}

    def malformed(reason: str) -> None:
        if not chain["malformed"]:
            chain["malformed"] = True
            chain["malformedReason"] = reason

    if not isinstance(act, dict):
        malformed("act_not_object")
        return chain
    current: dict[str, Any] = act
    while True:
        if len(hops) >= max_depth:
            chain["truncated"] = True
            while True:  # count the dropped inner hops (iteratively: no deep recursion)
                chain["omitted"] += 1
                nested = current.get("act")
                if nested is None:
                    break
                if not isinstance(nested, dict):
                    malformed("nested_act_not_object")
                    break
                current = nested
            return chain
        hop: dict[str, str] = {}
        if "iss" in current:
            if isinstance(current["iss"], str):
                if current["iss"]:
                    hop["iss"] = current["iss"]
            else:
                malformed("iss_not_string")
        if "sub" in current:
            if isinstance(current["sub"], str):
                if current["sub"]:
                    hop["sub"] = current["sub"]
            else:
                malformed("sub_not_string")
        hops.append(hop)
        nested = current.get("act")
        if nested is None:
            return chain
        if not isinstance(nested, dict):
            malformed("nested_act_not_object")
            return chain
        current = nested


def _zone(offset: int) -> str:
    if not offset:
        return "Z"
    sign = "+" if offset > 0 else "-"
    offset = abs(offset)
    return f"{sign}{offset // 3600:02d}:{offset % 3600 // 60:02d}"


def rfc3339_nano(ns: int, *, local: bool = False) -> str:
    """A Unix time in nanoseconds as Go's ``time.RFC3339Nano`` (trailing zeros dropped; ``Z`` for
    UTC), in UTC or the local zone."""
    seconds, fraction = divmod(ns, 1_000_000_000)
    parts = time.localtime(seconds) if local else time.gmtime(seconds)
    text = time.strftime("%Y-%m-%dT%H:%M:%S", parts)
    if fraction:
        text += "." + f"{fraction:09d}".rstrip("0")
    return text + _zone(parts.tm_gmtoff if local else 0)


class Clock:
    """``(time, logged_at)`` of an event — local and UTC RFC 3339 of one instant — with the
    seconds part formatted once per second, not once per event."""

    __slots__ = ("_local", "_second", "_utc")

    def __init__(self) -> None:
        self._second = -1
        self._local = ("", "")
        self._utc = ""

    def now(self) -> tuple[str, str]:
        seconds, fraction = divmod(time.time_ns(), 1_000_000_000)
        if seconds != self._second:
            local = time.localtime(seconds)
            self._local = (time.strftime("%Y-%m-%dT%H:%M:%S", local), _zone(local.tm_gmtoff))
            self._utc = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
            self._second = seconds
        frac = "." + f"{fraction:09d}".rstrip("0") if fraction else ""
        return f"{self._local[0]}{frac}{self._local[1]}", f"{self._utc}{frac}Z"


class AuditIds:
    """Random (version 4) UUID strings like ``uuid.uuid4()``'s, from ``os.urandom`` read 4 KiB at a
    time instead of one system call and one ``UUID`` object per event."""

    __slots__ = ("_hex", "_next")

    def __init__(self) -> None:
        self._hex = ""
        self._next = 0

    def new(self) -> str:
        if self._next >= len(self._hex):
            self._hex = os.urandom(4096).hex()
            self._next = 0
        h = self._hex[self._next : self._next + 32]
        self._next += 32
        variant = "89ab"[int(h[16], 16) & 3]
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{variant}{h[17:20]}-{h[20:]}"
