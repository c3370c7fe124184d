"""``thv run``: start an MCP server as a detached workload (or in the foreground)."""

from __future__ import annotations

from pathlib import Path

import click

from toolhive.cli.output import state
from toolhive.errors import InvalidInputError
from toolhive.models.runconfig import RunConfig, validate_workload_name
from toolhive.models.workload import WorkloadStatus
from toolhive.workloads.manager import WorkloadManager
from toolhive.workloads.options import RunOptions, build_runconfig


@click.command()
@click.argument("target", required=False)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.option("--name", help="Workload name (default: derived from what you run).")
@click.option(
    "--transport",
    type=click.Choice(["stdio", "sse", "streamable-http"]),
    help="How the server speaks MCP (default: stdio for packages/commands, streamable-http for images).",
)
@click.option(
    "--proxy-mode",
    type=click.Choice(["streamable-http", "sse"]),
    help="Protocol clients use for a stdio server (default streamable-http).",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Proxy bind address.")
@click.option("--proxy-port", type=click.IntRange(1, 65535), help="Proxy port (default: random).")
@click.option("--target-port", type=click.IntRange(1, 65535), help="Port the server listens on.")
@click.option("-e", "--env", "env", multiple=True, help="Environment variable KEY=VALUE.")
@click.option("--env-file", "env_files", multiple=True, type=click.Path(path_type=Path))
@click.option("-v", "--volume", "volumes", multiple=True, help="Mount /host:/container[:ro].")
@click.option("-l", "--label", "labels", multiple=True, help="Label KEY=VALUE.")
@click.option("--group", default="default", show_default=True)
@click.option("--permission-profile", help="none, network, or a profile JSON file.")
@click.option(
    "--isolate-network",
    type=click.BOOL,
    default=True,
    show_default=True,
    help="Refuse profiles whose host allowlists cannot be enforced; false = unrestricted egress.",
)
@click.option(
    "--runtime", help="Runtime plugin to use (default: detected; see `thv runtime check`)."
)
@click.option("-f", "--foreground", is_flag=True, help="Run in this terminal until interrupted.")
@click.option(
    "--from-config",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Run an exported RunConfig JSON file.",
)
@click.option(
    "--start-timeout",
    type=float,
    default=300.0,
    show_default=True,
    help="Seconds to wait for the server to come up.",
)
@click.pass_context
def run(ctx: click.Context, target: str | None, args: tuple[str, ...], **opts: object) -> None:
    """Run an MCP server: an image, uvx://pkg[@ver], npx://pkg[@ver], a command, or a URL.

    Arguments after `--` are passed to the server.
    """
    hooks = state(ctx).hooks
    from_config = opts.pop("from_config")
    foreground = bool(opts.pop("foreground"))
    timeout = float(opts.pop("start_timeout"))  # type: ignore[arg-type]
    if from_config is not None:
        if target:
            msg = "give either a server to run or --from-config, not both"
            raise InvalidInputError(msg)
        config = RunConfig.load(Path(str(from_config)))
        if opts["name"]:
            name = validate_workload_name(str(opts["name"]))
            config = config.model_copy(
                update={"name": name, "base_name": name, "container_name": name}
            )
        if not config.base_name:
            config = config.model_copy(update={"base_name": config.name})
    else:
        if not target:
            msg = "nothing to run: give an image, uvx://package, npx://package, command or URL"
            raise InvalidInputError(msg)
        config = build_runconfig(RunOptions(target=target, args=list(args), **opts))  # type: ignore[arg-type]

    def progress(line: str) -> None:
        click.echo(line, err=True)

    manager = WorkloadManager(hooks, progress=progress)
    if foreground:
        from toolhive.workloads.supervisor import run_supervisor

        config = manager.create(config)
        ctx.exit(run_supervisor(hooks, config.base_name))
    workload = manager.run_detached(config, wait=timeout)
    if workload.status == WorkloadStatus.RUNNING:
        click.echo(f"{workload.name} is running. Connect your MCP client to: {workload.url}")
    else:
        click.echo(
            f"{workload.name} is still {workload.status} after {timeout:.0f}s; "
            f"check `thv status {workload.name}` and `thv logs --proxy {workload.name}`. "
            f"URL: {workload.url}"
        )
