"""What plugins declare: frozen specs returned by the ``thv_*`` hooks.

A spec is cheap to build: it names an extension and carries a ``load``/``factory`` callable that
imports the heavy implementation only when the extension is used. The host collects specs into
name-keyed registries (:mod:`toolhive.plugins`); two plugins declaring the same name is an error.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

# Both are light (pydantic models and Protocols); pydantic needs them at class creation.
from toolhive.runtime import Runtime
from toolhive.transports.base import TransportFactory


class _Spec(BaseModel):
    model_config = ConfigDict(
        frozen=True, arbitrary_types_allowed=True, extra="forbid", defer_build=True
    )

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$", description="Unique within its kind.")
    description: str = ""


class PluginConfig(BaseModel):
    """Base for a plugin's ``config_model``: unknown keys are errors, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class RuntimeDetection(BaseModel):
    """Outcome of probing for one runtime (``thv runtime check`` shows these)."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    name: str
    available: bool
    endpoint: str | None = None
    detail: str = ""


class RuntimeSpec(_Spec):
    """A place to run MCP servers: a container engine or a process sandbox.

    ``detect`` must be light (stdlib only): it is called by ``thv runtime check`` and by runtime
    auto-detection. Lower ``priority`` is tried first. ``load`` builds the runtime and may import
    heavy client libraries.
    """

    priority: int = 100
    is_container: bool = True
    #: Can run ``uvx://``/``npx://``/``go://`` targets (directly, or by building an image).
    runs_package_schemes: bool = False
    config_model: type[PluginConfig] = PluginConfig
    detect: Callable[[Mapping[str, str]], RuntimeDetection]
    load: Callable[[RuntimeDetection, PluginConfig], Runtime]


class TransportSpec(_Spec):
    """How the proxy talks to a server: ``stdio``, ``sse`` or ``streamable-http``.

    ``needs_stdio`` is true when the runtime must attach the server's stdin/stdout.
    """

    needs_stdio: bool = False
    load: Callable[[], TransportFactory]


class MiddlewareSpec(_Spec):
    """An ASGI middleware in front of every workload's transport.

    ``order`` places it in the chain: lower runs first (outermost). ``factory(app, config)``
    returns the wrapped ASGI app; ``config`` is validated against ``config_model`` first.
    """

    order: int = 500
    config_model: type[PluginConfig] = PluginConfig
    factory: Callable[[Any, PluginConfig], Any]


class SecretsCapabilities(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)

    can_read: bool = True
    can_write: bool = False
    can_delete: bool = False
    can_list: bool = False
    can_cleanup: bool = False


class SecretsProviderSpec(_Spec):
    """A secrets backend (``environment``, ``encrypted``, ``1password``, ``vault`` …)."""

    capabilities: SecretsCapabilities = SecretsCapabilities()
    config_model: type[PluginConfig] = PluginConfig
    load: Callable[[PluginConfig], Any]


class RegistrySourceSpec(_Spec):
    """A source of MCP server registry entries. Lower ``priority`` wins (API < URL < file < built-in)."""

    priority: int = 100
    config_model: type[PluginConfig] = PluginConfig
    load: Callable[[PluginConfig], Any]


class ClientSpec(_Spec):
    """An AI client whose MCP configuration file ToolHive keeps in sync (``claude-code``, ``cursor`` …)."""

    load: Callable[[], Any]


class CommandRef(_Spec):
    """A ``thv`` sub-command imported only when invoked: ``target`` is ``"package.module:command"``."""

    name: str = Field(pattern=r"^[a-z][a-z0-9-]*$")
    help: str = ""
    target: str = Field(pattern=r"^[\w.]+:[\w.]+$")
