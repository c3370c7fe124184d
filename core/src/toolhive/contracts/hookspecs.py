# mypy: disable-error-code="empty-body"
# (a hook spec is a signature and a docstring: pluggy never calls its body)
"""The hooks: every extension point of ToolHive, and the ``hookimpl`` marker plugins use.

Each hook *declares* what a plugin provides by returning frozen specs
(:mod:`toolhive.contracts.specs`); the host builds name-keyed registries from them, so a duplicate
name is an error naming both distributions. Specs carry lazy ``load``/``factory`` callables: implementing a hook must not import
heavy client libraries. All hooks are collected (not ``firstresult``) unless stated. Hooks are
append-only within a major version; implementations may accept fewer arguments than the spec.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from typing import Any

    from toolhive.contracts.middleware import MiddlewareSpec
    from toolhive.contracts.specs import (
        ClientSpec,
        CommandRef,
        RegistrySourceSpec,
        RuntimeSpec,
        SecretsProviderSpec,
        TransportSpec,
    )

PROJECT = "toolhive"
_spec = pluggy.HookspecMarker(PROJECT)
#: Marks a plugin's hook implementations: ``@hookimpl def thv_runtimes() -> ...``.
hookimpl = pluggy.HookimplMarker(PROJECT)


@_spec
def thv_runtimes() -> list[RuntimeSpec[Any]]:
    """Declare runtimes (container engines or process sandboxes) that can run MCP servers.

    Return an empty list to provide none.

    Each :class:`~toolhive.contracts.RuntimeSpec` names the runtime, says how to detect it cheaply
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
def thv_middleware() -> list[MiddlewareSpec[Any]]:
    """Declare middleware types (ToolHive's names: ``auth``, ``authorization``, ``audit`` …).

    Return an empty list to provide none.

    A workload's chain is its ``RunConfig.middleware_configs`` entries ``{"type", "parameters"}``
    (first outermost) plus what its ``oidc_config``, ``authz_config``, ``audit_config``,
    ``telemetry_config`` and ``tools_filter``/``tools_override`` ask for, placed in ToolHive's
    order (:mod:`toolhive.middleware.plan`). A type no plugin declares refuses the workload.

    .. versionadded:: 0.1
    """


@_spec
def thv_secrets_providers() -> list[SecretsProviderSpec[Any]]:
    """Declare secrets backends (``environment``, ``encrypted``, ``1password``, ``vault`` …).

    Return an empty list to provide none.

    .. versionadded:: 0.1
    """


@_spec
def thv_registry_sources() -> list[RegistrySourceSpec[Any]]:
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
