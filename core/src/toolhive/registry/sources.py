"""Registry sources: what a ``RegistrySourceSpec.load`` returns, and which source is used.

Selection follows ToolHive: registry API (``registry_api_url``) > static URL (``registry_url``) >
local file (``local_registry_path``) > built-in catalog. A source plugin whose spec ``name`` is a
key of :data:`CONFIG_KEYS` is used only when that config.yaml key is set; any other source (the
built-in catalog, a company's own plugin) is always eligible at its ``priority``. The eligible
source with the lowest priority wins; only one source is used at a time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from pydantic import ValidationError

from toolhive.errors import PluginError
from toolhive.registry import lookup
from toolhive.registry.models import Registry, ServerEntry
from toolhive.specs import PluginConfig

if TYPE_CHECKING:
    from toolhive.appconfig import AppConfig
    from toolhive.plugins import Hooks
    from toolhive.specs import RegistrySourceSpec

SourceKind = Literal["api", "url", "file", "default"]

#: spec name → the config.yaml key that turns that source on.
CONFIG_KEYS: dict[str, str] = {
    "api": "registry_api_url",
    "url": "registry_url",
    "file": "local_registry_path",
}


class SourceSettings(PluginConfig):
    """Base ``config_model`` for sources configured from config.yaml. The host fills these fields
    (when the model has them) from config.yaml and the command line; the rest comes from the
    plugin's own section ``plugins: {registry_sources: {<name>: {...}}}``."""

    location: str = ""
    allow_private_ip: bool = False
    refresh: bool = False


@runtime_checkable
class RegistrySource(Protocol):
    """What a registry source plugin's ``load`` returns."""

    #: ``api``, ``url``, ``file`` or ``default`` (built-in), as ToolHive's registryInfo ``type``.
    kind: SourceKind
    #: The URL or path it reads (a label for the built-in catalog).
    location: str

    def list_servers(self) -> list[ServerEntry]:
        """Every entry, sorted by name."""
        ...

    def get(self, name: str) -> ServerEntry | None:
        """The entry with this exact (full) name, or ``None``."""
        ...

    def search(self, query: str) -> list[ServerEntry]:
        """Entries matching ``query`` (name, description, tags)."""
        ...


@dataclass
class DocumentSource:
    """A source backed by one registry document, read once (file, URL, built-in catalog)."""

    kind: SourceKind
    location: str
    read: Callable[[], Registry] = field(repr=False)
    _registry: Registry | None = field(default=None, init=False, repr=False)

    def registry(self) -> Registry:
        if self._registry is None:
            self._registry = self.read()
        return self._registry

    def list_servers(self) -> list[ServerEntry]:
        return self.registry().entries()

    def get(self, name: str) -> ServerEntry | None:
        return next((e for e in self.list_servers() if e.name == name), None)

    def search(self, query: str) -> list[ServerEntry]:
        return lookup.search(self.list_servers(), query)


def resolve(source: RegistrySource, name: str) -> ServerEntry | None:
    """Full name → ``get``; short name → a unique suffix match over the listing."""
    if "/" in name:
        return source.get(name)
    return lookup.find(source.list_servers(), name)


def _plugin_section(config: AppConfig, name: str) -> dict[str, Any]:
    return dict(config.plugins.get("registry_sources", {}).get(name, {}))


def choose_spec(hooks: Hooks, config: AppConfig) -> tuple[RegistrySourceSpec, str | None] | None:
    """The spec to use and the config.yaml key that enabled it (``None`` for always-on ones)."""
    for spec in sorted(hooks.registry_sources().values(), key=lambda s: (s.priority, s.name)):
        key = CONFIG_KEYS.get(spec.name)
        if key is None:
            return spec, None
        if getattr(config, key):
            return spec, key
    return None


def open_registry(
    hooks: Hooks, *, refresh: bool = False, config: AppConfig | None = None
) -> RegistrySource:
    """Load the configured registry source (of ``config``, default: config.yaml's)."""
    if config is None:
        from toolhive.appconfig import load_config

        config = load_config()
    chosen = choose_spec(hooks, config)
    if chosen is None:
        configured = [k for k in CONFIG_KEYS.values() if getattr(config, k)]
        if configured:
            msg = (
                f"config.yaml sets {configured[0]} but no installed plugin reads it; "
                "install toolhive-registry-remote or run `thv config unset-registry`"
            )
        else:
            msg = "no registry source is installed; install toolhive-registry-catalog"
        raise PluginError(msg)
    spec, key = chosen
    raw = _plugin_section(config, spec.name)
    fields = spec.config_model.model_fields
    injected = {
        "location": str(getattr(config, key)) if key else "",
        "allow_private_ip": config.allow_private_registry_ip,
        "refresh": refresh,
    }
    raw |= {k: v for k, v in injected.items() if k in fields and (k != "location" or key)}
    try:
        settings = spec.config_model.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(["plugins", "registry_sources", spec.name, *map(str, err["loc"])])
        msg = f"config.yaml {where}: {err['msg']}"
        raise PluginError(msg) from None
    source = spec.load(settings)
    if not isinstance(source, RegistrySource):
        msg = (
            f"registry source {spec.name!r} returned {type(source).__name__}, not a RegistrySource"
        )
        raise PluginError(msg)
    return source
