"""The conformance fixture: an MCP server with every tool, resource and prompt that the official
conformance suite's server scenarios (``@modelcontextprotocol/conformance@0.1.16``) call.

Built on the official ``mcp`` SDK's low-level ``Server`` (2.x) so that schemas go out exactly as
the suite checks them (``$schema``/``$defs`` kept, legacy ``enumNames`` in elicitation, ...).

Usage:
    python fixture_server.py [stdio | streamable-http]          (default: stdio)

Streamable HTTP listens on ``$MCP_HOST`` (default 127.0.0.1) and ``$MCP_PORT`` (default 8080) at
``/mcp``, with an in-memory event store (resumable SSE streams, ``retry`` field) and the SDK's
DNS-rebinding protection for a loopback bind (the ``dns-rebinding-protection`` scenario). Set
``MCP_ALLOW_ANY_HOST=1`` when a proxy in front of it sends another Host header.

Scenario → what is implemented here:
    server-initialize, ping, tools-list, prompts-list, resources-list   (handlers below)
    logging-set-level, tools-call-with-logging      logging/setLevel, test_tool_with_logging
    completion-complete                             completion/complete
    tools-call-*                                    test_simple_text, test_image_content, ...
    tools-call-sampling / -elicitation              test_sampling, test_elicitation
    elicitation-sep1034-defaults / sep1330-enums    test_elicitation_sep1034_defaults, ..._enums
    json-schema-2020-12                             json_schema_2020_12_tool
    server-sse-polling                              test_reconnection (closes its SSE stream)
    resources-*                                     test://static-text, test://static-binary,
                                                    test://template/{id}/data, subscribe/unsubscribe
    prompts-get-*                                   test_simple_prompt, test_prompt_with_arguments, ...
"""

from __future__ import annotations

import json
import os
import re
import sys
import warnings
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import mcp_types as types
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.server.streamable_http import EventCallback, EventId, EventMessage, EventStore, StreamId
from mcp.server.transport_security import TransportSecuritySettings
from mcp.shared.exceptions import MCPDeprecationWarning, MCPError

# Logging and subscriptions are deprecated in the newest spec, but the suite tests them.
warnings.simplefilter("ignore", MCPDeprecationWarning)

Ctx = ServerRequestContext[Any, Any]

# A 1x1 red PNG and a tiny silent WAV (44-byte header + 2 samples).
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="
WAV = "UklGRigAAABXQVZFZm10IBAAAAABAAEAQB8AAEAfAAABAAgAZGF0YQQAAACAgICA"

NO_ARGS: dict[str, Any] = {"type": "object", "properties": {}}


def _tool(name: str, description: str, schema: dict[str, Any] | None = None) -> types.Tool:
    return types.Tool(name=name, description=description, input_schema=schema or NO_ARGS)


TOOLS = [
    _tool("test_simple_text", "Returns simple text content"),
    _tool("test_image_content", "Returns image content"),
    _tool("test_audio_content", "Returns audio content"),
    _tool("test_embedded_resource", "Returns an embedded resource"),
    _tool("test_multiple_content_types", "Returns text, image and resource content"),
    _tool("test_tool_with_logging", "Sends three log notifications while running"),
    _tool("test_tool_with_progress", "Reports progress 0, 50, 100 of 100"),
    _tool("test_error_handling", "Always returns an error result"),
    _tool(
        "test_sampling",
        "Asks the client to sample an LLM",
        {"type": "object", "properties": {"prompt": {"type": "string"}}, "required": ["prompt"]},
    ),
    _tool(
        "test_elicitation",
        "Asks the client for user input",
        {"type": "object", "properties": {"message": {"type": "string"}}, "required": ["message"]},
    ),
    _tool("test_elicitation_sep1034_defaults", "Elicitation with defaults (SEP-1034)"),
    _tool("test_elicitation_sep1330_enums", "Elicitation with enum variants (SEP-1330)"),
    _tool("test_reconnection", "Closes its SSE stream mid-call, then answers (SEP-1699)"),
    _tool(
        "json_schema_2020_12_tool",
        "Tool with JSON Schema 2020-12 features",
        {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "$defs": {
                "address": {
                    "type": "object",
                    "properties": {"street": {"type": "string"}, "city": {"type": "string"}},
                }
            },
            "properties": {"name": {"type": "string"}, "address": {"$ref": "#/$defs/address"}},
            "additionalProperties": False,
        },
    ),
    _tool(
        "echo",
        "Returns the given text unchanged",
        {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]},
    ),
]


def text(value: str) -> types.TextContent:
    return types.TextContent(type="text", text=value)


def image() -> types.ImageContent:
    return types.ImageContent(type="image", data=PNG, mime_type="image/png")


