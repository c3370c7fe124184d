"""``thv group create|list|rm``."""

from __future__ import annotations

import click

from toolhive.cli.output import FORMAT_OPTION, echo_json, echo_table, state


@click.group()
def group() -> None:
    """Manage groups of workloads (clients are registered per group)."""


@group.command()
@click.argument("name")
def create(name: str) -> None:
    """Create a group."""
    from toolhive.groups.store import create_group

    create_group(name)
    click.echo(f"Group {name!r} created")


@group.command("list")
@FORMAT_OPTION
def list_(fmt: str) -> None:
    """List groups, sorted by name."""
    from toolhive.groups.store import list_groups

    groups = list_groups()
    if fmt == "json":
        echo_json([g.model_dump(mode="json") for g in groups])
        return
    echo_table(
        ["NAME", "REGISTERED CLIENTS"],
        [[g.name, ", ".join(g.registered_clients) or "-"] for g in groups],
    )


@group.command()
@click.argument("name")
@click.option(
    "--with-workloads", is_flag=True, help="Remove the group's workloads too (default: move them)."
)
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
def rm(ctx: click.Context, name: str, with_workloads: bool, yes: bool) -> None:
    """Remove a group; its workloads move to 'default' unless --with-workloads."""
    from toolhive.groups.service import members, remove_group
    from toolhive.groups.store import DEFAULT_GROUP, delete_group, get_group

    get_group(name)
    if name == DEFAULT_GROUP:
        delete_group(name)  # raises: default cannot be removed
    workloads = state(ctx).workloads()
    found = members(workloads, name)
    if found and not yes:
        action = "remove" if with_workloads else f"move to {DEFAULT_GROUP!r}"
        click.confirm(
            f"Group {name!r} has {len(found)} workload(s) ({', '.join(found)}); "
            f"{action} them and delete the group?",
            abort=True,
        )

    def report(member: str, action: str) -> None:
        click.echo(
            f"Removed {member}" if action == "removed" else f"Moved {member} to {DEFAULT_GROUP!r}"
        )

    remove_group(workloads, name, with_workloads=with_workloads, done=report)
    click.echo(f"Group {name!r} removed")
