"""Which registry source is used, and loading it.

Selection follows ToolHive: registry API (``registry_api_url``) > static URL (``registry_url``) >
local file (``local_registry_path``) > built-in catalog. A source plugin whose spec ``name`` is a
key of :data:`CONFIG_KEYS` is used only when that config.yaml key is set; any other source (the
built-in catalog, a company's own plugin) is always eligible at its ``priority``. The eligible
source with the lowest priority wins; only one source is used at a time. What a source implements
is :class:`toolhive.contracts.registry.RegistrySource`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from toolhive.contracts.registry import RegistrySource
from toolhive.errors import PluginError
from toolhive.registry import lookup
from toolhive.registry.models import ServerEntry

if TYPE_CHECKING:
    from toolhive.appconfig import AppConfig
    from toolhive.contracts.specs import RegistrySourceSpec
    from toolhive.plugins import Hooks

#: spec name → the config.yaml key that turns that source on.
CONFIG_KEYS: dict[str, str] = {
    "api": "registry_api_url",
    "url": "registry_url",
    "file": "local_registry_path",
}

#: config.yaml keys of the remote registries that registry_auth applies to.
AUTH_KEYS = ("registry_api_url", "registry_url")


def resolve(source: RegistrySource, name: str) -> ServerEntry | None:
    """Full name → ``get``; short name → a unique suffix match over the listing."""
    if "/" in name:
        return source.get(name)
    return lookup.find(source.list_servers(), name)


def choose_spec(
    hooks: Hooks, config: AppConfig
) -> tuple[RegistrySourceSpec[Any], str | None] | None:
    """The spec to use and the config.yaml key that enabled it (``None`` for always-on ones)."""
    for spec in sorted(hooks.registry_sources().values(), key=lambda s: (s.priority, s.name)):
        key = CONFIG_KEYS.get(spec.name)
        if key is None:
            return spec, None
        if getattr(config, key):
            return spec, key
    return None


def open_registry(
    hooks: Hooks,
    *,
    refresh: bool = False,
    config: AppConfig | None = None,
    authenticate: bool = True,
) -> RegistrySource:
    """Load the configured registry source (of ``config``, default: config.yaml's).

    The source's settings are its own section (``plugins.registry_sources.<name>``) plus, where
    its ``config_model`` has the fields, ``location`` (the config.yaml key that chose it),
    ``allow_private_ip``, ``refresh`` and — for a remote registry with ``registry_auth`` (see
    :mod:`toolhive.registry.auth`), unless ``authenticate`` is false — ``bearer_token``, a valid
    access token (refreshed when needed; no login is :class:`RegistryAuthRequiredError`).
    """
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
    raw = dict(config.plugins.get("registry_sources", {}).get(spec.name, {}))
    fields = spec.config_model.model_fields
    injected = {
        "location": str(getattr(config, key)) if key else "",
        "allow_private_ip": config.allow_private_registry_ip,
        "refresh": refresh,
    }
    raw |= {k: v for k, v in injected.items() if k in fields and (k != "location" or key)}
    raw.pop("bearer_token", None)  # only the host sets it, never config.yaml
    if authenticate and key in AUTH_KEYS and "bearer_token" in fields:
        from toolhive.registry.auth import bearer_token

        token = bearer_token(hooks, config)
        if token is not None:
            raw["bearer_token"] = token
    return hooks.load("registry_sources", spec.name, raw)
