"""The password in a keyring: keyrings.alt's file backend, a real backend chosen explicitly (this
headless machine has no OS keyring service), and the guard that keeps such plaintext backends from
being picked implicitly."""

from __future__ import annotations

import pytest
from toolhive.contracts.secrets import SecretsError
from toolhive_secrets_encrypted import keyrings
from toolhive_secrets_encrypted.provider import PASSWORD_ENV, EncryptedProvider

PLAINTEXT = "keyrings.alt.file.PlaintextKeyring"


@pytest.fixture
def file_keyring(monkeypatch, thv_home):
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", PLAINTEXT)
    kr = keyrings.backend()
    assert type(kr).__name__ == "PlaintextKeyring"
    assert str(thv_home.root) in kr.file_path  # under the temporary XDG_DATA_HOME
    return kr


def test_typed_password_is_kept_in_the_keyring(file_keyring, thv_home):
    typed = EncryptedProvider(environ={}, prompt=lambda _: "pw", notice=lambda _: None)
    typed.set_secret("k", "v")
    assert typed.password_source == "keyring"
    assert typed.child_environment() == {}  # the supervisor reads the keyring itself
    assert file_keyring.get_password("toolhive", "toolhive") == "pw"
    assert EncryptedProvider(environ={}, prompt=None).get_secret("k") == "v"


def test_reset_keyring_forgets_the_password(file_keyring, thv_home):
    EncryptedProvider(environ={}, prompt=lambda _: "pw", notice=lambda _: None).check()
    p = EncryptedProvider(environ={}, prompt=None)
    assert p.reset_keyring() is True
    assert p.reset_keyring() is False
    with pytest.raises(SecretsError, match="the OS keyring holds no password"):
        EncryptedProvider(environ={}, prompt=None).list_secrets()


def test_a_wrong_keyring_password_points_to_reset(file_keyring, thv_home):
    EncryptedProvider(environ={PASSWORD_ENV: "real"}, prompt=None).set_secret("k", "v")
    file_keyring.set_password("toolhive", "toolhive", "stale")
    with pytest.raises(SecretsError, match="reset-keyring"):
        EncryptedProvider(environ={}, prompt=None).get_secret("k")
    # Recovery: reset, type the right password once, and it is stored again.
    EncryptedProvider(environ={}, prompt=None).reset_keyring()
    typed = EncryptedProvider(environ={}, prompt=lambda _: "real", notice=lambda _: None)
    assert typed.get_secret("k") == "v"
    assert file_keyring.get_password("toolhive", "toolhive") == "real"


def test_the_environment_password_wins_and_is_not_stored(file_keyring, thv_home):
    EncryptedProvider(environ={PASSWORD_ENV: "envpw"}, prompt=None).set_secret("k", "v")
    assert file_keyring.get_password("toolhive", "toolhive") is None


def test_plaintext_backends_are_not_used_implicitly(monkeypatch, thv_home):
    monkeypatch.delenv("PYTHON_KEYRING_BACKEND", raising=False)
    import keyring

    # keyrings.alt is installed, so keyring itself would pick its plaintext file here.
    if float(keyring.get_keyring().priority) >= 1:
        pytest.skip("this machine has a real OS keyring")
    assert keyrings.backend() is None
    assert keyrings.set_password("x") is False
