"""The ``encrypted`` provider: secrets in one AES-256-GCM file, read and rewritten per operation.

Where the password comes from, in order: ``TOOLHIVE_SECRETS_PASSWORD``; the OS keyring; a hidden
prompt on the terminal (then kept in the keyring, if there is one) — or ``use_password`` from a front
end that cannot prompt (the REST API). A detached supervisor cannot prompt, so
``child_environment`` hands it a typed or given password through its environment (never a file).

Every change re-reads the file under a lock and replaces it atomically, so concurrent ``thv``
processes do not lose each other's writes and a crash leaves the old store. A file that cannot be
decrypted is never written to.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Literal

from toolhive.contracts import InvalidInputError, ToolHiveError, storage
from toolhive.contracts.secrets import SecretDescription, SecretsError, SecretsProviderBase
from toolhive.contracts.storage import locked, write_atomic

from toolhive_secrets_encrypted import crypto, keyrings
from toolhive_secrets_encrypted.config import EncryptedConfig

PASSWORD_ENV = "TOOLHIVE_SECRETS_PASSWORD"
Prompt = Callable[[str], str]


def terminal_prompt(environ: Mapping[str, str]) -> Prompt | None:
    """``getpass`` on the controlling terminal, unless detached or there is no terminal."""
    if environ.get("TOOLHIVE_DETACHED"):
        return None
    try:
        with open("/dev/tty"):
            pass
    except OSError:
        return None
    return getpass.getpass


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


class EncryptedProvider(SecretsProviderBase):
    name = "encrypted"

    def __init__(
        self,
        config: EncryptedConfig | None = None,
        *,
        environ: Mapping[str, str] | None = None,
        prompt: Prompt | Literal["terminal"] | None = "terminal",
        notice: Callable[[str], None] = _stderr,
    ) -> None:
        self.config = config or EncryptedConfig()
        self.path = (
            Path(self.config.path) if self.config.path else storage.data_dir() / "secrets_encrypted"
        )
        self._environ = os.environ if environ is None else environ
        self._prompt = terminal_prompt(self._environ) if isinstance(prompt, str) else prompt
        self._notice = notice
        self._key: bytes | None = None
        self._password: str | None = None
        self.password_source = ""

    # --- the file -------------------------------------------------------------------------

    def _read(self) -> bytes | None:
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            msg = f"cannot read the encrypted secrets store {self.path}: {exc.strerror}"
            raise SecretsError(msg) from None
        return data or None  # ToolHive treats an empty file as an empty store

    def _damaged(self, detail: str) -> SecretsError:
        return SecretsError(
            f"the encrypted secrets store {self.path} is damaged ({detail}); it was left "
            "untouched: restore it from a backup, or move it away to start an empty store"
        )

    def _decode(self, data: bytes | None, key: bytes) -> dict[str, str]:
        if data is None:
            return {}
        try:
            return crypto.decrypt(data, key)
        except crypto.FormatError as exc:
            raise self._damaged(str(exc)) from None

    # --- the key --------------------------------------------------------------------------

    def _unlock(self, data: bytes | None) -> dict[str, str]:
        """Find the key (once per process) and return the decrypted secrets."""
        if data is not None and len(data) < crypto.NONCE + crypto.TAG:
            raise self._damaged(f"{len(data)} bytes is too short for an encrypted store")
        if self._key is not None:
            try:
                return self._decode(data, self._key)
            except crypto.DecryptError:
                raise self._damaged("it no longer decrypts with the password in use") from None
        env_password = self._environ.get(PASSWORD_ENV)
        if env_password:
            return self._try(data, env_password, "env", self._wrong_env)
        stored = keyrings.get_password()
        if stored:
            return self._try(data, stored, "keyring", self._wrong_keyring)
        return self._ask(data)

    def _try(
        self, data: bytes | None, password: str, source: str, wrong: Callable[[], ToolHiveError]
    ) -> dict[str, str]:
        key = crypto.derive_key(password)
        try:
            secrets = self._decode(data, key)
        except crypto.DecryptError:
            raise wrong() from None
        self._key, self._password, self.password_source = key, password, source
        return secrets

    def _wrong_env(self) -> SecretsError:
        return SecretsError(
            f"{PASSWORD_ENV} does not decrypt {self.path} (wrong password, or the file is "
            "damaged); the file was left untouched: set the right password and try again"
        )

    def _wrong_keyring(self) -> SecretsError:
        return SecretsError(
            f"the password in the OS keyring does not decrypt {self.path} (it was left "
            "untouched): run `thv secret reset-keyring`, then enter the right password"
        )

    def _no_prompt(self) -> SecretsError:
        where = (
            "no OS keyring is available"
            if keyrings.backend() is None
            else "the OS keyring holds no password for it"
        )
        return SecretsError(
            f"the encrypted secrets store needs a password and {where}: set {PASSWORD_ENV}, "
            "or run this command in a terminal to be asked for it"
        )

    def _ask(self, data: bytes | None) -> dict[str, str]:
        prompt = self._prompt
        if prompt is None:
            raise self._no_prompt()
        has_keyring = keyrings.backend() is not None
        attempts = self.config.password_attempts
        if data is None:
            self._notice(
                f"ToolHive encrypts your secrets in {self.path} with a password. "
                + (
                    "It is kept in the OS keyring, so you are asked only once."
                    if has_keyring
                    else f"No OS keyring was found: you will be asked again (or set {PASSWORD_ENV})."
                )
            )
        for attempt in range(1, attempts + 1):
            password = prompt(
                "New password for your secrets: " if data is None else "Secrets password: "
            )
            if not password:
                self._notice("The password cannot be empty.")
                continue
            if data is None and prompt("Repeat the password: ") != password:
                self._notice("The passwords do not match.")
                continue
            try:
                secrets = self._try(data, password, "prompt", self._wrong_env)
            except SecretsError:
                left = attempts - attempt
                self._notice(f"Wrong password.{' Try again.' if left else ''}")
                continue
            if has_keyring and keyrings.set_password(password):
                self.password_source = "keyring"
            return secrets
        msg = (
            f"no valid password for {self.path} after {attempts} attempts; the file was left "
            "untouched"
        )
        raise SecretsError(msg)

    # --- operations -----------------------------------------------------------------------

    @contextlib.contextmanager
    def _changing(self) -> Iterator[dict[str, str]]:
        with locked(self.path):
            secrets = self._unlock(self._read())
            yield secrets
            assert self._key is not None
            write_atomic(self.path, crypto.encrypt(secrets, self._key))

    def get_secret(self, name: str) -> str:
        secrets = self._unlock(self._read())
        if name not in secrets:
            raise self.not_found(name)
        return secrets[name]

    def set_secret(self, name: str, value: str) -> None:
        with self._changing() as secrets:
            secrets[name] = value

    def delete_secret(self, name: str) -> None:
        with self._changing() as secrets:
            if name not in secrets:
                raise self.not_found(name)
            del secrets[name]

    def list_secrets(self) -> list[SecretDescription]:
        return [SecretDescription(k) for k in sorted(self._unlock(self._read()))]

    def cleanup(self) -> None:
        with self._changing() as secrets:
            secrets.clear()

    # --- extras ---------------------------------------------------------------------------

    def check(self) -> None:
        """Unlock the store (asking for a password if needed) and create it if missing."""
        with locked(self.path):
            data = self._read()
            secrets = self._unlock(data)
            if data is None:
                assert self._key is not None
                write_atomic(self.path, crypto.encrypt(secrets, self._key))

    def use_password(self, password: str) -> None:
        """Unlock the store with ``password`` (creating it if missing) for a front end that cannot
        prompt (the REST API's ``POST /secrets``); kept in the OS keyring when there is one.
        A password that does not decrypt an existing store is an error; the file is untouched."""
        if not password:
            msg = "the secrets password cannot be empty"
            raise InvalidInputError(msg)
        with locked(self.path):
            data = self._read()
            self._try(data, password, "given", self._wrong_given)
            if data is None:
                assert self._key is not None
                write_atomic(self.path, crypto.encrypt({}, self._key))
        if keyrings.backend() is not None and keyrings.set_password(password):
            self.password_source = "keyring"

    def _wrong_given(self) -> InvalidInputError:
        # The caller's input, not the provider's state: a 400 from the API, not a 503.
        return InvalidInputError(
            f"the password given does not decrypt {self.path} (wrong password, or the file is "
            "damaged); the file was left untouched"
        )

    def child_environment(self) -> dict[str, str]:
        """A typed or given password, for a detached supervisor that cannot prompt (environment
        only)."""
        if self.password_source in {"prompt", "given"} and self._password:
            return {PASSWORD_ENV: self._password}
        return {}

    def reset_keyring(self) -> bool:
        """Forget the password in the OS keyring; the store itself is not touched."""
        self._key = self._password = None
        return keyrings.delete_password()
