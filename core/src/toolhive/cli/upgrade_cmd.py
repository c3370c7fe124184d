"""``thv upgrade check|apply``: registry-sourced workloads against their registry's newer images.

Checks and applies are :mod:`toolhive.workloads.upgrade`'s; this module turns flags into its calls
and prints ToolHive's tables and reports.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import click

from toolhive.cli.output import FORMAT_OPTION, echo_json, echo_table, state

if TYPE_CHECKING:
    from toolhive.workloads.upgrade import CheckResult


@click.group()
def upgrade() -> None:
    """Check and apply upgrades of registry-sourced workloads.

    A check compares each workload's image (or package version) with what its registry entry
    says now; it never pulls anything.
    """


def _dash(value: str) -> str:
    return value or "-"


def echo_detail(result: CheckResult) -> None:
    """The single-workload report (``check NAME``, ``apply --dry-run``, the confirmation)."""
    rows = [
        ("Workload:", result.workload_name),
        ("Status:", result.status),
        ("Registry:", result.registry_server),
        ("Current:", result.current_image),
        ("Candidate:", result.candidate_image),
        ("Reason:", result.reason),
    ]
    for label, value in rows:
        if value:
            click.echo(f"{label:<10} {value}")
    drift = result.env_var_drift
    if drift is not None and drift.added:
        click.echo("\nNew environment variables declared by the candidate:")
        for var in drift.added:
            required = " (required)" if var.required else ""
            secret = " (secret)" if var.secret else ""
            default = f" [default: {var.default}]" if var.default else ""
            description = f": {var.description}" if var.description else ""
            click.echo(f"  - {var.name}{required}{secret}{default}{description}")
    posture = result.config_drift
    if posture is not None:
        click.echo("\nConfiguration (posture) drift, kept as it is by an upgrade:")
        if posture.transport is not None:
            click.echo(f"  ! transport: {posture.transport.from_} -> {posture.transport.to}")
        if posture.permission_profile is not None:
            change = posture.permission_profile
            click.echo(f"  ! permission profile: {change.from_} -> {change.to}")


def echo_results(results: list[CheckResult]) -> None:
    if not results:
        click.echo("No MCP servers found")
        return
    rows = [
        [
            r.workload_name,
            r.status,
            _dash(r.current_image),
            _dash(r.candidate_image),
            len(r.env_var_drift.added) if r.env_var_drift else 0,
            "! drift" if r.config_drift else "-",
        ]
        for r in results
    ]
    echo_table(["NAME", "STATUS", "CURRENT", "CANDIDATE", "NEW-ENV", "POSTURE"], rows)


@upgrade.command()
@click.argument("name", required=False)
@FORMAT_OPTION
@click.pass_context
def check(ctx: click.Context, name: str | None, fmt: str) -> None:
    """Check workloads for newer images in their registry.

    Without NAME every workload (stopped ones too) is checked and summarised in a table; with
    NAME, that one is reported in detail: new environment variables the candidate declares
    and posture (transport, permission profile) that differs.
    """
    from toolhive.workloads.upgrade import UpgradeChecker, saved_configs

    workloads = state(ctx).workloads()
    checker = UpgradeChecker(workloads.hooks)
    if name:
        results = [checker.check(workloads.export(name))]
    else:
        names = sorted(w.name for w in workloads.list(include_all=True))
        results = checker.check_all(saved_configs(workloads, names))
    if fmt == "json":
        echo_json([r.to_json() for r in results])
    elif name:
        echo_detail(results[0])
    else:
        echo_results(results)


def _no_upgrade(result: CheckResult) -> str:
    from toolhive.workloads.upgrade import UpgradeStatus

    name = result.workload_name
    if result.status == UpgradeStatus.UP_TO_DATE:
        return f"{name} is already up to date."
    if result.status == UpgradeStatus.NOT_REGISTRY_SOURCED:
        return f"{name} was not created from a registry entry; no upgrade can be applied."
    if result.status == UpgradeStatus.SERVER_NOT_FOUND:
        return (
            f"{name} references a registry server that no longer exists; no upgrade can be applied."
        )
    reason = result.reason or "the upgrade status could not be determined"
    return f"{name}: {reason}; no upgrade can be applied."


def _tty_prompt(label: str, secret: bool) -> str:
    return str(click.prompt(label, hide_input=secret, default="", show_default=False, err=True))


@upgrade.command()
@click.argument("name")
@click.option("--dry-run", is_flag=True, help="Show what the upgrade would change; change nothing.")
@click.option(
    "-y",
    "--yes",
    is_flag=True,
    help="Do not ask for confirmation or missing values (fail if a required one is missing).",
)
@click.option(
    "-e",
    "--env",
    "env",
    multiple=True,
    help="Environment variable KEY=VALUE for the upgraded workload; repeatable.",
)
@click.option(
    "--secret",
    "secrets",
    multiple=True,
    help="Secret NAME,target=ENV for the upgraded workload; repeatable.",
)
@click.option(
    "--ca-cert",
    default="",
    help="CA certificate (PEM) to trust when a uvx://, npx:// or go:// candidate is built.",
)
@click.option(
    "--image-verification",
    type=click.Choice(["warn", "enabled", "disabled"]),
    default="warn",
    show_default=True,
    help="Signature verification of the candidate (no verifier here: enabled refuses).",
)
@click.pass_context
def apply(ctx: click.Context, /, name: str, dry_run: bool, yes: bool, **opts: Any) -> None:
    """Apply the upgrade the registry offers for a workload.

    The candidate image is made present (pulled, or built for a package) before the workload is
    touched; then the workload is restarted on it with the rest of its configuration (env vars,
    secrets, posture, middleware) as it was. There is no automatic rollback.
    """
    from toolhive.workloads.runconfig_builder import parse_key_values
    from toolhive.workloads.upgrade import (
        ApplyOptions,
        UpgradeChecker,
        UpgradeStatus,
        apply_upgrade,
        check_options,
    )

    cli = state(ctx)
    workloads = cli.workloads(progress=lambda line: click.echo(line, err=True))
    interactive = not yes and sys.stdin.isatty() and sys.stderr.isatty()
    options = ApplyOptions(
        env_vars=parse_key_values(list(opts["env"]), "environment variable"),
        secrets=list(opts["secrets"]),
        image_verification=opts["image_verification"],
        ca_cert=opts["ca_cert"],
        prompt=_tty_prompt if interactive else None,
    )
    check_options(options)
    checker = UpgradeChecker(workloads.hooks)
    result = checker.check(workloads.export(name))
    if result.status != UpgradeStatus.UPGRADE_AVAILABLE:
        click.echo(_no_upgrade(result))
        return
    if dry_run:
        click.echo(f"Dry run: {name} would be upgraded.\n")
        echo_detail(result)
        return
    if interactive:
        echo_detail(result)
        if not click.confirm("\nApply?", default=False, err=True):
            click.echo("Upgrade cancelled.")
            return
    applied = apply_upgrade(workloads, name, options, checker=checker)
    if applied.status != UpgradeStatus.UPGRADE_AVAILABLE:  # changed since the first check
        click.echo(_no_upgrade(applied))
        return
    click.echo(f"{name} upgraded to {applied.candidate_image}")
