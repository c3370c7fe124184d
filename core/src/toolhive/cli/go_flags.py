"""Go (pflag) boolean flags in click: alone they mean true, ``--flag=false`` sets false, and the
next argument is never their value (``thv run --isolate-network IMAGE`` runs IMAGE)."""

from __future__ import annotations

from typing import ClassVar

import click

_GO_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_GO_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})


def go_bool_args(ctx: click.Context, args: list[str], flags: frozenset[str]) -> list[str]:
    """``args`` with every Go boolean flag in ``flags`` spelled ``--flag=true|false`` for click."""
    out: list[str] = []
    for i, arg in enumerate(args):
        if arg == "--":
            return out + args[i:]
        name, eq, value = arg.partition("=")
        if name in flags:
            if eq and value not in _GO_TRUE | _GO_FALSE:
                msg = f'invalid argument "{value}" for "{name}" flag: use true or false'
                raise click.UsageError(msg, ctx)
            arg = f"{name}={'false' if eq and value in _GO_FALSE else 'true'}"
        out.append(arg)
    return out


class GoBoolCommand(click.Command):
    """A command whose ``go_bool_flags`` parse the Go way (declare them ``type=click.BOOL``)."""

    go_bool_flags: ClassVar[frozenset[str]] = frozenset()

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, go_bool_args(ctx, args, self.go_bool_flags))
