"""``thv stop``, ``thv start``/``restart`` and ``thv rm``."""

from __future__ import annotations

import click

from toolhive.cli.output import state
from toolhive.errors import ToolHiveError
from toolhive.workloads.manager import WorkloadManager


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
    manager = WorkloadManager(state(ctx).hooks)
    for name in manager.select(names, all_=all_, group=group):
        stopped = manager.stop(name, timeout=timeout)
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
    hooks = state(ctx).hooks
    if foreground:
        if not name:
            msg = "--foreground needs a workload name"
            raise ToolHiveError(msg)
        from toolhive.workloads.supervisor import run_supervisor

        ctx.exit(run_supervisor(hooks, name))
    from toolhive.secrets.resolve import check_references
    from toolhive.state import store

    manager = WorkloadManager(hooks)
    for each in manager.select([name] if name else [], all_=all_, group=group):
        # Secrets are checked now (any prompt for the store's password happens here) and
        # whatever the supervisor needs to read them is handed to it in its environment.
        config = store.load_runconfig(each)
        child_env = check_references(hooks, list(config.secrets))
        if config.header_forward and config.header_forward.add_headers_from_secret:
            from toolhive.models.remote import check_header_secrets

            child_env |= check_header_secrets(hooks, config.header_forward)
        workload = manager.start(each, child_env=child_env)
        click.echo(f"{workload.name} is {workload.status}: {workload.url}")


@click.command()
@click.argument("names", nargs=-1)
@click.option("-a", "--all", "all_", is_flag=True, help="Remove every workload.")
@click.option("-g", "--group", default=None, help="Remove every workload in this group.")
@click.pass_context
def rm(ctx: click.Context, names: tuple[str, ...], all_: bool, group: str | None) -> None:
    """Stop and remove workloads: container, state and client entries."""
    manager = WorkloadManager(state(ctx).hooks)
    for name in manager.select(names, all_=all_, group=group):
        manager.remove(name)
        click.echo(f"Removed {name}")
