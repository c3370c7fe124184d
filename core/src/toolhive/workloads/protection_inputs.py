"""What a front end asks for in protection (auth, authz, audit, telemetry, tools) → RunConfig fields.

The front ends speak ToolHive's request vocabulary (``thv run`` flags, the REST ``createRequest``:
``oidc{issuer, audience, jwks_url, …}``, ``authz_config`` (a file), ``tools``, ``tools_override``);
the RunConfig speaks Go's serialization (``oidc_config`` with PascalCase keys, ``authz_config`` +
``authz_config_path``, ``audit_config``, ``telemetry_config``). The translation follows ToolHive's
``WithOIDCConfig``/``WithAuditEnabled``/``LoadToolsOverride`` so an export from either side runs
protected on the other. Files are read here, at ``thv run``, so a bad one fails before any state.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from toolhive.errors import InvalidInputError
from toolhive.userpaths import expand_user, read_user_file


class OIDCOptions(BaseModel):
    """Inbound token validation: ToolHive's ``createRequest.oidc`` plus the CLI-only knobs."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    issuer: str = ""
    audience: str = ""
    jwks_url: str = ""
    introspection_url: str = ""
    client_id: str = ""
    client_secret: str = ""
    #: Scopes advertised in the RFC 9728 protected-resource metadata.
    scopes: list[str] = Field(default_factory=list)
    #: ``--resource-url``: the resource identifier in that metadata (default: the proxy URL).
    resource_url: str = ""
    #: ``--oidc-insecure-allow-http``: accept an http:// issuer (local development only).
    insecure_allow_http: bool = False
    #: ``--jwks-allow-private-ip``: let discovery and JWKS fetches reach private addresses.
    jwks_allow_private_ip: bool = False
    #: ``--thv-ca-bundle``: CA bundle for discovery, JWKS and introspection over https.
    ca_bundle: str = ""
    #: ``--jwks-auth-token-file``: bearer token file for the discovery/JWKS requests.
    jwks_auth_token_file: str = ""

    def validator_config(self) -> dict[str, Any] | None:
        """RunConfig ``oidc_config`` (Go's TokenValidatorConfig keys), or ``None`` for no auth.

        As ToolHive: any of issuer, audience, JWKS URL, introspection URL, client id or secret
        turns validation on; a resource URL alone only records the resource.
        """
        validating = any(
            (
                self.issuer,
                self.audience,
                self.jwks_url,
                self.introspection_url,
                self.client_id,
                self.client_secret,
            )
        )
        if not validating:
            return {"ResourceURL": self.resource_url} if self.resource_url else None
        for flag, path in (
            ("--thv-ca-bundle", self.ca_bundle),
            ("--jwks-auth-token-file", self.jwks_auth_token_file),
        ):
            if path and not expand_user(path, flag).is_file():
                msg = f"{flag} {path}: no such file"
                raise InvalidInputError(msg)
        out: dict[str, Any] = {
            "Issuer": self.issuer,
            "Audience": self.audience,
            "JWKSURL": self.jwks_url,
            "IntrospectionURL": self.introspection_url,
            "ClientID": self.client_id,
            "ClientSecret": self.client_secret,
            "CACertPath": _absolute(self.ca_bundle),
            "AuthTokenFile": _absolute(self.jwks_auth_token_file),
            "AllowPrivateIP": self.jwks_allow_private_ip,
            "InsecureAllowHTTP": self.insecure_allow_http,
            "ResourceURL": self.resource_url,
        }
        if self.scopes:
            out["Scopes"] = list(self.scopes)
        return {k: v for k, v in out.items() if v not in ("", None)}


#: Go's ``NormalizeTokenType``: ``--token-exchange-subject-token-type``'s short names.
SUBJECT_TOKEN_TYPES = {
    "access_token": "urn:ietf:params:oauth:token-type:access_token",
    "id_token": "urn:ietf:params:oauth:token-type:id_token",
    "jwt": "urn:ietf:params:oauth:token-type:jwt",
}


