"""ToolHive's application config: ``$XDG_CONFIG_HOME/toolhive/config.yaml`` (ToolHive's keys).

Read on demand (``yaml`` is imported only here), updated under a lock with an atomic write, and
unknown keys are kept so a config written by ToolHive (Go) survives our edits.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from toolhive.errors import InvalidInputError, format_validation_error
from toolhive.state import paths
from toolhive.state.atomic import locked, write_atomic


class _Section(BaseModel):
    model_config = ConfigDict(extra="allow")


class SecretsConfig(_Section):
    provider_type: str = ""
    setup_completed: bool = False


class ClientsConfig(_Section):
    registered_clients: list[str] = Field(default_factory=list)


class RuntimeImageConfig(_Section):
    """Per protocol scheme (``uvx``, ``npx``, ``go``) builder/runtime settings for image builds."""

    builder_image: str = ""
    runtime_image: str = ""
    additional_packages: list[str] = Field(default_factory=list)


class RegistryOAuthConfig(_Section):
    """ToolHive's ``registry_auth.oauth`` (Go's ``oidc.ClientConfig``): where to log in, and the
    *name* of the secret holding the refresh token plus the access token's expiry — never a
    token."""

    issuer: str = ""
    client_id: str = ""
    scopes: list[str] = Field(default_factory=list)
    audience: str = ""
    callback_port: int = 0
    cached_refresh_token_ref: str = ""
    cached_token_expiry: datetime | None = None


class RegistryAuthConfig(_Section):
    """``registry_auth``: ``type`` is ``oauth`` or empty (none)."""

    type: str = ""
    oauth: RegistryOAuthConfig | None = None


class AppConfig(_Section):
    secrets: SecretsConfig = Field(default_factory=SecretsConfig)
    clients: ClientsConfig = Field(default_factory=ClientsConfig)
    registry_url: str = ""
    registry_api_url: str = ""
    local_registry_path: str = ""
    allow_private_registry_ip: bool = False
    ca_certificate_path: str = ""
    build_env: dict[str, str] = Field(default_factory=dict)
    build_auth_files: dict[str, str] = Field(default_factory=dict)
    runtime_configs: dict[str, RuntimeImageConfig] = Field(default_factory=dict)
    disable_usage_metrics: bool = False
    registry_auth: RegistryAuthConfig = Field(default_factory=RegistryAuthConfig)
    otel: dict[str, Any] = Field(default_factory=dict)
    #: Per-plugin settings, keyed by plugin kind then name (e.g. ``runtimes: {docker: {...}}``).
    plugins: dict[str, dict[str, dict[str, Any]]] = Field(default_factory=dict)


def load_config() -> AppConfig:
    """The current config; defaults when the file does not exist."""
    import yaml

    path = paths.config_file()
    try:
        text = path.read_text()
    except FileNotFoundError:
        return AppConfig()
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        msg = f"{path} is not valid YAML ({exc}); fix or remove it"
        raise InvalidInputError(msg) from None
    if not isinstance(data, dict):
        msg = f"{path} must hold a mapping of settings"
        raise InvalidInputError(msg)
    try:
        return AppConfig.model_validate(data)
    except ValidationError as exc:
        msg = f"{path}: {format_validation_error(exc)}"
        raise InvalidInputError(msg) from None


def save_config(config: AppConfig) -> None:
    import yaml

    data = config.model_dump(mode="json", exclude_defaults=True)
    write_atomic(paths.config_file(), yaml.safe_dump(data, sort_keys=False))


def update_config(change: Callable[[AppConfig], AppConfig | None]) -> AppConfig:
    """Read, change and write the config under its lock; ``change`` may mutate or return a copy."""
    path = paths.config_file()
    with locked(path):
        config = load_config()
        result = change(config)
        config = result if result is not None else config
        save_config(config)
    return config
