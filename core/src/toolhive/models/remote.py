"""RunConfig parts for remote MCP servers: headers the proxy adds upstream, and the OAuth hints a
registry entry publishes. JSON field names match ToolHive (Go): ``header_forward`` and
``remote_auth_config``.

Secret header values are never stored: ``add_headers_from_secret`` maps a header to a secret's
*name*, resolved by the supervisor when the workload starts.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar, Final

from pydantic import BaseModel, ConfigDict, Field, model_serializer

from toolhive.errors import InvalidInputError

#: RFC 9110 ``token``: what a header name may contain.
_TOKEN: Final = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
#: Control characters other than horizontal tab: CR/LF would let a value inject headers.
_BAD_VALUE: Final = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
#: ToolHive's list (pkg/transport/middleware/header_forward.go): hop-by-hop, framing, routing and
#: client identity. :func:`is_restricted_header` also refuses every ``Proxy-*`` and
#: ``X-Forwarded-*`` name, not only the ones listed.
RESTRICTED_HEADERS: Final = frozenset(
    {
        "connection",
        "content-length",
        "forwarded",
        "host",
        "http2-settings",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "x-forwarded-for",
        "x-forwarded-host",
        "x-forwarded-proto",
        "x-real-ip",
    }
)


def is_restricted_header(name: str) -> bool:
    """A header a configured forward may never set (it would reroute or reframe the request)."""
    lowered = name.strip().lower()
    return lowered in RESTRICTED_HEADERS or lowered.startswith(("proxy-", "x-forwarded-"))


DEFAULT_CALLBACK_PORT: Final = 8666


def check_header_name(name: str) -> str:
    name = name.strip()
    if not _TOKEN.match(name):
        msg = f"invalid header name {name!r}: use letters, digits and -"
        raise InvalidInputError(msg)
    if is_restricted_header(name):
        msg = f"header {name!r} is restricted and cannot be configured for forwarding"
        raise InvalidInputError(msg)
    return name


def check_header_value(name: str, value: str) -> str:
    if _BAD_VALUE.search(value):
        # Never echo the value: it may be a secret.
        msg = f"the value of header {name!r} contains a line break or control character"
        raise InvalidInputError(msg)
    return value


def parse_header_flags(items: list[str], flag: str) -> dict[str, str]:
    """``Name=Value`` items (ToolHive's syntax; the value may be empty, the name may not)."""
    out: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            msg = f"invalid {flag} {name.strip() or item!r}: expected Name=Value"
            raise InvalidInputError(msg)
        name = check_header_name(name)
        out[name] = value if flag.endswith("-secret") else check_header_value(name, value)
    return out


class _Config(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)
    #: Fields written even when empty (Go has no ``omitempty`` on them).
    ALWAYS: ClassVar[tuple[str, ...]] = ()

    @model_serializer(mode="wrap")
    def _omit_empty(self, handler: Any) -> Any:
        """Go's ``omitempty``: empty strings, lists, maps and zeros are left out."""
        data = handler(self)
        keep = self.ALWAYS
        return {k: v for k, v in data.items() if k in keep or v not in ("", 0, [], {}, None, False)}


class HeaderForwardConfig(_Config):
    """Headers the reverse proxy sets on every request to the remote server."""

    add_plaintext_headers: dict[str, str] = Field(default_factory=dict)
    #: header name → secret name in the secrets provider.
    add_headers_from_secret: dict[str, str] = Field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.add_plaintext_headers or self.add_headers_from_secret)


class RemoteAuthConfig(_Config):
    """ToolHive's ``remote_auth_config``: OAuth hints (from a registry entry or flags) for a later
    OAuth flow, and the entry's header/env definitions. Secrets here are references only."""

    ALWAYS: ClassVar[tuple[str, ...]] = ("use_pkce",)

    client_id: str = ""
    client_secret: str = ""
    client_secret_file: str = ""
    scopes: list[str] = Field(default_factory=list)
    skip_browser: bool = False
    #: Go writes a ``time.Duration`` (nanoseconds); kept as given.
    timeout: Any = 0
    callback_port: int = 0
    use_pkce: bool = True
    resource: str = ""
    issuer: str = ""
    authorize_url: str = ""
    token_url: str = ""
    #: The registry entry's header definitions (name, description, required, secret, default).
    headers: list[dict[str, Any]] = Field(default_factory=list)
    env_vars: list[dict[str, Any]] = Field(default_factory=list)
    oauth_params: dict[str, str] = Field(default_factory=dict)
    scope_param_name: str = ""
    #: ``"BEARER_TOKEN_<name>,target=bearer_token"``: a secret reference, never the token.
    bearer_token: str = ""
    bearer_token_file: str = ""
    # What a login left behind (ToolHive's names), so a restart refreshes instead of logging in
    # again. Secrets are names in the secrets provider; ``<cached_refresh_token_ref>_AT`` holds
    # the current access token and its expiry (toolhive.oauth.session's layout).
    cached_refresh_token_ref: str = ""
    #: RFC 3339 UTC; Go's ``time.Time`` (its zero value is left out as Go's omitempty cannot).
    cached_token_expiry: str = ""
    #: RFC 7591 dynamic registration: the client id (public), its secret's name, expiry,
    #: registration access token's name, management URI and token-endpoint auth method.
    cached_client_id: str = ""
    cached_client_secret_ref: str = ""
    cached_secret_expiry: str = ""
    cached_reg_token_ref: str = ""
    cached_cimd_client_id: str = ""
    cached_reg_client_uri: str = ""
    cached_token_auth_method: str = ""
    cached_dcr_callback_port: int = 0


def _open_header_secrets(
    hooks: Any, forward: HeaderForwardConfig, environ: Any = None
) -> tuple[Any, dict[str, str]]:
    """The secrets provider and every header's value (secret ones read from it)."""
    from toolhive.contracts.secrets import SecretNotFoundError
    from toolhive.secrets.selection import open_secrets

    secrets = open_secrets(hooks, environ=environ)

    def get(header: str, name: str) -> str:
        try:
            return secrets.get(name)
        except SecretNotFoundError:
            msg = (
                f"secret {name!r} (header {header}) not found in the {secrets.name} secrets "
                f"provider; add it with `thv secret set {name}`"
            )
            raise SecretNotFoundError(msg) from None

    values = dict(forward.add_plaintext_headers)
    for header, name in forward.add_headers_from_secret.items():
        values[header] = check_header_value(header, get(header, name))
    return secrets, values


def resolve_forward_headers(
    hooks: Any, forward: HeaderForwardConfig | None, environ: Any = None
) -> dict[str, str]:
    """``{header: value}`` to send upstream; called by the supervisor at start, values stay in
    memory only."""
    if not forward:
        return {}
    if not forward.add_headers_from_secret:
        return dict(forward.add_plaintext_headers)
    return _open_header_secrets(hooks, forward, environ)[1]


def check_header_secrets(
    hooks: Any, forward: HeaderForwardConfig, environ: Any = None
) -> dict[str, str]:
    """Fail now if a header's secret is missing; return what a detached supervisor needs in its
    environment to open the provider (as :func:`toolhive.secrets.resolve.check_references`)."""
    if not forward.add_headers_from_secret:
        return {}
    secrets, _values = _open_header_secrets(hooks, forward, environ)
    return dict(secrets.child_environment())
