"""The inputs of a build besides the package: base images, extra packages, CA, build env, auth files.

Per scheme defaults are ToolHive's; ``config.yaml runtime_configs.<scheme>`` overrides them and a
``thv run``/``thv build`` flag overrides that (empty values fall back, additional packages merge).
"""

from __future__ import annotations

import os
import re

from pydantic import BaseModel, ConfigDict, Field

from toolhive.builds.schemes import Scheme
from toolhive.errors import InvalidInputError
from toolhive.userpaths import expand_user

#: ToolHive's defaults (``pkg/container/templates``): builder and runtime image per scheme.
DEFAULT_IMAGES: dict[Scheme, tuple[str, str]] = {
    "uvx": ("python:3.14-slim", "python:3.14-slim"),
    "npx": ("node:24-alpine", "node:24-alpine"),
    "go": ("golang:1.26-alpine", "alpine:3.23"),
}

#: Auth file kinds → file name in the builder's home (ToolHive's set).
AUTH_FILES = {"npmrc": ".npmrc", "netrc": ".netrc", "yarnrc": ".yarnrc"}

ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_ENV_VALUE_FORBIDDEN = re.compile(r'[\x00-\x1f\x7f"\\$`]')
_PACKAGE = re.compile(r"^[a-z0-9][a-z0-9+.:=~_-]*$")
_IMAGE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/:@-]*$")
#: Build env keys that redirect package indexes: the public registries then do not apply.
INDEX_KEYS = {
    "PIP_INDEX_URL",
    "UV_INDEX_URL",
    "UV_DEFAULT_INDEX",
    "UV_INDEX",
    "NPM_CONFIG_REGISTRY",
    "GOPROXY",
}


class RuntimeSettings(BaseModel):
    """Builder/runtime images and extra OS packages for one scheme (ToolHive's ``RuntimeConfig``)."""

    model_config = ConfigDict(frozen=True)

    builder_image: str = ""
    runtime_image: str = ""
    additional_packages: list[str] = Field(default_factory=list)

    def merged(self, override: RuntimeSettings | None) -> RuntimeSettings:
        if override is None:
            return self
        packages = list(self.additional_packages)
        packages += [p for p in override.additional_packages if p not in packages]
        return RuntimeSettings(
            builder_image=override.builder_image or self.builder_image,
            runtime_image=override.runtime_image or self.runtime_image,
            additional_packages=packages,
        )


class BuildInputs(BaseModel):
    """Everything besides the package that a Dockerfile and its build context are made from."""

    model_config = ConfigDict(frozen=True)

    runtime: RuntimeSettings
    ca_cert_path: str = ""
    ca_cert: str = Field("", repr=False)
    build_env: dict[str, str] = Field(default_factory=dict, repr=False)
    auth_files: dict[str, str] = Field(default_factory=dict, repr=False)
    build_args: list[str] = Field(default_factory=list)

    @property
    def custom_index(self) -> bool:
        return any(k.upper() in INDEX_KEYS for k in self.build_env)


def validate_env_key(key: str) -> str:
    if not ENV_KEY.match(key):
        msg = f"invalid build env name {key!r}: use letters, digits and '_' (e.g. PIP_INDEX_URL)"
        raise InvalidInputError(msg)
    return key


def validate_env_value(key: str, value: str) -> str:
    if _ENV_VALUE_FORBIDDEN.search(value):
        msg = (
            f"build env {key}: the value may not contain quotes, backslashes, '$', '`' or "
            "control characters (it is written into the Dockerfile)"
        )
        raise InvalidInputError(msg)
    return value


def auth_file_kind(name: str) -> str:
    """``npmrc`` or ``.npmrc`` → ``npmrc``; anything else is refused."""
    kind = name.removeprefix(".")
    if kind not in AUTH_FILES:
        known = ", ".join(sorted(AUTH_FILES))
        msg = f"unknown build auth file {name!r}: use one of {known}"
        raise InvalidInputError(msg)
    return kind


def validate_runtime(settings: RuntimeSettings, where: str) -> RuntimeSettings:
    for image in (settings.builder_image, settings.runtime_image):
        if image and not _IMAGE.match(image):
            msg = f"{where}: invalid image reference {image!r}"
            raise InvalidInputError(msg)
    for package in settings.additional_packages:
        if not _PACKAGE.match(package):
            msg = f"{where}: invalid OS package name {package!r}"
            raise InvalidInputError(msg)
    return settings


def read_ca_cert(path: str) -> str:
    """The PEM text of ``path``; it must hold at least one certificate."""
    try:
        text = expand_user(path, "CA certificate").read_text()
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        msg = f"cannot read CA certificate {path}: {reason}"
        raise InvalidInputError(msg) from None
    if "-----BEGIN CERTIFICATE-----" not in text or "-----END CERTIFICATE-----" not in text:
        msg = f"{path} does not hold a PEM certificate (-----BEGIN CERTIFICATE-----)"
        raise InvalidInputError(msg)
    return text


def load_inputs(
    scheme: Scheme,
    *,
    ca_cert_path: str | None = None,
    runtime_override: RuntimeSettings | None = None,
    build_args: list[str] | None = None,
) -> BuildInputs:
    """Defaults ← ``config.yaml`` ← flags; CA from the flag or ``ca_certificate_path``."""
    from toolhive.appconfig import load_config

    config = load_config()
    builder, runtime = DEFAULT_IMAGES[scheme]
    settings = RuntimeSettings(builder_image=builder, runtime_image=runtime)
    configured = config.runtime_configs.get(scheme)
    if configured is not None:
        from_config = RuntimeSettings.model_validate(configured.model_dump())
        settings = settings.merged(
            validate_runtime(from_config, f"config.yaml runtime_configs.{scheme}")
        )
    if runtime_override is not None:
        settings = settings.merged(validate_runtime(runtime_override, "runtime override"))
    ca_path = ca_cert_path if ca_cert_path is not None else config.ca_certificate_path
    env = {validate_env_key(k): validate_env_value(k, v) for k, v in config.build_env.items()}
    for key in (config.model_extra or {}).get("build_env_from_shell") or []:
        value = os.environ.get(str(key), "")
        if value:
            env[validate_env_key(str(key))] = validate_env_value(str(key), value)
    auth = {auth_file_kind(k): v for k, v in config.build_auth_files.items()}
    return BuildInputs(
        runtime=settings,
        ca_cert_path=str(expand_user(ca_path, "CA certificate").resolve()) if ca_path else "",
        ca_cert=read_ca_cert(ca_path) if ca_path else "",
        build_env=env,
        auth_files=auth,
        build_args=list(build_args or []),
    )
