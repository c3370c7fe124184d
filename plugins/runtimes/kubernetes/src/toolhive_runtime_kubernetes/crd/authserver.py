"""ToolHive's embedded OAuth authorization server (MCPExternalAuthConfig ``embeddedAuthServer``,
VirtualMCPServer ``authServerConfig``): issuer, upstream identity providers, storage, trust."""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import Field, model_validator

from .common import CRDModel, Int32, SecretKeyRef, defaulted

_DURATION = r"^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$"
_PROVIDER_NAME = r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$"
_HTTP_URL = r"^https?://.*$"
_ISSUER = r"^https?://[^\s?#]+[^/\s?#]$"
_HTTPS_ENDPOINT = r"^https://[^\s?#]+[^/\s?#]$"
# Claims an actor claim may not name (they identify the subject or the token itself).
_RESERVED_ACTOR_CLAIMS = frozenset(
    {"sub", "iss", "aud", "exp", "iat", "nbf", "jti", "name", "email", "scope", "scp", "may_act"}
)


_Name = Annotated[str, Field(min_length=1, max_length=256)]
_Audience = Annotated[str, Field(min_length=1, max_length=2048)]
_Resource = Annotated[
    str, Field(min_length=1, max_length=2048, pattern=r"^https?://[^[:space:]]+$")
]
_Scope = Annotated[str, Field(min_length=1, pattern=r"^[\x21\x23-\x5B\x5D-\x7E]+$")]
_RedirectUri = Annotated[str, Field(pattern=r"^https://[^\s?#]+$")]


class TokenLifespanConfig(CRDModel):
    """Lifetimes of what the server issues (Go durations)."""

    access_token_lifespan: str | None = Field(default=None, pattern=_DURATION)
    refresh_token_lifespan: str | None = Field(default=None, pattern=_DURATION)
    auth_code_lifespan: str | None = Field(default=None, pattern=_DURATION)


class EmbeddedAuthServerCIMDConfig(CRDModel):
    """Client ID metadata documents (clients identified by a URL)."""

    enabled: bool = defaulted(False)
    cache_max_size: int | None = Field(default=None, ge=1)
    cache_fallback_ttl: str | None = Field(default=None, pattern=_DURATION)


class UserInfoFieldMapping(CRDModel):
    """Which userinfo fields hold the subject, name and email (first present wins)."""

    subject_fields: list[str] | None = None
    name_fields: list[str] | None = None
    email_fields: list[str] | None = None


class UserInfoConfig(CRDModel):
    """A userinfo endpoint to read the user's identity from."""

    endpoint_url: str = Field(pattern=_HTTP_URL)
    http_method: Literal["GET", "POST"] | None = None
    additional_headers: dict[str, str] | None = None
    field_mapping: UserInfoFieldMapping | None = None


class IdentityFromTokenConfig(CRDModel):
    """Where in the token response the identity is (JSON paths)."""

    subject_path: str = Field(min_length=1, max_length=256)
    name_path: str | None = Field(default=None, min_length=1, max_length=256)
    email_path: str | None = Field(default=None, min_length=1, max_length=256)


class TokenResponseMapping(CRDModel):
    """Where a non-standard token response keeps its fields (JSON paths)."""

    access_token_path: str = Field(min_length=1)
    scope_path: str | None = None
    refresh_token_path: str | None = None
    expires_in_path: str | None = None


class DCRUpstreamConfig(CRDModel):
    """Register with the upstream by Dynamic Client Registration instead of a fixed client."""

    discovery_url: str | None = Field(default=None, max_length=2048, pattern=_HTTPS_ENDPOINT)
    registration_endpoint: str | None = Field(
        default=None, max_length=2048, pattern=_HTTPS_ENDPOINT
    )
    initial_access_token_ref: SecretKeyRef | None = None
    software_id: str | None = Field(default=None, max_length=255)
    software_statement: str | None = Field(default=None, max_length=16384)

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        if self.is_set("discovery_url") == self.is_set("registration_endpoint"):
            raise ValueError("exactly one of discoveryUrl or registrationEndpoint must be set")
        return self


class OIDCUpstreamConfig(CRDModel):
    """An OpenID Connect identity provider (discovered from its issuer)."""

    issuer_url: str = Field(pattern=r"^https://.*$")
    client_id: str
    client_secret_ref: SecretKeyRef | None = None
    redirect_uri: str | None = None
    scopes: list[str] | None = None
    additional_authorization_params: dict[str, str] | None = None
    subject_claim: str | None = Field(
        default=None, max_length=128, pattern=r"^([a-zA-Z_][a-zA-Z0-9_]*)?$"
    )
    user_info_override: UserInfoConfig | None = None


