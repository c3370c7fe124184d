"""State shared by ``thv`` commands: the plugin manager, built once per invocation."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from toolhive.plugins import Hooks, build_plugin_manager


@dataclass
class CliState:
    debug: bool = False
    _hooks: Hooks | None = field(default=None, repr=False)

    @cached_property
    def hooks(self) -> Hooks:
        return self._hooks or Hooks(build_plugin_manager())
