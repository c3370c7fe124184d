"""``--secret`` references: checked when a workload is created, resolved when it starts.

Values go only into the runtime's deploy request (the server's environment): never into the
RunConfig, a state file, a log or an error message.
"""

from __future__ import annotations

from collections.abc import Mapping

from toolhive.contracts.secrets import SecretNotFoundError
from toolhive.plugins import Hooks
from toolhive.secrets.names import SecretReference, parse_references
from toolhive.secrets.selection import Secrets, open_secrets


def _missing(secrets: Secrets, ref: SecretReference) -> SecretNotFoundError:
    return SecretNotFoundError(
        f"secret {ref.name!r} (--secret {ref}) not found in the {secrets.name} secrets provider; "
        f"add it with `thv secret set {ref.name}`"
    )


def resolve_references(
    hooks: Hooks, references: list[str], environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """``{ENV: value}`` for every reference (secrets come last in the env merge: they win)."""
    refs = parse_references(references)
    if not refs:
        return {}
    secrets = open_secrets(hooks, environ=environ)
    out: dict[str, str] = {}
    for ref in refs:
        try:
            out[ref.target] = secrets.get(ref.name)
        except SecretNotFoundError:
            raise _missing(secrets, ref) from None
    return out


def check_references(
    hooks: Hooks, references: list[str], environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Fail now if a referenced secret is missing or the provider is not set up.

    Returns the variables a detached supervisor needs to open the provider itself (e.g. the
    encrypted store's password when it was typed at a prompt); pass them to the child's
    environment only, never to a file.
    """
    refs = parse_references(references)
    if not refs:
        return {}
    secrets = open_secrets(hooks, environ=environ)
    for ref in refs:
        try:
            secrets.get(ref.name)
        except SecretNotFoundError:
            raise _missing(secrets, ref) from None
    return secrets.child_environment()
