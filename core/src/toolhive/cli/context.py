"""State shared by ``thv`` commands: the plugin manager, built once per invocation."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import click

from toolhive.plugins import Hooks, build_plugin_manager


@dataclass
class CliState:
    debug: bool = False
    _hooks: Hooks | None = field(default=None, repr=False)

    @cached_property
    def hooks(self) -> Hooks:
        if self._hooks is not None:
            return self._hooks
        hooks = Hooks(build_plugin_manager())
        failed = hooks.pm.load_failures
        if failed:
            names = ", ".join(f.entry_point for f in failed)
            click.echo(f"Warning: plugins failed to load: {names} (see `thv plugins`)", err=True)
        return hooks
