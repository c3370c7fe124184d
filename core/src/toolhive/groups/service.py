"""Removing a group with its workloads: the one implementation ``thv group rm`` and
``DELETE /api/v1beta/groups/{name}`` call.

A group's workloads move to ``default`` (their clients follow through the workload events), or
are removed with ``with_workloads``. ``default`` itself cannot be removed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from toolhive.errors import InvalidInputError
from toolhive.groups.store import DEFAULT_GROUP, delete_group, get_group, validate_group_name

if TYPE_CHECKING:
    from toolhive.workloads.service import Workloads


def members(workloads: Workloads, name: str) -> list[str]:
    """The workloads of group ``name`` (stopped ones too); the group must exist."""
    get_group(name)
    return workloads.select([], group=name)


def remove_group(
    workloads: Workloads,
    name: str,
    *,
    with_workloads: bool = False,
    done: Callable[[str, str], None] | None = None,
) -> list[str]:
    """Move (or remove) the group's workloads, then delete the group; the workloads acted on.

    ``done(workload, action)`` is told each step (``"removed"`` or ``"moved"``).
    """
    validate_group_name(name)
    if name == DEFAULT_GROUP:
        msg = "the default group cannot be removed"
        raise InvalidInputError(msg)
    chosen = members(workloads, name)
    for member in chosen:
        if with_workloads:
            workloads.remove(member)
        else:
            # Clients of the old group lose it, the new group's gain it (workload events).
            workloads.move(member, DEFAULT_GROUP)
        if done is not None:
            done(member, "removed" if with_workloads else "moved")
    delete_group(name)
    return chosen
