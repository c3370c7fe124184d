"""MCP method names and the few facts about them the proxy needs."""

from __future__ import annotations

from typing import Final

# Lifecycle and utilities.
INITIALIZE: Final = "initialize"
INITIALIZED: Final = "notifications/initialized"
PING: Final = "ping"
CANCELLED: Final = "notifications/cancelled"
PROGRESS: Final = "notifications/progress"
SERVER_DISCOVER: Final = "server/discover"  # 2026-07-28 era probe

# Client → server requests.
TOOLS_LIST: Final = "tools/list"
TOOLS_CALL: Final = "tools/call"
RESOURCES_LIST: Final = "resources/list"
RESOURCES_TEMPLATES_LIST: Final = "resources/templates/list"
RESOURCES_READ: Final = "resources/read"
RESOURCES_SUBSCRIBE: Final = "resources/subscribe"
RESOURCES_UNSUBSCRIBE: Final = "resources/unsubscribe"
PROMPTS_LIST: Final = "prompts/list"
PROMPTS_GET: Final = "prompts/get"
COMPLETION_COMPLETE: Final = "completion/complete"
LOGGING_SET_LEVEL: Final = "logging/setLevel"

# Server → client requests.
SAMPLING_CREATE_MESSAGE: Final = "sampling/createMessage"
ELICITATION_CREATE: Final = "elicitation/create"
ROOTS_LIST: Final = "roots/list"

# Server → client notifications.
LOG_MESSAGE: Final = "notifications/message"
RESOURCES_UPDATED: Final = "notifications/resources/updated"
TOOLS_LIST_CHANGED: Final = "notifications/tools/list_changed"
RESOURCES_LIST_CHANGED: Final = "notifications/resources/list_changed"
PROMPTS_LIST_CHANGED: Final = "notifications/prompts/list_changed"
ROOTS_LIST_CHANGED: Final = "notifications/roots/list_changed"

#: The client capability a server → client request needs (``capabilities`` key in ``initialize``).
CLIENT_CAPABILITY_FOR: Final[dict[str, str]] = {
    SAMPLING_CREATE_MESSAGE: "sampling",
    ELICITATION_CREATE: "elicitation",
    ROOTS_LIST: "roots",
}

#: ``MCP-Protocol-Version`` values of the initialize-handshake era.
HANDSHAKE_PROTOCOL_VERSIONS: Final = frozenset(
    {"2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"}
)


def is_list_changed(method: str) -> bool:
    """``notifications/<kind>/list_changed`` — sent to every session."""
    return method.endswith("/list_changed")


#: ``logging/setLevel`` levels, least severe first (RFC 5424 order, as MCP defines them).
LOG_LEVELS: Final[dict[str, int]] = {
    name: rank
    for rank, name in enumerate(
        ("debug", "info", "notice", "warning", "error", "critical", "alert", "emergency")
    )
}
LOG_LEVEL_NAMES: Final = tuple(LOG_LEVELS)

#: Client requests that never make a server call back into the client (used to tell which session
#: can have caused a server → client request).
NEVER_CALL_BACK: Final = frozenset(
    {
        PING,
        TOOLS_LIST,
        RESOURCES_LIST,
        RESOURCES_TEMPLATES_LIST,
        PROMPTS_LIST,
        RESOURCES_SUBSCRIBE,
        RESOURCES_UNSUBSCRIBE,
        LOGGING_SET_LEVEL,
    }
)

#: ``params._meta`` key a server may set on a server → client request (or notification) to name
#: the client request it belongs to. Not in the MCP spec for stdio (where nothing links them); the
#: bridge honours it, and a request's own progress token does the same job.
RELATED_REQUEST_META: Final = "io.modelcontextprotocol/related-request-id"
