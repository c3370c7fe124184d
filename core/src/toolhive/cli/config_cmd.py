"""``thv config``: settings in config.yaml. Subcommands live in the modules that own them."""

from __future__ import annotations

import click

from toolhive.plugins import load_target

#: subcommand → ("module:command", short help); modules add their rows.
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "set-registry": (
        "toolhive.cli.registry_config:set_registry",
        "Use a registry URL, API or file",
    ),
    "get-registry": ("toolhive.cli.registry_config:get_registry", "Show the configured registry"),
    "unset-registry": (
        "toolhive.cli.registry_config:unset_registry",
        "Go back to the built-in registry",
    ),
    "set-ca-cert": (
        "toolhive.cli.build_config:set_ca_cert",
        "Trust a CA certificate in protocol-scheme builds",
    ),
    "get-ca-cert": (
        "toolhive.cli.build_config:get_ca_cert",
        "Show the CA certificate builds trust",
    ),
    "unset-ca-cert": (
        "toolhive.cli.build_config:unset_ca_cert",
        "Stop trusting the configured CA in builds",
    ),
    "set-build-env": (
        "toolhive.cli.build_config:set_build_env",
        "Set a build environment variable",
    ),
    "get-build-env": (
        "toolhive.cli.build_config:get_build_env",
        "Show build environment variables",
    ),
    "unset-build-env": (
        "toolhive.cli.build_config:unset_build_env",
        "Remove build environment variables",
    ),
    "set-build-auth-file": (
        "toolhive.cli.build_config:set_build_auth_file",
        "Store a build auth file (.npmrc, .netrc, .yarnrc)",
    ),
    "get-build-auth-file": (
        "toolhive.cli.build_config:get_build_auth_file",
        "Show build auth files",
    ),
    "unset-build-auth-file": (
        "toolhive.cli.build_config:unset_build_auth_file",
        "Remove build auth files",
    ),
    "set-runtime-config": (
        "toolhive.cli.build_config:set_runtime_config",
        "Set builder/runtime images for a scheme",
    ),
    "get-runtime-config": (
        "toolhive.cli.build_config:get_runtime_config",
        "Show builder/runtime images per scheme",
    ),
    "otel": ("toolhive.cli.otel_config:otel", "Manage OpenTelemetry defaults for thv run"),
    "unset-runtime-config": (
        "toolhive.cli.build_config:unset_runtime_config",
        "Default builder/runtime images again",
    ),
}


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
