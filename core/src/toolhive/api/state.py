"""What every handler of one ``thv serve`` shares."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from toolhive.plugins import Hooks
    from toolhive.workloads.service import Workloads


@dataclass
class ApiState:
    hooks: Hooks
    workloads: Workloads
    #: Echoed in ``X-Toolhive-Nonce`` by ``/health`` so a client can tell this server from a
    #: stale discovery file's.
    nonce: str = ""
    #: Seconds a runtime-availability answer is reused by ``/health``.
    health_ttl: float = 2.0
    _health: tuple[float, str | None] = field(default=(0.0, None), repr=False)

    def runtime_problem(self) -> str | None:
        """Why no runtime can run workloads (``None`` when one can), rechecked every
        ``health_ttl`` seconds (detection asks the engines)."""
        checked, problem = self._health
        if checked and time.monotonic() - checked < self.health_ttl:
            return problem
        from toolhive.errors import RuntimeUnavailableError
        from toolhive.workloads.runtimes import select_runtime

        try:
            select_runtime(self.hooks)
            problem = None
        except RuntimeUnavailableError as exc:
            problem = str(exc)
        self._health = (time.monotonic(), problem)
        return problem


def api_state(hooks: Hooks, *, nonce: str = "") -> ApiState:
    """The state with the workload use cases wired like the CLI's (client configs follow)."""
    from toolhive.clients.sync import on_workload_event
    from toolhive.workloads.events import WorkloadEvents
    from toolhive.workloads.service import Workloads

    events = WorkloadEvents()
    events.subscribe(lambda event: on_workload_event(hooks, event))
    # No browser from the server: a remote sign-in is offered to the client as a URL.
    workloads = Workloads(hooks, events=events, open_browser=False)
    return ApiState(hooks=hooks, workloads=workloads, nonce=nonce)
