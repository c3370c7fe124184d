"""Pydantic models at the platform's boundaries (files, REST API, plugins).

The names below load on first use (PEP 562): importing one model module (the runtime contract
needs ``toolhive.models.permissions``) must not build every other model, which ``thv --help`` and
plugins' entry points would pay for.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from toolhive.models.permissions import PermissionProfile
    from toolhive.models.runconfig import RunConfig
    from toolhive.models.workload import Workload, WorkloadStatus

_EXPORTS = {
    "PermissionProfile": "toolhive.models.permissions",
    "RunConfig": "toolhive.models.runconfig",
    "Workload": "toolhive.models.workload",
    "WorkloadStatus": "toolhive.models.workload",
}

__all__ = ["PermissionProfile", "RunConfig", "Workload", "WorkloadStatus"]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        msg = f"module {__name__!r} has no attribute {name!r}"
        raise AttributeError(msg)
    return getattr(importlib.import_module(_EXPORTS[name]), name)
