"""Path and query values several areas check the same way."""

from __future__ import annotations

from typing import Any

from toolhive.api.errors import ApiError
from toolhive.api.routing import Call
from toolhive.errors import InvalidInputError, NotFoundError
from toolhive.models.runconfig import validate_workload_name


def workload_name(call: Call[Any, Any]) -> str:
    """The path's workload name, checked before it names any file: one no workload can have
    (``..``, a space) is not found."""
    name = call.params["name"]
    try:
        return validate_workload_name(name)
    except InvalidInputError as exc:
        raise NotFoundError(f"no workload named {name!r}: {exc}") from None


async def existing_group(call: Call[Any, Any], group: str | None) -> str | None:
    """A ``group`` filter: ``None`` when absent, 400 (field ``group``) when invalid, 404 when no
    such group exists."""
    if not group:
        return None
    from toolhive.groups import store as groups

    try:
        groups.validate_group_name(group)
    except InvalidInputError as exc:
        raise ApiError(400, str(exc), "group") from None
    await call.run(groups.get_group, group)  # 404 naming the group
    return group
