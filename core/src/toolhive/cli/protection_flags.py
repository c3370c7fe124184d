"""ToolHive's protection flags, shared by ``thv run`` and ``thv proxy``: ``--oidc-*``,
``--authz-config``, ``--audit-config``/``--enable-audit``, ``--otel-*``, ``--tools``/``--tools-override``,
``--token-exchange-*``.

They only fill request fields (:class:`~toolhive.workloads.protection_inputs.OIDCOptions`, file
paths, ToolHive's telemetry object); what enforces them is a middleware plugin, and a workload that
asks for one nobody installed is refused before it starts.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from toolhive.workloads.protection_inputs import OIDCOptions, TokenExchangeOptions

F = TypeVar("F", bound=Callable[..., Any])

#: Go (pflag) booleans among these flags: ``--flag`` alone is true, ``--flag=false`` is false.
BOOL_FLAGS = frozenset(
    {
        "--oidc-insecure-allow-http",
        "--jwks-allow-private-ip",
        "--enable-audit",
        "--otel-insecure",
        "--otel-tracing-enabled",
        "--otel-metrics-enabled",
        "--otel-enable-prometheus-metrics-path",
        "--otel-use-legacy-attributes",
    }
)


def _bool(name: str, default: bool, help: str) -> Callable[[F], F]:
    return click.option(
        name,
        type=click.BOOL,
        default=default,
        metavar="[=true|false]",
        show_default=True,
        help=help,
    )


_OPTIONS: list[Callable[[F], F]] = [
    click.option("--oidc-issuer", default="", help="OIDC issuer URL whose tokens are accepted."),
    click.option("--oidc-audience", default="", help="Audience tokens must carry."),
    click.option("--oidc-jwks-url", default="", help="JWKS URL (default: from discovery)."),
    click.option("--oidc-client-id", default="", help="OAuth client id (for introspection)."),
    click.option(
        "--oidc-client-secret", default="", help="OAuth client secret (for introspection)."
    ),
    click.option(
        "--oidc-introspection-url", default="", help="RFC 7662 endpoint for opaque tokens."
    ),
    click.option(
        "--oidc-scopes",
        multiple=True,
        help="Scopes advertised in the protected-resource metadata (comma-separated; repeatable).",
    ),
    _bool("--oidc-insecure-allow-http", False, "Allow an http:// OIDC issuer (development only)."),
    click.option(
        "--resource-url", default="", help="Resource URL in the RFC 9728 metadata (default: ours)."
    ),
    click.option(
        "--jwks-auth-token-file", default="", help="Bearer token file for JWKS/OIDC requests."
    ),
    _bool("--jwks-allow-private-ip", False, "Allow JWKS/OIDC endpoints on private addresses."),
    click.option(
        "--thv-ca-bundle", default="", help="CA bundle for JWKS, discovery and introspection."
    ),
    click.option(
        "--authz-config", default="", help="Authorization (Cedar) config file, JSON or YAML."
    ),
    click.option("--audit-config", default="", help="Audit config file, JSON or YAML."),
    _bool("--enable-audit", False, "Audit every request with the default audit config."),
    click.option("--otel-endpoint", default="", help="OTLP endpoint (host:port or URL)."),
    click.option("--otel-service-name", default="", help="Service name (default thv-<name>)."),
    click.option("--otel-headers", multiple=True, help="OTLP header KEY=VALUE; repeatable."),
    _bool("--otel-insecure", False, "Send OTLP over plain HTTP."),
    _bool("--otel-tracing-enabled", True, "Export traces (with an endpoint)."),
    _bool("--otel-metrics-enabled", True, "Export OTLP metrics (with an endpoint)."),
    click.option(
        "--otel-sampling-rate",
        type=click.FloatRange(0.0, 1.0),
        default=0.1,
        show_default=True,
        help="Trace sampling rate.",
    ),
    click.option(
        "--otel-env-vars",
        multiple=True,
        help="Environment variable names recorded on spans (comma-separated; repeatable).",
    ),
    click.option(
        "--otel-custom-attributes",
        default="",
        help="Resource attributes KEY=VALUE,KEY2=VALUE2.",
    ),
    _bool("--otel-enable-prometheus-metrics-path", False, "Serve Prometheus metrics at /metrics."),
    _bool("--otel-use-legacy-attributes", True, "Emit ToolHive's legacy span attributes too."),
    click.option(
        "--tools",
        multiple=True,
        help="Only these tools are listed and callable (comma-separated; repeatable).",
    ),
    click.option(
        "--tools-override",
        default="",
        help='JSON file {"toolsOverride": {"tool": {"name": …, "description": …}}}.',
    ),
    # ToolHive's help texts (cmd/thv/app/auth_flags.go).
    click.option(
        "--token-exchange-url",
        default="",
        help="OAuth 2.0 token exchange endpoint URL (enables token exchange when provided)",
    ),
    click.option(
        "--token-exchange-client-id",
        default="",
        help="OAuth client ID for token exchange operations",
    ),
    click.option(
        "--token-exchange-client-secret",
        default="",
        help="OAuth client secret for token exchange operations",
    ),
    click.option(
        "--token-exchange-client-secret-file",
        default="",
        help="Path to file containing OAuth client secret for token exchange "
        "(alternative to --token-exchange-client-secret)",
    ),
    click.option(
        "--token-exchange-audience", default="", help="Target audience for exchanged tokens"
    ),
    click.option(
        "--token-exchange-scopes",
        multiple=True,
        help="Scopes to request for exchanged tokens (comma-separated; repeatable)",
    ),
    click.option(
        "--token-exchange-subject-token-type",
        default="",
        help="Type of subject token to exchange. Accepts: access_token (default), "
        "id_token (required for Google STS)",
    ),
    click.option(
        "--token-exchange-header-name",
        default="",
        help="Custom header name for injecting exchanged token "
        "(default: replaces Authorization header)",
    ),
]

#: Go reads the token exchange client secret from here when neither flag gives one.
TOKEN_EXCHANGE_SECRET_ENV = "TOOLHIVE_TOKEN_EXCHANGE_CLIENT_SECRET"

#: The click parameter names the options above fill.
PARAMETERS = frozenset(
    {
        "oidc_issuer",
        "oidc_audience",
        "oidc_jwks_url",
        "oidc_client_id",
        "oidc_client_secret",
        "oidc_introspection_url",
        "oidc_scopes",
        "oidc_insecure_allow_http",
        "resource_url",
        "jwks_auth_token_file",
        "jwks_allow_private_ip",
        "thv_ca_bundle",
        "authz_config",
        "audit_config",
        "enable_audit",
        "otel_endpoint",
        "otel_service_name",
        "otel_headers",
        "otel_insecure",
        "otel_tracing_enabled",
        "otel_metrics_enabled",
        "otel_sampling_rate",
        "otel_env_vars",
        "otel_custom_attributes",
        "otel_enable_prometheus_metrics_path",
        "otel_use_legacy_attributes",
        "tools",
        "tools_override",
        "token_exchange_url",
        "token_exchange_client_id",
        "token_exchange_client_secret",
        "token_exchange_client_secret_file",
        "token_exchange_audience",
        "token_exchange_scopes",
        "token_exchange_subject_token_type",
        "token_exchange_header_name",
    }
)


def protection_options(func: F) -> F:
    """Add every protection flag to a click command."""
    for option in reversed(_OPTIONS):
        func = option(func)
    return func


def given_parameters(ctx: click.Context) -> frozenset[str]:
    """The parameters the user set on the command line (config.yaml fills only the others)."""
    source = click.core.ParameterSource.COMMANDLINE
    return frozenset(name for name in ctx.params if ctx.get_parameter_source(name) == source)


def _split(items: Collection[str]) -> list[str]:
    return [part.strip() for item in items for part in item.split(",") if part.strip()]


def _pairs(items: Collection[str], flag: str) -> dict[str, str]:
    from toolhive.workloads.runconfig_builder import parse_key_values

    return parse_key_values(list(items), flag)


def _go_float(value: float) -> str:
    """Go's ``FormatFloat(v, 'f', -1, 64)``: ``0.1``, ``1``."""
    text = repr(float(value))
    return text.removesuffix(".0")


