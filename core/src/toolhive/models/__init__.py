"""Pydantic models at the platform's boundaries (files, REST API, plugins)."""

from toolhive.models.permissions import PermissionProfile
from toolhive.models.runconfig import RunConfig
from toolhive.models.workload import Workload, WorkloadStatus

__all__ = ["PermissionProfile", "RunConfig", "Workload", "WorkloadStatus"]
