"""The ``1password`` provider: names are secret references, ``op://vault/item/field``."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path

from toolhive.contracts import InvalidInputError
from toolhive.contracts.secrets import (
    SecretDescription,
    SecretNotFoundError,
    SecretsError,
    SecretsProviderBase,
)

from toolhive_secrets_onepassword.client import OnePasswordAPI, SdkClient
from toolhive_secrets_onepassword.config import OnePasswordConfig

TOKEN_ENV = "OP_SERVICE_ACCOUNT_TOKEN"
REFERENCE = re.compile(r"^op://[^/]+/[^/]+/.+$")
#: How the SDK says a reference points at nothing (it raises plain exceptions).
_NOT_FOUND = ("not found", "no item matched", "does not exist", "no vault matched")


class OnePasswordProvider(SecretsProviderBase):
    name = "1password"

    def __init__(
        self,
        config: OnePasswordConfig | None = None,
        *,
        environ: Mapping[str, str] | None = None,
        client_factory: Callable[[str], OnePasswordAPI] = SdkClient,
    ) -> None:
        self.config = config or OnePasswordConfig()
        self._env = os.environ if environ is None else environ
        self._factory = client_factory
        self._api: OnePasswordAPI | None = None

    def _client(self) -> OnePasswordAPI:
        if self._api is None:
            self._api = self._factory(self._token())
        return self._api

    def _token(self) -> str:
        token = self._env.get(TOKEN_ENV, "")
        if not token and self.config.token_file:
            try:
                token = Path(self.config.token_file).expanduser().read_text().strip()
            except OSError as exc:
                msg = f"cannot read the 1Password token_file: {exc.strerror}"
                raise SecretsError(msg) from None
        if not token:
            msg = (
                f"1Password needs a service-account token: set {TOKEN_ENV} "
                "(or plugins.secrets.1password.token_file in config.yaml)"
            )
            raise SecretsError(msg)
        return token

    def _failed(self, what: str, exc: Exception) -> SecretsError:
        detail = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        return SecretsError(f"1Password could not {what}: {detail}")

    def get_secret(self, name: str) -> str:
        if not REFERENCE.match(name):
            msg = f"invalid 1Password secret {name!r}: use a reference like op://vault/item/field"
            raise InvalidInputError(msg)
        try:
            return self._client().resolve(name)
        except SecretsError:
            raise
        except Exception as exc:
            if any(s in str(exc).lower() for s in _NOT_FOUND):
                raise self.not_found(name) from None
            raise self._failed(f"resolve {name}", exc) from None

    def not_found(self, name: str) -> SecretNotFoundError:
        return SecretNotFoundError(f"1Password has no secret at {name}")

    def list_secrets(self) -> list[SecretDescription]:
        """``op://<vault id>/<item id>`` per item (add ``/<field>`` to use one)."""
        api = self._client()
        wanted = self.config.vault or self._env.get("OP_VAULT_ID", "")
        try:
            vaults = [v for v in api.vaults() if not wanted or wanted in {v.id, v.title}]
            out = [
                SecretDescription(f"op://{vault.id}/{item.id}", f"{vault.title} :: {item.title}")
                for vault in vaults
                for item in api.items(vault.id)
                if item.id and item.title
            ]
        except SecretsError:
            raise
        except Exception as exc:
            raise self._failed("list items", exc) from None
        if wanted and not vaults:
            msg = f"1Password vault {wanted!r} not found (or the service account cannot see it)"
            raise SecretsError(msg)
        return sorted(out, key=lambda d: d.description)

    def cleanup(self) -> None:
        return None  # nothing of ours to remove: 1Password is read only here

    def check(self) -> None:
        """Authenticate and list vaults (what ``thv secret setup`` verifies)."""
        try:
            self._client().vaults()
        except SecretsError:
            raise
        except Exception as exc:
            raise self._failed("authenticate", exc) from None
