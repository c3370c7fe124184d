"""A workload's secrets, checked once before it runs or starts.

The secrets provider is opened once (any prompt for its password happens here, in the front end)
and every reference the RunConfig makes is read: ``--secret NAME,target=ENV`` and the headers of a
remote server taken from secrets. Values are only looked at, never kept: the supervisor resolves
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
from toolhive.secrets.names import parse_references


def check_secrets(
    hooks: Hooks, config: RunConfig, environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Fail now if a referenced secret is missing or no provider is set up; returns what the
    supervisor needs in its environment to open the provider."""
    refs = parse_references(list(config.secrets))
    forward = config.header_forward
    from_secrets = dict(forward.add_headers_from_secret) if forward else {}
    if not refs and not from_secrets:
        return {}
    from toolhive.secrets.selection import open_secrets

    secrets = open_secrets(hooks, environ=os.environ if environ is None else environ)
    wanted = [(ref.name, f"--secret {ref}") for ref in refs]
    wanted += [(name, f"header {header}") for header, name in from_secrets.items()]
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
