"""Settings from ``config.yaml`` ``plugins: {secrets: {vault: {...}}}``.

Empty values fall back to Vault's own environment variables (``VAULT_ADDR``, ``VAULT_TOKEN``,
``VAULT_NAMESPACE``, ``VAULT_CACERT``, ``VAULT_ROLE_ID``, ``VAULT_SECRET_ID``), so credentials need
not be written into config.yaml.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from toolhive.contracts import PluginConfig


class VaultConfig(PluginConfig):
    address: str = ""
    #: Where the KV v2 engine is mounted.
    mount: str = "secret"
    #: Secrets live under ``<mount>/<path_prefix>/<name>``.
    path_prefix: str = "toolhive"
    #: The key inside each secret that holds the value (``name#key`` picks another one).
    field: str = "value"
    namespace: str = ""
    auth_method: Literal["token", "approle"] = "token"
    token: str = ""
    #: File holding the token (default when no token is given: ``~/.vault-token``, as the Vault CLI).
    token_file: str = ""
    approle_mount: str = "approle"
    role_id: str = ""
    secret_id: str = ""
    secret_id_file: str = ""
    #: CA bundle that signed the Vault server's certificate.
    ca_cert: str = ""
    tls_skip_verify: bool = False
    timeout: float = Field(default=10.0, gt=0)
