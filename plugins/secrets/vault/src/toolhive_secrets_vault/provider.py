"""The ``vault`` provider: one KV v2 secret per ToolHive secret, ``{field: value}``.

Errors are ours, built from the HTTP status only: Vault's error bodies and hvac's messages are
never passed on, so nothing a server echoes can reach a log. A 403 is told apart with
``auth/token/lookup-self``: if the token itself is rejected it is invalid or expired (AppRole logs
in again once), otherwise its policies deny the path.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from toolhive.contracts import InvalidInputError
from toolhive.contracts.secrets import (
    SecretDescription,
    SecretsError,
    SecretsProviderBase,
    require_name,
)

from toolhive_secrets_vault.config import VaultConfig

if TYPE_CHECKING:
    import hvac

T = TypeVar("T")

#: Folders deeper than this are not listed (a guard against cycles and huge trees).
MAX_LIST_DEPTH = 8


class VaultAuthError(SecretsError):
    """Vault rejected the credentials (invalid or expired token, failed AppRole login)."""


class VaultDeniedError(SecretsError):
    """The token is valid but its policies do not allow the operation."""

    http_status = 403


class VaultProvider(SecretsProviderBase):
    name = "vault"

    def __init__(self, config: VaultConfig, environ: Mapping[str, str] | None = None) -> None:
        self.config = config
        env = os.environ if environ is None else environ
        self.address = (config.address or env.get("VAULT_ADDR") or "").rstrip("/")
        self.namespace = config.namespace or env.get("VAULT_NAMESPACE", "")
        self.ca_cert = config.ca_cert or env.get("VAULT_CACERT", "")
        self._env = env
        self._client: hvac.Client | None = None

    # --- connection -----------------------------------------------------------------------

    def _where(self) -> str:
        ns = f" (namespace {self.namespace})" if self.namespace else ""
        return f"Vault at {self.address}{ns}"

    def _token(self) -> str:
        cfg = self.config
        if cfg.token:
            return cfg.token
        if self._env.get("VAULT_TOKEN"):
            return self._env["VAULT_TOKEN"]
        path = Path(cfg.token_file).expanduser() if cfg.token_file else Path.home() / ".vault-token"
        try:
            return path.read_text().strip()
        except OSError:
            msg = (
                "no Vault token: set VAULT_TOKEN, or plugins.secrets.vault.token_file in "
                "config.yaml, or use auth_method: approle"
            )
            raise VaultAuthError(msg) from None

    def _secret_id(self) -> str:
        cfg = self.config
        if cfg.secret_id:
            return cfg.secret_id
        if cfg.secret_id_file:
            try:
                return Path(cfg.secret_id_file).expanduser().read_text().strip()
            except OSError as exc:
                msg = f"cannot read the AppRole secret_id_file {cfg.secret_id_file}: {exc.strerror}"
                raise VaultAuthError(msg) from None
        return self._env.get("VAULT_SECRET_ID", "")

    def _connect(self) -> hvac.Client:
        if self._client is not None:
            return self._client
        import hvac

        if not self.address:
            msg = "no Vault address: set VAULT_ADDR or plugins.secrets.vault.address in config.yaml"
            raise InvalidInputError(msg)
        verify: bool | str = False if self.config.tls_skip_verify else (self.ca_cert or True)
        client = hvac.Client(
            url=self.address,
            namespace=self.namespace or None,
            verify=verify,
            timeout=self.config.timeout,
        )
        if self.config.auth_method == "token":
            client.token = self._token()
        self._client = client
        if self.config.auth_method == "approle":
            self._login()
        return client

    def _login(self) -> None:
        """AppRole login; the token is kept on the client for the next calls."""
        import hvac.exceptions

        cfg = self.config
        role_id = cfg.role_id or self._env.get("VAULT_ROLE_ID", "")
        secret_id = self._secret_id()
        if not role_id or not secret_id:
            msg = (
                "AppRole auth needs a role_id and a secret_id: set VAULT_ROLE_ID and "
                "VAULT_SECRET_ID, or plugins.secrets.vault.role_id / secret_id_file"
            )
            raise VaultAuthError(msg)
        assert self._client is not None
        try:
            self._client.auth.approle.login(
                role_id=role_id, secret_id=secret_id, mount_point=cfg.approle_mount
            )
        except (hvac.exceptions.Forbidden, hvac.exceptions.InvalidRequest):
            msg = f"AppRole login to {self._where()} was refused: check the role_id and secret_id"
            raise VaultAuthError(msg) from None
        except Exception as exc:
            raise self._transport_error(exc) from None

    def _token_valid(self) -> bool:
        import hvac.exceptions

        assert self._client is not None
        try:
            self._client.auth.token.lookup_self()
        except (hvac.exceptions.Forbidden, hvac.exceptions.Unauthorized):
            return False
        except Exception:
            return True  # cannot tell: report the original denial
        return True

    def _transport_error(self, exc: Exception) -> SecretsError:
        import hvac.exceptions
        import requests

        if isinstance(exc, requests.exceptions.SSLError):
            return SecretsError(
                f"TLS verification of {self._where()} failed: set plugins.secrets.vault.ca_cert "
                "(or VAULT_CACERT) to the CA that signed its certificate"
            )
        if isinstance(exc, requests.exceptions.RequestException):
            return SecretsError(f"cannot reach {self._where()} ({type(exc).__name__})")
        if isinstance(exc, hvac.exceptions.VaultDown):
            return SecretsError(f"{self._where()} is sealed or unavailable")
        if isinstance(exc, hvac.exceptions.VaultError):
            status = getattr(exc, "status_code", None) or type(exc).__name__
            return SecretsError(f"{self._where()} answered an error ({status})")
        raise exc

    def _call(self, what: str, path: str, fn: Callable[[hvac.Client], T]) -> T:
        """Run one Vault call with ToolHive's error handling (``what`` is ``read``/``write`` …)."""
        import hvac.exceptions

        client = self._connect()
        for attempt in (1, 2):
            try:
                return fn(client)
            except hvac.exceptions.Forbidden:
                if self._token_valid():
                    msg = (
                        f"permission denied by {self._where()}: the token may not {what} "
                        f"{self.config.mount}/{path}"
                    )
                    raise VaultDeniedError(msg) from None
                if self.config.auth_method == "approle" and attempt == 1:
                    self._login()  # the AppRole token expired: log in again, once
                    continue
                msg = (
                    f"the Vault token was rejected by {self._where()} (invalid or expired): "
                    "renew it (VAULT_TOKEN)"
                )
                raise VaultAuthError(msg) from None
            except hvac.exceptions.Unauthorized:
                msg = f"{self._where()} requires authentication: the token is missing or invalid"
                raise VaultAuthError(msg) from None
            except hvac.exceptions.InvalidPath:
                raise
            except Exception as exc:
                raise self._transport_error(exc) from None
        raise AssertionError("unreachable")

    # --- names ----------------------------------------------------------------------------

    def _path(self, name: str) -> tuple[str, str]:
        """``name`` or ``name#field`` → (path under the mount, field)."""
        require_name(name)
        base, _, field = name.partition("#")
        parts = [p for p in base.split("/") if p]
        if not parts or any(p in {".", ".."} for p in parts) or base.startswith("/"):
            msg = f"invalid Vault secret name {name!r}: use path segments like team/github-token"
            raise InvalidInputError(msg)
        prefix = self.config.path_prefix.strip("/")
        return "/".join([prefix, *parts] if prefix else parts), field or self.config.field

    def _name(self, path: str) -> str:
        prefix = self.config.path_prefix.strip("/")
        return path[len(prefix) + 1 :] if prefix else path

    # --- operations -----------------------------------------------------------------------

    def get_secret(self, name: str) -> str:
        import hvac.exceptions

        path, field = self._path(name)
        mount = self.config.mount
        try:
            response = self._call(
                "read",
                path,
                lambda c: c.secrets.kv.v2.read_secret_version(
                    path=path, mount_point=mount, raise_on_deleted_version=True
                ),
            )
        except hvac.exceptions.InvalidPath:
            raise self.not_found(name) from None
        data: dict[str, Any] = ((response or {}).get("data") or {}).get("data") or {}
        if field not in data:
            msg = f"Vault secret {mount}/{path} has no {field!r} key" + (
                f" (it has: {', '.join(sorted(data))})" if data else ""
            )
            raise SecretsError(msg)
        return str(data[field])

    def set_secret(self, name: str, value: str) -> None:
        path, field = self._path(name)
        mount = self.config.mount
        self._call(
            "write",
            path,
            lambda c: c.secrets.kv.v2.create_or_update_secret(
                path=path, secret={field: value}, mount_point=mount
            ),
        )

    def delete_secret(self, name: str) -> None:
        """Delete every version and the metadata (a KV v2 soft delete could be undone)."""
        import hvac.exceptions

        path, _ = self._path(name)
        mount = self.config.mount
        try:
            self._call(
                "read",
                path,
                lambda c: c.secrets.kv.v2.read_secret_metadata(path=path, mount_point=mount),
            )
        except hvac.exceptions.InvalidPath:
            raise self.not_found(name) from None
        self._call(
            "delete",
            path,
            lambda c: c.secrets.kv.v2.delete_metadata_and_all_versions(
                path=path, mount_point=mount
            ),
        )

    def _list(self, folder: str, depth: int = 0) -> list[str]:
        import hvac.exceptions

        mount = self.config.mount
        try:
            response = self._call(
                "list",
                folder or "/",
                lambda c: c.secrets.kv.v2.list_secrets(path=folder, mount_point=mount),
            )
        except hvac.exceptions.InvalidPath:
            return []  # Vault answers 404 for an empty folder
        keys: list[str] = ((response or {}).get("data") or {}).get("keys") or []
        out: list[str] = []
        for key in keys:
            full = f"{folder}/{key}" if folder else key
            if key.endswith("/"):
                if depth < MAX_LIST_DEPTH:
                    out.extend(self._list(full.rstrip("/"), depth + 1))
            else:
                out.append(full)
        return out

    def list_secrets(self) -> list[SecretDescription]:
        folder = self.config.path_prefix.strip("/")
        return [
            SecretDescription(self._name(p), f"{self.config.mount}/{p}")
            for p in sorted(self._list(folder))
        ]

    def cleanup(self) -> None:
        for entry in self.list_secrets():
            self.delete_secret(entry.key)

    def check(self) -> None:
        """Log in and list the prefix: fails if Vault is unreachable or denies it."""
        self.list_secrets()
