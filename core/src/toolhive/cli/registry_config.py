"""``thv config set-registry|get-registry|unset-registry``: which registry ``thv`` reads (the
logic is :mod:`toolhive.registry.settings`, shared with the REST API), with ToolHive's registry
OAuth flags (:mod:`toolhive.registry.auth`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import click

from toolhive.cli.output import FORMAT_OPTION, echo_json, state

if TYPE_CHECKING:
    from toolhive.registry.auth import OAuthSettings


def oauth_options(fn: Callable[..., None]) -> Callable[..., None]:
    """ToolHive's registry OAuth flags (``thv config set-registry``, ``thv registry login``)."""
    fn = click.option(
        "--scopes",
        "scopes",
        multiple=True,
        help="OAuth scopes, comma-separated or repeated [default: openid,offline_access].",
    )(fn)
    fn = click.option("--audience", default="", help="OAuth audience (RFC 8707 resource).")(fn)
    fn = click.option(
        "--client-id", default="", help="OAuth client ID for registry authentication."
    )(fn)
    return click.option(
        "--issuer", default="", help="OIDC issuer URL for registry authentication."
    )(fn)


def oauth_settings(
    issuer: str, client_id: str, audience: str, scopes: tuple[str, ...]
) -> OAuthSettings | None:
    """The flags as settings; ``None`` when no auth flag is given. --issuer and --client-id go
    together, as in ToolHive."""
    from toolhive.errors import InvalidInputError
    from toolhive.registry.auth import OAuthSettings

    if not (issuer or client_id):
        if audience or scopes:
            msg = "--audience and --scopes need --issuer and --client-id"
            raise InvalidInputError(msg)
        return None
    if not (issuer and client_id):
        msg = "--issuer and --client-id must be given together"
        raise InvalidInputError(msg)
    split = [s.strip() for item in scopes for s in item.split(",") if s.strip()]
    return OAuthSettings(issuer=issuer, client_id=client_id, audience=audience, scopes=split)


@click.command("set-registry")
@click.argument("location")
@click.option(
    "-p",
    "--allow-private-ip",
    is_flag=True,
    help="Allow a registry URL that resolves to a private or loopback address.",
)
@oauth_options
@click.pass_context
def set_registry(
    ctx: click.Context,
    location: str,
    allow_private_ip: bool,
    issuer: str,
    client_id: str,
    audience: str,
    scopes: tuple[str, ...],
) -> None:
    """Use a registry: a .json URL, an MCP Registry API URL, or a local file.

    Any previous registry authentication is cleared; --issuer and --client-id set OAuth for the
    new registry (then run `thv registry login`).
    """
    from toolhive.registry.settings import set_registry as use_registry

    auth = oauth_settings(issuer, client_id, audience, scopes)
    value, source, count = use_registry(
        state(ctx).hooks, location, allow_private_ip=allow_private_ip, auth=auth
    )
    if count is None:
        click.echo(
            f"Registry set to {value} ({source.kind}, OAuth via {issuer}); "
            "run `thv registry login` to authenticate"
        )
    else:
        click.echo(f"Registry set to {value} ({source.kind}, {count} servers)")
    if allow_private_ip:
        click.echo(
            "Caution: allowing registry URLs with private IP addresses may decrease your "
            "security; make sure you trust this registry.",
            err=True,
        )


@click.command("get-registry")
@FORMAT_OPTION
def get_registry(fmt: str) -> None:
    """Show the configured registry."""
    from toolhive.appconfig import load_config
    from toolhive.registry.auth import public_config, status
    from toolhive.registry.settings import current

    config = load_config()
    setting = current(config)
    auth_status, auth_type = status(config)
    auth = public_config(config)
    if fmt == "json":
        echo_json(
            {
                "type": setting.type,
                "source": setting.source,
                "allow_private_ip": setting.allow_private_ip,
                "auth_status": auth_status,
                "auth_type": auth_type,
                "auth_config": auth,
            }
        )
    elif setting.source:
        click.echo(f"Current registry: {setting.source} ({setting.type})")
        if auth is not None:
            click.echo(f"Authentication: OAuth via {auth['issuer']} ({auth_status})")
    else:
        click.echo("Using the built-in registry (thv config set-registry to change it)")


@click.command("unset-registry")
def unset_registry() -> None:
    """Go back to the built-in registry."""
    from toolhive.registry.settings import unset_registry as reset_registry

    reset_registry()
    click.echo("Registry reset to the built-in catalog (its authentication is cleared)")
