"""The playground endpoints: a running workload's MCP server, spoken to by ``thv serve`` for the
web UI (``/ui/servers/<name>/playground``) and anyone with the API.

``thv serve`` is the MCP client here, through the workload's proxy, so what is listed and
callable is what any client of the workload gets (after the tool filter and overrides). Each
request is one MCP session of its own, bounded by a timeout; see
:mod:`toolhive.workloads.playground`. MCP objects are the protocol's JSON (camelCase).

Errors: 404 no such workload, 409 it is not running, 502 its server did not answer in time or
answered an MCP error (the message says which, and where to look), 400 a body that does not fit.
A tool that fails is not an error here: its result says ``isError``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from toolhive.api.routes.params import workload_name
from toolhive.api.routes.workloads import PREFIX
from toolhive.api.routing import Call, Router, json_response
from toolhive.workloads import playground

if TYPE_CHECKING:
    from starlette.responses import Response

router = Router(tag="playground")

_ERRORS = {
    404: "No such workload",
    409: "The workload is not running",
    502: "Its MCP server did not answer in time, failed, or answered an MCP error",
}
_BODY_ERRORS = {400: "The body does not fit", **_ERRORS}


class _Mcp(BaseModel):
    """An MCP object as the protocol writes it; fields a newer protocol adds pass through."""

    model_config = ConfigDict(extra="allow")


class ServerInfo(_Mcp):
    name: str = ""
    version: str = ""
    title: str | None = None


class McpTool(_Mcp):
    name: str
    title: str | None = None
    description: str | None = None
    #: The JSON Schema of the tool's arguments (an object schema).
    inputSchema: dict[str, Any] = Field(default_factory=dict)  # MCP's name
    outputSchema: dict[str, Any] | None = None
    #: Hints: ``readOnlyHint``, ``destructiveHint``, ``idempotentHint``, ``openWorldHint`` …
    annotations: dict[str, Any] | None = None


class McpResource(_Mcp):
    uri: str
    name: str
    title: str | None = None
    description: str | None = None
    mimeType: str | None = None
    size: int | None = None


class McpResourceTemplate(_Mcp):
    uriTemplate: str
    name: str
    title: str | None = None
    description: str | None = None
    mimeType: str | None = None


class McpPromptArgument(_Mcp):
    name: str
    description: str | None = None
    required: bool | None = None


class McpPrompt(_Mcp):
    name: str
    title: str | None = None
    description: str | None = None
    arguments: list[McpPromptArgument] | None = None


class Capabilities(BaseModel):
    """What the workload's server offers through its proxy (a kind it does not declare is an
    empty list)."""

    server_info: ServerInfo
    #: The MCP protocol version the session agreed on.
    protocol_version: str
    #: The server's instructions for clients, if it gives any.
    instructions: str | None = None
    tools: list[McpTool]
    resources: list[McpResource]
    resource_templates: list[McpResourceTemplate]
    prompts: list[McpPrompt]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ToolCallRequest(_Body):
    #: The tool's name as the workload's clients see it (after overrides).
    name: str = Field(min_length=1)
    arguments: dict[str, Any] = Field(default_factory=dict)


class ResourceReadRequest(_Body):
    uri: str = Field(min_length=1)


class PromptGetRequest(_Body):
    name: str = Field(min_length=1)
    arguments: dict[str, str] = Field(default_factory=dict)


class McpResult(BaseModel):
    """The MCP result as JSON and how long the request took in the session."""

    #: ``CallToolResult`` (``content``, ``structuredContent``, ``isError``),
    #: ``ReadResourceResult`` (``contents``) or ``GetPromptResult`` (``messages``).
    result: dict[str, Any]
    duration_ms: float


BASE = f"{PREFIX}/{{name}}/mcp"


async def _target(call: Call[Any, Any]) -> playground.Target:
    return await call.run(playground.target, call.state.workloads, workload_name(call))


def _answer(timed: playground.Timed) -> McpResult:
    return McpResult(result=timed.result, duration_ms=timed.duration_ms)


@router.get(
    f"{BASE}/capabilities",
    summary="What a running workload's MCP server offers",
    response=Capabilities,
    errors=_ERRORS,
)
async def get_workload_capabilities(call: Call[None, None]) -> Response:
    """Server info, tools, resources, resource templates and prompts, as the workload's clients
    see them through its proxy (after the tool filter and overrides)."""
    where = await _target(call)
    caps = Capabilities.model_validate(await playground.capabilities(where))
    # MCP's JSON leaves absent fields out rather than writing null.
    return json_response(200, caps.model_dump(mode="json", exclude_none=True))


@router.post(
    f"{BASE}/tools/call",
    summary="Call a tool of a running workload",
    response=McpResult,
    body=ToolCallRequest,
    errors=_BODY_ERRORS,
)
async def call_workload_tool(call: Call[None, ToolCallRequest]) -> McpResult:
    """``tools/call`` through the workload's proxy. A tool that fails answers 200 with
    ``result.isError`` true. A tool the server does not have, or the tool filter hides, gets the
    server's or the filter's answer: such a result, or an MCP error (502)."""
    where = await _target(call)
    body = call.body
    return _answer(await playground.call_tool(where, body.name, body.arguments))


@router.post(
    f"{BASE}/resources/read",
    summary="Read a resource of a running workload",
    response=McpResult,
    body=ResourceReadRequest,
    errors=_BODY_ERRORS,
)
async def read_workload_resource(call: Call[None, ResourceReadRequest]) -> McpResult:
    """``resources/read`` through the workload's proxy: ``result.contents``."""
    where = await _target(call)
    return _answer(await playground.read_resource(where, call.body.uri))


@router.post(
    f"{BASE}/prompts/get",
    summary="Get a prompt of a running workload",
    response=McpResult,
    body=PromptGetRequest,
    errors=_BODY_ERRORS,
)
async def get_workload_prompt(call: Call[None, PromptGetRequest]) -> McpResult:
    """``prompts/get`` through the workload's proxy: ``result.messages``."""
    where = await _target(call)
    body = call.body
    return _answer(await playground.get_prompt(where, body.name, body.arguments))
