"""An MCP server for the authorization tests: core's test echo server (tools ``echo``, ``add``)
plus annotated tools, prompts, resources and a resource template, over stdio
(``python authz_server.py stdio``)."""

from __future__ import annotations

import sys

from mcp.types import ToolAnnotations
from toolhive.testing.echo_server import server  # its tools: echo(text), add(a, b)


@server.tool(annotations=ToolAnnotations(readOnlyHint=True))
def lookup(key: str) -> str:
    """Read-only: look a key up."""
    return f"value of {key}"


@server.tool(annotations=ToolAnnotations(readOnlyHint=False, destructiveHint=True))
def wipe(target: str) -> str:
    """Destructive: wipe a target."""
    return f"wiped {target}"


@server.prompt()
def greeting(name: str) -> str:
    """Greet someone."""
    return f"Hello, {name}!"


@server.prompt()
def secret_plan() -> str:
    """A prompt most callers may not get."""
    return "the plan"


@server.resource("file:///public/readme.txt")
def readme() -> str:
    return "public readme"


@server.resource("file:///private/keys.txt")
def keys() -> str:
    return "private keys"


@server.resource("file:///public/notes/{name}")
def note(name: str) -> str:
    return f"note {name}"


if __name__ == "__main__":
    server.run("stdio")
    sys.exit(0)
