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
from toolhive.models.runconfig import RunConfig
from toolhive.plugins import Hooks
from toolhive.secrets.names import REFERENCE, SYSTEM_PREFIX, parse_references

#: Where the inbound-auth client secret lives in the RunConfig (Go's TokenValidatorConfig key).
OIDC_SECRET_KEY = "ClientSecret"


def oidc_secret_name(config: RunConfig) -> str:
    """The system secret holding a workload's ``--oidc-client-secret``."""
    return f"{SYSTEM_PREFIX}oidc_client_secret_{config.base_name or config.name}"


def stash_literal_secrets(
    hooks: Hooks, config: RunConfig, environ: Mapping[str, str] | None = None
) -> RunConfig:
    """``config`` with a literal OIDC client secret moved into the secrets provider.

    ``--oidc-client-secret`` (and a Go export, which stores it in the clear) would otherwise put
    the value into the RunConfig file, ``thv export`` and the API. What stays is a reference
    ``NAME,target=oidc_client_secret`` that the auth middleware resolves when the proxy starts.
    """
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
    if not refs and not from_secrets and oidc_ref is None:
        return {}
    from toolhive.secrets.selection import open_secrets

    secrets = open_secrets(hooks, environ=os.environ if environ is None else environ)
    wanted = [(ref.name, f"--secret {ref}") for ref in refs]
    wanted += [(name, f"header {header}") for header, name in from_secrets.items()]
    if oidc_ref is not None:
        wanted.append((oidc_ref.group(1), "the OIDC client secret"))
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
