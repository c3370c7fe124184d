"""A workload's secrets, checked once before it runs or starts.

The secrets provider is opened once (any prompt for its password happens here, in the front end)
and every reference the RunConfig makes is read: ``--secret NAME,target=ENV``, the headers of a
remote server taken from secrets and the OIDC client secret (which :func:`stash_literal_secrets`
keeps out of the RunConfig). Values are only looked at, never kept: the supervisor resolves
them itself when it starts the server, with the environment this returns (e.g. the encrypted
store's typed password), which goes to the spawned process only — never to ``os.environ`` or a
file.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from toolhive.contracts.secrets import SecretNotFoundError
from toolhive.errors import InvalidInputError
from toolhive.models.runconfig import RunConfig
from toolhive.plugins import Hooks
from toolhive.secrets.names import REFERENCE, SYSTEM_PREFIX, parse_references

#: Where the inbound-auth client secret lives in the RunConfig (Go's TokenValidatorConfig key).
OIDC_SECRET_KEY = "ClientSecret"


def oidc_secret_name(config: RunConfig) -> str:
    """The system secret holding a workload's ``--oidc-client-secret``."""
    return f"{SYSTEM_PREFIX}oidc_client_secret_{config.base_name or config.name}"


def token_exchange_secret_name(config: RunConfig) -> str:
    """The system secret holding a workload's ``--token-exchange-client-secret``."""
    return f"{SYSTEM_PREFIX}token_exchange_client_secret_{config.base_name or config.name}"


def _stash_token_exchange_secret(
    hooks: Hooks, config: RunConfig, environ: Mapping[str, str]
) -> RunConfig:
    """A literal token exchange client secret (the flag, ``TOOLHIVE_TOKEN_EXCHANGE_CLIENT_SECRET``
    or a Go export, which keeps it in the clear, also in its ``middleware_configs`` entry) moved
    into the secrets provider; what stays is ``NAME,target=token_exchange_client_secret``."""
    exchange = config.token_exchange_config
    literals = [exchange.client_secret] if exchange is not None else []
    entries = [
        entry
        for entry in config.middleware_configs
        if entry.get("type") == "tokenexchange"
        and isinstance(entry.get("parameters"), dict)
        and isinstance(entry["parameters"].get("token_exchange_config"), dict)
    ]
    literals += [e["parameters"]["token_exchange_config"].get("client_secret") for e in entries]
    literals = [v for v in literals if isinstance(v, str) and v and not REFERENCE.match(v)]
    if not literals:
        return config
    if len(set(literals)) > 1:
        msg = "the RunConfig carries two different token exchange client secrets"
        raise InvalidInputError(msg)
    from toolhive.secrets.selection import open_secrets

    name = token_exchange_secret_name(config)
    open_secrets(hooks, environ=environ).set(name, literals[0])
    reference = f"{name},target=token_exchange_client_secret"
    update: dict[str, object] = {}
    if exchange is not None and exchange.client_secret in literals:
        update["token_exchange_config"] = exchange.model_copy(update={"client_secret": reference})
    if entries:
        chain = []
        for entry in config.middleware_configs:
            if (
                entry in entries
                and entry["parameters"]["token_exchange_config"].get("client_secret") in literals
            ):
                parameters = dict(entry["parameters"])
                parameters["token_exchange_config"] = {
                    **parameters["token_exchange_config"],
                    "client_secret": reference,
                }
                entry = {**entry, "parameters": parameters}
            chain.append(entry)
        update["middleware_configs"] = chain
    return config.model_copy(update=update)


def stash_literal_secrets(
    hooks: Hooks, config: RunConfig, environ: Mapping[str, str] | None = None
) -> RunConfig:
    """``config`` with a literal OIDC client secret moved into the secrets provider.

    ``--oidc-client-secret`` (and a Go export, which stores it in the clear) would otherwise put
    the value into the RunConfig file, ``thv export`` and the API. What stays is a reference
    ``NAME,target=oidc_client_secret`` that the auth middleware resolves when the proxy starts.
    The token exchange client secret is moved the same way.
    """
    config = _stash_token_exchange_secret(hooks, config, os.environ if environ is None else environ)
    oidc = dict(config.oidc_config or {})
    value = oidc.get(OIDC_SECRET_KEY)
    if not isinstance(value, str) or not value or REFERENCE.match(value):
        return config
    from toolhive.secrets.selection import open_secrets

    secrets = open_secrets(hooks, environ=os.environ if environ is None else environ)
    name = oidc_secret_name(config)
    secrets.set(name, value)
    oidc[OIDC_SECRET_KEY] = f"{name},target=oidc_client_secret"
    return config.model_copy(update={"oidc_config": oidc})


def check_secrets(
    hooks: Hooks, config: RunConfig, environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Fail now if a referenced secret is missing or no provider is set up; returns what the
    supervisor needs in its environment to open the provider."""
    refs = parse_references(list(config.secrets))
    forward = config.header_forward
    from_secrets = dict(forward.add_headers_from_secret) if forward else {}
    client_secret = (config.oidc_config or {}).get(OIDC_SECRET_KEY)
    oidc_ref = REFERENCE.match(client_secret) if isinstance(client_secret, str) else None
    exchange = config.token_exchange_config
    exchange_ref = REFERENCE.match(exchange.client_secret) if exchange is not None else None
    remote = _remote_auth_secrets(config)
    if not refs and not from_secrets and oidc_ref is None and not remote and exchange_ref is None:
        return {}
    from toolhive.secrets.selection import open_secrets

    secrets = open_secrets(hooks, environ=os.environ if environ is None else environ)
    wanted = [(ref.name, f"--secret {ref}") for ref in refs]
    wanted += [(name, f"header {header}") for header, name in from_secrets.items()]
    if oidc_ref is not None:
        wanted.append((oidc_ref.group(1), "the OIDC client secret"))
    if exchange_ref is not None:
        wanted.append((exchange_ref.group(1), "the token exchange client secret"))
    wanted += [item for item in remote if item[0]]
    for name, used_by in wanted:
        try:
            secrets.get(name)
        except SecretNotFoundError:
            msg = (
                f"secret {name!r} ({used_by}) not found in the {secrets.name} secrets provider; "
                f"add it with `thv secret set {name}`"
            )
            raise SecretNotFoundError(msg) from None
    return secrets.child_environment()


def _remote_auth_secrets(config: RunConfig) -> list[tuple[str, str]]:
    """The remote-auth secrets that must exist, as ``(name, used by)``; a stored login alone
    gives ``("", …)``: the supervisor needs the provider, but a missing refresh token only
    means signing in again."""
    auth = config.remote_auth_config if config.is_remote else None
    if auth is None:
        return []
    out: list[tuple[str, str]] = []
    for value, used_by in (
        (auth.bearer_token, "--remote-auth-bearer-token"),
        (auth.client_secret, "--remote-auth-client-secret"),
    ):
        match = REFERENCE.match(value) if value else None
        if match:
            out.append((match.group(1), used_by))
    if auth.cached_client_secret_ref:
        out.append((auth.cached_client_secret_ref, "the registered OAuth client"))
    if auth.cached_refresh_token_ref:
        out.append(("", "the stored login"))
    return out
