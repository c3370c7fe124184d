"""``thv completion bash|zsh|fish``: print the shell's completion script (click's completion).

The script calls ``thv`` back with ``_THV_COMPLETE`` set, so completions follow the installed
plugins' commands and the saved workloads.
"""

from __future__ import annotations

import click

SHELLS = ("bash", "zsh", "fish")

HELP = """Print the completion script for SHELL.

\b
Load it in the current shell:
    eval "$(thv completion bash)"     # or: source <(thv completion zsh); thv completion fish | source
Load it in every new shell:
    thv completion bash > ~/.local/share/bash-completion/completions/thv
    thv completion zsh > "${fpath[1]}/_thv"     # a folder on zsh's $fpath
    thv completion fish > ~/.config/fish/completions/thv.fish
"""


@click.command(help=HELP)
@click.argument("shell", type=click.Choice(SHELLS))
def completion(shell: str) -> None:
    from click.shell_completion import get_completion_class

    from toolhive.cli import cli

    cls = get_completion_class(shell)
    if cls is None:  # click knows every shell in SHELLS
        raise click.UsageError(f"no completion for {shell}")
    click.echo(cls(cli, {}, "thv", "_THV_COMPLETE").source())
