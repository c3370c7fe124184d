"""Where an MCPServer's or MCPRemoteProxy's MCP sessions live, and so what ``replicas > 1`` and
``spec.sessionStorage`` mean for it.

- **streamable HTTP** (an HTTP MCPServer, an MCPRemoteProxy): the proxy replicas are reverse
  proxies that keep no per-session state — core's ``ReverseProxy`` forwards every request, with its
  ``Mcp-Session-Id``, to the one MCP server (the StatefulSet's pod) or the remote, which holds the
  session and answers 404 for one it does not know. Any replica serves any session, so a session
  outlives the proxy pod that opened it and no session store is needed: ``sessionStorage`` (Go
  hands the proxy Redis for its own session manager) is accepted and has nothing to store.
- **legacy SSE**: a session *is* the client's ``GET /sse`` stream through one proxy pod; it ends
  with that pod whatever the store, so ``sessionStorage: redis`` is refused (fail closed) and
  ``replicas > 1`` warns.
- **stdio**: the session lives in the one proxy's stdio bridge (replicas are capped at 1); Redis is
  refused: this proxy runner cannot restore a stdio session from a store.
"""

from __future__ import annotations

from typing import Any, Final

from toolhive_runtime_kubernetes.operator import status

#: Go's condition type and reasons (``mcpserver_types.go``), plus ours for a stateless proxy.
SESSION_STORAGE_WARNING: Final = "SessionStorageWarning"
REASON_MISSING: Final = "SessionStorageMissingForReplicas"
REASON_CONFIGURED: Final = "SessionStorageConfigured"
REASON_NOT_APPLICABLE: Final = "SessionStorageWarningNotApplicable"
REASON_NOT_REQUIRED: Final = "SessionStorageNotRequired"


def _mode(spec: Any) -> str:
    """``streamable-http``, ``sse`` or ``stdio``: how the proxy's clients hold their sessions."""
    transport = str(getattr(spec, "transport", "streamable-http") or "streamable-http")
    if transport == "stdio":
        return "stdio"
    return "sse" if transport == "sse" else "streamable-http"


def storage_refusal(spec: Any) -> str | None:
    """Why ``spec.sessionStorage`` cannot be honoured, or None (absent, memory, or not needed)."""
    storage = getattr(spec, "session_storage", None)
    if storage is None or storage.provider == "memory":
        return None
    mode = _mode(spec)
    if mode == "streamable-http":
        return None
    if mode == "sse":
        why = (
            "a legacy SSE session is the client's event stream through one proxy pod and ends "
            "with it; use transport streamable-http to keep sessions across replicas"
        )
    else:
        why = "a stdio server's sessions live in its one proxy, which keeps them in memory"
    return (
        f"spec.sessionStorage provider {storage.provider!r} cannot be honoured: {why}; "
        "remove it or use provider memory"
    )


def storage_condition(spec: Any, generation: int | None) -> dict[str, Any]:
    """Go's advisory ``SessionStorageWarning``: True only when replicas > 1 lose sessions."""
    replicas = getattr(spec, "replicas", None)
    mode = _mode(spec)
    if replicas is None or replicas <= 1 or mode == "stdio":
        return status.condition(
            SESSION_STORAGE_WARNING,
            False,
            REASON_NOT_APPLICABLE,
            "session storage warning is not active",
            generation,
        )
    if mode == "sse":
        return status.condition(
            SESSION_STORAGE_WARNING,
            True,
            REASON_MISSING,
            "replicas > 1 with legacy SSE: a session ends with the proxy pod holding its stream",
            generation,
        )
    storage = getattr(spec, "session_storage", None)
    redis = storage is not None and storage.provider == "redis"
    return status.condition(
        SESSION_STORAGE_WARNING,
        False,
        REASON_CONFIGURED if redis else REASON_NOT_REQUIRED,
        "the proxy replicas keep no session state: any replica forwards any session to the "
        "MCP server, which holds it" + (" (the Redis store is not needed)" if redis else ""),
        generation,
    )