def embedded(uri: str, value: str, mime: str = "text/plain") -> types.EmbeddedResource:
    return types.EmbeddedResource(
        type="resource", resource=types.TextResourceContents(uri=uri, mime_type=mime, text=value)
    )


def result(*content: Any, is_error: bool = False) -> types.CallToolResult:
    return types.CallToolResult(content=list(content), is_error=is_error)


async def elicit(ctx: Ctx, message: str, schema: dict[str, Any]) -> types.CallToolResult:
    answer = await ctx.session.elicit_form(message, schema, related_request_id=ctx.request_id)
    return result(
        text(f"Elicitation completed: action={answer.action}, content={json.dumps(answer.content)}")
    )


SEP1034_SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "description": "User name", "default": "John Doe"},
        "age": {"type": "integer", "description": "User age", "default": 30},
        "score": {"type": "number", "description": "User score", "default": 95.5},
        "status": {
            "type": "string",
            "description": "User status",
            "enum": ["active", "inactive", "pending"],
            "default": "active",
        },
        "verified": {"type": "boolean", "description": "Verification status", "default": True},
    },
}

SEP1330_SCHEMA = {
    "type": "object",
    "properties": {
        "untitledSingle": {"type": "string", "enum": ["option1", "option2", "option3"]},
        "titledSingle": {
            "type": "string",
            "oneOf": [
                {"const": "value1", "title": "First Option"},
                {"const": "value2", "title": "Second Option"},
                {"const": "value3", "title": "Third Option"},
            ],
        },
        "legacyEnum": {
            "type": "string",
            "enum": ["opt1", "opt2", "opt3"],
            "enumNames": ["Option One", "Option Two", "Option Three"],
        },
        "untitledMulti": {
            "type": "array",
            "items": {"type": "string", "enum": ["option1", "option2", "option3"]},
        },
        "titledMulti": {
            "type": "array",
            "items": {
                "anyOf": [
                    {"const": "value1", "title": "First Choice"},
                    {"const": "value2", "title": "Second Choice"},
                    {"const": "value3", "title": "Third Choice"},
                ]
            },
        },
    },
}


async def call_tool(ctx: Ctx, params: types.CallToolRequestParams) -> types.CallToolResult:
    args = params.arguments or {}
    match params.name:
        case "test_simple_text":
            return result(text("This is a simple text response for testing."))
        case "test_image_content":
            return result(image())
        case "test_audio_content":
            return result(types.AudioContent(type="audio", data=WAV, mime_type="audio/wav"))
        case "test_embedded_resource":
            return result(
                embedded("test://embedded-resource", "This is an embedded resource content.")
            )
        case "test_multiple_content_types":
            return result(
                text("Multiple content types test:"),
                image(),
                embedded(
                    "test://mixed-content-resource",
                    json.dumps({"test": "data", "value": 123}),
                    "application/json",
                ),
            )
        case "test_tool_with_logging":
            for i, message in enumerate(
                ["Tool execution started", "Tool processing data", "Tool execution completed"]
            ):
                if i:
                    await anyio.sleep(0.05)
                await ctx.session.send_log_message(
                    "info", message, logger="conformance", related_request_id=ctx.request_id
                )
            return result(text("Tool with logging executed successfully"))
        case "test_tool_with_progress":
            for i, value in enumerate((0, 50, 100)):
                if i:
                    await anyio.sleep(0.05)
                await ctx.session.report_progress(value, 100)
            return result(text("Tool with progress executed successfully"))
        case "test_error_handling":
            return result(
                text("This tool intentionally returns an error for testing"), is_error=True
            )
        case "test_sampling":
            answer = await ctx.session.create_message(
                [
                    types.SamplingMessage(
                        role="user", content=text(str(args.get("prompt", "Test prompt")))
                    )
                ],
                max_tokens=100,
                related_request_id=ctx.request_id,
            )
            content = answer.content
            reply = content.text if isinstance(content, types.TextContent) else str(content)
            return result(text(f"LLM response: {reply}"))
        case "test_elicitation":
            return await elicit(
                ctx,
                str(args.get("message", "Please provide your information")),
                {
                    "type": "object",
                    "properties": {
                        "username": {"type": "string", "description": "User's response"},
                        "email": {"type": "string", "description": "User's email address"},
                    },
                    "required": ["username", "email"],
                },
            )
        case "test_elicitation_sep1034_defaults":
            return await elicit(
                ctx, "Please review and update the form fields with defaults", SEP1034_SCHEMA
            )
        case "test_elicitation_sep1330_enums":
            return await elicit(ctx, "Please choose from the enum variants", SEP1330_SCHEMA)
        case "test_reconnection":
            # Over streamable HTTP with an event store this closes the POST's SSE stream, so the
            # client must resume with Last-Event-ID (a no-op over stdio: the bridge owns streams).
            await anyio.sleep(0.1)
            if ctx.close_sse_stream is not None:
                await ctx.close_sse_stream()
            await anyio.sleep(0.2)
            return result(text("Reconnection test completed successfully"))
        case "json_schema_2020_12_tool":
            return result(text(f"Received: {json.dumps(args)}"))
        case "echo":
            return result(text(str(args.get("text", ""))))
    raise MCPError(code=types.INVALID_PARAMS, message=f"Unknown tool: {params.name}")


