"""Which registry ``thv`` reads: set, show and reset config.yaml's registry keys.

The one implementation of ``thv config set-registry|get-registry|unset-registry`` and the REST
API's ``PUT``/``GET /api/v1beta/registry/default``. The kind is decided as ToolHive does: an
http(s) URL ending in ``.json`` is a static registry document, any other URL an MCP Registry API
v0.1 server, anything else a local file (``file://`` allowed). A new source is loaded once before
it is saved, so a typo never sticks. A registry's OAuth settings (``registry_auth``, see
:mod:`toolhive.registry.auth`) are set with it and cleared whenever it changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit

from toolhive.errors import InvalidInputError
from toolhive.userpaths import expand_user

if TYPE_CHECKING:
    from toolhive.appconfig import AppConfig
    from toolhive.contracts.registry import RegistrySource
    from toolhive.plugins import Hooks
    from toolhive.registry.auth import OAuthSettings

#: config.yaml keys, in ToolHive's priority order.
KEYS = ("registry_api_url", "registry_url", "local_registry_path")
RegistryKey = Literal["registry_api_url", "registry_url", "local_registry_path"]
#: config.yaml key → ToolHive's registryInfo ``type``.
KINDS: dict[str, str] = {
    "registry_api_url": "api",
    "registry_url": "url",
    "local_registry_path": "file",
}


def kind_and_value(location: str) -> tuple[RegistryKey, str]:
    """The config.yaml key ``location`` belongs in, and the value to store."""
    if location.startswith(("http://", "https://")):
        if urlsplit(location).path.endswith(".json"):
            return "registry_url", location
        return "registry_api_url", location
    path = expand_user(location.removeprefix("file://"), "registry file").resolve()
    return "local_registry_path", str(path)


@dataclass(frozen=True)
class RegistrySetting:
    """What config.yaml says: ``type`` (api, url, file, default), ``source`` ("" for default)."""

    type: str
    source: str
    allow_private_ip: bool


def current(config: AppConfig | None = None) -> RegistrySetting:
    if config is None:
        from toolhive.appconfig import load_config

        config = load_config()
    for key in KEYS:
        value = str(getattr(config, key))
        if value:
            return RegistrySetting(KINDS[key], value, config.allow_private_registry_ip)
    return RegistrySetting("default", "", config.allow_private_registry_ip)


def set_registry(
    hooks: Hooks,
    location: str,
    *,
    allow_private_ip: bool = False,
    key: RegistryKey | None = None,
    auth: OAuthSettings | None = None,
) -> tuple[str, RegistrySource, int | None]:
    """Use the registry at ``location`` (kind from ``key``, else guessed); it is loaded (not from
    a cache) before config.yaml changes. Returns the value stored, the source and its server
    count; a source that cannot be read raises its error (RegistryError and subclasses).

    Any previous ``registry_auth`` is replaced: by ``auth`` (its issuer checked by OIDC discovery
    first) or by none, so a token is never sent to another server. With ``auth`` the registry
    cannot be read before ``thv registry login``: it is opened (URL and address checks) but not
    listed, as ToolHive skips its probe; the count is then ``None``.
    """
    from toolhive.appconfig import load_config, update_config
    from toolhive.registry import auth as registry_auth
    from toolhive.registry.sources import open_registry

    if key is None:
        key, value = kind_and_value(location)
    elif key == "local_registry_path":
        value = kind_and_value(location)[1]
    else:
        value = location
    if auth is not None and key == "local_registry_path":
        msg = "OAuth (--issuer/--client-id) applies to remote registries, not local files"
        raise InvalidInputError(msg)
    oauth = registry_auth.validated(auth) if auth is not None else None
    changes: dict[str, object] = dict.fromkeys(KEYS, "")
    changes |= {key: value, "allow_private_registry_ip": allow_private_ip}
    candidate = load_config().model_copy(update=changes)
    registry_auth.apply(candidate, None)
    source = open_registry(hooks, refresh=True, config=candidate, authenticate=False)
    count = None if oauth is not None else len(source.list_servers())

    def change(config: AppConfig) -> None:
        for name, new in changes.items():
            setattr(config, name, new)
        registry_auth.apply(config, oauth)

    update_config(change)
    return value, source, count


def unset_registry() -> None:
    """Back to the built-in catalog."""
    from toolhive.appconfig import update_config
    from toolhive.registry.auth import apply

    def change(config: AppConfig) -> None:
        for name in KEYS:
            setattr(config, name, "")
        config.allow_private_registry_ip = False
        apply(config, None)  # auth belongs to the registry it was set for

    update_config(change)
