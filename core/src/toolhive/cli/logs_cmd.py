"""``thv logs``: the server's output (from its runtime) or the proxy's log file."""

from __future__ import annotations

import sys
import time

import click

from toolhive.cli.output import state
from toolhive.errors import NotFoundError
from toolhive.state import paths, store


@click.command()
@click.argument("name")
@click.option("-f", "--follow", is_flag=True, help="Keep printing new output.")
@click.option("-p", "--proxy", is_flag=True, help="Show the proxy (supervisor) log instead.")
@click.option("--tail", type=int, default=None, help="Only the last N lines (server logs).")
@click.pass_context
def logs(ctx: click.Context, name: str, follow: bool, proxy: bool, tail: int | None) -> None:
    """Show a workload's logs."""
    config = store.load_runconfig(name)
    out = sys.stdout.buffer
    if proxy or config.is_remote:
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
