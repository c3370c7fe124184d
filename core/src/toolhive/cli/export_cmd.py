"""``thv export``: write a workload's RunConfig (ToolHive's JSON) for ``thv run --from-config``, or
(``--format k8s``) the Kubernetes MCPServer that runs it on the operator."""

from __future__ import annotations

from pathlib import Path

import click

from toolhive.cli.output import state
from toolhive.errors import InvalidInputError
from toolhive.state.atomic import write_atomic


@click.command()
@click.argument("name")
@click.argument("path", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["json", "k8s"]),
    default="json",
    show_default=True,
    help="json: the RunConfig; k8s: an MCPServer manifest (YAML). Both run with "
    "`thv run --from-config`.",
)
@click.pass_context
def export(ctx: click.Context, name: str, path: Path, fmt: str) -> None:
    """Export NAME's RunConfig to PATH ('-' for stdout)."""
    config = state(ctx).workloads().export(name)
    if fmt == "k8s":
        from toolhive.workloads.export_k8s import to_manifest

        manifest = to_manifest(config)
        for warning in manifest.warnings:
            click.echo(f"Warning: {warning}", err=True)
        text = manifest.to_yaml()
    else:
        text = config.to_json()
    if str(path) == "-":
        click.echo(text, nl=False)
        return
    if path.exists() and path.is_dir():
        msg = f"{path} is a directory; give a file path"
        raise InvalidInputError(msg)
    write_atomic(path, text, mode=0o644)
    what = " as a Kubernetes MCPServer" if fmt == "k8s" else ""
    click.echo(f"Exported {name} to {path}{what}")