RESOURCES = [
    types.Resource(
        uri="test://static-text",
        name="static-text",
        description="A static text resource",
        mime_type="text/plain",
    ),
    types.Resource(
        uri="test://static-binary",
        name="static-binary",
        description="A static binary resource (PNG)",
        mime_type="image/png",
    ),
    types.Resource(
        uri="test://watched-resource",
        name="watched-resource",
        description="A resource clients can subscribe to",
        mime_type="text/plain",
    ),
]
TEMPLATE = re.compile(r"^test://template/(?P<id>[^/]+)/data$")


async def read_resource(
    ctx: Ctx, params: types.ReadResourceRequestParams
) -> types.ReadResourceResult:
    uri = str(params.uri)
    contents: types.TextResourceContents | types.BlobResourceContents
    if uri == "test://static-text":
        contents = types.TextResourceContents(
            uri=uri, mime_type="text/plain", text="This is the content of the static text resource."
        )
    elif uri == "test://static-binary":
        contents = types.BlobResourceContents(uri=uri, mime_type="image/png", blob=PNG)
    elif uri == "test://watched-resource":
        contents = types.TextResourceContents(uri=uri, mime_type="text/plain", text="watched")
    elif match := TEMPLATE.match(uri):
        ident = match["id"]
        body = {"id": ident, "templateTest": True, "data": f"Data for ID: {ident}"}
        contents = types.TextResourceContents(
            uri=uri, mime_type="application/json", text=json.dumps(body)
        )
    else:
        raise MCPError(code=-32002, message=f"Resource not found: {uri}")
    return types.ReadResourceResult(contents=[contents])


PROMPTS = [
    types.Prompt(name="test_simple_prompt", description="A simple prompt without arguments"),
    types.Prompt(
        name="test_prompt_with_arguments",
        description="A prompt with two required arguments",
        arguments=[
            types.PromptArgument(name="arg1", description="First test argument", required=True),
            types.PromptArgument(name="arg2", description="Second test argument", required=True),
        ],
    ),
    types.Prompt(
        name="test_prompt_with_embedded_resource",
        description="A prompt embedding a resource",
        arguments=[
            types.PromptArgument(
                name="resourceUri", description="URI of the resource to embed", required=True
            )
        ],
    ),
    types.Prompt(name="test_prompt_with_image", description="A prompt with image content"),
]


def user(content: Any) -> types.PromptMessage:
    return types.PromptMessage(role="user", content=content)


async def get_prompt(ctx: Ctx, params: types.GetPromptRequestParams) -> types.GetPromptResult:
    args = params.arguments or {}
    match params.name:
        case "test_simple_prompt":
            messages = [user(text("This is a simple prompt for testing."))]
        case "test_prompt_with_arguments":
            arg1, arg2 = args.get("arg1", ""), args.get("arg2", "")
            messages = [user(text(f"Prompt with arguments: arg1='{arg1}', arg2='{arg2}'"))]
        case "test_prompt_with_embedded_resource":
            uri = args.get("resourceUri", "test://example-resource")
            messages = [
                user(embedded(uri, "Embedded resource content for testing.")),
                user(text("Please process the embedded resource above.")),
            ]
        case "test_prompt_with_image":
            messages = [user(image()), user(text("Please analyze the image above."))]
        case _:
            raise MCPError(code=types.INVALID_PARAMS, message=f"Unknown prompt: {params.name}")
    return types.GetPromptResult(messages=messages)


async def complete(ctx: Ctx, params: types.CompleteRequestParams) -> types.CompleteResult:
    prefix = params.argument.value
    values = [v for v in ("paris", "park", "party", "test-value") if v.startswith(prefix)]
    return types.CompleteResult(
        completion=types.Completion(values=values, total=len(values), has_more=False)
    )


SUBSCRIPTIONS: set[str] = set()


async def subscribe(ctx: Ctx, params: types.SubscribeRequestParams) -> types.EmptyResult:
    SUBSCRIPTIONS.add(str(params.uri))
    return types.EmptyResult()


