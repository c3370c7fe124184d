"""The secrets-provider contract: what a loaded provider implements, a base class with the
unsupported defaults, and the errors providers raise."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from toolhive.errors import InvalidInputError, NotFoundError, ToolHiveError


class SecretsError(ToolHiveError):
    """A secrets backend failed (unreachable, denied, damaged store …)."""

    http_status = 503


class SecretNotFoundError(NotFoundError):
    """The named secret does not exist in the provider."""


class SecretsNotSetUpError(ToolHiveError):
    """Secrets are used before a provider was chosen."""

    http_status = 404


class UnsupportedOperationError(InvalidInputError):
    """The provider lacks the capability (e.g. writing to a read-only provider)."""


@dataclass(frozen=True)
class SecretDescription:
    """One entry of ``list_secrets``: the name to use in ``--secret``, and a human description."""

    key: str
    description: str = ""


@runtime_checkable
class SecretsProvider(Protocol):
    """A loaded secrets backend. Methods a provider's capabilities exclude raise
    :class:`UnsupportedOperationError`. Errors never include a secret's value.

    Loading a provider must be cheap and must not prompt: passwords, network connections and
    logins happen on first use.
    """

    def get_secret(self, name: str) -> str:
        """The value; :class:`SecretNotFoundError` if there is none."""
        ...

    def set_secret(self, name: str, value: str) -> None: ...

    def delete_secret(self, name: str) -> None:
        """Remove it; :class:`SecretNotFoundError` if there is none."""
        ...

    def list_secrets(self) -> list[SecretDescription]: ...

    def cleanup(self) -> None:
        """Remove every secret this provider manages."""
        ...


class SecretsProviderBase:
    """Defaults for providers: every operation unsupported except what a subclass overrides.

    Optional extras the CLI looks for: ``check()`` (verify the backend works; ``thv secret
    setup`` calls it and it may prompt), ``child_environment()`` (variables a detached
    supervisor needs to open the provider without prompting), ``reset_keyring()``.
    """

    #: The provider's name, for messages.
    name: str = "secrets"

    def _unsupported(self, what: str) -> UnsupportedOperationError:
        return UnsupportedOperationError(f"the {self.name} secrets provider cannot {what} secrets")

    def get_secret(self, name: str) -> str:
        raise self._unsupported("read")

    def set_secret(self, name: str, value: str) -> None:
        raise self._unsupported("write")

    def delete_secret(self, name: str) -> None:
        raise self._unsupported("delete")

    def list_secrets(self) -> list[SecretDescription]:
        raise self._unsupported("list")

    def cleanup(self) -> None:
        raise self._unsupported("clean up")

    def not_found(self, name: str) -> SecretNotFoundError:
        return SecretNotFoundError(
            f"secret {name!r} not found in the {self.name} secrets provider "
            f"(add it with `thv secret set {name}`)"
        )


def require_name(name: str) -> str:
    if not name or not name.strip():
        msg = "secret name cannot be empty"
        raise InvalidInputError(msg)
    return name
