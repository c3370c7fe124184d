"""``thv secret`` with the encrypted provider installed (in-process CLI, temporary home)."""

from __future__ import annotations

import json

import pytest
import toolhive_secrets_encrypted

PASSWORD = {"TOOLHIVE_SECRETS_PASSWORD": "cli-password"}


@pytest.fixture
def thv_plugins():
    return [toolhive_secrets_encrypted]


@pytest.fixture(autouse=True)
def no_keyring(monkeypatch):
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    monkeypatch.delenv("TOOLHIVE_SECRETS_PROVIDER", raising=False)


def test_setup_set_get_list_delete(thv_cli, thv_home):
    result = thv_cli("secret", "setup", input="\n", env=PASSWORD)  # encrypted is the default
    assert result.exit_code == 0, result.output
    assert "encrypted" in result.stdout and "Secrets provider set to encrypted." in result.stdout
    store = thv_home.data / "toolhive" / "secrets_encrypted"
    assert store.exists()  # setup created the (empty) store with this password

    assert thv_cli("secret", "set", "gh", input="ghp_abc", env=PASSWORD).exit_code == 0
    assert b"ghp_abc" not in store.read_bytes()
    assert thv_cli("secret", "get", "gh", env=PASSWORD).stdout == "ghp_abc\n"
    listed = json.loads(thv_cli("secret", "list", "--format", "json", env=PASSWORD).stdout)
    assert listed == [{"key": "gh", "description": ""}]

    wrong = thv_cli("secret", "get", "gh", env={"TOOLHIVE_SECRETS_PASSWORD": "nope"})
    assert wrong.exit_code == 1 and "does not decrypt" in str(wrong.exception)
    assert "ghp_abc" not in wrong.output + str(wrong.exception)

    assert thv_cli("secret", "delete", "gh", env=PASSWORD).exit_code == 0
    assert thv_cli("secret", "list", env=PASSWORD).stdout == "No secrets found.\n"


def test_without_password_or_keyring(thv_cli, thv_home):
    result = thv_cli("secret", "provider", "encrypted", env={"TOOLHIVE_DETACHED": "1"})
    assert result.exit_code == 1
    assert "set TOOLHIVE_SECRETS_PASSWORD" in str(result.exception)
    assert not (thv_home.config / "toolhive" / "config.yaml").exists()  # not half set up


def test_reset_keyring(thv_cli, thv_home, monkeypatch):
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyrings.alt.file.PlaintextKeyring")
    from toolhive_secrets_encrypted import keyrings

    assert thv_cli("secret", "provider", "encrypted", env=PASSWORD).exit_code == 0
    assert keyrings.get_password() is None  # an environment password is not stored
    keyrings.set_password("cli-password")
    result = thv_cli("secret", "reset-keyring")
    assert result.stdout == "The secrets password was removed from the OS keyring.\n"
    assert keyrings.get_password() is None
    assert "nothing to reset" in thv_cli("secret", "reset-keyring").stdout
