"""``thv search <query>``: find registry servers by name, description or tag."""

from __future__ import annotations

import click

from toolhive.cli.output import FORMAT_OPTION, echo_json, echo_table, state


@click.command()
@click.argument("query")
@FORMAT_OPTION
@click.option("--refresh", is_flag=True, help="Fetch a remote registry again (no cache).")
@click.pass_context
def search(ctx: click.Context, query: str, fmt: str, refresh: bool) -> None:
    """Search the registry (case-insensitive; name, description and tags)."""
    from toolhive.cli.registry_cmd import entry_json, short_description
    from toolhive.registry.sources import open_registry

    found = open_registry(state(ctx).hooks, refresh=refresh).search(query)
    if fmt == "json":
        echo_json([entry_json(e) for e in found])
        return
    if not found:
        click.echo(f"No servers found matching {query!r}")
        return
    echo_table(
        ["NAME", "TYPE", "DESCRIPTION", "TRANSPORT", "STARS"],
        [[e.name, e.server_type, short_description(e), e.transport, e.stars] for e in found],
    )
