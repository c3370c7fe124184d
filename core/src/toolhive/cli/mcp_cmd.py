"""``thv mcp list|call``: talk to an MCP server (a workload or a URL) with the official client."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from toolhive.cli.output import echo_json, echo_table
from toolhive.errors import InvalidInputError

TRANSPORT = click.option(
    "--transport",
    type=click.Choice(["auto", "sse", "streamable-http"]),
    default="auto",
    show_default=True,
)
SERVER = click.option("--server", required=True, help="Workload name or MCP server URL.")
TIMEOUT = click.option("--timeout", type=float, default=30.0, show_default=True, help="Seconds.")
FORMAT = click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)


def resolve_server(server: str, transport: str) -> tuple[str, str]:
    """URL and transport for ``--server`` (a URL, or a workload's proxy URL)."""
    from toolhive.mcp.client import endpoint, workload_endpoint

    if server.startswith(("http://", "https://")):
        return endpoint(server, transport)
    from toolhive.state import store

    url, detected = workload_endpoint(store.load_runconfig(server))
    return url, detected if transport == "auto" else transport


def _run(url: str, transport: str, timeout: float, action: Any) -> Any:
    from toolhive.mcp.client import run

    return run(url, transport, timeout, action)


@click.group()
def mcp() -> None:
    """Talk to MCP servers."""


@mcp.command("list")
@click.argument("what", type=click.Choice(["tools", "resources", "prompts"]), default="tools")
@SERVER
@TRANSPORT
@TIMEOUT
@FORMAT
def list_(what: str, server: str, transport: str, timeout: float, fmt: str) -> None:
    """List a server's tools, resources or prompts."""
    url, transport = resolve_server(server, transport)

    async def action(client: Any) -> Any:
        if what == "tools":
            return (await client.list_tools()).tools
        if what == "resources":
            return (await client.list_resources()).resources
        return (await client.list_prompts()).prompts

    items = _run(url, transport, timeout, action)
    if fmt == "json":
        echo_json({what: [i.model_dump(mode="json", exclude_none=True) for i in items]})
        return
    if not items:
        click.echo(f"No {what}.")
        return
    if what == "resources":
        echo_table(
            ["URI", "NAME", "DESCRIPTION"], [[i.uri, i.name, _first(i.description)] for i in items]
        )
    else:
        echo_table(["NAME", "DESCRIPTION"], [[i.name, _first(i.description)] for i in items])


def _first(text: str | None) -> str:
    return (text or "").strip().splitlines()[0][:100] if text and text.strip() else ""


@mcp.command()
@click.argument("tool")
@SERVER
@click.option("--args", "args_json", default=None, help="Tool arguments as a JSON object.")
@click.option(
    "--args-file", type=click.Path(path_type=Path), default=None, help="JSON file ('-' = stdin)."
)
@click.option("--ignore-tool-error", is_flag=True, help="Exit 0 even if the tool reports an error.")
@TRANSPORT
@TIMEOUT
@FORMAT
def call(
    tool: str,
    server: str,
    args_json: str | None,
    args_file: Path | None,
    ignore_tool_error: bool,
    transport: str,
    timeout: float,
    fmt: str,
) -> None:
    """Call a tool and print its result."""
    arguments = _arguments(args_json, args_file)
    url, transport = resolve_server(server, transport)

    async def action(client: Any) -> Any:
        return await client.call_tool(tool, arguments)

    result = _run(url, transport, timeout, action)
    data = result.model_dump(mode="json", exclude_none=True, by_alias=True)
    if fmt == "json":
        echo_json(data)
    else:
        for item in data.get("content", []):
            if item.get("type") == "text":
                click.echo(item.get("text", ""))
            else:
                click.echo(json.dumps(item))
        if not data.get("content") and data.get("structuredContent") is not None:
            echo_json(data["structuredContent"])
    if data.get("isError") and not ignore_tool_error:
        sys.exit(1)


def _arguments(args_json: str | None, args_file: Path | None) -> dict[str, Any]:
    if args_json is not None and args_file is not None:
        msg = "give --args or --args-file, not both"
        raise InvalidInputError(msg)
    text = args_json
    if args_file is not None:
        text = sys.stdin.read() if str(args_file) == "-" else args_file.read_text()
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        msg = f"tool arguments are not valid JSON ({exc.msg}); pass an object like '{{\"key\": 1}}'"
        raise InvalidInputError(msg) from None
    if not isinstance(value, dict):
        msg = "tool arguments must be a JSON object"
        raise InvalidInputError(msg)
    return value
