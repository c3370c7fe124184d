"""The public plugin API: everything a ToolHive plugin may import, and nothing else.

Like ``pytest`` over ``_pytest``: the rest of ``toolhive`` is private to core and may change in any
release; an import-linter contract (``pyproject.toml``) keeps the shipped plugins to this tree.

Declaring a plugin needs only this module::

    from toolhive.contracts import PluginConfig, RuntimeSpec, hookimpl

Implementing one uses the module of its kind (each lists what it exports in ``__all__``):

- :mod:`toolhive.contracts.runtime` — :class:`Runtime`, the values that cross it
  (``DeployRequest``, ``Deployment``, ``ContainerInfo``, ``Mount``, ``StdioChannel``,
  ``ImageBuilder`` …), permission profiles, ``BuildError`` and ``parse_ref``;
- :mod:`toolhive.contracts.pipes` — ``PipeChannel``, a stdio channel over a child's pipes;
- :mod:`toolhive.contracts.transport` — :class:`Transport`, its factory and options, ASGI types;
- :mod:`toolhive.contracts.middleware` — :class:`MiddlewareSpec`, :class:`MiddlewareContext`,
  the parsed MCP request, the caller's :class:`Identity`, JSON-RPC errors;
  :mod:`toolhive.contracts.rewrite` — rewriting JSON-RPC messages in responses (JSON and SSE);
- :mod:`toolhive.contracts.secrets` — :class:`SecretsProvider`, :class:`SecretsProviderBase`,
  the secrets errors;
- :mod:`toolhive.contracts.registry` — :class:`RegistrySource`, ``SourceSettings``, registry
  errors; :mod:`toolhive.contracts.registry_data` — entries, documents and their parsing;
- :mod:`toolhive.contracts.clients` — :class:`ClientIntegration` and the entry it writes;
- :mod:`toolhive.contracts.storage` — ToolHive's directories and atomic, locked writes;
- :mod:`toolhive.contracts.hookspecs`, :mod:`toolhive.contracts.specs` — the hooks and specs.

Names here are loaded on first use (PEP 562): a plugin's entry-point module, imported by every
``thv`` command, pays only for what it touches, and private core modules may import a contracts
submodule without importing the rest of the tree.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from toolhive import __version__

if TYPE_CHECKING:
    from toolhive.contracts.clients import ClientIntegration
    from toolhive.contracts.config import PluginConfig
    from toolhive.contracts.hookspecs import hookimpl
    from toolhive.contracts.middleware import (
        Identity,
        MiddlewareContext,
        MiddlewareParameters,
        MiddlewareSpec,
        ParsedMCPRequest,
        parsed_request,
    )
    from toolhive.contracts.registry import RegistrySource, SourceSettings
    from toolhive.contracts.runtime import Runtime
    from toolhive.contracts.secrets import SecretsProvider, SecretsProviderBase
    from toolhive.contracts.specs import (
        ClientSpec,
        CommandRef,
        RegistrySourceSpec,
        RuntimeDetection,
        RuntimeSpec,
        SecretsCapabilities,
        SecretsProviderSpec,
        TransportSpec,
    )
    from toolhive.contracts.transport import Transport, TransportFactory, TransportOptions
    from toolhive.errors import (
        AlreadyExistsError,
        ImageNotFoundError,
        InvalidInputError,
        NotFoundError,
        PermissionProfileError,
        PluginError,
        PortInUseError,
        RuntimeUnavailableError,
        ToolHiveError,
        WorkloadStateError,
    )

#: Where each public name is defined (a submodule of this package, or core's errors).
_EXPORTS: dict[str, str] = {
    name: module
    for module, names in {
        "toolhive.contracts.hookspecs": ("hookimpl",),
        "toolhive.contracts.config": ("PluginConfig",),
        "toolhive.contracts.specs": (
            "ClientSpec",
            "CommandRef",
            "RegistrySourceSpec",
            "RuntimeDetection",
            "RuntimeSpec",
            "SecretsCapabilities",
            "SecretsProviderSpec",
            "TransportSpec",
        ),
        "toolhive.contracts.middleware": (
            "Identity",
            "MiddlewareContext",
            "MiddlewareParameters",
            "MiddlewareSpec",
            "ParsedMCPRequest",
            "parsed_request",
        ),
        "toolhive.contracts.runtime": ("Runtime",),
        "toolhive.contracts.transport": ("Transport", "TransportFactory", "TransportOptions"),
        "toolhive.contracts.secrets": ("SecretsProvider", "SecretsProviderBase"),
        "toolhive.contracts.registry": ("RegistrySource", "SourceSettings"),
        "toolhive.contracts.clients": ("ClientIntegration",),
        "toolhive.errors": (
            "AlreadyExistsError",
            "ImageNotFoundError",
            "InvalidInputError",
            "NotFoundError",
            "PermissionProfileError",
            "PluginError",
            "PortInUseError",
            "RuntimeUnavailableError",
            "ToolHiveError",
            "WorkloadStateError",
        ),
    }.items()
    for name in names
}

__all__ = [
    "AlreadyExistsError",
    "ClientIntegration",
    "ClientSpec",
    "CommandRef",
    "Identity",
    "ImageNotFoundError",
    "InvalidInputError",
    "MiddlewareContext",
    "MiddlewareParameters",
    "MiddlewareSpec",
    "NotFoundError",
    "ParsedMCPRequest",
    "PermissionProfileError",
    "PluginConfig",
    "PluginError",
    "PortInUseError",
    "RegistrySource",
    "RegistrySourceSpec",
    "Runtime",
    "RuntimeDetection",
    "RuntimeSpec",
    "RuntimeUnavailableError",
    "SecretsCapabilities",
    "SecretsProvider",
    "SecretsProviderBase",
    "SecretsProviderSpec",
    "SourceSettings",
    "ToolHiveError",
    "Transport",
    "TransportFactory",
    "TransportOptions",
    "TransportSpec",
    "WorkloadStateError",
    "__version__",
    "hookimpl",
    "parsed_request",
]


def __getattr__(name: str) -> object:
    module = _EXPORTS.get(name)
    if module is None:
        msg = f"module {__name__!r} has no attribute {name!r}"
        raise AttributeError(msg)
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
