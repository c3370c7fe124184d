"""The plugin contract: every extension point of ToolHive.

Each hook *declares* what a plugin provides by returning frozen specs (:mod:`toolhive.specs`);
the host builds name-keyed registries from them, so a duplicate name is an error naming both
distributions. Specs carry lazy ``load``/``factory`` callables: implementing a hook must not import
heavy client libraries. All hooks are collected (not ``firstresult``) unless stated. Hooks are
append-only within a major version; implementations may accept fewer arguments than the spec.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from toolhive.specs import (
        ClientSpec,
        CommandRef,
        MiddlewareSpec,
        RegistrySourceSpec,
        RuntimeSpec,
        SecretsProviderSpec,
        TransportSpec,
    )

PROJECT = "toolhive"
_spec = pluggy.HookspecMarker(PROJECT)


@_spec
def thv_runtimes() -> list[RuntimeSpec]:
    """Declare runtimes (container engines or process sandboxes) that can run MCP servers.

    Return an empty list to provide none.

    Each :class:`~toolhive.specs.RuntimeSpec` names the runtime, says how to detect it cheaply
    (``detect``, stdlib only) and how to build it (``load``, which may import the engine's client
    library). Auto-detection tries available runtimes in ascending ``priority``.

    .. versionadded:: 0.1
    """


@_spec
def thv_transports() -> list[TransportSpec]:
    """Declare transports: how the proxy reaches a server (``stdio``, ``sse``, ``streamable-http``).

    Return an empty list to provide none.

    .. versionadded:: 0.1
    """


@_spec
def thv_middleware() -> list[MiddlewareSpec]:
    """Declare ASGI middleware that can sit in front of a workload's transport.

    Return an empty list to provide none.

    The chain is ordered by ``MiddlewareSpec.order`` (lowest is outermost); a workload enables a
    middleware through ``RunConfig.middleware_configs`` entries ``{"type": name, "parameters": {}}``.

    .. versionadded:: 0.1
    """


@_spec
def thv_secrets_providers() -> list[SecretsProviderSpec]:
    """Declare secrets backends (``environment``, ``encrypted``, ``1password``, ``vault`` …).

    Return an empty list to provide none.

    .. versionadded:: 0.1
    """


@_spec
def thv_registry_sources() -> list[RegistrySourceSpec]:
    """Declare sources of MCP server registry entries (built-in catalog, URL, file, registry API).

    Return an empty list to provide none.

    .. versionadded:: 0.1
    """


@_spec
def thv_client_integrations() -> list[ClientSpec]:
    """Declare AI clients whose MCP configuration ToolHive writes (Claude Code, Cursor, VS Code …).

    Return an empty list to provide none.

    .. versionadded:: 0.1
    """


@_spec
def thv_cli_commands() -> list[CommandRef]:
    """Declare extra ``thv`` sub-commands, imported only when invoked.

    Return an empty list to provide none. A name that clashes with a built-in command is an error.

    .. versionadded:: 0.1
    """