class TokenExchangeOptions(BaseModel):
    """RFC 8693 exchange of the caller's token for the upstream's (``--token-exchange-*``)."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    url: str = ""
    client_id: str = ""
    #: A literal: ``thv run`` moves it into the secrets provider before the RunConfig is saved.
    client_secret: str = Field("", repr=False)
    #: Read when the workload starts; the RunConfig keeps the (absolute) path.
    client_secret_file: str = ""
    audience: str = ""
    scopes: list[str] = Field(default_factory=list)
    #: Empty: replace ``Authorization``; else send the token in this header.
    header_name: str = ""
    #: ``access_token`` (default), ``id_token``, ``jwt`` or their URNs.
    subject_token_type: str = ""

    def exchange_config(self) -> dict[str, Any] | None:
        """RunConfig ``token_exchange_config`` (Go's keys, as ``BuildTokenExchangeConfig``
        writes them), or ``None`` when no URL turns the exchange on."""
        if not self.url:
            return None
        if self.client_secret and self.client_secret_file:
            msg = (
                "--token-exchange-client-secret and --token-exchange-client-secret-file "
                "cannot be used together"
            )
            raise InvalidInputError(msg)
        secret_file = self.client_secret_file
        flag = "--token-exchange-client-secret-file"
        if secret_file and not expand_user(secret_file, flag).is_file():
            msg = f"--token-exchange-client-secret-file {self.client_secret_file}: no such file"
            raise InvalidInputError(msg)
        token_type = self.subject_token_type
        if token_type and token_type not in SUBJECT_TOKEN_TYPES.values():
            if token_type not in SUBJECT_TOKEN_TYPES:
                msg = (
                    f"invalid subject token type {token_type!r}: "
                    "must be one of: access_token, id_token, jwt"
                )
                raise InvalidInputError(msg)
            token_type = SUBJECT_TOKEN_TYPES[token_type]
        out: dict[str, Any] = {
            "token_url": self.url,
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "client_secret_file": _absolute(self.client_secret_file),
            "audience": self.audience,
            "scopes": list(self.scopes),
            "subject_token_type": token_type,
            "header_strategy": "custom" if self.header_name else "replace",
            "external_token_header_name": self.header_name,
        }
        return out


def _absolute(path: str) -> str:
    return str(expand_user(path, "path").resolve()) if path else ""


def _read(flag: str, path: str) -> str:
    return read_user_file(path, flag)


def load_structured(flag: str, path: str) -> dict[str, Any]:
    """A JSON or YAML object from ``path`` (ToolHive's authz and audit files may be either)."""
    text = _read(flag, path)
    try:
        data = json.loads(text)
    except ValueError:
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            # Where, never what: YAML's own message quotes the file, which may be anything the
            # server can read (an API caller names the path).
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            msg = f"{flag} {path}: neither valid JSON nor valid YAML{where}"
            raise InvalidInputError(msg) from None
    if not isinstance(data, dict):
        msg = f"{flag} {path}: expected an object at the top level"
        raise InvalidInputError(msg)
    return data


def load_tools_override(path: str) -> dict[str, Any]:
    """``--tools-override FILE``: ``{"toolsOverride": {"<tool>": {"name", "description"}}}``."""
    text = _read("--tools-override", path)
    try:
        data = json.loads(text)
    except ValueError as exc:
        msg = f"--tools-override {path}: failed to decode tools override file: {exc}"
        raise InvalidInputError(msg) from None
    overrides = data.get("toolsOverride") if isinstance(data, dict) else None
    if not isinstance(overrides, dict) or not overrides:
        msg = (
            f"--tools-override {path}: tools override are empty: expected "
            '{"toolsOverride": {"<tool>": {"name": "...", "description": "..."}}}'
        )
        raise InvalidInputError(msg)
    for tool, override in overrides.items():
        if not isinstance(override, dict):
            msg = f"--tools-override {path}: the override of {tool!r} must be an object"
            raise InvalidInputError(msg)
    return overrides


def check_tools_in_registry(
    tools: list[str], overrides: dict[str, Any], registry_tools: list[str]
) -> None:
    """As ToolHive: with a registry entry that lists its tools, every overridden tool and every
    filtered one (by its backend name) must be one of them — ``--tools wrong-tool`` fails now,
    not as a server that silently shows nothing."""
    if not registry_tools:
        return
    known = set(registry_tools)
    renamed = {
        str(o.get("name")): backend
        for backend, o in overrides.items()
        if isinstance(o, dict) and o.get("name")
    }
    wanted = [*overrides]
    wanted += [renamed.get(t, t) for t in tools]
    for name in wanted:
        if name and name not in known:
            available = ", ".join(sorted(known))
            msg = f"tool {name} not found in registry (the entry lists: {available})"
            raise InvalidInputError(msg)


#: ToolHive's ``audit.DefaultConfig()`` (``--enable-audit`` without ``--audit-config``).
DEFAULT_AUDIT_CONFIG: dict[str, Any] = {"maxDataSize": 1024, "detectApplicationErrors": True}


def protection_fields(
    *,
    oidc: OIDCOptions | None,
    authz_config: str,
    audit_config: str,
    enable_audit: bool,
    telemetry_config: dict[str, Any] | None,
    workload: str,
    token_exchange: TokenExchangeOptions | None = None,
) -> dict[str, Any]:
    """The RunConfig fields these inputs set (only those they set)."""
    out: dict[str, Any] = {}
    exchange = token_exchange.exchange_config() if token_exchange is not None else None
    if exchange is not None:
        out["token_exchange_config"] = exchange
    if oidc is not None:
        validator = oidc.validator_config()
        if validator is not None:
            out["oidc_config"] = validator
        out["thv_ca_bundle"] = _absolute(oidc.ca_bundle)
        out["jwks_auth_token_file"] = _absolute(oidc.jwks_auth_token_file)
    if authz_config:
        # Inline as well as by path (as ToolHive does), so an export runs on another machine.
        out["authz_config"] = load_structured("--authz-config", authz_config)
        out["authz_config_path"] = _absolute(authz_config)
    if audit_config:
        load_structured("--audit-config", audit_config)  # a bad file fails now
        out["audit_config_path"] = _absolute(audit_config)
    elif enable_audit:
        out["audit_config"] = dict(DEFAULT_AUDIT_CONFIG)
    if telemetry_config is not None:
        telemetry = dict(telemetry_config)
        if not telemetry.get("serviceName") and workload:
            telemetry["serviceName"] = f"thv-{workload}"
        out["telemetry_config"] = telemetry
    return out
