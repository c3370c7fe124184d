"""The workloads endpoints: ToolHive's ``/api/v1beta/workloads`` over the workload use cases.

Each handler turns its input into what ``thv run/stop/start/rm/list/status/logs/export`` would
pass (a :class:`~toolhive.workloads.request.RunRequest`, a name, a group) and makes the same
:class:`~toolhive.workloads.service.Workloads` call, in a worker thread. As in ToolHive:

* creation answers once the workload is created — it may still be ``starting`` (poll its status
  or watch ``/api/v1beta/events``); a create that no installed plugin can enforce is a 400 naming
  the plugin to install, before anything is saved;
* stop, restart and delete answer 202 and do the work in the background (each workload's lock
  orders concurrent operations on it); stopping a stopped workload is fine;
* an edit validates the new configuration first, then recreates the workload on its port.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from toolhive.api.errors import ApiError
from toolhive.api.models.workloads import (
    BulkOperationRequest,
    ConfigPatch,
    CreateRequest,
    CreateWorkloadResponse,
    ListQuery,
    UpdateRequest,
    WorkloadList,
    WorkloadStatusResponse,
    create_request_for,
    run_request,
)
from toolhive.api.routes.params import existing_group, workload_name
from toolhive.api.routing import Call, Router, json_response
from toolhive.errors import InvalidInputError, NotFoundError, ToolHiveError
from toolhive.models.runconfig import RunConfig, validate_workload_name

if TYPE_CHECKING:
    from starlette.responses import Response

    from toolhive.models.workload import Workload
    from toolhive.workloads.request import RunRequest
    from toolhive.workloads.service import Workloads

router = Router(tag="workloads")
log = logging.getLogger("toolhive.api.workloads")

PREFIX = "/api/v1beta/workloads"
#: ToolHive's ``maxAPILogLines``: the logs endpoints answer the last this many lines.
MAX_LOG_LINES = 1000


def _accepted() -> Response:
    from starlette.responses import Response

    return Response(status_code=202)


def _in_background(what: str, action: Callable[[str], object], names: list[str]) -> None:
    """``action(name)`` for each name, each in its own thread, after the answer (202) is sent.

    Threads are not daemons: a server asked to stop finishes a removal it accepted.
    """

    def work(name: str) -> None:
        try:
            action(name)
        except NotFoundError:
            log.info("%s %s: already gone", what, name)
        except ToolHiveError as exc:
            log.warning("%s %s failed: %s", what, name, exc)
        except Exception:
            log.exception("%s %s failed", what, name)

    for name in names:
        threading.Thread(target=work, args=(name,), name=f"thv-api-{what}-{name}").start()


# --- list / create -------------------------------------------------------------------------------


@router.get(
    PREFIX,
    summary="List workloads",
    response=WorkloadList,
    query=ListQuery,
    errors={400: "Invalid group name", 404: "No such group"},
)
async def list_workloads(call: Call[ListQuery, None]) -> WorkloadList:
    """Running workloads (every one with ``all=true``), optionally only those of ``group``."""
    group = await existing_group(call, call.query.group)
    rows = await call.run(
        call.state.workloads.list, include_all=call.query.all, group=group or None
    )
    return WorkloadList(workloads=rows)


def _create(workloads: Workloads, request: RunRequest, patch: ConfigPatch) -> Workload:
    from toolhive.workloads.request import RunRequest

    if patch.updates:  # fields no flag sets: patched into the resolved RunConfig
        config = patch.apply(workloads.resolve(request))
        request = RunRequest(from_config=config)
    return workloads.run(request, wait=0)


def _check_registry(call: Call[None, CreateRequest]) -> None:
    """``registry`` + ``server`` name an entry of the default registry (else 400 / 404)."""
    body = call.body
    if not (body.registry and body.server):
        return
    if body.registry != "default":
        msg = f'unknown registry {body.registry!r}; only "default" is supported'
        raise ApiError(400, msg, "registry")
    from toolhive.registry.run import find_entry

    if find_entry(call.state.hooks, body.server.strip()) is None:
        msg = f"server {body.server!r} not found in the registry (see GET /api/v1beta/registry)"
        raise NotFoundError(msg)


@router.post(
    PREFIX,
    summary="Create and start a workload",
    status=201,
    response=CreateWorkloadResponse,
    body=CreateRequest,
    errors={
        400: "Invalid request, or a protection no installed plugin enforces",
        404: "Registry server or image not found",
        409: "A workload with this name exists, or the port is taken",
        503: "No runtime can run it",
    },
)
async def create_workload(call: Call[None, CreateRequest]) -> Response:
    """Answers once the workload is created; it may still be starting (see its status).
    ``runtime_config`` applies to ``uvx://``, ``npx://`` and ``go://`` images only."""
    body = call.body
    if body.name:
        try:
            validate_workload_name(body.name)
        except InvalidInputError as exc:
            raise ApiError(400, str(exc), "name") from None
    request, patch = run_request(body)
    await call.run(_check_registry, call)
    workload = await call.run(_create, call.state.workloads, request, patch)
    return json_response(201, CreateWorkloadResponse(name=workload.name, port=workload.port))


