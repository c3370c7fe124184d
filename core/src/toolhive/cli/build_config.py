"""``thv config`` settings for protocol-scheme builds: CA certificate, build env, auth files and
builder/runtime images per scheme (``ca_certificate_path``, ``build_env``, ``build_env_from_shell``,
``build_auth_files``, ``runtime_configs`` in config.yaml)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from toolhive.appconfig import AppConfig, RuntimeImageConfig, load_config, update_config
from toolhive.builds.schemes import SCHEMES
from toolhive.builds.settings import (
    AUTH_FILES,
    DEFAULT_IMAGES,
    RuntimeSettings,
    auth_file_kind,
    read_ca_cert,
    validate_env_key,
    validate_env_value,
    validate_runtime,
)
from toolhive.cli.output import FORMAT_OPTION, echo_json
from toolhive.errors import InvalidInputError, NotFoundError
from toolhive.userpaths import expand_user

FROM_SHELL = "build_env_from_shell"


def _shell_keys(config: AppConfig) -> list[str]:
    return [str(k) for k in (config.model_extra or {}).get(FROM_SHELL) or []]


def _set_shell_keys(config: AppConfig, keys: list[str]) -> None:
    extra = config.model_extra if config.model_extra is not None else {}
    if keys:
        extra[FROM_SHELL] = sorted(set(keys))
    else:
        extra.pop(FROM_SHELL, None)


# --- CA certificate -------------------------------------------------------------------------------


@click.command("set-ca-cert")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
def set_ca_cert(path: Path) -> None:
    """Trust the CA certificate (PEM) at PATH in every protocol-scheme build."""
    read_ca_cert(str(path))  # refuse a file that is not a certificate now, not at build time
    resolved = str(expand_user(path, "set-ca-cert").resolve())

    def change(config: AppConfig) -> None:
        config.ca_certificate_path = resolved

    update_config(change)
    click.echo(f"Builds now trust the CA certificate {resolved}")


@click.command("get-ca-cert")
def get_ca_cert() -> None:
    """Show the CA certificate builds trust."""
    path = load_config().ca_certificate_path
    if not path:
        click.echo("No CA certificate is configured")
        return
    state = "" if Path(path).is_file() else " (missing: set it again or unset it)"
    click.echo(f"{path}{state}")


@click.command("unset-ca-cert")
def unset_ca_cert() -> None:
    """Stop trusting the configured CA certificate in builds."""

    def change(config: AppConfig) -> None:
        config.ca_certificate_path = ""

    update_config(change)
    click.echo("CA certificate removed from the build settings")


# --- build env ------------------------------------------------------------------------------------


@click.command("set-build-env")
@click.argument("key")
@click.argument("value", required=False)
@click.option(
    "--from-env", is_flag=True, help="Read the value from thv's environment at build time."
)
def set_build_env(key: str, value: str | None, from_env: bool) -> None:
    """Set a build environment variable (builder stage only, never in the final image)."""
    validate_env_key(key)
    if from_env == (value is not None):
        msg = "give either a VALUE or --from-env (the value is then read at build time)"
        raise InvalidInputError(msg)

    def change(config: AppConfig) -> None:
        shell = [k for k in _shell_keys(config) if k != key]
        config.build_env.pop(key, None)
        if from_env:
            shell.append(key)
        else:
            assert value is not None
            config.build_env[key] = validate_env_value(key, value)
        _set_shell_keys(config, shell)

    update_config(change)
    click.echo(f"Build env {key} set" + (" (from the environment)" if from_env else ""))


@click.command("get-build-env")
@click.argument("key", required=False)
@FORMAT_OPTION
def get_build_env(key: str | None, fmt: str) -> None:
    """Show build environment variables (all, or KEY)."""
    config = load_config()
    rows = {k: v for k, v in config.build_env.items()}
    shell = _shell_keys(config)
    if key is not None:
        if key not in rows and key not in shell:
            msg = f"build env {key} is not set (see `thv config get-build-env`)"
            raise NotFoundError(msg)
        rows = {key: rows[key]} if key in rows else {}
        shell = [key] if key in shell else []
    if fmt == "json":
        echo_json({"build_env": rows, "build_env_from_shell": shell})
        return
    if not rows and not shell:
        click.echo("No build environment variables are configured")
    for k, v in sorted(rows.items()):
        click.echo(f"{k}={v}")
    for k in shell:
        click.echo(f"{k} (from the environment)")


@click.command("unset-build-env")
@click.argument("key", required=False)
@click.option("--all", "all_", is_flag=True, help="Remove every build environment variable.")
def unset_build_env(key: str | None, all_: bool) -> None:
    """Remove a build environment variable (or --all)."""
    if all_ == (key is not None):
        msg = "give a KEY or --all"
        raise InvalidInputError(msg)

    def change(config: AppConfig) -> None:
        if all_:
            config.build_env.clear()
            _set_shell_keys(config, [])
            return
        assert key is not None
        shell = _shell_keys(config)
        if key not in config.build_env and key not in shell:
            msg = f"build env {key} is not set"
            raise NotFoundError(msg)
        config.build_env.pop(key, None)
        _set_shell_keys(config, [k for k in shell if k != key])

    update_config(change)
    click.echo("All build env variables removed" if all_ else f"Build env {key} removed")


# --- auth files -----------------------------------------------------------------------------------


@click.command("set-build-auth-file")
@click.argument("name")
@click.argument("content", required=False)
@click.option("--stdin", "from_stdin", is_flag=True, help="Read the content from standard input.")
def set_build_auth_file(name: str, content: str | None, from_stdin: bool) -> None:
    """Store an auth file (npmrc, netrc, yarnrc) for the builder stage; never in the final image.

    The content is kept in config.yaml (mode 0600)."""
    kind = auth_file_kind(name)
    if from_stdin == (content is not None):
        msg = "give the CONTENT or --stdin"
        raise InvalidInputError(msg)
    text = sys.stdin.read() if from_stdin else str(content)
    if not text.strip():
        msg = f"the {AUTH_FILES[kind]} content is empty"
        raise InvalidInputError(msg)

    def change(config: AppConfig) -> None:
        config.build_auth_files[kind] = text if text.endswith("\n") else text + "\n"

    update_config(change)
    click.echo(f"Build auth file {AUTH_FILES[kind]} set")


@click.command("get-build-auth-file")
@click.argument("name", required=False)
@click.option("--show-content", is_flag=True, help="Print the content (it may hold credentials).")
def get_build_auth_file(name: str | None, show_content: bool) -> None:
    """List the configured auth files (or one, with --show-content)."""
    files = load_config().build_auth_files
    kinds = [auth_file_kind(name)] if name else sorted(files)
    if name and kinds[0] not in files:
        msg = f"no {AUTH_FILES[kinds[0]]} is configured"
        raise NotFoundError(msg)
    if not kinds:
        click.echo("No build auth files are configured")
    for kind in kinds:
        if show_content:
            click.echo(f"# {AUTH_FILES[kind]}\n{files[kind]}", nl=False)
        else:
            click.echo(f"{AUTH_FILES[kind]} (configured; --show-content prints it)")


@click.command("unset-build-auth-file")
@click.argument("name", required=False)
@click.option("--all", "all_", is_flag=True, help="Remove every auth file.")
def unset_build_auth_file(name: str | None, all_: bool) -> None:
    """Remove a build auth file (or --all)."""
    if all_ == (name is not None):
        msg = "give a NAME or --all"
        raise InvalidInputError(msg)
    kind = "" if all_ else auth_file_kind(str(name))

    def change(config: AppConfig) -> None:
        if all_:
            config.build_auth_files.clear()
        elif config.build_auth_files.pop(kind, None) is None:
            msg = f"no {AUTH_FILES[kind]} is configured"
            raise NotFoundError(msg)

    update_config(change)
    click.echo(
        "All build auth files removed" if all_ else f"Build auth file {AUTH_FILES[kind]} removed"
    )


# --- builder / runtime images per scheme -----------------------------------------------------------

_SCHEME = click.Choice(list(SCHEMES))


@click.command("set-runtime-config")
@click.argument("scheme", type=_SCHEME)
@click.option("--builder-image", default="", help="Image the package is installed in.")
@click.option("--runtime-image", default="", help="Base image of the built server image.")
@click.option("--add-package", "packages", multiple=True, help="OS package to add; repeatable.")
def set_runtime_config(
    scheme: str, builder_image: str, runtime_image: str, packages: tuple[str, ...]
) -> None:
    """Set the builder/runtime images (and extra OS packages) for SCHEME builds."""
    if not (builder_image or runtime_image or packages):
        msg = "give --builder-image, --runtime-image and/or --add-package"
        raise InvalidInputError(msg)
    settings = validate_runtime(
        RuntimeSettings(
            builder_image=builder_image,
            runtime_image=runtime_image,
            additional_packages=list(packages),
        ),
        "set-runtime-config",
    )

    def change(config: AppConfig) -> None:
        config.runtime_configs[scheme] = RuntimeImageConfig(**settings.model_dump())

    update_config(change)
    click.echo(f"{scheme} builds: {_describe(scheme, settings)}")


def _describe(scheme: str, settings: RuntimeSettings) -> str:
    builder, runtime = DEFAULT_IMAGES[scheme]  # type: ignore[index]
    packages = ", ".join(settings.additional_packages) or "none"
    return (
        f"builder {settings.builder_image or builder}, runtime {settings.runtime_image or runtime}, "
        f"extra packages {packages}"
    )


@click.command("get-runtime-config")
@click.argument("scheme", type=_SCHEME, required=False)
@FORMAT_OPTION
def get_runtime_config(scheme: str | None, fmt: str) -> None:
    """Show the builder/runtime images per scheme (configured or default)."""
    config = load_config()
    out: dict[str, dict[str, object]] = {}
    for name in [scheme] if scheme else list(SCHEMES):
        configured = config.runtime_configs.get(name)
        settings = RuntimeSettings.model_validate(configured.model_dump() if configured else {})
        builder, runtime = DEFAULT_IMAGES[name]  # type: ignore[index]
        out[name] = {
            "builder_image": settings.builder_image or builder,
            "runtime_image": settings.runtime_image or runtime,
            "additional_packages": list(settings.additional_packages),
            "configured": configured is not None,
        }
    if fmt == "json":
        echo_json(out)
        return
    for name, row in out.items():
        source = "configured" if row["configured"] else "default"
        packages = ", ".join(row["additional_packages"]) or "none"  # type: ignore[arg-type]
        click.echo(
            f"{name}: builder {row['builder_image']}, runtime {row['runtime_image']}, "
            f"extra packages {packages} ({source})"
        )


@click.command("unset-runtime-config")
@click.argument("scheme", type=_SCHEME, required=False)
@click.option("--all", "all_", is_flag=True, help="Back to the defaults for every scheme.")
def unset_runtime_config(scheme: str | None, all_: bool) -> None:
    """Go back to the default builder/runtime images for SCHEME (or --all)."""
    if all_ == (scheme is not None):
        msg = "give a SCHEME or --all"
        raise InvalidInputError(msg)

    def change(config: AppConfig) -> None:
        if all_:
            config.runtime_configs.clear()
        else:
            config.runtime_configs.pop(str(scheme), None)

    update_config(change)
    click.echo("Default images for every scheme" if all_ else f"Default images for {scheme}")