def telemetry_config(
    opts: Mapping[str, Any], given: Collection[str], defaults: Mapping[str, Any]
) -> dict[str, Any] | None:
    """ToolHive's telemetry config from ``--otel-*`` and ``thv config otel`` defaults, or ``None``.

    As ToolHive: a flag on the command line wins, else config.yaml's ``otel`` value, else the
    flag's default; nothing is configured without an endpoint or the Prometheus path, nor when
    every signal is off.
    """

    def pick(param: str, key: str, *, unset: Any = None) -> Any:
        if param in given or defaults.get(key, unset) in (unset, None):
            return opts[param]
        return defaults[key]

    endpoint = str(pick("otel_endpoint", "endpoint", unset=""))
    prometheus = bool(pick("otel_enable_prometheus_metrics_path", "enable-prometheus-metrics-path"))
    if not endpoint and not prometheus:
        return None
    tracing = bool(pick("otel_tracing_enabled", "tracing-enabled"))
    metrics = bool(pick("otel_metrics_enabled", "metrics-enabled"))
    if not tracing and not metrics and not prometheus:
        return None
    env_vars = opts["otel_env_vars"]
    if "otel_env_vars" not in given and defaults.get("env-vars"):
        env_vars = defaults["env-vars"]
    headers = _pairs(opts["otel_headers"], "--otel-headers")
    attributes = _pairs(_split([opts["otel_custom_attributes"]]), "--otel-custom-attributes")
    out: dict[str, Any] = {
        "endpoint": endpoint,
        "serviceName": opts["otel_service_name"],
        "tracingEnabled": tracing,
        "metricsEnabled": metrics,
        "samplingRate": _go_float(pick("otel_sampling_rate", "sampling-rate", unset=0.0)),
        "headers": headers,
        "insecure": bool(pick("otel_insecure", "insecure")),
        "enablePrometheusMetricsPath": prometheus,
        "environmentVariables": _split(env_vars),
        "customAttributes": attributes,
        "useLegacyAttributes": bool(pick("otel_use_legacy_attributes", "use-legacy-attributes")),
    }
    return {k: v for k, v in out.items() if v not in ("", {}, [])}


