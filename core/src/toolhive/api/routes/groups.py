"""The groups endpoints: list, create, get, delete (moving or removing the group's workloads).

Same calls as ``thv group``: :mod:`toolhive.groups.store` and, for delete,
:func:`toolhive.groups.service.remove_group` over the server's :class:`Workloads` (so the moves
publish workload events and clients follow).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.config import JsonDict

from toolhive.api.routing import Call, Router
from toolhive.groups.store import NAME_MAX, NAME_PATTERN

router = Router(tag="groups")


class Group(BaseModel):
    """A group (ToolHive's ``groups.Group``)."""

    model_config = ConfigDict(extra="allow")

    name: str
    registered_clients: list[str] = Field(default_factory=list)
    skills: list[str] = Field(default_factory=list)
    plugins: list[str] = Field(default_factory=list)


class GroupList(BaseModel):
    groups: list[Group]


#: The rule :func:`toolhive.groups.store.validate_group_name` applies, documented (it checks it
#: itself, so a bad name gets its message rather than a pattern's).
NAME_SCHEMA: JsonDict = {"minLength": 1, "maxLength": NAME_MAX, "pattern": NAME_PATTERN}


class CreateGroupRequest(BaseModel):
    name: str = Field(
        description="lowercase letters, digits, '_', '-', single inner spaces",
        json_schema_extra=NAME_SCHEMA,
    )


class CreateGroupResponse(BaseModel):
    name: str


class DeleteGroupQuery(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    with_workloads: bool = Field(
        default=False,
        alias="with-workloads",
        description="Remove the group's workloads instead of moving them to 'default'.",
    )


def _group(stored: Any) -> Group:
    return Group.model_validate(stored.model_dump(mode="json"))


@router.get("/api/v1beta/groups", summary="List groups", response=GroupList)
async def list_groups(call: Call[None, None]) -> GroupList:
    """Every group, sorted by name (``default`` always exists)."""
    from toolhive.groups import store

    found = await call.run(store.list_groups)
    return GroupList(groups=[_group(g) for g in found])


@router.post(
    "/api/v1beta/groups",
    summary="Create a group",
    status=201,
    response=CreateGroupResponse,
    body=CreateGroupRequest,
    errors={400: "Invalid group name", 409: "A group with this name exists"},
)
async def create_group(call: Call[None, CreateGroupRequest]) -> CreateGroupResponse:
    from toolhive.groups import store

    group = await call.run(store.create_group, call.body.name)
    return CreateGroupResponse(name=group.name)


@router.get(
    "/api/v1beta/groups/{name}",
    summary="Get a group",
    response=Group,
    errors={400: "Invalid group name", 404: "No such group"},
)
async def get_group(call: Call[None, None]) -> Group:
    from toolhive.groups import store

    name = call.params["name"]
    store.validate_group_name(name)
    return _group(await call.run(store.get_group, name))


@router.delete(
    "/api/v1beta/groups/{name}",
    summary="Delete a group",
    status=204,
    content="empty",
    query=DeleteGroupQuery,
    errors={400: "Invalid group name, or the default group", 404: "No such group"},
)
async def delete_group(call: Call[DeleteGroupQuery, None]) -> Any:
    """Its workloads move to ``default``, or are removed with ``with-workloads=true``. The
    ``default`` group cannot be deleted."""
    from starlette.responses import Response

    from toolhive.groups.service import remove_group

    await call.run(
        remove_group,
        call.state.workloads,
        call.params["name"],
        with_workloads=call.query.with_workloads,
    )
    return Response(status_code=204)
