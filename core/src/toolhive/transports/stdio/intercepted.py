"""Requests the bridge answers itself, per session: ``logging/setLevel`` and
``resources/(un)subscribe``.

The server has one log level and one subscription per URI for all sessions. The bridge keeps each
session's own, tells the server only what changes its view (the lowest level any session asked
for; the first subscribe and the last unsubscribe of a URI), and answers the client.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, Final

from toolhive.mcp import methods
from toolhive.mcp.jsonrpc import (
    INVALID_PARAMS,
    Message,
    RequestId,
    encode,
    error_bytes,
    result_response,
)
from toolhive.transports.stdio.sessions import Session

#: The methods :meth:`Intercepted.answer` handles.
INTERCEPTED: Final = frozenset(
    {methods.LOGGING_SET_LEVEL, methods.RESOURCES_SUBSCRIBE, methods.RESOURCES_UNSUBSCRIBE}
)

#: A bridge-owned request to the server: ``None`` on success, else the JSON-RPC error.
ServerCall = Callable[[str, dict[str, Any]], Coroutine[Any, Any, dict[str, Any] | None]]


class Intercepted:
    """Each session's log level and subscriptions, and the server's single view of them."""

    __slots__ = ("_call", "_sessions", "_spawn", "server_level", "subscribed")

    def __init__(
        self,
        sessions: dict[bytes, Session],
        call: ServerCall,
        spawn: Callable[[Coroutine[Any, Any, Any]], None],
    ) -> None:
        self._sessions = sessions
        self._call = call
        self._spawn = spawn
        #: URI → number of sessions subscribed to it (the server holds one subscription per URI).
        self.subscribed: dict[str, int] = {}
        #: The ``logging/setLevel`` rank last sent to the server.
        self.server_level: int | None = None

    async def answer(self, session: Session, msg: Message, method: str) -> bytes | None:
        """The answer to one of :data:`INTERCEPTED` for ``session`` (``None``: forward the
        request unchanged)."""
        cid: RequestId = msg["id"]
        params = msg.get("params")
        if type(params) is not dict:
            params = {}
        ok = encode(result_response(cid, {}))
        if method == methods.LOGGING_SET_LEVEL:
            level = params.get("level")
            rank = methods.LOG_LEVELS.get(level) if type(level) is str else None
            if rank is None:
                return error_bytes(cid, INVALID_PARAMS, f"Invalid params: unknown level {level!r}")
            previous, session.level = session.level, rank
            error = await self._sync_log_level()
            if error is not None:
                session.level = previous
                return encode({"jsonrpc": "2.0", "id": cid, "error": error})
            return ok
        uri = params.get("uri")
        if type(uri) is not str:
            return None  # malformed: the server explains
        if method == methods.RESOURCES_SUBSCRIBE:
            if uri in session.subscriptions:
                return ok
            count = self.subscribed.get(uri, 0)
            session.subscriptions.add(uri)
            self.subscribed[uri] = count + 1
            if count:
                return ok
            error = await self._call(method, {"uri": uri})
            if error is not None:
                self._drop_subscription(session, uri)
                return encode({"jsonrpc": "2.0", "id": cid, "error": error})
            return ok
        if self._drop_subscription(session, uri):
            error = await self._call(method, {"uri": uri})
            if error is not None:
                return encode({"jsonrpc": "2.0", "id": cid, "error": error})
        return ok

    def forget(self, session: Session) -> None:
        """A session ended: unsubscribe what only it wanted, let the server's level rise."""
        for uri in list(session.subscriptions):
            if self._drop_subscription(session, uri):
                self._spawn(self._call(methods.RESOURCES_UNSUBSCRIBE, {"uri": uri}))
        if session.level is not None and session.level == self.server_level:
            self._spawn(self._sync_log_level())  # the lowest level may rise now

    def _drop_subscription(self, session: Session, uri: str) -> bool:
        """Forget one session's subscription; ``True`` when it was the last one for ``uri``."""
        if uri not in session.subscriptions:
            return False
        session.subscriptions.discard(uri)
        count = self.subscribed.get(uri, 0) - 1
        if count > 0:
            self.subscribed[uri] = count
            return False
        self.subscribed.pop(uri, None)
        return True

    async def _sync_log_level(self) -> dict[str, Any] | None:
        """Tell the server the lowest level any session wants, if that changed; the error, if any."""
        levels = [s.level for s in self._sessions.values() if s.level is not None]
        target = min(levels) if levels else None
        if target is None or target == self.server_level:
            return None
        previous, self.server_level = self.server_level, target
        error = await self._call(
            methods.LOGGING_SET_LEVEL, {"level": methods.LOG_LEVEL_NAMES[target]}
        )
        if error is not None and self.server_level == target:
            self.server_level = previous
        return error
