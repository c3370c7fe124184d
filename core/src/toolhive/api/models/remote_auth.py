"""The answer of ``GET …/workloads/{name}/auth``: where a remote workload's sign-in stands."""

from __future__ import annotations

from pydantic import BaseModel, Field

from toolhive.models.workload import WorkloadStatus


class WorkloadAuthResponse(BaseModel):
    """A workload's sign-in as a client can act on it. Never a token: the authorization URL
    carries the client id, the PKCE challenge, the state and the resource only."""

    workload: str = Field(description="The workload's name.")
    status: WorkloadStatus = Field(description="The workload's status, as its list row says.")
    status_context: str = Field(
        description="Why it has that status (``waiting for sign-in to <URL>`` while a sign-in "
        "waits for the user; what to do when it is ``unauthenticated``).",
    )
    authorization_url: str = Field(
        description="While a sign-in waits for the user: the URL to open in a browser (the "
        "authorization server's login). Empty otherwise.",
    )
    started_at: str = Field(
        description="When that sign-in began (RFC 3339, UTC); empty when none waits."
    )
