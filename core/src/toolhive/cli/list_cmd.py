"""``thv list`` and ``thv status``: read state files only (no engine, no heavy imports)."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

import click

from toolhive.cli.output import FORMAT_OPTION, echo_json, echo_table, state
from toolhive.errors import ToolHiveError

if TYPE_CHECKING:
    from toolhive.models.runconfig import RunConfig


@click.command("list")
@click.option("-a", "--all", "include_all", is_flag=True, help="Include stopped workloads.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "mcpservers"]),
    default="text",
    show_default=True,
)
@click.option("-l", "--label", "labels", multiple=True, help="Filter by label KEY=VALUE.")
@click.option("-g", "--group", default=None, help="Only workloads in this group.")
@click.option(
    "--check-upgrades",
    is_flag=True,
    help="Check each workload against its registry for an upgrade (reads the registry).",
)
@click.pass_context
def list_cmd(
    ctx: click.Context,
    include_all: bool,
    fmt: str,
    labels: tuple[str, ...],
    group: str | None,
    check_upgrades: bool,
) -> None:
    """List workloads (running ones unless --all)."""
    if check_upgrades and fmt == "mcpservers":
        msg = "--check-upgrades is not supported with --format mcpservers; use text or json"
        raise click.UsageError(msg)
    wanted: dict[str, str] = {}
    if labels:  # the RunConfig builder (and the proxy's edge rules) only when filtering
        from toolhive.workloads.runconfig_builder import parse_key_values

        wanted = parse_key_values(list(labels), "label")
    workloads = state(ctx).workloads()
    rows = workloads.list(include_all=include_all, labels=wanted, group=group)
    upgrades: dict[str, Any] | None = None
    if check_upgrades:  # the only path that imports the registry (and so the plugins)
        from toolhive.workloads.upgrade import UpgradeChecker, saved_configs

        checked = UpgradeChecker(workloads.hooks).check_all(
            saved_configs(workloads, [w.name for w in rows])
        )
        upgrades = {r.workload_name: r for r in checked}
    if fmt == "json":
        out = [w.model_dump(mode="json") for w in rows]
        if upgrades is not None:
            for item in out:
                if item["name"] in upgrades:
                    item["upgrade"] = upgrades[item["name"]].to_json()
        echo_json(out)
    elif fmt == "mcpservers":
        echo_json({"mcpServers": {w.name: {"url": w.url, "type": w.proxy_mode} for w in rows}})
    elif not rows:
        click.echo(
            "No MCP servers found" + ("" if include_all else " (use --all for stopped ones)")
        )
    else:
        headers = ["NAME", "PACKAGE", "STATUS", "URL", "PORT", "GROUP", "CREATED"]
        table = [[w.name, w.package, w.status, w.url, w.port, w.group, w.created_at] for w in rows]
        if upgrades is not None:
            headers.append("UPGRADE")
            for row, w in zip(table, rows, strict=True):
                found = upgrades.get(w.name)
                row.append(found.status if found is not None else "-")
        echo_table(headers, table)


def network_summary(config: RunConfig) -> str:
    """What the runtime enforces on the server's network: every runtime either enforces the
    profile (isolation) or refuses to start it, so this is what a running workload gets."""
    from toolhive.models.permissions import load_profile

    profile = config.permission_profile or load_profile(
        config.permission_profile_name_or_path or "network"
    )
    network = profile.network
    if (network and network.mode == "none") or not profile.network_enabled:
        return "none (loopback only)"
    if profile.network_unrestricted:
        return "unrestricted"
    out = network.outbound if network else None
    hosts = ", ".join(out.allow_host) if out and out.allow_host else "any host"
    ports = ", ".join(str(p) for p in out.allow_port) if out and out.allow_port else "any port"
    if not config.isolate_network:
        return f"unrestricted (--isolate-network=false: {hosts} on {ports} NOT enforced)"
    gateway = "; the engine gateway (host) is reachable" if config.allow_docker_gateway else ""
    return f"isolated: only {hosts} on {ports}, through the egress proxy{gateway}"


@click.command()
@click.argument("name")
@FORMAT_OPTION
@click.pass_context
def status(ctx: click.Context, name: str, fmt: str) -> None:
    """Show one workload's status."""
    wl = state(ctx).workloads().get(name)
    if fmt == "json":
        echo_json(wl.model_dump(mode="json"))
        return
    fields = [
        ("Name", wl.name),
        ("Status", wl.status),
        ("Health", wl.status_context or "-"),
        ("Package", wl.package),
        ("URL", wl.url),
        ("Port", wl.port),
        ("Transport", wl.transport_type),
        ("Proxy Mode", wl.proxy_mode),
        ("Group", wl.group),
        ("Runtime", wl.runtime or "-"),
        ("Created", wl.created_at),
        ("Remote", str(wl.remote).lower()),
    ]
    if not wl.remote:
        # No RunConfig (a container found without one): nothing to say.
        with contextlib.suppress(ToolHiveError):
            fields.append(("Network", network_summary(state(ctx).workloads().export(name))))
    width = max(len(k) for k, _ in fields)
    for key, value in fields:
        click.echo(f"{key + ':':<{width + 1}} {value}")
