"""Settings from ``config.yaml`` ``plugins: {secrets: {1password: {...}}}``."""

from __future__ import annotations

from toolhive.contracts import PluginConfig


class OnePasswordConfig(PluginConfig):
    #: Vault (ID or title) whose items ``thv secret list`` shows; default ``$OP_VAULT_ID``, else all.
    vault: str = ""
    #: File holding the service-account token, if not in ``OP_SERVICE_ACCOUNT_TOKEN``.
    token_file: str = ""
