"""``thv registry list|info|convert|login|logout``: browse the configured registry, migrate legacy
files, log in to an authenticated registry (:mod:`toolhive.registry.auth`)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from toolhive.cli.output import FORMAT_OPTION, echo_json, echo_table, state
from toolhive.cli.registry_config import oauth_options, oauth_settings

if TYPE_CHECKING:
    from toolhive.registry.models import ServerEntry

REFRESH_OPTION = click.option(
    "--refresh", is_flag=True, help="Fetch a remote registry again instead of using the cache."
)


def short_description(entry: ServerEntry, width: int = 60) -> str:
    text = " ".join(entry.description.split())
    if entry.deprecated:
        text = f"[deprecated] {text}"
    return text if len(text) <= width else text[: width - 3] + "..."


def entry_json(entry: ServerEntry) -> dict[str, Any]:
    return {**entry.to_json(), "type": entry.server_type}


@click.group()
def registry() -> None:
    """Browse the MCP server registry (see `thv config set-registry`)."""


@registry.command("list")
@FORMAT_OPTION
@REFRESH_OPTION
@click.pass_context
def list_servers(ctx: click.Context, fmt: str, refresh: bool) -> None:
    """List every server in the registry."""
    from toolhive.registry.sources import open_registry

    entries = open_registry(state(ctx).hooks, refresh=refresh).list_servers()
    if fmt == "json":
        echo_json([entry_json(e) for e in entries])
        return
    if not entries:
        click.echo("No servers found in the registry")
        return
    echo_table(
        ["NAME", "TYPE", "DESCRIPTION", "TIER", "STARS"],
        [[e.name, e.server_type, short_description(e), e.tier, e.stars] for e in entries],
    )


def _text_info(entry: ServerEntry) -> None:
    from toolhive.registry.models import ImageMetadata

    rows: list[tuple[str, object]] = [
        ("Name", entry.name),
        ("Type", entry.server_type),
        ("Description", entry.description),
        ("Tier", entry.tier or "-"),
        ("Status", entry.status),
        ("Transport", entry.transport),
    ]
    if isinstance(entry, ImageMetadata):
        rows += [("Image", entry.image)]
        if entry.target_port:
            rows.append(("Target port", entry.target_port))
        if entry.args:
            rows.append(("Args", " ".join(entry.args)))
    else:
        rows.append(("URL", entry.url))
    rows += [
        ("Repository", entry.repository_url or "-"),
        ("Stars", entry.stars),
        ("Tags", ", ".join(entry.tags) or "-"),
        ("Tools", ", ".join(entry.tools) or "-"),
    ]
    for label, value in rows:
        click.echo(f"{label + ':':<13} {value}")
    if entry.env_vars:
        click.echo("Environment variables:")
        for var in entry.env_vars:
            flags = ", ".join(
                f for f, on in (("required", var.required), ("secret", var.secret)) if on
            )
            default = f" [default: {var.default}]" if var.default else ""
            click.echo(f"  {var.name}{f' ({flags})' if flags else ''}{default}: {var.description}")
    if isinstance(entry, ImageMetadata) and entry.permissions:
        out = (entry.permissions.get("network") or {}).get("outbound") or {}
        if out.get("insecure_allow_all"):
            network = "any host"
        elif out.get("allow_host") or out.get("allow_port"):
            network = f"hosts {out.get('allow_host') or '-'} ports {out.get('allow_port') or '-'}"
        else:
            network = "none"
        click.echo(f"{'Network:':<13} {network}")


@registry.command("info")
@click.argument("server")
@FORMAT_OPTION
@REFRESH_OPTION
@click.pass_context
def info(ctx: click.Context, server: str, fmt: str, refresh: bool) -> None:
    """Show one server (full name or unique short name)."""
    from toolhive.registry.errors import ServerNotFoundError
    from toolhive.registry.sources import open_registry, resolve

    entry = resolve(open_registry(state(ctx).hooks, refresh=refresh), server)
    if entry is None:
        msg = f"no server named {server!r} in the registry; try `thv search {server}`"
        raise ServerNotFoundError(msg)
    if fmt == "json":
        echo_json(entry_json(entry))
    else:
        _text_info(entry)


@registry.command("login")
@click.option(
    "--registry", "registry_url", default="", help="Registry URL (saved, as set-registry)."
)
@oauth_options
@click.option(
    "-p",
    "--allow-private-ip",
    is_flag=True,
    help="Allow --registry to reference a private IP address.",
)
@click.pass_context
def login(
    ctx: click.Context,
    registry_url: str,
    issuer: str,
    client_id: str,
    audience: str,
    scopes: tuple[str, ...],
    allow_private_ip: bool,
) -> None:
    """Log in to the configured registry (OAuth with PKCE in your browser).

    Flags not yet in config.yaml (--registry, --issuer, --client-id …) are saved first. Without a
    display the login URL is printed to open elsewhere; the callback listens on 127.0.0.1.
    """
    from toolhive.registry.login import login as registry_login

    settings = oauth_settings(issuer, client_id, audience, scopes)
    registry_login(
        state(ctx).hooks,
        registry=registry_url,
        settings=settings,
        allow_private_ip=allow_private_ip,
    )
    click.echo("Logged in to the registry", err=True)


@registry.command("logout")
@click.pass_context
def logout(ctx: click.Context) -> None:
    """Remove the registry's cached OAuth tokens."""
    from toolhive.registry.login import logout as registry_logout

    registry_logout(state(ctx).hooks)
    click.echo("Logged out of the registry", err=True)


@registry.command("convert")
@click.option(
    "--in",
    "in_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Legacy file (default: stdin).",
)
@click.option(
    "--out",
    "out_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Output file (default: stdout).",
)
@click.option("--in-place", is_flag=True, help="Rewrite the --in file (a .bak copy is kept).")
@click.option("--no-backup", is_flag=True, help="With --in-place: keep no .bak copy.")
def convert(in_path: Path | None, out_path: Path | None, in_place: bool, no_backup: bool) -> None:
    """Convert a legacy ToolHive registry file to the upstream MCP registry format."""
    import json

    from toolhive.errors import InvalidInputError
    from toolhive.registry.upstream import (
        is_upstream,
        load_json,
        parse_legacy,
        read_json_file,
        registry_to_upstream,
    )
    from toolhive.state.atomic import write_atomic

    if in_place and (in_path is None or out_path is not None):
        msg = "--in-place needs --in FILE and no --out"
        raise InvalidInputError(msg)
    if no_backup and not in_place:
        msg = "--no-backup applies to --in-place only"
        raise InvalidInputError(msg)
    if in_path is not None:
        doc = read_json_file(in_path)
        source = f"registry file {in_path}"
    else:
        doc = load_json(sys.stdin.read(), "standard input")
        source = "standard input"
    if is_upstream(doc):
        click.echo(
            f"{in_path or 'the input'} is already in the upstream format; nothing to do", err=True
        )
        return
    text = json.dumps(registry_to_upstream(parse_legacy(doc, source)), indent=2) + "\n"
    if in_place:
        assert in_path is not None
        if not no_backup:
            backup = in_path.with_name(in_path.name + ".bak")
            write_atomic(backup, in_path.read_bytes(), mode=0o644)
            click.echo(f"Backup written to {backup}", err=True)
        write_atomic(in_path, text, mode=0o644)
        click.echo(f"Converted {in_path} to the upstream format", err=True)
    elif out_path is not None:
        write_atomic(out_path, text, mode=0o644)
        click.echo(f"Converted registry written to {out_path}", err=True)
    else:
        click.echo(text, nl=False)