# --- bulk operations (declared before /{name}: "stop" is not a workload here) ----------------


async def _bulk_names(call: Call[None, BulkOperationRequest]) -> list[str]:
    body = call.body
    names = [n for n in body.names or []]
    if names and body.group:
        raise ApiError(400, "cannot specify both names and group")
    if not names and not body.group:
        raise ApiError(400, "must specify either names or group")
    for index, name in enumerate(names):
        try:
            validate_workload_name(name)
        except InvalidInputError as exc:
            raise ApiError(400, str(exc), f"names.{index}") from None
    if names:
        return names
    from toolhive.groups import store as groups

    try:
        groups.validate_group_name(body.group)
    except InvalidInputError as exc:
        raise ApiError(400, str(exc), "group") from None
    await call.run(groups.get_group, body.group)  # 404 naming the group
    return await call.run(call.state.workloads.select, [], group=body.group)


_BULK_ERRORS = {400: "Both or neither of names and group, or an invalid name", 404: "No such group"}


@router.post(
    f"{PREFIX}/stop",
    summary="Stop workloads by name or group",
    status=202,
    content="empty",
    body=BulkOperationRequest,
    errors=_BULK_ERRORS,
)
async def stop_workloads(call: Call[None, BulkOperationRequest]) -> Response:
    """Asynchronous: answers 202, then stops each workload (a stopped one stays stopped)."""
    _in_background("stop", call.state.workloads.stop, await _bulk_names(call))
    return _accepted()


@router.post(
    f"{PREFIX}/restart",
    summary="Restart workloads by name or group",
    status=202,
    content="empty",
    body=BulkOperationRequest,
    errors=_BULK_ERRORS,
)
async def restart_workloads(call: Call[None, BulkOperationRequest]) -> Response:
    """Asynchronous: answers 202, then (re)starts each workload on its saved port."""
    _in_background("restart", call.state.workloads.start, await _bulk_names(call))
    return _accepted()


@router.post(
    f"{PREFIX}/delete",
    summary="Delete workloads by name or group",
    status=202,
    content="empty",
    body=BulkOperationRequest,
    errors=_BULK_ERRORS,
)
async def delete_workloads(call: Call[None, BulkOperationRequest]) -> Response:
    """Asynchronous: answers 202, then removes each workload (server, state, client entries)."""
    _in_background("delete", call.state.workloads.remove, await _bulk_names(call))
    return _accepted()


# --- one workload --------------------------------------------------------------------------------

_ONE = {404: "No such workload"}


@router.get(
    f"{PREFIX}/{{name}}",
    summary="A workload's configuration",
    response=CreateRequest,
    errors=_ONE,
)
async def get_workload(call: Call[None, None]) -> CreateRequest:
    """The workload's current configuration as a create request (secrets as references): edit
    it and send it to ``…/edit``."""
    config = await call.run(call.state.workloads.export, workload_name(call))
    return create_request_for(config)


def _edit(
    workloads: Workloads, existing: RunConfig, request: RunRequest, patch: ConfigPatch
) -> Workload:
    """Resolve and check the new configuration, then replace the workload with it; if the new
    one cannot be created, the old one is put back."""
    from toolhive.workloads.processes import wait_port_free
    from toolhive.workloads.protection import require_enforceable
    from toolhive.workloads.request import RunRequest

    config = patch.apply(workloads.resolve(request))
    require_enforceable(workloads.hooks, config)  # refused before the old one goes
    workloads.remove(existing.base_name)
    with contextlib.suppress(ToolHiveError):
        wait_port_free(existing)
    try:
        return workloads.run(RunRequest(from_config=config), wait=0)
    except ToolHiveError:
        with contextlib.suppress(ToolHiveError):
            workloads.run(RunRequest(from_config=existing), wait=0)
        raise


@router.post(
    f"{PREFIX}/{{name}}/edit",
    summary="Replace a workload's configuration",
    response=CreateWorkloadResponse,
    body=UpdateRequest,
    errors={**_ONE, 400: "Invalid configuration", 409: "The port is taken", 503: "No runtime"},
)
async def update_workload(call: Call[None, UpdateRequest]) -> CreateWorkloadResponse:
    """Recreates the workload with the new configuration, on its port unless ``proxy_port``
    says otherwise, in its group unless ``group`` says otherwise."""
    name = workload_name(call)
    workloads = call.state.workloads
    existing = await call.run(workloads.export, name)
    body = call.body
    request, patch = run_request(body, name=existing.name, runtime=existing.runtime)
    updates: dict[str, object] = {}
    if not body.proxy_port:
        updates["proxy_port"] = existing.port
    if not body.group:
        updates["group"] = existing.group or "default"
    current = create_request_for(existing)
    from toolhive.builds.workload import package_source

    if (
        body.runtime_config is not None
        and body.runtime_config == current.runtime_config
        and body.image == current.image
        and not package_source(existing)
    ):
        updates["runtime_config"] = None  # an unchanged echo of GET's answer: nothing to build
    request = request.model_copy(update=updates)
    workload = await call.run(_edit, workloads, existing, request, patch)
    return CreateWorkloadResponse(name=workload.name, port=workload.port)


