"""The upgrade endpoints: ``thv upgrade check|apply`` over HTTP (ToolHive's
``pkg/api/v1/workloads_upgrade.go``), the same calls into :mod:`toolhive.workloads.upgrade`.

* ``GET /api/v1beta/workloads/upgrade-check?all=&group=``: running workloads (every one with
  ``all=true``), optionally of one group, each checked against its registry — offline, nothing
  pulled;
* ``GET /api/v1beta/workloads/{name}/upgrade-check``: one workload;
* ``POST /api/v1beta/workloads/{name}/upgrade``: apply what the registry offers, synchronously
  (200 with the result that drove it; the current result, unchanged, when there is nothing to
  do). A candidate that cannot be prepared is a 422 and the workload runs on untouched; a 500 means
  the restart on the new image had begun, so the workload's state is uncertain.

Declared before the workloads module (see :data:`toolhive.api.routes.MODULES`): Starlette takes
routes in order, and ``/workloads/upgrade-check`` must not be read as a workload named so.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from toolhive.api.errors import ApiError
from toolhive.api.models.workloads import ListQuery
from toolhive.api.routes.params import existing_group, workload_name
from toolhive.api.routing import Call, Router
from toolhive.errors import InvalidInputError
from toolhive.workloads.upgrade import CheckResult

router = Router(tag="workloads")

PREFIX = "/api/v1beta/workloads"


class UpgradeCheckResponse(BaseModel):
    result: CheckResult


class UpgradeCheckList(BaseModel):
    results: list[CheckResult]


class UpgradeRequest(BaseModel):
    """What to add to the upgraded workload; an empty body keeps its configuration as it is."""

    model_config = ConfigDict(extra="forbid")

    #: Added to (and overriding) the workload's environment variables.
    env: dict[str, str] = Field(default_factory=dict)
    #: ``NAME,target=ENV`` secret references, added for targets the workload does not cover.
    secrets: list[str] = Field(
        default_factory=list,
        json_schema_extra={"items": {"type": "string", "pattern": "^[^,]+,target=.+$"}},
    )


@router.get(
    f"{PREFIX}/upgrade-check",
    summary="Check workloads for upgrades",
    response=UpgradeCheckList,
    query=ListQuery,
    errors={400: "Invalid group name", 404: "No such group"},
)
async def check_workload_upgrades(call: Call[ListQuery, None]) -> UpgradeCheckList:
    """Running workloads (every one with ``all=true``), optionally only those of ``group``,
    each compared with its registry entry. Offline: nothing is pulled; secret values are never
    returned."""
    from toolhive.workloads.upgrade import UpgradeChecker, saved_configs

    group = await existing_group(call, call.query.group)
    workloads = call.state.workloads
    rows = await call.run(workloads.list, include_all=call.query.all, group=group or None)
    configs = await call.run(saved_configs, workloads, sorted(w.name for w in rows))
    checker = UpgradeChecker(call.state.hooks)
    return UpgradeCheckList(results=await call.run(checker.check_all, configs))


@router.get(
    f"{PREFIX}/{{name}}/upgrade-check",
    summary="Check a workload for an upgrade",
    response=UpgradeCheckResponse,
    errors={404: "No such workload"},
)
async def check_workload_upgrade(call: Call[None, None]) -> UpgradeCheckResponse:
    """Whether the workload's registry entry has a newer image. Offline: nothing is pulled."""
    from toolhive.workloads.upgrade import UpgradeChecker

    config = await call.run(call.state.workloads.export, workload_name(call))
    checker = UpgradeChecker(call.state.hooks)
    return UpgradeCheckResponse(result=await call.run(checker.check, config))


@router.post(
    f"{PREFIX}/{{name}}/upgrade",
    summary="Apply a workload's upgrade",
    response=UpgradeCheckResponse,
    body=UpgradeRequest,
    errors={
        400: "Invalid env or secrets",
        404: "No such workload",
        422: "The candidate could not be prepared; the workload is untouched",
        500: "The upgrade failed after the restart on the new image began",
    },
)
async def upgrade_workload(call: Call[None, UpgradeRequest]) -> UpgradeCheckResponse:
    """Checks again, prepares the candidate (configuration, secrets, image present) without
    touching the workload, then restarts it on the new image with the rest of its configuration
    as it was. Answers once it is done; with nothing to upgrade, the current result, unchanged.
    Required env vars the candidate adds must be in ``env`` or ``secrets`` (else 422)."""
    from toolhive.secrets.names import parse_reference
    from toolhive.workloads.upgrade import ApplyOptions, apply_upgrade

    name = workload_name(call)
    body = call.body
    for index, item in enumerate(body.secrets):
        try:
            parse_reference(item)
        except InvalidInputError as exc:
            raise ApiError(400, str(exc), f"secrets.{index}") from None
    options = ApplyOptions(env_vars=dict(body.env), secrets=list(body.secrets))
    result = await call.run(apply_upgrade, call.state.workloads, name, options)
    return UpgradeCheckResponse(result=result)
