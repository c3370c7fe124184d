"""``GET /api/v1beta/events``: workload status changes as server-sent events, so a UI need not poll.

The stream starts with the current state of every workload (``type: "snapshot"``), then an
``event: ready`` (so a client knows the snapshot is complete, even when empty), then one
``event: workload`` per change — whichever process made it (the CLI, a detached supervisor, this
server): the changes come from :class:`~toolhive.workloads.watch.StatusWatcher`, one per server,
shared by every connected client. A reconnecting client needs no ``Last-Event-ID``: it gets a
fresh snapshot. A comment line every :data:`KEEPALIVE_S` keeps proxies from closing an idle
stream. A client that falls too far behind is disconnected (it reconnects to a snapshot).
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from toolhive.api.routing import Call, Router
from toolhive.workloads.watch import Closed, StatusChange, StatusWatcher

if TYPE_CHECKING:
    from starlette.responses import Response

    from toolhive.api.state import ApiState
    from toolhive.web.asgi import Send

router = Router(tag="events")

#: Seconds between keep-alive comments on an idle stream.
KEEPALIVE_S = 15.0
#: Milliseconds a client waits before reconnecting (the stream's ``retry:`` field).
RETRY_MS = 2000


class EventsQuery(BaseModel):
    group: str | None = Field(default=None, description="Only workloads of this group.")


def watcher_of(app: Any, state: ApiState) -> StatusWatcher:
    """The server's one watcher (kept on the Starlette app); changes made through this server's
    use cases wake it at once."""
    watcher: StatusWatcher | None = getattr(app.state, "workload_watcher", None)
    if watcher is None:
        watcher = StatusWatcher()
        app.state.workload_watcher = watcher
        state.workloads.events.subscribe(lambda _event: watcher.poke())
    return watcher


def close_streams(app: Any) -> None:
    """End every open event stream of ``app`` (the server is shutting down)."""
    watcher: StatusWatcher | None = getattr(app.state, "workload_watcher", None)
    if watcher is not None:
        watcher.close()


def sse(event: str, data: dict[str, Any]) -> str:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


async def event_stream(watcher: StatusWatcher, group: str | None) -> AsyncGenerator[str, None]:
    """The stream's text; ends when the watcher closes it or (cancelled) when the client leaves."""

    def wanted(change: StatusChange) -> bool:
        return group is None or change.workload.group == group

    async with watcher.subscribe() as subscription:
        snapshot = [c for c in subscription.snapshot if wanted(c)]
        yield f"retry: {RETRY_MS}\n\n"
        for item in snapshot:
            yield sse("workload", item.to_json())
        yield sse("ready", {"workloads": len(snapshot)})
        while True:
            try:
                change = await subscription.next(KEEPALIVE_S)
            except Closed:
                return
            if change is None:
                yield ": keep-alive\n\n"
            elif wanted(change):
                yield sse("workload", change.to_json())


@router.get(
    "/api/v1beta/events",
    summary="Stream workload status changes (server-sent events)",
    content="sse",
    query=EventsQuery,
    errors={400: "Invalid group name"},
)
async def stream_workload_events(call: Call[EventsQuery, None]) -> Response:
    """A ``text/event-stream``: first every workload's current state, then ``event: ready``,
    then an ``event: workload`` per change, whoever made it. Each ``data`` is JSON: ``{type:
    snapshot|created|changed|removed, name, status, previous, status_context?, group, url?,
    time}`` — ``status`` is ``removed`` once the workload is gone, ``previous`` is ``null`` for a
    workload not seen before. ``: keep-alive`` comments every 15 s. Reconnect for a fresh
    snapshot (no ``Last-Event-ID`` needed)."""
    group = call.query.group
    if group is not None:
        from toolhive.api.errors import ApiError
        from toolhive.errors import InvalidInputError
        from toolhive.groups.store import validate_group_name

        try:
            validate_group_name(group)
        except InvalidInputError as exc:
            raise ApiError(400, str(exc), "group") from None
    watcher = watcher_of(call.request.app, call.state)
    return _event_stream_response(event_stream(watcher, group))


def _event_stream_response(stream: AsyncGenerator[str, None]) -> Response:
    """A StreamingResponse that closes ``stream`` however it ends (the client leaving cancels
    it): its subscription ends at once, not when the generator is garbage-collected."""
    import anyio
    from starlette.responses import StreamingResponse

    class EventStreamResponse(StreamingResponse):
        async def stream_response(self, send: Send) -> None:
            try:
                await super().stream_response(send)
            finally:
                with anyio.CancelScope(shield=True):
                    await stream.aclose()

    return EventStreamResponse(
        stream,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
