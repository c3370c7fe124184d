"""State shared by ``thv`` commands: the plugin manager, built once per invocation, and the
workload use cases wired to their subscribers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, cast

import click

if TYPE_CHECKING:
    from toolhive.plugins import Hooks
    from toolhive.workloads.events import WorkloadEvent
    from toolhive.workloads.service import Workloads


@dataclass
class CliState:
    debug: bool = False
    _hooks: Hooks | None = field(default=None, repr=False)
    #: Plugins' commands, name → (target, help), once the root group has looked them up.
    plugin_commands: dict[str, tuple[str, str]] | None = field(default=None, repr=False)

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
        """The workload use cases, with client-config sync following their events.

        The plugins load when a use case first needs them: ``thv list`` and ``thv status`` read
        state files only and import no plugin.
        """
        from toolhive.workloads.events import WorkloadEvents
        from toolhive.workloads.service import Workloads

        hooks = self.hooks if self.hooks_built else cast("Hooks", _HooksOnDemand(self))
        events = WorkloadEvents()
        events.subscribe(lambda event: _sync_clients(hooks, event))
        return Workloads(hooks, events=events, progress=progress)


class _HooksOnDemand:
    """Stands in for :class:`~toolhive.plugins.Hooks` and builds the real one (once, on the
    :class:`CliState`) at the first attribute a caller reads."""

    def __init__(self, state: CliState) -> None:
        self._state = state

    def __getattr__(self, name: str) -> Any:
        return getattr(self._state.hooks, name)


def _sync_clients(hooks: Hooks, event: WorkloadEvent) -> None:
    # What ``toolhive.clients.sync.subscribe`` registers, imported only once an event happens.
    from toolhive.clients.sync import on_workload_event

    on_workload_event(hooks, event)
