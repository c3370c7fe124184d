"""``thv stop``, ``thv start``/``restart`` and ``thv rm``: names → one use-case call each."""

from __future__ import annotations

import click

from toolhive.cli.output import state
from toolhive.errors import ToolHiveError


@click.command()
@click.argument("names", nargs=-1)
@click.option("-a", "--all", "all_", is_flag=True, help="Stop every workload.")
@click.option("-g", "--group", default=None, help="Stop every workload in this group.")
@click.option("--timeout", type=float, default=30.0, show_default=True, help="Seconds to wait.")
@click.pass_context
def stop(
    ctx: click.Context, names: tuple[str, ...], all_: bool, group: str | None, timeout: float
) -> None:
    """Stop workloads (stopping a stopped one is fine)."""
    workloads = state(ctx).workloads()
    for name in workloads.select(names, all_=all_, group=group):
        stopped = workloads.stop(name, timeout=timeout)
        click.echo(f"Stopped {name}" if stopped else f"{name} was not running")


@click.command()
@click.argument("name", required=False)
@click.option("-a", "--all", "all_", is_flag=True, help="Restart every workload.")
@click.option("-g", "--group", default=None, help="Restart every workload in this group.")
@click.option("-f", "--foreground", is_flag=True, help="Supervise in this process (internal).")
@click.pass_context
def start(
    ctx: click.Context, name: str | None, all_: bool, group: str | None, foreground: bool
) -> None:
    """Start or restart workloads on their saved proxy port."""
    cli = state(ctx)
    workloads = cli.workloads(progress=lambda line: click.echo(line, err=True))
    if foreground:
        if not name:
            msg = "--foreground needs a workload name"
            raise ToolHiveError(msg)
        ctx.exit(workloads.supervise(name, debug=cli.debug))
    for each in workloads.select([name] if name else [], all_=all_, group=group):
        workload = workloads.start(each, debug=cli.debug)
        click.echo(f"{workload.name} is {workload.status}: {workload.url}")


@click.command()
@click.argument("names", nargs=-1)
@click.option("-a", "--all", "all_", is_flag=True, help="Remove every workload.")
@click.option("-g", "--group", default=None, help="Remove every workload in this group.")
@click.pass_context
def rm(ctx: click.Context, names: tuple[str, ...], all_: bool, group: str | None) -> None:
    """Stop and remove workloads: container, state and client entries."""
    workloads = state(ctx).workloads()
    for name in workloads.select(names, all_=all_, group=group):
        workloads.remove(name)
        click.echo(f"Removed {name}")