class OAuth2UpstreamConfig(CRDModel):
    """A plain OAuth 2.0 provider (endpoints given)."""

    authorization_endpoint: str = Field(pattern=_HTTP_URL)
    token_endpoint: str = Field(pattern=_HTTP_URL)
    client_id: str | None = None
    client_secret_ref: SecretKeyRef | None = None
    dcr_config: DCRUpstreamConfig | None = None
    redirect_uri: str | None = None
    scopes: list[str] | None = None
    additional_authorization_params: dict[str, str] | None = None
    user_info: UserInfoConfig | None = None
    identity_from_token: IdentityFromTokenConfig | None = None
    token_response_mapping: TokenResponseMapping | None = None
    insecure_allow_http: bool | None = Field(default=None, alias="insecureAllowHTTP")
    allow_private_ips: bool | None = Field(default=None, alias="allowPrivateIPs")

    @model_validator(mode="after")
    def _one_client(self) -> Self:
        if bool(self.client_id) == self.is_set("dcr_config"):
            raise ValueError("exactly one of clientId or dcrConfig must be set")
        if self.is_set("dcr_config") and self.is_set("client_secret_ref"):
            msg = (
                "clientSecretRef must not be set when dcrConfig is set; the client_secret is"
                " obtained at runtime via Dynamic Client Registration"
            )
            raise ValueError(msg)
        return self


class UpstreamProviderConfig(CRDModel):
    """An identity provider users sign in with."""

    name: str = Field(min_length=1, max_length=63, pattern=_PROVIDER_NAME)
    type: Literal["oidc", "oauth2"]
    oidc_config: OIDCUpstreamConfig | None = None
    oauth2_config: OAuth2UpstreamConfig | None = None

    @model_validator(mode="after")
    def _config_matches_type(self) -> Self:
        ok = (self.type == "oidc") == self.is_set("oidc_config") and (
            self.type == "oauth2"
        ) == self.is_set("oauth2_config")
        if not ok:
            msg = (
                "type must be 'oidc' or 'oauth2'; oidcConfig must be set when type is 'oidc' and"
                " oauth2Config must be set when type is 'oauth2' (and the other must not be set)"
            )
            raise ValueError(msg)
        return self


class RedisACLUserConfig(CRDModel):
    """Redis ACL credentials."""

    username_secret_ref: SecretKeyRef | None = None
    password_secret_ref: SecretKeyRef


class SentinelServiceRef(CRDModel):
    """A Service in front of Redis Sentinel."""

    name: str
    namespace: str | None = None
    port: Int32 = 26379


class RedisSentinelConfig(CRDModel):
    """Redis through Sentinel."""

    master_name: str
    sentinel_addrs: list[str] | None = None
    sentinel_service: SentinelServiceRef | None = None
    db: Int32 = 0


class RedisTLSConfig(CRDModel):
    """TLS to Redis."""

    ca_cert_secret_ref: SecretKeyRef | None = None
    insecure_skip_verify: bool | None = None


class RedisStorageConfig(CRDModel):
    """The server's state in Redis (one address, a cluster, or through Sentinel)."""

    addr: str | None = None
    cluster_mode: bool | None = None
    sentinel_config: RedisSentinelConfig | None = None
    acl_user_config: RedisACLUserConfig
    dial_timeout: str = Field(default="5s", pattern=_DURATION)
    read_timeout: str = Field(default="3s", pattern=_DURATION)
    write_timeout: str = Field(default="3s", pattern=_DURATION)
    tls: RedisTLSConfig | None = None
    sentinel_tls: RedisTLSConfig | None = None

    @model_validator(mode="after")
    def _one_address(self) -> Self:
        if bool(self.addr) == self.is_set("sentinel_config"):
            raise ValueError("exactly one of addr or sentinelConfig must be set")
        if self.cluster_mode and not self.addr:
            raise ValueError("clusterMode requires addr to be set")
        return self


class AuthServerStorageConfig(CRDModel):
    """Where the server keeps clients, codes and tokens."""

    type: Literal["memory", "redis"] = "memory"
    redis: RedisStorageConfig | None = None


class DelegateClientConfig(CRDModel):
    """A pre-provisioned confidential client that may act for users."""

    client_id: str = Field(min_length=1, max_length=256)
    client_secret_ref: SecretKeyRef
    audiences: list[_Audience] = Field(min_length=1, max_length=10)
    scopes: list[_Name] = Field(min_length=1, max_length=10)

    @model_validator(mode="after")
    def _secret_named(self) -> Self:
        if not (self.client_secret_ref.name and self.client_secret_ref.key):
            msg = "clientSecretRef.name and clientSecretRef.key are required and must be non-empty"
            raise ValueError(msg)
        return self


class JWTBearerSubjectBinding(CRDModel):
    """Which resources a JWT-bearer assertion's subject may get tokens for."""

    subject: str = Field(min_length=1, max_length=256, pattern=r"^[^*]+$")
    allowed_resources: list[_Resource] = Field(min_length=1, max_length=50)


class JWTBearerGrantConfig(CRDModel):
    """RFC 7523 JWT-bearer grants from a trusted issuer."""

    max_assertion_age: str
    subject_bindings: list[JWTBearerSubjectBinding] = Field(min_length=1, max_length=50)
    accepted_audiences: list[_Resource] | None = Field(default=None, max_length=50)

    @model_validator(mode="after")
    def _distinct_subjects(self) -> Self:
        subjects = [b.subject for b in self.subject_bindings]
        if len(set(subjects)) != len(subjects):
            raise ValueError("subjectBindings must not contain duplicate subjects")
        return self


