"""Plugin discovery and the typed facade over the hooks.

There is no module-level plugin manager: the CLI, the API server and each test build their own
with :func:`build_plugin_manager`. :class:`Hooks` is the only code that calls hook implementations.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, Literal, overload

import pluggy
from pydantic import BaseModel, ValidationError

from toolhive import DISTRIBUTION, __version__
from toolhive.contracts import hookspecs
from toolhive.contracts.clients import ClientIntegration
from toolhive.contracts.config import PluginConfig
from toolhive.contracts.middleware import MiddlewareSpec
from toolhive.contracts.registry import RegistrySource
from toolhive.contracts.runtime import Runtime
from toolhive.contracts.secrets import SecretsProvider
from toolhive.contracts.specs import (
    ClientSpec,
    CommandRef,
    RegistrySourceSpec,
    RuntimeDetection,
    RuntimeSpec,
    SecretsProviderSpec,
    TransportSpec,
)
from toolhive.contracts.transport import TransportFactory
from toolhive.errors import (
    DuplicatePluginError,
    NotFoundError,
    PluginError,
    format_validation_error,
)

ENTRY_POINT_GROUP = "toolhive"

#: Core's own defaults, registered like any plugin and written with the public ``hookimpl`` only.
BUILTIN_PLUGINS: tuple[str, ...] = (
    "toolhive.builtin.transports",
    "toolhive.builtin.secrets_env",
    "toolhive.builtin.clients",
    "toolhive.builtin.middleware",
    "toolhive.builtin.commands",
)

_KINDS: dict[str, tuple[str, type[BaseModel]]] = {
    "runtimes": ("thv_runtimes", RuntimeSpec),
    "transports": ("thv_transports", TransportSpec),
    "middleware": ("thv_middleware", MiddlewareSpec),
    "secrets_providers": ("thv_secrets_providers", SecretsProviderSpec),
    "registry_sources": ("thv_registry_sources", RegistrySourceSpec),
    "client_integrations": ("thv_client_integrations", ClientSpec),
    "cli_commands": ("thv_cli_commands", CommandRef),
}

#: The ``config.yaml`` section of each configurable kind: ``plugins: {<section>: {<name>: {...}}}``.
CONFIG_SECTIONS: dict[str, str] = {
    "runtimes": "runtimes",
    "secrets_providers": "secrets",
    "registry_sources": "registry_sources",
}

#: What each kind's ``load`` must return (a transport's is any callable factory).
_PROTOCOLS: dict[str, type | None] = {
    "runtimes": Runtime,
    "transports": None,
    "secrets_providers": SecretsProvider,
    "registry_sources": RegistrySource,
    "client_integrations": ClientIntegration,
}

LoadableKind = Literal[
    "runtimes", "transports", "secrets_providers", "registry_sources", "client_integrations"
]


@dataclass(frozen=True)
class PluginLoadFailure:
    """An entry point whose import failed; shown by ``thv plugins``."""

    entry_point: str
    distribution: str
    version: str
    error: str


@dataclass(frozen=True)
class PluginSource:
    distribution: str
    version: str
    builtin: bool = False


class ToolHivePluginManager(pluggy.PluginManager):
    """A pluggy manager that remembers where each plugin came from and what failed to load."""

    def __init__(self) -> None:
        super().__init__(hookspecs.PROJECT)
        self.load_failures: list[PluginLoadFailure] = []
        self.sources: dict[str, PluginSource] = {}


def _split_env(value: str | None) -> set[str] | None:
    if value is None:
        return None
    return {part.strip() for part in value.split(",") if part.strip()}


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def load_entrypoint_plugins(
    pm: ToolHivePluginManager, environ: Mapping[str, str] | None = None
) -> None:
    """Register every ``toolhive`` entry point that is allowed, recording import failures.

    ``TOOLHIVE_DISABLE_PLUGINS`` (entry-point or distribution names) and ``TOOLHIVE_LOAD_PLUGINS``
    (an allowlist; empty = none) are applied before anything is imported.
    """
    env = os.environ if environ is None else environ
    disabled = _split_env(env.get("TOOLHIVE_DISABLE_PLUGINS")) or set()
    allowed = _split_env(env.get("TOOLHIVE_LOAD_PLUGINS"))
    seen: dict[str, str] = {}
    for ep in sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        dist = ep.dist.name if ep.dist else "?"
        version = ep.dist.version if ep.dist else "?"
        if ep.name in disabled or dist in disabled:
            pm.set_blocked(ep.name)
            continue
        if ep.name in seen:
            msg = (
                f"plugin {ep.name!r} is declared by both {seen[ep.name]} and {dist} {version}; "
                "uninstall one, or disable it by distribution name with TOOLHIVE_DISABLE_PLUGINS"
            )
            raise DuplicatePluginError(msg)
        seen[ep.name] = f"{dist} {version}"
        if pm.get_plugin(ep.name) is not None:
            continue
        if allowed is not None and ep.name not in allowed and dist not in allowed:
            continue
        if pm.is_blocked(ep.name):
            continue
        try:
            plugin = ep.load()
        except Exception as exc:  # any import-time failure isolates that one plugin
            pm.load_failures.append(
                PluginLoadFailure(ep.name, dist, version, f"{type(exc).__name__}: {exc}")
            )
            continue
        try:
            pm.register(plugin, name=ep.name)
        except pluggy.PluginValidationError as exc:
            msg = f"plugin {ep.name!r} from {dist} {version} is invalid: {exc}"
            raise PluginError(msg) from exc
        pm.sources[ep.name] = PluginSource(dist, version)


def build_plugin_manager(
    *,
    autoload: bool | None = None,
    blocked: Iterable[str] = (),
    plugins: Iterable[object] = (),
    strict: bool | None = None,
    environ: Mapping[str, str] | None = None,
) -> ToolHivePluginManager:
    """Build a fresh plugin manager: entry points, then built-ins, then ``plugins``.

    ``autoload`` defaults to on unless ``TOOLHIVE_DISABLE_PLUGIN_AUTOLOAD`` is set; ``strict``
    (default: ``TOOLHIVE_STRICT_PLUGINS``) turns recorded load failures into a :class:`PluginError`.
    """
    env = os.environ if environ is None else environ
    pm = ToolHivePluginManager()
    pm.add_hookspecs(hookspecs)
    for name in blocked:
        pm.set_blocked(name)
    if autoload is None:
        autoload = not _truthy(env.get("TOOLHIVE_DISABLE_PLUGIN_AUTOLOAD"))
    if autoload:
        load_entrypoint_plugins(pm, env)
    for modname in BUILTIN_PLUGINS:
        if pm.is_blocked(modname):
            continue
        pm.register(importlib.import_module(modname), name=modname)
        pm.sources[modname] = PluginSource(DISTRIBUTION, __version__, builtin=True)
    for plugin in plugins:
        registered = pm.register(plugin)
        if registered is not None:
            mod = getattr(plugin, "__name__", registered)
            pm.sources.setdefault(registered, PluginSource(str(mod).split(".")[0], "", False))
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        name = pm.get_name(exc.plugin) or repr(exc.plugin)
        src = pm.sources.get(name)
        where = f" from {src.distribution} {src.version}".rstrip() if src else ""
        msg = f"plugin {name!r}{where} is invalid: {exc}"
        raise PluginError(msg) from exc
    if strict is None:
        strict = _truthy(env.get("TOOLHIVE_STRICT_PLUGINS"))
    if strict and pm.load_failures:
        lines = "; ".join(
            f"{f.entry_point} ({f.distribution}): {f.error}" for f in pm.load_failures
        )
        msg = f"plugins failed to load: {lines}"
        raise PluginError(msg)
    if _truthy(env.get("TOOLHIVE_TRACE_PLUGINS")):
        pm.trace.root.setwriter(sys.stderr.write)
        pm.enable_tracing()
    return pm


@dataclass
class _Provided:
    plugin: str
    spec: Any


@dataclass
class Hooks:
    """Typed access to the hooks; results are collected once and keyed by name."""

    pm: ToolHivePluginManager
    _cache: dict[str, list[_Provided]] = field(default_factory=dict)

    def _collect(self, kind: str) -> list[_Provided]:
        if kind in self._cache:
            return self._cache[kind]
        hook_name, spec_type = _KINDS[kind]
        impls = list(reversed(getattr(self.pm.hook, hook_name).get_hookimpls()))
        provided: list[_Provided] = []
        # One implementation at a time, so every spec keeps its provenance, but through pluggy
        # (a subset caller), so arguments, wrappers and the trace monitor all apply.
        for impl in impls:
            others = [i.plugin for i in impls if i.plugin is not impl.plugin]
            for result in self.pm.subset_hook_caller(hook_name, remove_plugins=others)():
                if not isinstance(result, list | tuple):
                    msg = (
                        f"plugin {impl.plugin_name!r}: {hook_name}() returned "
                        f"{type(result).__name__}, expected list[{spec_type.__name__}]"
                    )
                    raise PluginError(msg)
                for spec in result:
                    if not isinstance(spec, spec_type):
                        msg = (
                            f"plugin {impl.plugin_name!r}: {hook_name}() returned "
                            f"{type(spec).__name__}, expected {spec_type.__name__}"
                        )
                        raise PluginError(msg)
                    provided.append(_Provided(impl.plugin_name, spec))
        self._cache[kind] = provided
        return provided

    def _registry(self, kind: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        owner: dict[str, str] = {}
        for item in self._collect(kind):
            name = item.spec.name
            if name in out:
                msg = (
                    f"{_noun(kind)} {name!r} provided by both "
                    f"{self.describe(owner[name])} and {self.describe(item.plugin)}"
                )
                raise DuplicatePluginError(msg)
            out[name] = item.spec
            owner[name] = item.plugin
        return out

    def _owner(self, kind: str, name: str) -> str:
        return next(p.plugin for p in self._collect(kind) if p.spec.name == name)

    def describe(self, plugin_name: str) -> str:
        src = self.pm.sources.get(plugin_name)
        return f"{src.distribution} {src.version}".strip() if src else plugin_name

    def runtimes(self) -> dict[str, RuntimeSpec[Any]]:
        return self._registry("runtimes")

    def transports(self) -> dict[str, TransportSpec]:
        return self._registry("transports")

    def middleware(self) -> dict[str, MiddlewareSpec[Any]]:
        return self._registry("middleware")

    def secrets_providers(self) -> dict[str, SecretsProviderSpec[Any]]:
        return self._registry("secrets_providers")

    def registry_sources(self) -> dict[str, RegistrySourceSpec[Any]]:
        return self._registry("registry_sources")

    def client_integrations(self) -> dict[str, ClientSpec]:
        return self._registry("client_integrations")

    def cli_commands(self) -> dict[str, CommandRef]:
        return self._registry("cli_commands")

    @overload
    def load(
        self,
        kind: Literal["runtimes"],
        name: str,
        config: Mapping[str, Any] | None = None,
        *,
        detection: RuntimeDetection | None = None,
    ) -> Runtime: ...
    @overload
    def load(
        self, kind: Literal["transports"], name: str, config: Mapping[str, Any] | None = None
    ) -> TransportFactory: ...
    @overload
    def load(
        self, kind: Literal["secrets_providers"], name: str, config: Mapping[str, Any] | None = None
    ) -> SecretsProvider: ...
    @overload
    def load(
        self, kind: Literal["registry_sources"], name: str, config: Mapping[str, Any] | None = None
    ) -> RegistrySource: ...
    @overload
    def load(
        self,
        kind: Literal["client_integrations"],
        name: str,
        config: Mapping[str, Any] | None = None,
    ) -> ClientIntegration: ...
    def load(
        self,
        kind: LoadableKind,
        name: str,
        config: Mapping[str, Any] | None = None,
        *,
        detection: RuntimeDetection | None = None,
    ) -> object:
        """Build extension ``name`` of ``kind``: validate its settings against the spec's
        ``config_model``, call the spec's ``load`` and check that the result is of the kind's
        protocol. Every error names the plugin (and, for settings, the key path).

        ``config`` is the raw settings mapping; ``None`` reads the user's ``config.yaml``
        (``plugins.<section>.<name>``, see :data:`CONFIG_SECTIONS`). Kinds without settings
        refuse a non-empty ``config``. A runtime is built with ``detection``, probed now if
        not given.
        """
        specs = self._registry(kind)
        if name not in specs:
            known = ", ".join(sorted(specs)) or "none installed"
            msg = f"unknown {_noun(kind)} {name!r} (available: {known}); see `thv plugins`"
            raise NotFoundError(msg)
        spec = specs[name]
        what = f"{_noun(kind)} {name!r} ({self.describe(self._owner(kind, name))})"
        if kind == "runtimes":
            settings = self._settings(kind, name, spec.config_model, config, what)
            result = spec.load(detection or spec.detect(os.environ), settings)
        elif kind in CONFIG_SECTIONS:
            result = spec.load(self._settings(kind, name, spec.config_model, config, what))
        else:
            if config:
                msg = f"{what} takes no settings, got {', '.join(sorted(config))}"
                raise PluginError(msg)
            result = spec.load()
        protocol = _PROTOCOLS[kind]
        if not (isinstance(result, protocol) if protocol else callable(result)):
            expected = protocol.__name__ if protocol else "a callable transport factory"
            msg = f"{what}: load() returned {type(result).__name__}, not {expected}"
            raise PluginError(msg)
        return result

    def _settings(
        self,
        kind: str,
        name: str,
        model: type[PluginConfig],
        config: Mapping[str, Any] | None,
        what: str,
    ) -> PluginConfig:
        section = CONFIG_SECTIONS[kind]
        if config is None:
            # Read only when a configurable extension is loaded: not on `thv --help`.
            from toolhive.appconfig import load_config

            config = load_config().plugins.get(section, {}).get(name, {})
        try:
            return model.model_validate(dict(config))
        except ValidationError as exc:
            where = ("plugins", section, name)
            msg = f"invalid settings for {what}: {format_validation_error(exc, where)}"
            raise PluginError(msg) from None

    def provided_by(self, plugin_name: str) -> dict[str, list[str]]:
        """What one plugin declares, by kind (for ``thv plugins``)."""
        out: dict[str, list[str]] = {}
        for kind in _KINDS:
            names = [p.spec.name for p in self._collect(kind) if p.plugin == plugin_name]
            if names:
                out[kind] = names
        return out


def _noun(kind: str) -> str:
    """``secrets_providers`` → ``secrets provider``."""
    return kind.removesuffix("s").replace("_", " ")


def load_target(target: str) -> Any:
    """Import ``"package.module:attr"``."""
    module, _, attr = target.partition(":")
    obj: Any = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj
