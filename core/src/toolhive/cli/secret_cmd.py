"""``thv secret``: choose a secrets provider and manage its secrets.

Values are read from stdin (when piped) or a hidden prompt, never from the command line, where
they would end up in shell history and process listings.
"""

from __future__ import annotations

import sys

import click

from toolhive.cli.output import FORMAT_OPTION, echo_json, echo_table, state
from toolhive.errors import InvalidInputError
from toolhive.plugins import Hooks
from toolhive.secrets.names import check_user_name, is_system
from toolhive.secrets.selection import PROVIDER_ENV, open_secrets, require_capability


def _hooks(ctx: click.Context) -> Hooks:
    hooks: Hooks = state(ctx).hooks
    return hooks


def activate(hooks: Hooks, name: str) -> None:
    """Check that provider ``name`` works, then make it the configured one."""
    import os

    from toolhive.secrets.selection import activate as activate_provider

    activate_provider(hooks, name)
    click.echo(f"Secrets provider set to {name}.")
    override = os.environ.get(PROVIDER_ENV)
    if override and override != name:
        click.echo(f"Note: {PROVIDER_ENV}={override} overrides it in this environment.", err=True)


@click.group()
def secret() -> None:
    """Manage secrets for MCP servers (`thv run --secret NAME,target=ENV`)."""


@secret.command()
@click.pass_context
def setup(ctx: click.Context) -> None:
    """Choose a secrets provider interactively."""
    hooks = _hooks(ctx)
    specs = hooks.secrets_providers()
    names = sorted(specs)
    click.echo("Available secrets providers:")
    for name in names:
        click.echo(f"  {name:12} {specs[name].description}")
    default = "encrypted" if "encrypted" in specs else names[0]
    choice = click.prompt(
        "Secrets provider", type=click.Choice(names), default=default, show_choices=False
    )
    activate(hooks, choice)


@secret.command()
@click.argument("name")
@click.pass_context
def provider(ctx: click.Context, name: str) -> None:
    """Set the secrets provider without prompting (encrypted, 1password, environment, vault …)."""
    activate(_hooks(ctx), name)


def _read_value() -> str:
    stdin = sys.stdin
    if stdin.isatty():
        value: str = click.prompt("Value", hide_input=True, prompt_suffix=": ")
    else:
        value = stdin.read()
        value = value.removesuffix("\n").removesuffix("\r")
    if not value:
        msg = "the secret value is empty: pipe it on stdin or type it at the prompt"
        raise InvalidInputError(msg)
    return value


@secret.command("set")
@click.argument("name")
@click.argument("extra", nargs=-1, required=False)
@click.pass_context
def set_cmd(ctx: click.Context, name: str, extra: tuple[str, ...]) -> None:
    """Store a secret. The value comes from stdin when piped, else a hidden prompt.

    Example: echo -n "$TOKEN" | thv secret set github-token
    """
    if extra:
        # Say nothing about what was given: it may be the value itself.
        msg = (
            "`thv secret set` takes only a name: the value is never read from the command line "
            "(shell history); pipe it on stdin or type it at the prompt"
        )
        raise InvalidInputError(msg)
    check_user_name(name)
    secrets = open_secrets(_hooks(ctx))
    require_capability(secrets, "can_write", "write")
    secrets.set(name, _read_value())
    click.echo(f"Secret {name} saved.", err=True)


@secret.command()
@click.argument("name")
@click.pass_context
def get(ctx: click.Context, name: str) -> None:
    """Print a secret's value."""
    check_user_name(name)
    secrets = open_secrets(_hooks(ctx))
    click.echo(secrets.get(name))


@secret.command("list")
@click.option("--system", is_flag=True, help="List ToolHive's own (__thv_*) secrets instead.")
@FORMAT_OPTION
@click.pass_context
def list_cmd(ctx: click.Context, system: bool, fmt: str) -> None:
    """List secret names (never values)."""
    secrets = open_secrets(_hooks(ctx))
    require_capability(secrets, "can_list", "list")
    entries = [d for d in secrets.list() if is_system(d.key) == system]
    if fmt == "json":
        echo_json([{"key": d.key, "description": d.description} for d in entries])
    elif not entries:
        click.echo("No secrets found.")
    elif any(d.description for d in entries):
        echo_table(["NAME", "DESCRIPTION"], [[d.key, d.description] for d in entries])
    else:
        for entry in entries:
            click.echo(entry.key)


@secret.command()
@click.argument("name")
@click.option("--system", is_flag=True, help="Delete one of ToolHive's own (__thv_*) secrets.")
@click.pass_context
def delete(ctx: click.Context, name: str, system: bool) -> None:
    """Delete a secret."""
    check_user_name(name, system=system)
    secrets = open_secrets(_hooks(ctx))
    require_capability(secrets, "can_delete", "delete")
    secrets.delete(name)
    click.echo(f"Secret {name} deleted.", err=True)


@secret.command("reset-keyring")
@click.pass_context
def reset_keyring(ctx: click.Context) -> None:
    """Forget the encrypted store's password in the OS keyring (you are asked for it next time)."""
    secrets = open_secrets(_hooks(ctx), "encrypted")
    if secrets.extra("reset_keyring"):
        click.echo("The secrets password was removed from the OS keyring.")
    else:
        click.echo("No secrets password was stored in an OS keyring; nothing to reset.")