class TrustedIssuerConfig(CRDModel):
    """Another issuer whose tokens may be exchanged here."""

    issuer_url: str = Field(min_length=1, max_length=2048)
    jwks_url: str | None = Field(default=None, max_length=2048)
    expected_audience: str | None = Field(default=None, min_length=1, max_length=2048)
    allowed_delegate_clients: list[_Name] | None = Field(default=None, min_length=1, max_length=50)
    actor_claim: str | None = Field(default=None, max_length=64)
    actor_matcher: str | None = Field(default=None, max_length=4096)
    allowed_actors: list[_Name] | None = Field(default=None, max_length=50)
    allow_may_act: bool = False
    jwt_bearer_grant: JWTBearerGrantConfig | None = None
    insecure_allow_http: bool | None = Field(default=None, alias="insecureAllowHTTP")
    allow_private_ips: bool | None = Field(default=None, alias="allowPrivateIPs")

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        delegates = self.allowed_delegate_clients or []
        if "*" in delegates and len(delegates) > 1:
            msg = (
                'allowedDelegateClients must not combine the wildcard "*" with specific client IDs'
            )
            raise ValueError(msg)
        if self.allow_may_act and "*" in delegates:
            msg = 'allowMayAct must not be enabled when allowedDelegateClients contains the wildcard "*"'
            raise ValueError(msg)
        if self.actor_claim in _RESERVED_ACTOR_CLAIMS:
            msg = (
                "actorClaim must name a readable claim; use client_id or a non-reserved claim such"
                " as azp, appid, or cid"
            )
            raise ValueError(msg)
        if self.allow_private_ips and not self.jwks_url:
            raise ValueError("allowPrivateIPs requires jwksUrl to be set explicitly")
        acts = bool(
            self.actor_claim or self.actor_matcher or self.allow_may_act or self.allowed_actors
        )
        if not ((self.jwt_bearer_grant is not None and not acts) or self.expected_audience):
            msg = (
                "expectedAudience is required unless jwtBearerGrant is configured without"
                " actorClaim, actorMatcher, allowMayAct, or allowedActors"
            )
            raise ValueError(msg)
        if (
            self.expected_audience or self.actor_claim or self.actor_matcher or self.allow_may_act
        ) and not delegates:
            msg = (
                "allowedDelegateClients is required when expectedAudience, actorClaim,"
                " actorMatcher, or allowMayAct is set"
            )
            raise ValueError(msg)
        return self


class EmbeddedAuthServerConfig(CRDModel):
    """ToolHive's OAuth authorization server, run in the proxy: clients sign in with an upstream
    identity provider and get tokens this server issues."""

    issuer: str = Field(pattern=_ISSUER)
    authorization_endpoint_base_url: str | None = Field(default=None, pattern=_ISSUER)
    upstream_providers: list[UpstreamProviderConfig] = Field(min_length=1)
    primary_upstream_provider: str | None = Field(
        default=None, min_length=1, max_length=63, pattern=_PROVIDER_NAME
    )
    signing_key_secret_refs: list[SecretKeyRef] | None = Field(default=None, max_length=5)
    hmac_secret_refs: list[SecretKeyRef] | None = None
    token_lifespans: TokenLifespanConfig | None = None
    storage: AuthServerStorageConfig | None = None
    cimd: EmbeddedAuthServerCIMDConfig | None = None
    baseline_client_scopes: list[_Scope] | None = Field(default=None, max_length=10)
    allow_confidential_client_registration: bool = False
    force_confidential_redirect_uris: list[_RedirectUri] | None = Field(default=None, max_length=10)
    delegate_clients: list[DelegateClientConfig] | None = Field(default=None, max_length=10)
    trusted_issuers: list[TrustedIssuerConfig] | None = Field(default=None, max_length=20)
    disable_upstream_token_injection: bool = False
    insecure_allow_http: bool = Field(default=False, alias="insecureAllowHTTP")
    insecure_allow_confidential_over_loopback_http: bool = Field(
        default=False, alias="insecureAllowConfidentialOverLoopbackHTTP"
    )

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.allow_confidential_client_registration and self.insecure_allow_http:
            msg = (
                "allowConfidentialClientRegistration cannot be combined with insecureAllowHTTP;"
                " client secrets would be issued in cleartext over an unauthenticated endpoint"
            )
            raise ValueError(msg)
        if self.delegate_clients and self.issuer.startswith("http://"):
            msg = (
                "delegateClients require an https:// issuer; delegate client secrets must not be"
                " sent over plaintext HTTP"
            )
            raise ValueError(msg)
        if (
            self.force_confidential_redirect_uris
            and not self.allow_confidential_client_registration
        ):
            msg = (
                "forceConfidentialRedirectUris requires allowConfidentialClientRegistration to be"
                " true"
            )
            raise ValueError(msg)
        return self
