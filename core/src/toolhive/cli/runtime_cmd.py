"""``thv runtime check``: which runtimes were probed, in detection order, and which one is used."""

from __future__ import annotations

import click

from toolhive.cli.output import FORMAT_OPTION, echo_json, echo_table, state
from toolhive.errors import RuntimeUnavailableError


@click.group()
def runtime() -> None:
    """Container runtime commands."""


@runtime.command()
@FORMAT_OPTION
@click.pass_context
def check(ctx: click.Context, fmt: str) -> None:
    """Probe every runtime plugin; exit non-zero if none is usable."""
    from toolhive.workloads.runtimes import detect_all, select_runtime

    hooks = state(ctx).hooks
    found = detect_all(hooks)
    try:
        chosen: str | None = select_runtime(hooks)[0].name
    except RuntimeUnavailableError:
        chosen = None
    if fmt == "json":
        echo_json(
            {
                "selected": chosen,
                "runtimes": [
                    {**d.model_dump(), "priority": s.priority, "container": s.is_container}
                    for s, d in found
                ],
            }
        )
    else:
        echo_table(
            ["RUNTIME", "AVAILABLE", "ENDPOINT", "DETAIL"],
            [
                [d.name, "yes" if d.available else "no", d.endpoint or "-", d.detail]
                for _s, d in found
            ],
        )
        click.echo(f"Selected: {chosen}" if chosen else "Selected: none")
    if chosen is None:
        ctx.exit(1)
