"""The playground's use cases: what a running workload's MCP server offers, and calls to it.

The web UI cannot speak MCP to a workload's proxy itself (another origin, and the proxy may want
credentials the page does not have), so ``thv serve`` does it for the page, as a client would:
through the proxy, so the workload's middleware applies (a filtered tool is not listed and cannot
be called, a renamed one answers to its new name). Each call is one MCP session of its own
(connect, initialize, the request), bounded by a timeout.

MCP objects are returned as the protocol's JSON (camelCase names, absent fields left out).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from toolhive.errors import WorkloadStateError
from toolhive.mcp.client import McpServerError, session, workload_endpoint
from toolhive.models.workload import WorkloadStatus

if TYPE_CHECKING:
    from mcp import Client
    from pydantic import BaseModel

    from toolhive.workloads.service import Workloads

#: Seconds for a whole session: connect, initialize and the request (a tool may take a while).
CALL_TIMEOUT = 60.0
#: Seconds for a session that only lists (tools, resources, templates, prompts).
LIST_TIMEOUT = 30.0
#: Pages of one listing followed at most (a server whose cursors never end cannot hang us).
MAX_PAGES = 50


@dataclass(frozen=True)
class Target:
    """Where to reach a running workload's MCP server, and what to say when it fails."""

    name: str
    url: str
    transport: str
    hint: str


@dataclass(frozen=True)
class Timed:
    """An MCP result as JSON, and how long the request took (the session's set-up excluded)."""

    result: dict[str, Any]
    duration_ms: float


def target(workloads: Workloads, name: str) -> Target:
    """The workload ``name``, which must be running (else 409, saying how to start it)."""
    workload = workloads.get(name)  # NotFoundError (404) naming it
    if workload.status != WorkloadStatus.RUNNING:
        msg = (
            f"workload {name!r} is {workload.status}, not running: start it "
            f"(POST /api/v1beta/workloads/{name}/restart, or thv start {name}) and try again"
        )
        raise WorkloadStateError(msg)
    config = workloads.export(name)
    url, transport = workload_endpoint(config)
    hint = f"see the workload's logs (thv logs {name}, thv logs {name} --proxy)"
    if config.oidc_config:
        hint = "its proxy requires an OIDC access token, which the playground does not send"
    return Target(name=name, url=url, transport=transport, hint=hint)


def _json(model: BaseModel) -> dict[str, Any]:
    data: dict[str, Any] = model.model_dump(mode="json", by_alias=True, exclude_none=True)
    return data


async def _in_session(where: Target, timeout: float, action: Any) -> Any:
    try:
        return await session(where.url, where.transport, timeout, action)
    except McpServerError as exc:
        raise McpServerError(f"workload {where.name!r}: {exc}; {where.hint}") from None


async def _all_pages(list_page: Any, field: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(MAX_PAGES):
        page = await list_page(cursor=cursor)
        items.extend(_json(item) for item in getattr(page, field))
        cursor = page.next_cursor
        if not cursor:
            break
    return items


async def capabilities(where: Target) -> dict[str, Any]:
    """What the server advertises through the proxy: its info, tools, resources, resource
    templates and prompts (a kind the server does not declare is an empty list, not asked)."""

    async def action(client: Client) -> dict[str, Any]:
        declared = client.server_capabilities
        info = client.server_info
        out: dict[str, Any] = {
            "server_info": _json(info) if info is not None else {},
            "protocol_version": client.protocol_version,
            "instructions": client.instructions,
            "tools": [],
            "resources": [],
            "resource_templates": [],
            "prompts": [],
        }
        if declared.tools is not None:
            out["tools"] = await _all_pages(client.list_tools, "tools")
        if declared.resources is not None:
            out["resources"] = await _all_pages(client.list_resources, "resources")
            out["resource_templates"] = await _all_pages(
                client.list_resource_templates, "resource_templates"
            )
        if declared.prompts is not None:
            out["prompts"] = await _all_pages(client.list_prompts, "prompts")
        return out

    result: dict[str, Any] = await _in_session(where, LIST_TIMEOUT, action)
    return result


async def _timed(where: Target, request: Any) -> Timed:
    async def action(client: Client) -> Timed:
        started = time.perf_counter()
        result = await request(client)
        elapsed = (time.perf_counter() - started) * 1000
        return Timed(result=_json(result), duration_ms=round(elapsed, 1))

    timed: Timed = await _in_session(where, CALL_TIMEOUT, action)
    return timed


async def call_tool(where: Target, name: str, arguments: dict[str, Any]) -> Timed:
    """``tools/call``: the result as the server gave it (``isError`` set when the tool failed)."""
    return await _timed(where, lambda client: client.call_tool(name, arguments))


async def read_resource(where: Target, uri: str) -> Timed:
    """``resources/read``: the resource's contents (text, or base64 ``blob``)."""
    return await _timed(where, lambda client: client.read_resource(uri))


async def get_prompt(where: Target, name: str, arguments: dict[str, str]) -> Timed:
    """``prompts/get``: the prompt's messages with ``arguments`` filled in."""
    return await _timed(where, lambda client: client.get_prompt(name, arguments))
