"""``thv plugins``: what is installed, what each plugin provides, and what failed to load."""

from __future__ import annotations

import click

from toolhive.cli.output import FORMAT_OPTION, echo_json, echo_table, state


@click.command()
@FORMAT_OPTION
@click.pass_context
def plugins(ctx: click.Context, fmt: str) -> None:
    """List plugins: entry point, distribution, version, what they provide, load failures."""
    hooks = state(ctx).hooks
    pm = hooks.pm
    rows = []
    for name, source in sorted(pm.sources.items()):
        rows.append(
            {
                "name": name,
                "distribution": source.distribution,
                "version": source.version,
                "builtin": source.builtin,
                "provides": hooks.provided_by(name),
            }
        )
    failures = [
        {
            "name": f.entry_point,
            "distribution": f.distribution,
            "version": f.version,
            "error": f.error,
        }
        for f in pm.load_failures
    ]
    if fmt == "json":
        echo_json({"plugins": rows, "failures": failures})
        return
    echo_table(
        ["NAME", "DISTRIBUTION", "VERSION", "PROVIDES"],
        [
            [
                r["name"],
                r["distribution"],
                r["version"],
                "; ".join(f"{k}: {', '.join(v)}" for k, v in r["provides"].items()) or "-",
            ]
            for r in rows
        ],
    )
    for f in failures:
        click.echo(
            f"FAILED {f['name']} ({f['distribution']} {f['version']}): {f['error']}", err=True
        )
