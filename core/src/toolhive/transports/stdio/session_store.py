"""Where a streamable-HTTP face keeps its sessions beyond its own process (the seam).

With a store, a session survives the process that opened it: ``initialize`` writes what the
session was opened with (the client's ``initialize`` params and the negotiated protocol version)
under its ``Mcp-Session-Id``; a request with an id this process does not know is looked up there
and, when found, the session is opened again under the same id by replaying that ``initialize``
instead of answering 404. So replicas behind one Service can serve each other's clients.

What lives only in the process that held it (and is lost when it goes): requests in flight, the
``GET`` stream and its event log (``Last-Event-ID`` resumption), ``logging/setLevel`` and resource
subscriptions. The client keeps its session and sees the rest as a dropped connection.
"""

from __future__ import annotations

from typing import Any, Protocol

from toolhive.errors import ToolHiveError


class SessionStoreError(ToolHiveError):
    """The store cannot be reached or answered nonsense: fail the request, never guess."""


class SessionStore(Protocol):
    """Session records by session id; a record lives ``ttl`` seconds after its last touch."""

    #: Seconds a record lives after its last write or touch (the session's idle timeout).
    ttl: float

    async def start(self) -> None:
        """Check the store answers (raise :class:`SessionStoreError` with what to do if not)."""

    async def save(self, sid: str, record: dict[str, Any]) -> None: ...

    async def load(self, sid: str) -> dict[str, Any] | None: ...

    async def touch(self, sid: str) -> None:
        """Restart the record's clock (the session is in use)."""

    async def delete(self, sid: str) -> None: ...

    async def aclose(self) -> None: ...
