"""A workload's status as users see it: the status file corrected by whether its supervisor is
alive (no engine call: the supervisor itself records a dead server as ``unhealthy``), and the row
``thv list``/``thv status`` (and the REST API) show, built from one state record."""

from __future__ import annotations

from datetime import UTC, datetime

from toolhive.models.workload import Workload, WorkloadStatus
from toolhive.state.store import WorkloadRecord, pid_alive
from toolhive.workloads.urls import client_url

S = WorkloadStatus
#: Statuses ``thv list`` shows without ``--all``.
ACTIVE = frozenset({S.RUNNING, S.STARTING, S.UNHEALTHY, S.AUTH_RETRYING, S.STOPPING})
#: Statuses that only hold while a supervisor process is alive.
SUPERVISED = frozenset({S.RUNNING, S.UNHEALTHY, S.STARTING, S.STOPPING, S.AUTH_RETRYING})
#: How long a ``starting`` workload may lack a live supervisor (it is being spawned).
SPAWN_GRACE_S = 5.0


def _age_seconds(stamp: str) -> float:
    try:
        then = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return float("inf")
    return (datetime.now(UTC) - then).total_seconds()


def merged_status(record: WorkloadRecord) -> tuple[WorkloadStatus, str]:
    """``(status, context)``: the status file, unless it claims a supervisor that is gone."""
    status_file = record.status
    if status_file is None:
        return S.STOPPED, ""
    status, context = status_file.status, status_file.status_context
    if status not in SUPERVISED or pid_alive(record.pid):
        return status, context
    if status == S.STOPPING:
        return S.STOPPED, ""
    if status == S.STARTING:
        if _age_seconds(status_file.updated_at) < SPAWN_GRACE_S:
            return status, context
        return S.ERROR, "supervisor exited while starting; see `thv logs --proxy`"
    return S.UNHEALTHY, "proxy process not running"


def workload_row(record: WorkloadRecord) -> Workload:
    """The workload as listed (ToolHive's ``Workload`` JSON), from its record alone."""
    config = record.config
    status, context = merged_status(record)
    status_file = record.status
    return Workload(
        name=config.name,
        package=config.remote_url or config.image,
        url=client_url(config),
        port=config.port,
        transport_type=config.transport,
        proxy_mode=config.effective_proxy_mode,
        status=status,
        status_context=context,
        created_at=status_file.created_at if status_file else "",
        started_at=status_file.updated_at if status_file and status == S.RUNNING else "",
        labels=dict(config.container_labels),
        group=config.group or "default",
        tools=list(config.tools_filter),
        remote=config.is_remote,
        runtime=config.runtime,
    )
