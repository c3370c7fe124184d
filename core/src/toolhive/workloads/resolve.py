"""From a :class:`RunRequest` to the :class:`RunConfig` it asks for, for every kind of input.

* ``from_config``: an exported RunConfig, renamed when the request names it;
* ``image`` naming a registry entry (``fetch``, ``io.github.stacklok/fetch``): the entry fills in
  what the request leaves empty (:mod:`toolhive.registry.run`), then as below;
* ``image`` (an image, ``uvx://``/``npx://``/``go://`` package or command) or ``url``: the
  RunConfig builder (:mod:`toolhive.workloads.runconfig_builder`).

Nothing is saved and nothing runs here; the same request always gives the same RunConfig (ports
and the runtime are chosen later, when the workload is created).
"""

from __future__ import annotations

from toolhive.errors import InvalidInputError
from toolhive.models.runconfig import RunConfig, validate_workload_name
from toolhive.plugins import Hooks
from toolhive.registry.run import Prompt, from_registry
from toolhive.workloads.request import RunRequest
from toolhive.workloads.runconfig_builder import build_runconfig


def require_transport_name(hooks: Hooks, transport: str) -> None:
    """A requested transport is one an installed plugin provides (``thv_transports``)."""
    available = hooks.transports()
    if transport and transport not in available:
        names = ", ".join(sorted(available)) or "none installed"
        msg = f"unknown transport {transport!r}; available transports: {names}"
        raise InvalidInputError(msg)


def resolve(hooks: Hooks, request: RunRequest, *, prompt: Prompt | None = None) -> RunConfig:
    """The RunConfig ``request`` asks for. ``prompt`` asks the user for what a registry entry
    requires and the request lacks; without it, what is missing is one error."""
    if request.from_config is not None:
        config = _from_config(request.from_config, request.name)
    else:
        # Before the registry is asked anything (a bad flag fails at once); the RunConfig's
        # transport, whatever its source, is checked again with everything else it asks for.
        require_transport_name(hooks, request.transport)
        resolved, origin = from_registry(hooks, request, prompt=prompt)
        config = build_runconfig(resolved, origin)
    if request.debug and not config.debug:
        config = config.model_copy(update={"debug": True})
    return config


def _from_config(config: RunConfig, name: str) -> RunConfig:
    if name:
        name = validate_workload_name(name)
        config = config.model_copy(update={"name": name, "base_name": name, "container_name": name})
    if not config.name:
        msg = "the RunConfig has no name; give one with --name"
        raise InvalidInputError(msg)
    if not config.base_name:
        config = config.model_copy(update={"base_name": config.name})
    return config
