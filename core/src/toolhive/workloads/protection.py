"""Fail closed: refuse a workload whose RunConfig asks for what no installed plugin enforces.

Called before ``thv run`` writes any state (every input: flags, registry, ``--from-config``, later
the REST API and CRDs) and again before ``thv start`` (a plugin may have been uninstalled since).
The supervisor builds the chain from the same plan, so what is checked here is what runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from toolhive.errors import InvalidInputError
from toolhive.middleware.chain import checked_chain
from toolhive.middleware.plan import Resolved

if TYPE_CHECKING:
    from toolhive.models.runconfig import RunConfig
    from toolhive.plugins import Hooks


def require_transport(hooks: Hooks, config: RunConfig) -> None:
    transports = hooks.transports()
    if config.transport not in transports:
        available = ", ".join(sorted(transports)) or "none"
        msg = (
            f"transport {config.transport!r} is not provided by any installed plugin "
            f"(available: {available})"
        )
        raise InvalidInputError(msg)


def require_enforceable(hooks: Hooks, config: RunConfig) -> list[Resolved]:
    """The workload's checked middleware chain; raises naming the field and the plugin to install.

    (Permission profiles are checked by the chosen runtime's ``check_request``, which every
    runtime also applies when it deploys.)
    """
    require_transport(hooks, config)
    return checked_chain(config, hooks.middleware())
