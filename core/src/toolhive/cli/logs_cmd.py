"""``thv logs``: the server's output (from its runtime) or the proxy's log file; ``thv logs prune``.

As in ToolHive, ``prune`` in the name's place always prunes: it is not a workload name here.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable
from pathlib import Path

import click

from toolhive.cli.output import state
from toolhive.errors import NotFoundError
from toolhive.state import paths, store

PRUNE = "prune"


def complete_workload_names(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[str]:
    return [n for n in [PRUNE, *store.list_runconfig_names()] if n.startswith(incomplete)]


def orphaned_logs(log_dir: Path, managed: Iterable[str]) -> list[Path]:
    """Log files in ``log_dir`` of workloads not in ``managed``.

    A workload keeps ``<name>.log`` (its proxy) and ``<name>.server.log`` (a process runtime's
    server); names may hold dots, so a file is kept if either reading names a managed workload.
    """
    keep = set(managed)
    orphans = []
    for path in sorted(log_dir.glob("*.log")):
        stem = path.name.removesuffix(".log")
        owners = {stem, stem.removesuffix(".server")} if stem.endswith(".server") else {stem}
        if not owners & keep:
            orphans.append(path)
    return orphans


def prune() -> None:
    log_dir = paths.proxy_log_path("x").parent
    removed = 0
    for path in orphaned_logs(log_dir, store.list_runconfig_names()):
        try:
            path.unlink()
        except FileNotFoundError:
            continue
        except OSError as exc:
            click.echo(f"Error: failed to remove {path}: {exc}", err=True)
            continue
        click.echo(f"Removed: {path}")
        removed += 1
    if not removed:
        click.echo("No orphaned log files found to prune", err=True)


@click.command()
@click.argument("name", metavar=f"NAME|{PRUNE}", shell_complete=complete_workload_names)
@click.option("-f", "--follow", is_flag=True, help="Keep printing new output.")
@click.option("-p", "--proxy", is_flag=True, help="Show the proxy (supervisor) log instead.")
@click.option("--tail", type=int, default=None, help="Only the last N lines (server logs).")
@click.pass_context
def logs(ctx: click.Context, name: str, follow: bool, proxy: bool, tail: int | None) -> None:
    """Show a workload's logs.

    `thv logs prune` deletes the log files of workloads ToolHive no longer manages (removed ones;
    stopped workloads keep theirs).
    """
    if name == PRUNE:
        if follow or proxy or tail is not None:
            raise click.UsageError(f"`thv logs {PRUNE}` takes no options")
        prune()
        return
    config = store.load_runconfig(name)
    out = sys.stdout.buffer
    if proxy or config.is_remote or config.is_vmcp:
        path = paths.proxy_log_path(config.base_name)
        if not path.exists():
            msg = f"no proxy log for {name!r} yet ({path})"
            raise NotFoundError(msg)
        with path.open("rb") as fh:
            while True:
                chunk = fh.read(65536)
                if chunk:
                    out.write(chunk)
                    out.flush()
                    continue
                if not follow:
                    return
                time.sleep(0.2)
    from toolhive.workloads.runtimes import runtime_for

    runtime = runtime_for(state(ctx).hooks, config.runtime)
    for chunk in runtime.logs(config.container_name or config.base_name, follow=follow, tail=tail):
        out.write(chunk)
        out.flush()
