"""The ``thv`` command line.

The root group is lazy: ``thv --help`` lists commands from a table of names and help strings and
imports a command's module only when it runs. Plugins' commands (``thv_cli_commands``) join the
table from a cache that is recomputed whenever an installed distribution or a plugin's source
changes (:mod:`toolhive.cli.command_cache`), so ``thv --help`` usually costs click and nothing else.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterable
from types import ModuleType

import click

from toolhive import __version__
from toolhive.cli import command_cache
from toolhive.cli.context import CliState
from toolhive.errors import ToolHiveError

#: name → (target, short help). Aliases share a target.
BUILTIN_COMMANDS: dict[str, tuple[str, str]] = {
    "run": (
        "toolhive.cli.run_cmd:run",
        "Run an MCP server (image, uvx://, npx://, command or URL)",
    ),
    "build": ("toolhive.cli.build_cmd:build", "Build an image from uvx://, npx:// or go://"),
    "list": ("toolhive.cli.list_cmd:list_cmd", "List workloads"),
    "status": ("toolhive.cli.list_cmd:status", "Show one workload's status"),
    "stop": ("toolhive.cli.lifecycle_cmd:stop", "Stop workloads"),
    "start": ("toolhive.cli.lifecycle_cmd:start", "Start (or restart) workloads"),
    "restart": ("toolhive.cli.lifecycle_cmd:start", "Restart workloads (alias of start)"),
    "rm": ("toolhive.cli.lifecycle_cmd:rm", "Remove workloads"),
    "logs": (
        "toolhive.cli.logs_cmd:logs",
        "Show a workload's server or proxy logs; `logs prune` deletes stale ones",
    ),
    "export": ("toolhive.cli.export_cmd:export", "Export a workload's RunConfig"),
    "upgrade": (
        "toolhive.cli.upgrade_cmd:upgrade",
        "Check and apply registry upgrades of workloads",
    ),
    "mcp": (
        "toolhive.cli.mcp_cmd:mcp",
        "Talk to an MCP server: list tools/resources/prompts, call",
    ),
    "config": ("toolhive.cli.config_cmd:config", "Show and change ToolHive settings"),
    "group": ("toolhive.cli.group_cmd:group", "Manage groups of workloads"),
    "client": ("toolhive.cli.client_cmd:client", "Keep AI clients' MCP configs in sync"),
    "registry": ("toolhive.cli.registry_cmd:registry", "Browse the MCP server registry"),
    "search": ("toolhive.cli.search_cmd:search", "Search the registry for MCP servers"),
    "proxy": ("toolhive.cli.proxy_cmd:proxy", "Standalone proxy to an MCP URL; stdio bridge"),
    "secret": ("toolhive.cli.secret_cmd:secret", "Manage secrets and the secrets provider"),
    "serve": ("toolhive.cli.serve_cmd:serve", "Serve the REST API (/api/v1beta) and web UI"),
    "ui": ("toolhive.cli.ui_cmd:ui", "Open the web UI (serves it when no thv serve is running)"),
    "vmcp": (
        "toolhive.cli.vmcp_cmd:vmcp",
        "Virtual MCP gateway: one endpoint for a group (init, validate, serve)",
    ),
    "inspector": ("toolhive.cli.ui_cmd:inspector", "Try a workload's tools in the UI's playground"),
    "plugins": ("toolhive.cli.plugins_cmd:plugins", "List installed plugins"),
    "completion": (
        "toolhive.cli.completion_cmd:completion",
        "Print a shell completion script (bash, zsh, fish)",
    ),
    "version": ("toolhive.cli.version_cmd:version", "Show the version"),
}
ALIASES = {"ls": "list"}


def _import(target: str) -> click.Command:
    """Import ``"package.module:command"`` (without ``toolhive.plugins``: most commands need no
    plugin, and that module brings pluggy and the contracts' models)."""
    module, _, attr = target.partition(":")
    command: object = importlib.import_module(module)
    for part in attr.split("."):
        command = getattr(command, part)
    if not isinstance(command, click.Command):
        msg = f"{target} is not a click command"
        raise TypeError(msg)
    return command


def _plugin_packages(plugins: Iterable[object]) -> set[str]:
    """Top-level package of each registered plugin (a module, or an object from one)."""
    packages = set()
    for plugin in plugins:
        module = getattr(plugin, "__name__", None) if isinstance(plugin, ModuleType) else None
        module = module or getattr(plugin, "__module__", None) or type(plugin).__module__
        packages.add(module.split(".")[0])
    return packages


class LazyGroup(click.Group):
    def _plugin_commands(self, ctx: click.Context) -> dict[str, tuple[str, str]]:
        state = ctx.ensure_object(CliState)
        if state.plugin_commands is None:
            cached = None if state.hooks_built else command_cache.load()
            state.plugin_commands = cached if cached is not None else self._compute(state)
        return state.plugin_commands

    def _compute(self, state: CliState) -> dict[str, tuple[str, str]]:
        """Ask every plugin (``thv_cli_commands``), and remember the answer if all loaded."""
        out: dict[str, tuple[str, str]] = {}
        for name, ref in state.hooks.cli_commands().items():
            if name in BUILTIN_COMMANDS or name in ALIASES:
                msg = f"plugin command {name!r} ({ref.target}) clashes with a built-in command"
                raise ToolHiveError(msg)
            out[name] = (ref.target, ref.help)
        pm = state.hooks.pm
        if not pm.load_failures:
            packages = _plugin_packages(pm.get_plugins())
            command_cache.save(out, command_cache.modules_under(packages))
        return out

    def _table(self, ctx: click.Context) -> dict[str, tuple[str, str]]:
        return {**BUILTIN_COMMANDS, **self._plugin_commands(ctx)}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(self._table(ctx))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        cmd_name = ALIASES.get(cmd_name, cmd_name)
        entry = BUILTIN_COMMANDS.get(cmd_name) or self._plugin_commands(ctx).get(cmd_name)
        if entry is None:
            return None
        command = _import(entry[0])
        if command.name != cmd_name:
            # One implementation under two names (start/restart): give each its own name.
            command = click.Command(
                name=cmd_name,
                params=command.params,
                callback=command.callback,
                help=command.help,
                short_help=entry[1],
                context_settings=command.context_settings,
            )
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, help_) for name, (_t, help_) in sorted(self._table(ctx).items())]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--debug", is_flag=True, envvar="TOOLHIVE_DEBUG", help="Show tracebacks and debug logs."
)
@click.version_option(__version__, prog_name="thv")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """ToolHive: run MCP servers safely and make them easy to use."""
    state = ctx.ensure_object(CliState)
    state.debug = debug


def main(argv: list[str] | None = None) -> None:
    try:
        # Without standalone mode click returns ctx.exit()'s code instead of exiting.
        code = cli.main(args=argv, prog_name="thv", standalone_mode=False)
    except ToolHiveError as exc:
        if os.environ.get("TOOLHIVE_DEBUG") or "--debug" in (argv or sys.argv):
            raise
        click.echo(f"Error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    if isinstance(code, int) and code:
        sys.exit(code)
