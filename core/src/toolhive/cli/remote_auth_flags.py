"""ToolHive's ``--remote-auth*`` flags, shared by ``thv run`` and ``thv proxy``: how the proxy
authenticates to a remote MCP server — an OAuth login (discovered from the server's 401, or from
``--remote-auth-issuer`` / ``--remote-auth-authorize-url`` + ``--remote-auth-token-url``) or a
static bearer token.

They only fill a :class:`~toolhive.models.remote.RemoteAuthConfig` (ToolHive's
``remote_auth_config``). A client secret or bearer token given literally stays in memory until
the workload is admitted, which moves it into the secrets provider and keeps a reference
(:func:`toolhive.workloads.remote_login.stash_remote_secrets`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import click

from toolhive.errors import InvalidInputError

if TYPE_CHECKING:
    from toolhive.models.remote import RemoteAuthConfig

F = TypeVar("F", bound=Callable[..., Any])

#: Go (pflag) booleans among these flags.
BOOL_FLAGS = frozenset({"--remote-auth", "--remote-auth-skip-browser"})
#: Read when neither --remote-auth-bearer-token nor its file is given (ToolHive's variable).
BEARER_ENV = "TOOLHIVE_REMOTE_AUTH_BEARER_TOKEN"
#: ToolHive waits 30 s for the browser login; a first sign-in (account, MFA, consent) or one
#: started from the web UI often takes longer.
DEFAULT_TIMEOUT = "5m"

_OPTIONS: list[Callable[[F], F]] = [
    click.option(
        "--remote-auth",
        type=click.BOOL,
        default=False,
        metavar="[=true|false]",
        help="Enable OAuth/OIDC authentication to the remote MCP server (it is also used "
        "whenever the server answers 401).",
    ),
    click.option(
        "--remote-auth-issuer",
        default="",
        help="OAuth/OIDC issuer URL for remote server authentication "
        "(e.g. https://accounts.google.com).",
    ),
    click.option(
        "--remote-auth-client-id",
        default="",
        help="OAuth client ID (optional if the authorization server supports dynamic client "
        "registration, RFC 7591).",
    ),
    click.option(
        "--remote-auth-client-secret",
        default="",
        help="OAuth client secret (optional with dynamic registration or PKCE); kept in the "
        "secrets provider, never in the RunConfig.",
    ),
    click.option(
        "--remote-auth-client-secret-file",
        default="",
        help="File holding the OAuth client secret (alternative to --remote-auth-client-secret).",
    ),
    click.option(
        "--remote-auth-scopes",
        multiple=True,
        help="OAuth scopes to request (comma-separated or repeated; default: what the server "
        "or its authorization server advertises).",
    ),
    click.option(
        "--remote-auth-scope-param-name",
        default="",
        help="Query parameter for scopes in the authorization URL (e.g. user_scope for Slack).",
    ),
    click.option(
        "--remote-auth-skip-browser",
        type=click.BOOL,
        default=False,
        metavar="[=true|false]",
        help="Print the authorization URL instead of opening a browser.",
    ),
    click.option(
        "--remote-auth-timeout",
        default=DEFAULT_TIMEOUT,
        show_default=True,
        help="How long to wait for the browser login (e.g. 30s, 1m, 2m30s).",
    ),
    click.option(
        "--remote-auth-callback-port",
        type=click.IntRange(0, 65535),
        default=8666,
        show_default=True,
        help="Port of the loopback OAuth callback (http://localhost:PORT/callback).",
    ),
    click.option(
        "--remote-auth-authorize-url",
        default="",
        help="OAuth authorization endpoint (alternative to --remote-auth-issuer for non-OIDC OAuth).",
    ),
    click.option(
        "--remote-auth-token-url",
        default="",
        help="OAuth token endpoint (alternative to --remote-auth-issuer for non-OIDC OAuth).",
    ),
    click.option(
        "--remote-auth-resource",
        default="",
        help="OAuth 2.0 resource indicator, RFC 8707 (default: the server's own URL).",
    ),
    click.option(
        "--remote-auth-bearer-token",
        default="",
        help=f"Static bearer token for the remote server (alternative to OAuth; also ${BEARER_ENV}); "
        "kept in the secrets provider.",
    ),
    click.option(
        "--remote-auth-bearer-token-file",
        default="",
        help="File holding the bearer token (alternative to --remote-auth-bearer-token).",
    ),
]

#: The click parameter names the options above fill.
PARAMETERS = frozenset(
    {
        "remote_auth",
        "remote_auth_issuer",
        "remote_auth_client_id",
        "remote_auth_client_secret",
        "remote_auth_client_secret_file",
        "remote_auth_scopes",
        "remote_auth_scope_param_name",
        "remote_auth_skip_browser",
        "remote_auth_timeout",
        "remote_auth_callback_port",
        "remote_auth_authorize_url",
        "remote_auth_token_url",
        "remote_auth_resource",
        "remote_auth_bearer_token",
        "remote_auth_bearer_token_file",
    }
)

_EXCLUSIVE = (
    ("remote_auth_issuer", "remote_auth_authorize_url"),
    ("remote_auth_issuer", "remote_auth_token_url"),
    ("remote_auth_client_secret", "remote_auth_client_secret_file"),
    ("remote_auth_bearer_token", "remote_auth_bearer_token_file"),
)


def remote_auth_options(func: F) -> F:
    for option in reversed(_OPTIONS):
        func = option(func)
    return func


def _flag(param: str) -> str:
    return "--" + param.replace("_", "-")


def _split(values: Any) -> list[str]:
    """pflag's StringSlice: repeated and comma-separated values."""
    out: list[str] = []
    for value in values or ():
        out += [part.strip() for part in str(value).split(",") if part.strip()]
    return out


