"""``thv version``."""

from __future__ import annotations

import platform
import sys

import click

from toolhive import __version__
from toolhive.cli.output import FORMAT_OPTION, echo_json


@click.command()
@FORMAT_OPTION
def version(fmt: str) -> None:
    """Show ToolHive's version."""
    info = {
        "version": __version__,
        "python": platform.python_version(),
        "platform": f"{sys.platform}/{platform.machine()}",
    }
    if fmt == "json":
        echo_json(info)
    else:
        click.echo(f"ToolHive {info['version']} (Python {info['python']}, {info['platform']})")
