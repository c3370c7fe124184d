"""``thv config set-registry|get-registry|unset-registry``: which registry ``thv`` reads (the
logic is :mod:`toolhive.registry.settings`, shared with the REST API)."""

from __future__ import annotations

import click

from toolhive.cli.output import FORMAT_OPTION, echo_json, state


@click.command("set-registry")
@click.argument("location")
@click.option(
    "-p",
    "--allow-private-ip",
    is_flag=True,
    help="Allow a registry URL that resolves to a private or loopback address.",
)
@click.pass_context
def set_registry(ctx: click.Context, location: str, allow_private_ip: bool) -> None:
    """Use a registry: a .json URL, an MCP Registry API URL, or a local file."""
    from toolhive.registry.settings import set_registry as use_registry

    value, source, count = use_registry(
        state(ctx).hooks, location, allow_private_ip=allow_private_ip
    )
    click.echo(f"Registry set to {value} ({source.kind}, {count} servers)")


@click.command("get-registry")
@FORMAT_OPTION
def get_registry(fmt: str) -> None:
    """Show the configured registry."""
    from toolhive.registry.settings import current

    setting = current()
    if fmt == "json":
        echo_json(
            {
                "type": setting.type,
                "source": setting.source,
                "allow_private_ip": setting.allow_private_ip,
            }
        )
    elif setting.source:
        click.echo(f"Current registry: {setting.source} ({setting.type})")
    else:
        click.echo("Using the built-in registry (thv config set-registry to change it)")


@click.command("unset-registry")
def unset_registry() -> None:
    """Go back to the built-in registry."""
    from toolhive.registry.settings import unset_registry as reset_registry

    reset_registry()
    click.echo("Registry reset to the built-in catalog")