def timeout_nanoseconds(text: str) -> int:
    """A Go duration as Go's JSON writes ``time.Duration`` (nanoseconds)."""
    from toolhive.web.durations import parse_duration

    seconds = parse_duration(text, -1.0)
    if seconds <= 0:
        msg = f"invalid --remote-auth-timeout {text!r}: use a duration such as 30s, 5m or 1m30s"
        raise InvalidInputError(msg)
    return int(seconds * 1_000_000_000)


def remote_auth_request(
    opts: Mapping[str, Any],
    given: frozenset[str],
    environ: Mapping[str, str] | None = None,
) -> RemoteAuthConfig | None:
    """The ``remote_auth_config`` the flags ask for; ``None`` when none was given (a 401 from
    the server still starts a login with the defaults)."""
    from toolhive.models.remote import RemoteAuthConfig

    environ = os.environ if environ is None else environ
    for first, second in _EXCLUSIVE:
        if opts.get(first) and opts.get(second):
            msg = f"{_flag(first)} and {_flag(second)} cannot be used together"
            raise InvalidInputError(msg)
    bearer = str(opts.get("remote_auth_bearer_token") or "")
    if not bearer and not opts.get("remote_auth_bearer_token_file"):
        bearer = environ.get(BEARER_ENV, "").strip()
    asked = bool(given & PARAMETERS) or bool(bearer)
    if not asked:
        return None
    if opts.get("remote_auth_authorize_url") and not opts.get("remote_auth_token_url"):
        msg = "--remote-auth-authorize-url needs --remote-auth-token-url (or use --remote-auth-issuer)"
        raise InvalidInputError(msg)
    # Only what was given: a flag left at its default must not hide a registry entry's hint
    # (the login applies the defaults: callback port 8666, a 5-minute wait).
    fields: dict[str, Any] = {}
    for param in given & PARAMETERS:
        field = param.removeprefix("remote_auth_")
        value = opts.get(param)
        if param == "remote_auth_scopes":
            fields["scopes"] = _split(value)
        elif param == "remote_auth_timeout":
            fields["timeout"] = timeout_nanoseconds(str(value or DEFAULT_TIMEOUT))
        elif param in ("remote_auth_skip_browser", "remote_auth_callback_port"):
            fields[field] = value
        elif field in RemoteAuthConfig.model_fields:
            fields[field] = str(value or "")
    if bearer:
        fields["bearer_token"] = bearer
    return RemoteAuthConfig(**fields)
