"""``thv export``: write a workload's RunConfig (ToolHive's JSON) for ``thv run --from-config``."""

from __future__ import annotations

from pathlib import Path

import click

from toolhive.cli.output import state
from toolhive.errors import InvalidInputError
from toolhive.state.atomic import write_atomic


@click.command()
@click.argument("name")
@click.argument("path", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["json"]), default="json", show_default=True)
@click.pass_context
def export(ctx: click.Context, name: str, path: Path, fmt: str) -> None:
    """Export NAME's RunConfig to PATH ('-' for stdout)."""
    text = state(ctx).workloads().export(name).to_json()
    if str(path) == "-":
        click.echo(text, nl=False)
        return
    if path.exists() and path.is_dir():
        msg = f"{path} is a directory; give a file path"
        raise InvalidInputError(msg)
    write_atomic(path, text, mode=0o644)
    click.echo(f"Exported {name} to {path}")
