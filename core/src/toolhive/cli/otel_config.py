"""``thv config otel``: OpenTelemetry defaults for ``thv run`` (config.yaml's ``otel`` section).

Keys and messages are ToolHive's (``endpoint``, ``sampling-rate``, ``env-vars``,
``metrics-enabled``, ``tracing-enabled``, ``insecure``, ``enable-prometheus-metrics-path``,
``use-legacy-attributes``); a ``--otel-*`` flag given to ``thv run`` wins over them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from toolhive.appconfig import AppConfig, load_config, update_config
from toolhive.errors import InvalidInputError

_TRUE = {"1", "t", "true", "yes", "y", "on"}
_FALSE = {"0", "f", "false", "no", "n", "off"}


@click.group("otel")
def otel() -> None:
    """Manage OpenTelemetry configuration (defaults for `thv run --otel-*`)."""


def _store(key: str, value: Any) -> None:
    def change(config: AppConfig) -> None:
        if value is None:
            config.otel.pop(key, None)
        else:
            config.otel[key] = value

    update_config(change)


def _parse_endpoint(text: str) -> str:
    if text.startswith(("http://", "https://")):
        msg = "endpoint URL should not start with http:// or https://"
        raise InvalidInputError(msg)
    if not text.strip():
        msg = "the endpoint is empty: give host:port, e.g. localhost:4318"
        raise InvalidInputError(msg)
    return text.strip()


def _parse_rate(text: str) -> float:
    try:
        rate = float(text)
    except ValueError:
        msg = f"invalid sampling rate format: {text!r} is not a number"
        raise InvalidInputError(msg) from None
    if not 0.0 <= rate <= 1.0:
        msg = "sampling rate must be between 0.0 and 1.0"
        raise InvalidInputError(msg)
    return rate


def _parse_bool(what: str) -> Callable[[str], bool]:
    def parse(text: str) -> bool:
        lowered = text.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        msg = f"invalid boolean value for {what} flag: {text!r} (use true or false)"
        raise InvalidInputError(msg)

    return parse


def _parse_env_vars(text: str) -> list[str]:
    names = [part.strip() for part in text.split(",") if part.strip()]
    if not names:
        msg = "give at least one environment variable name, e.g. NODE_ENV,DEPLOYMENT_ENV"
        raise InvalidInputError(msg)
    return names


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:f}"
    if isinstance(value, list):
        return "[" + " ".join(str(v) for v in value) + "]"
    return str(value)


def _setting(key: str, title: str, parse: Callable[[str], Any], metavar: str) -> None:
    """Register ``set-KEY VALUE``, ``get-KEY`` and ``unset-KEY``."""

    @otel.command(f"set-{key}", help=f"Set the OpenTelemetry {title}.")
    @click.argument("value", metavar=metavar)
    def set_value(value: str) -> None:
        parsed = parse(value)
        _store(key, parsed)
        click.echo(f"Successfully set OpenTelemetry {title}: {_show(parsed)}")

    @otel.command(f"get-{key}", help=f"Show the configured OpenTelemetry {title}.")
    def get_value() -> None:
        value = load_config().otel.get(key)
        if value in (None, "", []):
            verb = "are" if title.endswith("s") else "is"
            click.echo(f"No OpenTelemetry {title} {verb} currently configured.")
        else:
            click.echo(f"Current OpenTelemetry {title}: {_show(value)}")

    @otel.command(f"unset-{key}", help=f"Remove the configured OpenTelemetry {title}.")
    def unset_value() -> None:
        _store(key, None)
        click.echo(f"Successfully removed OpenTelemetry {title} configuration.")


_setting("endpoint", "endpoint", _parse_endpoint, "HOST:PORT")
_setting("sampling-rate", "sampling rate", _parse_rate, "RATE")
_setting("env-vars", "environment variables", _parse_env_vars, "VAR1,VAR2")
_setting("metrics-enabled", "metrics enabled", _parse_bool("metrics enabled"), "BOOL")
_setting("tracing-enabled", "tracing enabled", _parse_bool("tracing enabled"), "BOOL")
_setting("insecure", "insecure", _parse_bool("insecure"), "BOOL")
_setting(
    "enable-prometheus-metrics-path",
    "Prometheus metrics path",
    _parse_bool("enable Prometheus metrics path"),
    "BOOL",
)
_setting(
    "use-legacy-attributes",
    "legacy attributes",
    _parse_bool("use legacy attributes"),
    "BOOL",
)
