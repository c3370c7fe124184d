"""A workload as listed by ``thv list`` and the REST API, and the status set."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class WorkloadStatus(StrEnum):
    RUNNING = "running"
    STOPPED = "stopped"
    ERROR = "error"
    STARTING = "starting"
    STOPPING = "stopping"
    UNHEALTHY = "unhealthy"
    REMOVING = "removing"
    UNKNOWN = "unknown"
    UNAUTHENTICATED = "unauthenticated"
    AUTH_RETRYING = "auth_retrying"
    POLICY_STOPPED = "policy_stopped"


class Workload(BaseModel):
    """One row of ``thv list`` (ToolHive's JSON field names)."""

    model_config = ConfigDict(use_enum_values=True)

    name: str
    package: str = ""
    url: str = ""
    port: int = 0
    transport_type: str = ""
    proxy_mode: str = ""
    status: WorkloadStatus = WorkloadStatus.UNKNOWN
    status_context: str = ""
    created_at: str = ""
    started_at: str = ""
    labels: dict[str, str] = Field(default_factory=dict)
    group: str = "default"
    tools: list[str] = Field(default_factory=list)
    remote: bool = False
    runtime: str = ""