async def _known(call: Call[None, None]) -> str:
    name = workload_name(call)
    await call.run(call.state.workloads.get, name)  # 404 before 202
    return name


@router.post(
    f"{PREFIX}/{{name}}/stop",
    summary="Stop a workload",
    status=202,
    content="empty",
    errors=_ONE,
)
async def stop_workload(call: Call[None, None]) -> Response:
    """Asynchronous: answers 202, then stops it. Stopping a stopped workload is fine."""
    _in_background("stop", call.state.workloads.stop, [await _known(call)])
    return _accepted()


@router.post(
    f"{PREFIX}/{{name}}/restart",
    summary="Restart a workload",
    status=202,
    content="empty",
    errors=_ONE,
)
async def restart_workload(call: Call[None, None]) -> Response:
    """Asynchronous: answers 202, then (re)starts it on the same port."""
    _in_background("restart", call.state.workloads.start, [await _known(call)])
    return _accepted()


@router.delete(
    f"{PREFIX}/{{name}}",
    summary="Delete a workload",
    status=202,
    content="empty",
    errors=_ONE,
)
async def delete_workload(call: Call[None, None]) -> Response:
    """Asynchronous: answers 202, then removes it (poll the list to see it gone)."""
    _in_background("delete", call.state.workloads.remove, [await _known(call)])
    return _accepted()


@router.get(
    f"{PREFIX}/{{name}}/status",
    summary="A workload's status",
    response=WorkloadStatusResponse,
    errors=_ONE,
)
async def get_workload_status(call: Call[None, None]) -> WorkloadStatusResponse:
    workload = await call.run(call.state.workloads.get, workload_name(call))
    return WorkloadStatusResponse(status=workload.status)


def _last_lines(chunks: collections.abc.Iterable[bytes]) -> str:
    tail: collections.deque[bytes] = collections.deque(maxlen=MAX_LOG_LINES)
    pending = b""
    for chunk in chunks:
        lines = (pending + chunk).split(b"\n")
        pending = lines.pop()
        tail.extend(line + b"\n" for line in lines)
    if pending:
        tail.append(pending)
    return b"".join(tail).decode("utf-8", errors="replace")


def _proxy_log(config: RunConfig) -> str:
    from toolhive.state import paths

    path = paths.proxy_log_path(config.base_name)
    try:
        with path.open("rb") as fh:
            return _last_lines(iter(lambda: fh.read(65536), b""))
    except FileNotFoundError:
        return ""  # the workload exists (checked by the caller); its proxy has written nothing yet


def _server_log(workloads: Workloads, config: RunConfig) -> str:
    if (
        config.is_remote or config.is_vmcp
    ):  # no server here: the proxy's log is all there is (as `thv logs`)
        return _proxy_log(config)
    from toolhive.workloads.runtimes import runtime_for

    runtime = runtime_for(workloads.hooks, config.runtime)
    name = config.container_name or config.base_name
    try:
        return _last_lines(runtime.logs(name, follow=False, tail=MAX_LOG_LINES))
    except NotFoundError:
        return ""  # saved but not deployed yet (starting) or stopped and gone: no output


def _text(text: str) -> Response:
    from starlette.responses import Response

    return Response(text, media_type="text/plain; charset=utf-8")


@router.get(
    f"{PREFIX}/{{name}}/logs",
    summary="A workload's server logs",
    content="text",
    errors={**_ONE, 503: "Its runtime does not answer"},
)
async def get_workload_logs(call: Call[None, None]) -> Response:
    """The last 1000 lines the server wrote (a remote workload's: its proxy's)."""
    workloads = call.state.workloads
    config = await call.run(workloads.export, workload_name(call))
    return _text(await call.run(_server_log, workloads, config))


@router.get(
    f"{PREFIX}/{{name}}/proxy-logs",
    summary="A workload's proxy logs",
    content="text",
    errors=_ONE,
)
async def get_workload_proxy_logs(call: Call[None, None]) -> Response:
    """The last 1000 lines of the workload's proxy (supervisor) log."""
    config = await call.run(call.state.workloads.export, workload_name(call))
    return _text(await call.run(_proxy_log, config))


@router.get(
    f"{PREFIX}/{{name}}/export",
    summary="Export a workload's RunConfig",
    content="any",
    errors=_ONE,
)
async def export_workload(call: Call[None, None]) -> Response:
    """ToolHive's RunConfig JSON (secrets as references only), for ``thv run --from-config`` or
    ``POST /api/v1beta/workloads`` with ``from_config``."""
    from starlette.responses import Response

    config = await call.run(call.state.workloads.export, workload_name(call))
    return Response(config.to_json(), media_type="application/json")
