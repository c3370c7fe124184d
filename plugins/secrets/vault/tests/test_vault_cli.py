"""``thv secret`` with the vault provider configured in config.yaml, against the fake server."""

from __future__ import annotations

import json

import pytest
import toolhive_secrets_vault
from fake_vault import FakeVault


@pytest.fixture
def thv_plugins():
    return [toolhive_secrets_vault]


def test_configured_from_config_yaml(thv_cli, thv_home, fake_vault: FakeVault, monkeypatch):
    for var in ("VAULT_ADDR", "VAULT_TOKEN", "TOOLHIVE_SECRETS_PROVIDER"):
        monkeypatch.delenv(var, raising=False)
    fake_vault.mounts.add(("", "kv"))
    token = fake_vault.add_token()
    config = thv_home.config / "toolhive" / "config.yaml"
    config.parent.mkdir(parents=True)
    config.write_text(
        f"plugins:\n  secrets:\n    vault:\n      address: {fake_vault.url}\n"
        f"      token: {token}\n      mount: kv\n      path_prefix: mcp\n"
    )
    result = thv_cli("secret", "provider", "vault")
    assert result.exit_code == 0, result.output
    assert thv_cli("secret", "set", "gh", input="ghp_v").exit_code == 0
    assert fake_vault.kv[("", "kv", "mcp/gh")] == [{"value": "ghp_v"}]
    assert thv_cli("secret", "get", "gh").stdout == "ghp_v\n"
    listed = json.loads(thv_cli("secret", "list", "--format", "json").stdout)
    assert listed == [{"key": "gh", "description": "kv/mcp/gh"}]
    assert thv_cli("secret", "delete", "gh").exit_code == 0
    assert thv_cli("secret", "list").stdout == "No secrets found.\n"

    fake_vault.expire(token)
    result = thv_cli("secret", "get", "gh")
    assert result.exit_code == 1 and "invalid or expired" in str(result.exception)
    assert token not in str(result.exception)

    config.write_text(config.read_text() + "      bogus: 1\n")
    result = thv_cli("secret", "get", "gh")
    assert result.exit_code == 1 and "plugins.secrets.vault.bogus" in str(result.exception)
