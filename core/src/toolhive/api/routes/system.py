"""Health, version, and (with ``--openapi``) the OpenAPI document and its interactive docs."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from toolhive import __version__
from toolhive.api.routing import Call, Router

router = Router(tag="system")

#: Where ``/health`` echoes the server's nonce (ToolHive's discovery header).
NONCE_HEADER = "X-Toolhive-Nonce"


class VersionInfo(BaseModel):
    version: str


@router.get(
    "/health",
    summary="The server is up and a container runtime answers",
    status=204,
    content="empty",
    errors={503: "No runtime can run workloads"},
)
async def health(call: Call[None, None]) -> Any:
    """204 with no body (and the server's nonce in ``X-Toolhive-Nonce``), or 503 naming why no
    runtime can run workloads. Never needs a token."""
    from starlette.responses import Response

    from toolhive.api.errors import ApiError

    problem = await call.run(call.state.runtime_problem)
    if problem is not None:
        raise ApiError(503, problem)
    headers = {NONCE_HEADER: call.state.nonce} if call.state.nonce else {}
    return Response(status_code=204, headers=headers)


@router.get("/api/v1beta/version", summary="The server's version", response=VersionInfo)
async def get_version(call: Call[None, None]) -> VersionInfo:
    return VersionInfo(version=__version__)