async def unsubscribe(ctx: Ctx, params: types.UnsubscribeRequestParams) -> types.EmptyResult:
    SUBSCRIPTIONS.discard(str(params.uri))
    return types.EmptyResult()


async def set_level(ctx: Ctx, params: types.SetLevelRequestParams) -> types.EmptyResult:
    return types.EmptyResult()


def listing(kind: str, items: list[Any]) -> Callable[[Ctx, Any], Awaitable[Any]]:
    async def handler(ctx: Ctx, params: Any) -> Any:
        match kind:
            case "tools":
                return types.ListToolsResult(tools=items)
            case "resources":
                return types.ListResourcesResult(resources=items)
            case "templates":
                return types.ListResourceTemplatesResult(resource_templates=items)
            case _:
                return types.ListPromptsResult(prompts=items)

    return handler


def build_server() -> Server[Any]:
    return Server(
        "toolhive-conformance-fixture",
        version="1.0.0",
        on_list_tools=listing("tools", TOOLS),
        on_call_tool=call_tool,
        on_list_resources=listing("resources", RESOURCES),
        on_list_resource_templates=listing(
            "templates",
            [
                types.ResourceTemplate(
                    uri_template="test://template/{id}/data",
                    name="template",
                    description="A resource template with an id parameter",
                    mime_type="application/json",
                )
            ],
        ),
        on_read_resource=read_resource,
        on_subscribe_resource=subscribe,
        on_unsubscribe_resource=unsubscribe,
        on_list_prompts=listing("prompts", PROMPTS),
        on_get_prompt=get_prompt,
        on_completion=complete,
        on_set_logging_level=set_level,
    )


class MemoryEventStore(EventStore):
    """Keeps every SSE event so a client can resume a closed stream with Last-Event-ID."""

    def __init__(self) -> None:
        self._events: list[tuple[StreamId, EventId, types.JSONRPCMessage | None]] = []

    async def store_event(
        self, stream_id: StreamId, message: types.JSONRPCMessage | None
    ) -> EventId:
        event_id = str(len(self._events) + 1)
        self._events.append((stream_id, event_id, message))
        return event_id

    async def replay_events_after(
        self, last_event_id: EventId, send_callback: EventCallback
    ) -> StreamId | None:
        index = int(last_event_id) if last_event_id.isdigit() else 0
        if not 0 < index <= len(self._events):
            return None
        stream_id = self._events[index - 1][0]
        for sid, event_id, message in self._events[index:]:
            if sid == stream_id and message is not None:
                await send_callback(EventMessage(message, event_id))
        return stream_id


async def serve_stdio(server: Server[Any]) -> None:
    from mcp.server.stdio import stdio_server

    async with stdio_server() as (read, write):
        await server.run(read, write, server.create_initialization_options())


class NegotiatedVersion:
    """ASGI wrapper: a request declaring ``MCP-Protocol-Version: 2025-03-26`` is served as 2025-11-25.

    The suite's ``server-sse-polling`` scenario negotiates 2025-11-25, then sends its raw POST with
    the 2025-03-26 header; the SDK (rightly) sends no priming event or ``retry`` to clients older
    than 2025-11-25, so the scenario would test nothing. Serving it as the negotiated version makes
    the fixture prime, close the stream mid-call and replay on ``Last-Event-ID`` — which is what
    the proxies in front of it must carry through.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            headers = [
                (k, b"2025-11-25" if k == b"mcp-protocol-version" and v == b"2025-03-26" else v)
                for k, v in scope["headers"]
            ]
            scope = {**scope, "headers": headers}
        await self.app(scope, receive, send)


async def serve_http(server: Server[Any]) -> None:
    import uvicorn

    host = os.environ.get("MCP_HOST", "127.0.0.1")
    port = int(os.environ.get("MCP_PORT", "8080"))
    security = None  # the SDK's loopback default: Host/Origin must be localhost
    if os.environ.get("MCP_ALLOW_ANY_HOST") == "1" or host not in ("127.0.0.1", "localhost", "::1"):
        security = TransportSecuritySettings(enable_dns_rebinding_protection=False)
    app = server.streamable_http_app(
        streamable_http_path="/mcp",
        event_store=MemoryEventStore(),
        retry_interval=500,
        transport_security=security,
        host=host,
    )
    config = uvicorn.Config(NegotiatedVersion(app), host=host, port=port, log_level="warning")
    await uvicorn.Server(config).serve()


def main(argv: list[str]) -> int:
    transport = argv[1] if len(argv) > 1 else "stdio"
    if transport not in ("stdio", "streamable-http"):
        print(f"usage: {argv[0]} [stdio | streamable-http]", file=sys.stderr)
        return 2
    server = build_server()
    anyio.run(serve_stdio if transport == "stdio" else serve_http, server)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
