"""The 1password provider with a fake of its narrow client interface.

1Password's cloud cannot be reached from this machine (only PyPI, npm and the Debian archive
are), and a service-account token cannot be had for tests, so the SDK itself cannot run here.
``fake_onepassword.FakeOnePassword`` implements :class:`~toolhive_secrets_onepassword.client.OnePasswordAPI`, the
three calls the provider makes, with the SDK's failure modes (plain exceptions whose messages
say what went wrong).
"""

from __future__ import annotations

import pytest
from fake_onepassword import FakeOnePassword
from toolhive.contracts import InvalidInputError
from toolhive.contracts.secrets import SecretNotFoundError, SecretsError, UnsupportedOperationError
from toolhive_secrets_onepassword.client import OnePasswordAPI, SdkClient
from toolhive_secrets_onepassword.config import OnePasswordConfig
from toolhive_secrets_onepassword.provider import OnePasswordProvider


def seeded() -> FakeOnePassword:
    """Two vaults, three items (IDs differ from titles, as in 1Password)."""
    return FakeOnePassword(
        data={
            ("v1", "Engineering"): {
                ("i1", "GitHub"): {"token": "ghp_x", "username": "bot"},
                ("i2", "Database"): {"password": "hunter2"},
            },
            ("v2", "Personal"): {("i3", "Mail"): {"password": "p"}},
        }
    )


def make(environ=None, **config) -> tuple[OnePasswordProvider, list[FakeOnePassword]]:
    made: list[FakeOnePassword] = []

    def factory(token: str) -> OnePasswordAPI:
        fake = seeded()
        client = fake.connect(token)  # a bad token raises before anything is made
        made.append(fake)
        return client

    env = {"OP_SERVICE_ACCOUNT_TOKEN": "ops_good"} if environ is None else environ
    return OnePasswordProvider(
        OnePasswordConfig(**config), environ=env, client_factory=factory
    ), made


def test_resolves_references_with_one_client():
    provider, made = make()
    assert provider.get_secret("op://Engineering/GitHub/token") == "ghp_x"
    assert provider.get_secret("op://v1/i2/password") == "hunter2"
    assert len(made) == 1 and made[0].calls == [
        "op://Engineering/GitHub/token",
        "op://v1/i2/password",
    ]


def test_missing_references_are_not_found():
    provider, _ = make()
    for ref in ("op://Engineering/GitHub/nope", "op://Engineering/Ghost/x", "op://Nowhere/a/b"):
        with pytest.raises(SecretNotFoundError, match=ref):
            provider.get_secret(ref)


def test_names_must_be_references():
    provider, made = make()
    for bad in ("github", "op://vault-only", "op://v/item"):
        with pytest.raises(InvalidInputError, match="op://vault/item/field"):
            provider.get_secret(bad)
    assert made == []  # refused before any client was built


def test_lists_items_of_every_or_one_vault():
    provider, _ = make()
    assert [(d.key, d.description) for d in provider.list_secrets()] == [
        ("op://v1/i2", "Engineering :: Database"),
        ("op://v1/i1", "Engineering :: GitHub"),
        ("op://v2/i3", "Personal :: Mail"),
    ]
    one, _ = make(vault="Personal")
    assert [d.key for d in one.list_secrets()] == ["op://v2/i3"]
    env_vault, _ = make({"OP_SERVICE_ACCOUNT_TOKEN": "ops_good", "OP_VAULT_ID": "v1"})
    assert len(env_vault.list_secrets()) == 2
    ghost, _ = make(vault="Ghost")
    with pytest.raises(SecretsError, match="vault 'Ghost' not found"):
        ghost.list_secrets()


def test_token_missing_wrong_or_from_a_file(tmp_path):
    provider, _ = make({})
    with pytest.raises(SecretsError, match="set OP_SERVICE_ACCOUNT_TOKEN"):
        provider.get_secret("op://a/b/c")
    wrong, _ = make({"OP_SERVICE_ACCOUNT_TOKEN": "ops_bad"})
    with pytest.raises(SecretsError, match="could not authenticate: invalid service account"):
        wrong.check()
    token_file = tmp_path / "token"
    token_file.write_text("ops_good\n")
    from_file, _ = make({}, token_file=str(token_file))
    assert from_file.get_secret("op://Personal/Mail/password") == "p"


def test_read_only():
    provider, _ = make()
    with pytest.raises(UnsupportedOperationError, match="cannot write"):
        provider.set_secret("op://a/b/c", "v")
    with pytest.raises(UnsupportedOperationError, match="cannot delete"):
        provider.delete_secret("op://a/b/c")


def test_the_sdk_client_satisfies_the_interface():
    """The real adapter has the interface's methods; building it makes no network call."""
    client = SdkClient("ops_unused")
    assert all(callable(getattr(client, m)) for m in ("resolve", "vaults", "items"))
    from onepassword.client import Client

    assert callable(Client.authenticate)
