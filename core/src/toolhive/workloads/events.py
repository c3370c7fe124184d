"""Workload events: what happened to a workload, published in the process where it happened.

The use cases (:mod:`toolhive.workloads.service`) publish ``created``, ``starting``, ``stopped``,
``removed`` and ``updated``; the supervisor publishes ``running``, ``unhealthy`` and ``stopped``.
Subscribers are given to the bus by whoever assembles the application (the CLI's
:class:`~toolhive.cli.context.CliState`, next the REST API): client-config sync is one
(:func:`toolhive.clients.sync.subscribe`), the REST API's event stream will be another. So
``workloads`` never imports its subscribers.

A subscriber that fails is logged and skipped: a broken listener must not stop a workload from
starting or stopping.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from toolhive.models.runconfig import RunConfig
from toolhive.models.workload import WorkloadStatus
from toolhive.state.store import now_rfc3339

log = logging.getLogger("toolhive.workloads.events")


class EventType(StrEnum):
    CREATED = "created"  # state saved, nothing runs yet
    STARTING = "starting"  # a supervisor is being spawned (run, start, restart)
    RUNNING = "running"  # the proxy answers (also after an unhealthy spell)
    UNHEALTHY = "unhealthy"  # the server died or stopped answering pings
    UNAUTHENTICATED = "unauthenticated"  # a remote server's credentials are refused or gone
    AUTH_RETRYING = "auth_retrying"  # refreshing them fails transiently; still retrying
    STOPPED = "stopped"
    REMOVED = "removed"
    UPDATED = "updated"  # the RunConfig changed (e.g. moved to another group); see ``previous``


class WorkloadEvent(BaseModel):
    model_config = ConfigDict(frozen=True, use_enum_values=False)

    type: EventType
    name: str
    #: The workload's status once the event happened (``removed``: the last one, ``stopped``).
    status: WorkloadStatus
    config: RunConfig
    #: ``updated`` only: the RunConfig before the change.
    previous: RunConfig | None = None
    #: Why, when there is more to say (an unhealthy reason).
    context: str = ""
    at: str = Field(default_factory=now_rfc3339)


#: What each event type means for the workload's status.
STATUS_OF: dict[EventType, WorkloadStatus] = {
    EventType.CREATED: WorkloadStatus.STARTING,
    EventType.STARTING: WorkloadStatus.STARTING,
    EventType.RUNNING: WorkloadStatus.RUNNING,
    EventType.UNHEALTHY: WorkloadStatus.UNHEALTHY,
    EventType.UNAUTHENTICATED: WorkloadStatus.UNAUTHENTICATED,
    EventType.AUTH_RETRYING: WorkloadStatus.AUTH_RETRYING,
    EventType.STOPPED: WorkloadStatus.STOPPED,
    EventType.REMOVED: WorkloadStatus.STOPPED,
}

Subscriber = Callable[[WorkloadEvent], None]


class WorkloadEvents:
    """An in-process publish/subscribe bus; subscribers run synchronously, in order."""

    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        """Add ``subscriber``; returns the function that removes it."""
        self._subscribers.append(subscriber)
        return lambda: self._subscribers.remove(subscriber)

    def publish(self, event: WorkloadEvent) -> None:
        for subscriber in list(self._subscribers):
            try:
                subscriber(event)
            except Exception:
                log.exception("workload event subscriber %r failed on %s", subscriber, event.type)

    def emit(
        self,
        type_: EventType,
        config: RunConfig,
        *,
        context: str = "",
        status: WorkloadStatus | None = None,
        previous: RunConfig | None = None,
    ) -> None:
        """Publish ``type_`` for ``config``'s workload."""
        self.publish(
            WorkloadEvent(
                type=type_,
                name=config.name,
                status=status if status is not None else STATUS_OF[type_],
                config=config,
                previous=previous,
                context=context,
            )
        )
