"""Built-in ``thv`` commands that reach the CLI through ``thv_cli_commands``, as a plugin's would.

``thv runtime`` lives here rather than in the CLI's own table: it only reads the runtime plugins,
and providing it through the public hook keeps that hook exercised by core itself.
"""

from __future__ import annotations

from toolhive.contracts import CommandRef, hookimpl


@hookimpl
def thv_cli_commands() -> list[CommandRef]:
    return [
        CommandRef(
            name="runtime",
            target="toolhive.cli.runtime_cmd:runtime",
            help="Inspect container runtimes",
        )
    ]
