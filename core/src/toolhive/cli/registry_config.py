"""``thv config set-registry|get-registry|unset-registry``: which registry ``thv`` reads.

``set-registry`` decides the kind as ToolHive does: an http(s) URL ending in ``.json`` is a static
registry document, any other URL an MCP Registry API v0.1 server, anything else a local file
(``file://`` allowed). The source is loaded once before it is saved, so a typo never sticks.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import click

from toolhive.cli.output import FORMAT_OPTION, echo_json, state

KEYS = ("registry_api_url", "registry_url", "local_registry_path")


def _kind_and_value(location: str) -> tuple[str, str]:
    if location.startswith(("http://", "https://")):
        kind = "registry_url" if urlsplit(location).path.endswith(".json") else "registry_api_url"
        return kind, location
    path = Path(location.removeprefix("file://")).expanduser().resolve()
    return "local_registry_path", str(path)


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
    from toolhive.appconfig import AppConfig, load_config, update_config
    from toolhive.registry.sources import open_registry

    key, value = _kind_and_value(location)
    changes: dict[str, object] = dict.fromkeys(KEYS, "")
    changes |= {key: value, "allow_private_registry_ip": allow_private_ip}
    candidate = load_config().model_copy(update=changes)
    source = open_registry(state(ctx).hooks, refresh=True, config=candidate)
    count = len(source.list_servers())

    def change(config: AppConfig) -> None:
        for name, new in changes.items():
            setattr(config, name, new)

    update_config(change)
    click.echo(f"Registry set to {value} ({source.kind}, {count} servers)")


@click.command("get-registry")
@FORMAT_OPTION
def get_registry(fmt: str) -> None:
    """Show the configured registry."""
    from toolhive.appconfig import load_config

    config = load_config()
    configured = [(k, getattr(config, k)) for k in KEYS if getattr(config, k)]
    kinds = {"registry_api_url": "api", "registry_url": "url", "local_registry_path": "file"}
    key, value = configured[0] if configured else ("", "")
    if fmt == "json":
        echo_json(
            {
                "type": kinds.get(key, "default"),
                "source": value,
                "allow_private_ip": config.allow_private_registry_ip,
            }
        )
    elif value:
        click.echo(f"Current registry: {value} ({kinds[key]})")
    else:
        click.echo("Using the built-in registry (thv config set-registry to change it)")


@click.command("unset-registry")
def unset_registry() -> None:
    """Go back to the built-in registry."""
    from toolhive.appconfig import AppConfig, update_config

    def change(config: AppConfig) -> None:
        for name in KEYS:
            setattr(config, name, "")
        config.allow_private_registry_ip = False

    update_config(change)
    click.echo("Registry reset to the built-in catalog")
