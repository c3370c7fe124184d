"""``GET /api/v1beta/workloads/{name}/auth``: a remote workload's sign-in, for clients to offer.

Under ``thv serve`` no browser is opened: creating (or restarting) a remote workload whose server
asks for OAuth answers at once, and the sign-in waits in the background for the user
(:mod:`toolhive.workloads.remote_login`). Meanwhile the workload is ``starting`` with the status
context ``waiting for sign-in to <URL>`` (on the event stream too), and this endpoint gives the
authorization URL to open. The login's callback listens on the server's loopback, so the browser
must run on the same machine as ``thv serve`` (as ToolHive's).
"""

from __future__ import annotations

from toolhive.api.models.remote_auth import WorkloadAuthResponse
from toolhive.api.routes.params import workload_name
from toolhive.api.routing import Call, Router
from toolhive.models.workload import WorkloadStatus

router = Router(tag="workloads")


def workload_auth(name: str) -> WorkloadAuthResponse:
    """The workload's status and, while its sign-in waits for the user, the login's URL."""
    from toolhive.state import store
    from toolhive.workloads.remote_login import pending_login
    from toolhive.workloads.status import workload_row

    record = store.read_workload(name)  # NotFoundError: 404
    row = workload_row(record)
    pending = pending_login(record.config.base_name) if record.config.is_remote else None
    # Only while the workload is being started: a file left by a process that died mid-login
    # (its workload then reads as failed) names a login nobody waits for.
    if pending is None or row.status != WorkloadStatus.STARTING:
        pending = {}
    return WorkloadAuthResponse(
        workload=row.name,
        status=WorkloadStatus(row.status),
        status_context=row.status_context,
        authorization_url=pending.get("authorization_url", ""),
        started_at=pending.get("started_at", "") if pending.get("authorization_url") else "",
    )


@router.get(
    "/api/v1beta/workloads/{name}/auth",
    summary="A remote workload's sign-in",
    response=WorkloadAuthResponse,
    errors={404: "No such workload"},
)
async def get_workload_auth(call: Call[None, None]) -> WorkloadAuthResponse:
    """Where the workload's sign-in to its remote server stands. While one waits for the user
    (``status`` is ``starting``, ``status_context`` says ``waiting for sign-in to …``),
    ``authorization_url`` is the login to open in a browser on this machine (the callback is on
    its loopback); the workload then starts by itself. When the stored login is refused,
    ``status`` is ``unauthenticated``: ``POST …/restart`` signs in again (poll this endpoint
    for the new URL). Any other time ``authorization_url`` is empty. No token is ever
    answered."""
    return await call.run(workload_auth, workload_name(call))
