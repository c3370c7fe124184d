"""toolhive-middleware-auth: ToolHive's ``auth`` middleware — inbound OIDC/JWT authentication.

A ``{"type": "auth", "parameters": {"oidc_config": {...}}}`` entry validates the bearer token of
every request (a JWT against the issuer's JWKS, or an opaque token through RFC 7662
introspection), answers 401 with ``WWW-Authenticate: Bearer … resource_metadata=…`` when it is
missing or invalid, serves the RFC 9728 protected-resource metadata, and records the caller's
:class:`~toolhive.contracts.Identity` for the middleware inside it (authorization, audit,
telemetry). Without ``oidc_config`` the entry is ToolHive's local-user mode: every request is
the OS user, unauthenticated.

``oidc_config`` is ToolHive's ``TokenValidatorConfig`` as Go serializes it (field names as keys),
so a RunConfig exported by the Go ``thv`` runs protected here unchanged.

This module is the plugin's entry point. Every ``thv`` command imports it, so it imports nothing
but ``toolhive.contracts`` and pydantic; PyJWT, httpx and ``cryptography`` load when a workload
that uses the middleware starts.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from pydantic import ConfigDict, Field, field_validator, model_validator
from toolhive.contracts import MiddlewareParameters, MiddlewareSpec, hookimpl

if TYPE_CHECKING:
    from toolhive.contracts import MiddlewareContext
    from toolhive.contracts.middleware import ASGIApp

__all__ = ["AuthParameters", "OIDCConfig", "factory", "thv_middleware"]

#: ``NAME,target=X``: a ToolHive secret reference instead of a literal client secret.
SECRET_REFERENCE = re.compile(r"^([^,]+),target=(.+)$")


def _check_url(value: str, what: str, insecure_allow_http: bool) -> None:
    if not value:
        return
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{what} must be an http(s) URL, got {value!r}")
    if parts.scheme == "http" and not insecure_allow_http:
        raise ValueError(
            f"{what} {value!r} is not HTTPS; plain HTTP needs InsecureAllowHTTP "
            "(--oidc-insecure-allow-http), for development only"
        )


class OIDCConfig(MiddlewareParameters):
    """ToolHive's ``TokenValidatorConfig``, keys as Go serializes them (no JSON tags: field names).

    Only Go's keys are read (pydantic validates by alias). Go writes every field, empty ones as
    ``""``/``false``/``null``; all are accepted.
    """

    # A validation error must not quote the input: it may hold the client secret.
    model_config = ConfigDict(
        extra="forbid", frozen=True, defer_build=True, hide_input_in_errors=True
    )

    issuer: str = Field("", alias="Issuer", description="The OIDC issuer URL (`iss`).")
    audience: str = Field("", alias="Audience", description="The audience a token must carry.")
    jwks_url: str = Field(
        "", alias="JWKSURL", description="Where the signing keys are; discovered when empty."
    )
    client_id: str = Field("", alias="ClientID", description="Client id for introspection.")
    client_secret: str = Field(
        "",
        alias="ClientSecret",
        repr=False,
        description="Client secret for introspection: a literal or a secret `NAME,target=X`.",
    )
    ca_cert_path: str = Field(
        "", alias="CACertPath", description="A PEM CA bundle for the issuer's HTTPS endpoints."
    )
    auth_token_file: str = Field(
        "", alias="AuthTokenFile", description="A file holding a bearer token for the JWKS fetch."
    )
    allow_private_ip: bool = Field(
        False, alias="AllowPrivateIP", description="Allow issuer endpoints on private addresses."
    )
    insecure_allow_http: bool = Field(
        False, alias="InsecureAllowHTTP", description="Allow plain-HTTP issuer endpoints."
    )
    introspection_url: str = Field(
        "", alias="IntrospectionURL", description="RFC 7662 endpoint for opaque tokens."
    )
    resource_url: str = Field(
        "", alias="ResourceURL", description="The protected resource (RFC 9728 `resource`)."
    )
    scopes: tuple[str, ...] = Field(
        (), alias="Scopes", description="Scopes advertised in the metadata and the challenge."
    )

    @field_validator("scopes", mode="before")
    @classmethod
    def _null_scopes(cls, value: Any) -> Any:
        return () if value is None else value

    @model_validator(mode="after")
    def _usable(self) -> OIDCConfig:
        # Go refuses the same at start-up (ErrMissingIssuerAndJWKSURL).
        if not self.issuer and not self.jwks_url:
            raise ValueError(
                "either Issuer or JWKSURL must be provided (--oidc-issuer or --oidc-jwks-url; "
                "ToolHive validates no token without one)"
            )
        _check_url(self.issuer, "Issuer", self.insecure_allow_http)
        _check_url(self.jwks_url, "JWKSURL", self.insecure_allow_http)
        _check_url(self.introspection_url, "IntrospectionURL", self.insecure_allow_http)
        if self.resource_url:
            parts = urlsplit(self.resource_url)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ValueError(f"ResourceURL must be an absolute URL, got {self.resource_url!r}")
        return self


class AuthParameters(MiddlewareParameters):
    """The ``parameters`` of an ``auth`` entry (ToolHive's ``auth.MiddlewareParams``)."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, defer_build=True, hide_input_in_errors=True
    )

    oidc_config: OIDCConfig | None = Field(
        None, description="Token validation; none means ToolHive's local-user mode."
    )


def factory(app: ASGIApp, parameters: AuthParameters, context: MiddlewareContext) -> ASGIApp:
    """Wrap the workload's app; called once each time a workload using it starts."""
    from toolhive_middleware_auth.middleware import local_user_middleware, oidc_middleware

    if parameters.oidc_config is None:
        return local_user_middleware(app)
    return oidc_middleware(app, parameters.oidc_config, context)


@hookimpl
def thv_middleware() -> list[MiddlewareSpec[AuthParameters]]:
    return [
        MiddlewareSpec(
            name="auth",
            description="Authenticate callers with OIDC/JWT bearer tokens (or the local user)",
            config_model=AuthParameters,
            factory=factory,
        )
    ]
