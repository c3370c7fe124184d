"""toolhive-middleware-tokenexchange: ToolHive's ``tokenexchange`` middleware (RFC 8693).

A ``{"type": "tokenexchange", "parameters": {"token_exchange_config": {...}}}`` entry (what
``thv run --token-exchange-url …`` and a RunConfig's ``token_exchange_config`` ask for) takes the
caller's bearer token — the one the ``auth`` middleware outside it validated — exchanges it at the
token endpoint for a token meant for the upstream server (``audience``, ``scopes``), and sends that
upstream: in ``Authorization`` (``header_strategy`` ``replace``, the default) or, with
``custom``, as ``Bearer <token>`` in ``external_token_header_name`` (the caller's own
``Authorization`` then goes on unchanged, as in ToolHive). Exchanged tokens are cached per
subject token until they expire.

``token_exchange_config`` is ToolHive's ``tokenexchange.Config`` with Go's JSON names, so a
RunConfig exported by the Go ``thv`` runs here unchanged. ``client_secret`` may be a literal (a Go
export; ``thv run`` moves it into the secrets provider), a secret reference ``NAME,target=X``, or
empty: then ``client_secret_file`` (our addition, read when the workload starts) or
``TOOLHIVE_TOKEN_EXCHANGE_CLIENT_SECRET``, as Go.

This module is the plugin's entry point. Every ``thv`` command imports it, so it imports nothing
but ``toolhive.contracts`` and pydantic; httpx loads when a workload that uses it starts.
"""

from __future__ import annotations

import ipaddress
import re
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

from pydantic import ConfigDict, Field, field_validator, model_validator
from toolhive.contracts import MiddlewareParameters, MiddlewareSpec, hookimpl

if TYPE_CHECKING:
    from toolhive.contracts import MiddlewareContext
    from toolhive.contracts.middleware import ASGIApp

__all__ = [
    "GRANT_TYPE",
    "TOKEN_TYPES",
    "TokenExchangeConfig",
    "TokenExchangeParameters",
    "factory",
    "normalize_token_type",
    "thv_middleware",
]

GRANT_TYPE: Final = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN: Final = "urn:ietf:params:oauth:token-type:access_token"
#: Go's ``NormalizeTokenType``: the short names the flag accepts, and the URNs themselves.
TOKEN_TYPES: Final = {
    "access_token": ACCESS_TOKEN,
    "id_token": "urn:ietf:params:oauth:token-type:id_token",
    "jwt": "urn:ietf:params:oauth:token-type:jwt",
}
HEADER_STRATEGIES: Final = ("replace", "custom")

#: ``NAME,target=X``: a ToolHive secret reference instead of a literal client secret.
SECRET_REFERENCE: Final = re.compile(r"^([^,]+),target=(.+)$")
#: RFC 9110 ``token``: what a header name may contain.
_HEADER_NAME: Final = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
#: Headers the exchanged token may not be put in: they frame or route the request.
_RESTRICTED: Final = frozenset(
    {"host", "content-length", "transfer-encoding", "connection", "te", "upgrade", "cookie"}
)


def normalize_token_type(value: str) -> str:
    """``access_token``/``id_token``/``jwt`` (or their URNs) → the URN; ``""`` stays ``""``."""
    if not value or value in TOKEN_TYPES.values():
        return value
    try:
        return TOKEN_TYPES[value]
    except KeyError:
        msg = f"invalid token type {value!r}: must be one of: access_token, id_token, jwt"
        raise ValueError(msg) from None


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class TokenExchangeConfig(MiddlewareParameters):
    """ToolHive's ``tokenexchange.Config`` (Go's JSON names), plus ``client_secret_file``."""

    # A validation error must not quote the input: it may hold the client secret.
    model_config = ConfigDict(
        extra="forbid", frozen=True, defer_build=True, hide_input_in_errors=True
    )

    token_url: str = Field(description="The OAuth 2.0 token endpoint that exchanges tokens.")
    client_id: str = Field("", description="Client id; with a secret, sent as HTTP Basic.")
    client_secret: str = Field(
        "",
        repr=False,
        description="A secret reference `NAME,target=X` or a literal (kept out of RunConfigs).",
    )
    client_secret_file: str = Field(
        "", description="A file holding the client secret, read when the workload starts."
    )
    audience: str = Field("", description="The audience the exchanged token is for.")
    scopes: tuple[str, ...] = Field((), description="Scopes requested for the exchanged token.")
    subject_token_type: str = Field(
        "", description="access_token (default), id_token or jwt, or the RFC 8693 URN."
    )
    header_strategy: str = Field(
        "", description="`replace` (default): Authorization; `custom`: the header below."
    )
    external_token_header_name: str = Field(
        "", description="The header that carries the exchanged token with `custom`."
    )

    @field_validator("scopes", mode="before")
    @classmethod
    def _null_scopes(cls, value: Any) -> Any:
        return () if value is None else value

    @field_validator("subject_token_type")
    @classmethod
    def _token_type(cls, value: str) -> str:
        return normalize_token_type(value)

    @model_validator(mode="after")
    def _usable(self) -> TokenExchangeConfig:
        parts = urlsplit(self.token_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            msg = f"token_url must be an http(s) URL, got {self.token_url!r}"
            raise ValueError(msg)
        # The client secret and the user's token go in the body: never in clear over a network.
        if parts.scheme == "http" and not _loopback(parts.hostname):
            msg = f"token_url {self.token_url!r} is not HTTPS (plain HTTP only on loopback)"
            raise ValueError(msg)
        if self.header_strategy not in ("", *HEADER_STRATEGIES):
            msg = (
                f"invalid header_strategy: {self.header_strategy} "
                "(valid values: 'replace', 'custom')"
            )
            raise ValueError(msg)
        if self.header_strategy == "custom":
            name = self.external_token_header_name
            if not name:
                raise ValueError(
                    "external_token_header_name must be specified when header_strategy is 'custom'"
                )
            if not _HEADER_NAME.match(name) or name.lower() in _RESTRICTED:
                msg = f"external_token_header_name {name!r} is not a header a token may go in"
                raise ValueError(msg)
        if self.client_secret and self.client_secret_file:
            raise ValueError("give client_secret or client_secret_file, not both")
        return self


class TokenExchangeParameters(MiddlewareParameters):
    """The ``parameters`` of a ``tokenexchange`` entry (ToolHive's ``MiddlewareParams``)."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, defer_build=True, hide_input_in_errors=True
    )

    token_exchange_config: TokenExchangeConfig = Field(
        description="Where and how to exchange the caller's token (required, as in ToolHive)."
    )


def factory(
    app: ASGIApp, parameters: TokenExchangeParameters, context: MiddlewareContext
) -> ASGIApp:
    """Wrap the workload's app; called once each time a workload using it starts."""
    from toolhive_middleware_tokenexchange.middleware import token_exchange_middleware

    return token_exchange_middleware(app, parameters.token_exchange_config, context)


@hookimpl
def thv_middleware() -> list[MiddlewareSpec[TokenExchangeParameters]]:
    return [
        MiddlewareSpec(
            name="tokenexchange",
            description="Exchange the caller's token (RFC 8693) for one the upstream accepts",
            config_model=TokenExchangeParameters,
            factory=factory,
        )
    ]
