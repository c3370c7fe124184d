"""``thv ui``: open the web UI (in the running ``thv serve``, or serve it here)."""

from __future__ import annotations

import click


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True)
@click.option(
    "--browser/--no-browser", default=True, show_default=True, help="Open the default browser."
)
@click.pass_context
def ui(ctx: click.Context, /, host: str, port: int, browser: bool) -> None:
    """Open ToolHive's web UI; serves it (and the REST API) here until interrupted when no
    ``thv serve`` is running for this user."""
    from toolhive.ui.launch import open_view

    open_view(ctx, "/", browser=browser, serve_opts={"host": host, "port": port})


@click.command()
@click.argument("workload", required=False, default="")
@click.option(
    "-u",
    "--ui-port",
    type=click.IntRange(0, 65535),
    default=8080,
    show_default=True,
    help="Port of the UI server started when none is running.",
)
@click.option(
    "-p",
    "--mcp-proxy-port",
    type=click.IntRange(0, 65535),
    default=0,
    hidden=True,
    help="Accepted for ToolHive compatibility; the playground needs no separate proxy.",
)
@click.option(
    "--browser/--no-browser", default=True, show_default=True, help="Open the default browser."
)
@click.pass_context
def inspector(
    ctx: click.Context, /, workload: str, ui_port: int, mcp_proxy_port: int, browser: bool
) -> None:
    """Inspect a workload in the UI's playground: its tools, resources and prompts, with a form
    per tool (ToolHive runs the MCP Inspector container for this; nothing to pull here)."""
    from urllib.parse import quote

    from toolhive.ui.launch import open_view

    del mcp_proxy_port
    if workload:
        from toolhive.cli.output import state

        state(ctx).workloads().get(workload)  # NotFoundError names what exists
        path = f"/ui/servers/{quote(workload, safe='')}/playground"
    else:
        path = "/"
    open_view(ctx, path, browser=browser, serve_opts={"port": ui_port})
