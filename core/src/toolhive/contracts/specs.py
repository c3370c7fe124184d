"""What plugins declare: the frozen specs the ``thv_*`` hooks return.

A spec is cheap to build: it names an extension and carries a ``load`` callable that imports the
heavy implementation only when the extension is used. Specs of configurable kinds are generic in
their config model, so ``load`` is typed with the plugin's own config class::

    RuntimeSpec(name="acme", config_model=AcmeConfig, detect=detect, load=load)
    # load: (RuntimeDetection, AcmeConfig) -> Runtime, checked by mypy

The host (``toolhive.plugins.Hooks.load``) validates the user's raw settings against
``config_model`` and hands ``load`` an instance of exactly that class: a plugin never receives a
config of another type, so it never needs an ``isinstance`` fallback.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

# Light (pydantic models and Protocols) and needed by pydantic when it builds the specs' schemas.
from toolhive.contracts.clients import ClientIntegration
from toolhive.contracts.config import PluginConfig
from toolhive.contracts.registry import RegistrySource
from toolhive.contracts.runtime import Runtime
from toolhive.contracts.secrets import SecretsProvider
from toolhive.contracts.transport import TransportFactory

__all__ = [
    "C",
    "ClientSpec",
    "CommandRef",
    "PluginConfig",
    "RegistrySourceSpec",
    "RuntimeDetection",
    "RuntimeSpec",
    "SecretsCapabilities",
    "SecretsProviderSpec",
    "TransportSpec",
]


class _Spec(BaseModel):
    model_config = ConfigDict(
        frozen=True, arbitrary_types_allowed=True, extra="forbid", defer_build=True
    )

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$", description="Unique within its kind.")
    description: str = ""


#: A plugin's config class, as its spec's ``config_model`` and ``load`` parameter.
C = TypeVar("C", bound=PluginConfig)


class RuntimeDetection(BaseModel):
    """Outcome of probing for one runtime (``thv runtime check`` shows these)."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    name: str
    available: bool
    endpoint: str | None = None
    detail: str = ""


class RuntimeSpec(_Spec, Generic[C]):
    """A place to run MCP servers: a container engine or a process sandbox.

    ``detect`` must be light (stdlib only): it is called by ``thv runtime check`` and by runtime
    auto-detection. Lower ``priority`` is tried first. ``load`` builds the runtime and may import
    heavy client libraries.
    """

    priority: int = 100
    is_container: bool = True
    #: Can run ``uvx://``/``npx://``/``go://`` targets (directly, or by building an image).
    runs_package_schemes: bool = False
    config_model: type[C]
    detect: Callable[[Mapping[str, str]], RuntimeDetection]
    load: Callable[[RuntimeDetection, C], Runtime]


class TransportSpec(_Spec):
    """How the proxy talks to a server: ``stdio``, ``sse`` or ``streamable-http``.

    ``needs_stdio`` is true when the runtime must attach the server's stdin/stdout.
    """

    needs_stdio: bool = False
    load: Callable[[], TransportFactory]


class SecretsCapabilities(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)

    can_read: bool = True
    can_write: bool = False
    can_delete: bool = False
    can_list: bool = False
    can_cleanup: bool = False


class SecretsProviderSpec(_Spec, Generic[C]):
    """A secrets backend (``environment``, ``encrypted``, ``1password``, ``vault`` …)."""

    capabilities: SecretsCapabilities = SecretsCapabilities()
    config_model: type[C]
    load: Callable[[C], SecretsProvider]


class RegistrySourceSpec(_Spec, Generic[C]):
    """A source of MCP server registry entries. Lower ``priority`` wins (API < URL < file < built-in)."""

    priority: int = 100
    config_model: type[C]
    load: Callable[[C], RegistrySource]


class ClientSpec(_Spec):
    """An AI client whose MCP configuration file ToolHive keeps in sync (``claude-code``, ``cursor`` …)."""

    load: Callable[[], ClientIntegration]


class CommandRef(_Spec):
    """A ``thv`` sub-command imported only when invoked: ``target`` is ``"package.module:command"``."""

    name: str = Field(pattern=r"^[a-z][a-z0-9-]*$")
    help: str = ""
    target: str = Field(pattern=r"^[\w.]+:[\w.]+$")
