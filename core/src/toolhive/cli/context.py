"""State shared by ``thv`` commands: the plugin manager, built once per invocation, and the
workload use cases wired to their subscribers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from toolhive.plugins import Hooks
    from toolhive.workloads.service import Workloads


@dataclass
class CliState:
    debug: bool = False
    _hooks: Hooks | None = field(default=None, repr=False)

    @property
    def hooks_built(self) -> bool:
        """Whether :attr:`hooks` is already there (given, or built by an earlier call)."""
        return self._hooks is not None or "hooks" in vars(self)

    @cached_property
    def hooks(self) -> Hooks:
        if self._hooks is not None:
            return self._hooks
        # Imported here: commands that never touch a plugin skip pluggy and the contracts' models.
        from toolhive.plugins import Hooks, build_plugin_manager

        hooks = Hooks(build_plugin_manager())
        failed = hooks.pm.load_failures
        if failed:
            names = ", ".join(f.entry_point for f in failed)
            click.echo(f"Warning: plugins failed to load: {names} (see `thv plugins`)", err=True)
        return hooks

    def workloads(self, *, progress: Callable[[str], None] | None = None) -> Workloads:
        """The workload use cases, with client-config sync following their events."""
        from toolhive.clients.sync import subscribe
        from toolhive.workloads.events import WorkloadEvents
        from toolhive.workloads.service import Workloads

        events = WorkloadEvents()
        subscribe(events, self.hooks)
        return Workloads(self.hooks, events=events, progress=progress)
