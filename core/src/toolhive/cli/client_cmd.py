"""``thv client status|setup|register|remove|list-registered``."""

from __future__ import annotations

import click

from toolhive.cli.output import FORMAT_OPTION, echo_json, echo_table, state
from toolhive.errors import InvalidInputError

GROUP_HELP = "Group(s) to register with; repeat or comma-separate."


def _split(values: tuple[str, ...]) -> list[str]:
    out: list[str] = []
    for value in values:
        out.extend(part.strip() for part in value.split(",") if part.strip())
    return list(dict.fromkeys(out))


@click.group()
def client() -> None:
    """Manage AI clients whose MCP configuration ToolHive keeps in sync."""


@client.command()
@FORMAT_OPTION
@click.pass_context
def status(ctx: click.Context, fmt: str) -> None:
    """Show every supported client: installed, registered, groups, config file."""
    from toolhive.clients.sync import status as client_status

    rows = client_status(state(ctx).hooks)
    if fmt == "json":
        echo_json([r.__dict__ for r in rows])
        return
    echo_table(
        ["CLIENT", "INSTALLED", "REGISTERED", "GROUPS", "CONFIG"],
        [
            [
                r.name,
                "yes" if r.installed else "no",
                "yes" if r.registered else "no",
                ",".join(r.groups) or "-",
                r.config_path,
            ]
            for r in rows
        ],
    )


@client.command()
@click.option("--group", "groups", multiple=True, help=GROUP_HELP)
@click.pass_context
def setup(ctx: click.Context, groups: tuple[str, ...]) -> None:
    """Pick installed clients that are not registered yet, and register them."""
    from toolhive.clients.sync import register
    from toolhive.clients.sync import status as client_status

    hooks = state(ctx).hooks
    candidates = [r for r in client_status(hooks) if r.installed and not r.registered]
    if not candidates:
        click.echo("No new clients found.")
        return
    for i, row in enumerate(candidates, 1):
        click.echo(f"  {i}. {row.name} — {row.description}")
    answer = click.prompt("Clients to register (numbers or names, comma-separated)", default="")
    chosen: list[str] = []
    by_name = {r.name: r for r in candidates}
    for part in (p.strip() for p in answer.split(",") if p.strip()):
        if part.isdigit() and 1 <= int(part) <= len(candidates):
            chosen.append(candidates[int(part) - 1].name)
        elif part in by_name:
            chosen.append(part)
        else:
            msg = f"{part!r} is not one of the listed clients"
            raise InvalidInputError(msg)
    if not chosen:
        click.echo("No clients selected for registration.")
        return
    group_names = _split(groups) or _split((click.prompt("Groups", default="default"),))
    added = register(hooks, list(dict.fromkeys(chosen)), group_names)
    for name in dict.fromkeys(chosen):
        click.echo(f"Registered {name} with {', '.join(group_names)}")
    if added:
        click.echo(f"Added {len(added)} running workload(s): {', '.join(added)}")


@client.command("register")
@click.argument("names", nargs=-1, required=True)
@click.option("--group", "groups", multiple=True, help=GROUP_HELP + " [default: default]")
@click.pass_context
def register_cmd(ctx: click.Context, names: tuple[str, ...], groups: tuple[str, ...]) -> None:
    """Register clients: they receive the workloads of their groups, now and later.

    Several clients may be named at once (like the API's POST /clients/register).
    """
    from toolhive.clients.sync import register

    group_names = _split(groups) or ["default"]
    clients = list(dict.fromkeys(names))
    added = register(state(ctx).hooks, clients, group_names)
    for name in clients:
        click.echo(f"Registered {name} with {', '.join(group_names)}")
    if added:
        click.echo(f"Added {len(added)} running workload(s): {', '.join(added)}")


@client.command("remove")
@click.argument("name")
@click.option(
    "--group",
    "groups",
    multiple=True,
    help="Only unregister from these groups (default: all groups, and remove every workload).",
)
@click.pass_context
def remove_cmd(ctx: click.Context, name: str, groups: tuple[str, ...]) -> None:
    """Unregister a client and delete ToolHive's entries from its config file."""
    from toolhive.clients.sync import unregister

    group_names = _split(groups) or None
    removed = unregister(state(ctx).hooks, name, group_names)
    where = f" from {', '.join(group_names)}" if group_names else ""
    click.echo(f"Removed {name}{where}")
    if removed:
        click.echo(
            f"Deleted {len(removed)} entr{'y' if len(removed) == 1 else 'ies'}: {', '.join(removed)}"
        )


@client.command("list-registered")
@FORMAT_OPTION
def list_registered(fmt: str) -> None:
    """List registered clients alphabetically, with their groups."""
    from toolhive.clients.sync import registered

    clients = registered()
    if fmt == "json":
        echo_json([{"name": k, "groups": v} for k, v in clients.items()])
        return
    if not clients:
        click.echo("No clients registered (see `thv client status`)")
        return
    echo_table(["CLIENT", "GROUPS"], [[k, ", ".join(v) or "-"] for k, v in clients.items()])
