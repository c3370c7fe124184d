"""The clients endpoints: registration per group (single, bulk, per group) and discovery.

Same calls as ``thv client``: :func:`toolhive.clients.sync.register` / ``unregister`` /
``registered`` / ``status``. Registering adds the serving workloads of the groups to the client's
config file at once; unregistering deletes them. Without ``groups`` a client is registered with
``default`` (as ``thv client register``). A client type ToolHive does not know, or a group named
in the body that does not exist, is a 400.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, RootModel

from toolhive.api.routing import Call, Router
from toolhive.errors import InvalidInputError, NotFoundError

router = Router(tag="clients")

DEFAULT_GROUPS = ["default"]


class RegisteredClient(BaseModel):
    name: str
    groups: list[str] = Field(default_factory=list)


class RegisteredClients(RootModel[list[RegisteredClient]]):
    pass


class ClientRequest(BaseModel):
    name: str = Field(description="A client type (see GET /api/v1beta/discovery/clients)")
    groups: list[str] = Field(default_factory=list, description="Default: ['default']")


class BulkClientRequest(BaseModel):
    names: list[str] = Field(json_schema_extra={"minItems": 1})
    groups: list[str] = Field(default_factory=list, description="Default: ['default']")


class ClientAppStatus(BaseModel):
    client_type: str
    installed: bool
    registered: bool
    supports_skills: bool = False
    supports_plugins: bool = False


class ClientStatusList(BaseModel):
    clients: list[ClientAppStatus]


def _register(hooks: Any, names: list[str], groups: list[str]) -> None:
    from toolhive.clients.sync import register

    try:
        register(hooks, list(dict.fromkeys(names)), groups or DEFAULT_GROUPS)
    except NotFoundError as exc:  # a group named in the body
        raise InvalidInputError(str(exc)) from None


def _unregister(hooks: Any, names: list[str], groups: list[str] | None) -> None:
    from toolhive.clients.sync import load_client, unregister

    for name in names:  # every name is checked before anything changes
        load_client(hooks, name)
    for name in dict.fromkeys(names):
        unregister(hooks, name, groups)


def _require_names(names: list[str]) -> None:
    if not names:
        msg = "names: at least one client name is required"
        raise InvalidInputError(msg)


@router.get("/api/v1beta/clients", summary="List registered clients", response=RegisteredClients)
async def list_clients(call: Call[None, None]) -> RegisteredClients:
    """Registered clients, alphabetically, each with the groups it is registered with."""
    from toolhive.clients.sync import registered

    found = await call.run(registered)
    return RegisteredClients([RegisteredClient(name=k, groups=v) for k, v in found.items()])


@router.post(
    "/api/v1beta/clients",
    summary="Register a client",
    response=ClientRequest,
    body=ClientRequest,
    errors={400: "Unknown client type or group, or an unreadable client config file"},
)
async def register_client(call: Call[None, ClientRequest]) -> ClientRequest:
    groups = call.body.groups or DEFAULT_GROUPS
    await call.run(_register, call.state.hooks, [call.body.name], groups)
    return ClientRequest(name=call.body.name, groups=groups)


@router.post(
    "/api/v1beta/clients/register",
    summary="Register several clients",
    response=RegisteredClients,
    body=BulkClientRequest,
    errors={400: "No names, an unknown client type or group"},
)
async def register_clients(call: Call[None, BulkClientRequest]) -> RegisteredClients:
    _require_names(call.body.names)
    groups = call.body.groups or DEFAULT_GROUPS
    await call.run(_register, call.state.hooks, call.body.names, groups)
    return RegisteredClients(
        [RegisteredClient(name=n, groups=groups) for n in dict.fromkeys(call.body.names)]
    )


@router.post(
    "/api/v1beta/clients/unregister",
    summary="Unregister several clients",
    status=204,
    content="empty",
    body=BulkClientRequest,
    errors={400: "No names, an unknown client type or group"},
)
async def unregister_clients(call: Call[None, BulkClientRequest]) -> Any:
    """From ``groups`` only, or (without groups) from every group and config.yaml; ToolHive's
    entries are deleted from the clients' config files."""
    from starlette.responses import Response

    _require_names(call.body.names)
    try:
        await call.run(_unregister, call.state.hooks, call.body.names, call.body.groups or None)
    except NotFoundError as exc:
        raise InvalidInputError(str(exc)) from None
    return Response(status_code=204)


@router.delete(
    "/api/v1beta/clients/{name}",
    summary="Unregister a client",
    status=204,
    content="empty",
    errors={400: "Unknown client type"},
)
async def unregister_client(call: Call[None, None]) -> Any:
    """From every group (and config.yaml); its ToolHive entries are deleted from its file."""
    from starlette.responses import Response

    await call.run(_unregister, call.state.hooks, [call.params["name"]], None)
    return Response(status_code=204)


@router.delete(
    "/api/v1beta/clients/{name}/groups/{group}",
    summary="Unregister a client from one group",
    status=204,
    content="empty",
    errors={400: "Unknown client type", 404: "No such group"},
)
async def unregister_client_from_group(call: Call[None, None]) -> Any:
    from starlette.responses import Response

    await call.run(_unregister, call.state.hooks, [call.params["name"]], [call.params["group"]])
    return Response(status_code=204)


@router.get(
    "/api/v1beta/discovery/clients",
    summary="Every supported client: installed, registered",
    response=ClientStatusList,
)
async def discover_clients(call: Call[None, None]) -> ClientStatusList:
    from toolhive.clients.sync import status

    rows = await call.run(status, call.state.hooks)
    return ClientStatusList(
        clients=[
            ClientAppStatus(client_type=r.name, installed=r.installed, registered=r.registered)
            for r in rows
        ]
    )