def oidc_options(opts: Mapping[str, Any]) -> OIDCOptions:
    """The ``--oidc-*`` (and JWKS/CA) flags a command has; ``thv serve`` has only some."""
    from toolhive.workloads.protection_inputs import OIDCOptions

    return OIDCOptions(
        issuer=opts["oidc_issuer"],
        audience=opts["oidc_audience"],
        jwks_url=opts["oidc_jwks_url"],
        introspection_url=opts["oidc_introspection_url"],
        client_id=opts["oidc_client_id"],
        client_secret=opts["oidc_client_secret"],
        scopes=_split(opts["oidc_scopes"]),
        resource_url=opts.get("resource_url", ""),
        insecure_allow_http=opts["oidc_insecure_allow_http"],
        jwks_allow_private_ip=opts["jwks_allow_private_ip"],
        ca_bundle=opts.get("thv_ca_bundle", ""),
        jwks_auth_token_file=opts.get("jwks_auth_token_file", ""),
    )


def token_exchange_options(
    opts: Mapping[str, Any], environ: Mapping[str, str] | None = None
) -> TokenExchangeOptions | None:
    """The ``--token-exchange-*`` flags, or ``None`` without ``--token-exchange-url``. The secret
    as Go's ``resolveSecret`` finds it: the flag, else the file, else the environment."""
    import os

    from toolhive.workloads.protection_inputs import TokenExchangeOptions

    if not opts.get("token_exchange_url"):
        return None
    secret = opts["token_exchange_client_secret"]
    secret_file = opts["token_exchange_client_secret_file"]
    if not secret and not secret_file:
        secret = (os.environ if environ is None else environ).get(TOKEN_EXCHANGE_SECRET_ENV, "")
    return TokenExchangeOptions(
        url=opts["token_exchange_url"],
        client_id=opts["token_exchange_client_id"],
        client_secret=secret,
        client_secret_file=secret_file,
        audience=opts["token_exchange_audience"],
        scopes=_split(opts["token_exchange_scopes"]),
        header_name=opts["token_exchange_header_name"],
        subject_token_type=opts["token_exchange_subject_token_type"],
    )


def protection_request_fields(
    opts: Mapping[str, Any], given: Collection[str], otel_defaults: Mapping[str, Any]
) -> dict[str, Any]:
    """:class:`~toolhive.workloads.request.RunRequest` fields for the protection flags."""
    from toolhive.workloads.protection_inputs import OIDCOptions, load_tools_override

    oidc = oidc_options(opts)
    return {
        "oidc": oidc if oidc != OIDCOptions() else None,
        "authz_config": opts["authz_config"],
        "audit_config": opts["audit_config"],
        "enable_audit": opts["enable_audit"],
        "telemetry_config": telemetry_config(opts, given, otel_defaults),
        "tools": _split(opts["tools"]),
        "tools_override": (
            load_tools_override(opts["tools_override"]) if opts["tools_override"] else {}
        ),
        "token_exchange": token_exchange_options(opts),
    }
