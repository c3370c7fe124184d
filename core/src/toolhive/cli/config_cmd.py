"""``thv config``: settings in config.yaml. Subcommands live in the modules that own them."""

from __future__ import annotations

import click

from toolhive.plugins import load_target

#: subcommand → ("module:command", short help); modules add their rows.
SUBCOMMANDS: dict[str, tuple[str, str]] = {}


class _LazyConfigGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(SUBCOMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = SUBCOMMANDS.get(cmd_name)
        if entry is None:
            return None
        command = load_target(entry[0])
        assert isinstance(command, click.Command)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, help_) for name, (_t, help_) in sorted(SUBCOMMANDS.items())]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(cls=_LazyConfigGroup)
def config() -> None:
    """Show and change ToolHive settings (config.yaml)."""
