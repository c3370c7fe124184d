"""The secrets endpoints in-process: the encrypted provider set up with a password in the
request (no prompt, no keyring), keys CRUD with its status codes, 405s with the read-only
``environment`` provider, and no secret value in any answer."""

from __future__ import annotations

import os

import pytest
import toolhive_secrets_encrypted
from api_in_process import InProcess

SECRETS = "/api/v1beta/secrets"
KEYS = f"{SECRETS}/default/keys"
PASSWORD_ENV = "TOOLHIVE_SECRETS_PASSWORD"
VALUE = "s3cr3t-value-never-echoed"


@pytest.fixture
def thv_plugins():
    return [toolhive_secrets_encrypted]


@pytest.fixture(autouse=True)
def no_keyring_no_prompt(monkeypatch):
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    monkeypatch.setenv("TOOLHIVE_DETACHED", "1")  # nobody to prompt
    monkeypatch.delenv("TOOLHIVE_SECRETS_PROVIDER", raising=False)
    # The server adopts a given password into its environment: undo it after each test.
    monkeypatch.setenv(PASSWORD_ENV, "placeholder")
    monkeypatch.delenv(PASSWORD_ENV)


@pytest.fixture
def api(thv_home, thv_hooks) -> InProcess:
    return InProcess(thv_hooks)


@pytest.fixture
def encrypted(api) -> InProcess:
    answer = api.post(SECRETS, json={"provider_type": "encrypted", "password": "pw-1"})
    assert answer.status_code == 201, answer.text
    return api


def no_value_in(*answers) -> bool:
    return all(VALUE not in a.text for a in answers)


def test_nothing_is_set_up_at_first(api):
    answer = api.get(f"{SECRETS}/default")
    assert answer.status_code == 404 and "thv secret setup" in answer.json()["message"]
    assert api.get(KEYS).status_code == 404
    assert api.post(KEYS, json={"key": "k", "value": VALUE}).status_code == 404


def test_setup_of_the_encrypted_provider_with_a_password(api, thv_home):
    answer = api.post(SECRETS, json={"provider_type": "encrypted", "password": "pw-1"})
    assert answer.status_code == 201
    assert answer.json() == {
        "provider_type": "encrypted",
        "message": "Secrets provider setup successfully",
    }
    assert (thv_home.data / "toolhive" / "secrets_encrypted").exists()
    assert os.environ[PASSWORD_ENV] == "pw-1"  # no keyring kept it: this server does
    info = api.get(f"{SECRETS}/default")
    assert info.status_code == 200
    assert info.json() == {
        "name": "default",
        "provider_type": "encrypted",
        "capabilities": {
            "can_read": True,
            "can_write": True,
            "can_delete": True,
            "can_list": True,
            "can_cleanup": True,
        },
    }
    again = api.post(SECRETS, json={"provider_type": "encrypted", "password": "pw-1"})
    assert again.json()["message"] == "Secrets provider reconfigured successfully"


def test_a_wrong_password_for_an_existing_store_is_a_400(encrypted):
    answer = encrypted.post(SECRETS, json={"provider_type": "encrypted", "password": "other"})
    assert answer.status_code == 400 and "does not decrypt" in answer.json()["message"]
    assert "other" not in answer.text


def test_setup_without_a_password_and_no_keyring_is_a_400_saying_what_to_do(api):
    answer = api.post(SECRETS, json={"provider_type": "encrypted"})
    assert answer.status_code == 400
    assert PASSWORD_ENV in answer.json()["message"]
    assert api.get(f"{SECRETS}/default").status_code == 404  # not half set up


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"provider_type": ""}, "provider_type cannot be empty"),
        ({"provider_type": "vaultish"}, "unknown secrets provider 'vaultish'"),
        ({}, "provider_type"),
    ],
)
def test_an_empty_or_unknown_provider_type_is_a_400(api, body, says):
    answer = api.post(SECRETS, json=body)
    assert answer.status_code == 400 and says in answer.json()["message"]


def test_keys_crud_with_the_encrypted_provider(encrypted, thv_home):
    api = encrypted
    assert api.get(KEYS).json() == {"keys": []}
    created = api.post(KEYS, json={"key": "github", "value": VALUE})
    assert created.status_code == 201
    assert created.json() == {"key": "github", "message": "Secret created successfully"}
    store = thv_home.data / "toolhive" / "secrets_encrypted"
    assert VALUE.encode() not in store.read_bytes()
    duplicate = api.post(KEYS, json={"key": "github", "value": VALUE})
    assert duplicate.status_code == 409

    listed = api.get(KEYS)
    assert listed.json() == {"keys": [{"key": "github", "description": ""}]}
    updated = api.put(f"{KEYS}/github", json={"value": VALUE + "2"})
    assert updated.status_code == 200
    assert updated.json() == {"key": "github", "message": "Secret updated successfully"}
    assert api.put(f"{KEYS}/absent", json={"value": VALUE}).status_code == 404

    assert api.delete(f"{KEYS}/github").status_code == 204
    assert api.delete(f"{KEYS}/github").status_code == 404
    assert api.get(KEYS).json() == {"keys": []}
    assert no_value_in(created, duplicate, listed, updated)


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("POST", KEYS, {"key": "", "value": VALUE}, "key"),
        ("POST", KEYS, {"key": "k", "value": ""}, "value"),
        ("POST", KEYS, {"key": "k"}, "value"),
        ("PUT", f"{KEYS}/k", {"value": ""}, "value"),
    ],
)
def test_an_empty_key_or_value_is_a_400_naming_the_field(encrypted, method, path, body, field):
    answer = encrypted.request(method, path, json=body)
    assert answer.status_code == 400 and answer.json()["field"] == field
    assert VALUE not in answer.text


def test_toolhives_own_secrets_are_not_the_apis(encrypted):
    answer = encrypted.post(KEYS, json={"key": "__thv_registry_token", "value": VALUE})
    assert answer.status_code == 400 and "reserved" in answer.json()["message"]
    assert encrypted.delete(f"{KEYS}/__thv_registry_token").status_code == 400


def test_the_environment_provider_answers_405_for_what_it_cannot_do(api, monkeypatch):
    setup = api.post(SECRETS, json={"provider_type": "environment"})
    assert setup.status_code == 201
    info = api.get(f"{SECRETS}/default").json()
    assert info["provider_type"] == "environment"
    assert info["capabilities"]["can_read"] and not info["capabilities"]["can_list"]
    monkeypatch.setenv("TOOLHIVE_SECRET_token", VALUE)
    answers = [
        api.get(KEYS),
        api.post(KEYS, json={"key": "token", "value": VALUE}),
        api.put(f"{KEYS}/token", json={"value": VALUE}),
        api.delete(f"{KEYS}/token"),
    ]
    assert [a.status_code for a in answers] == [405, 405, 405, 405]
    assert "environment secrets provider cannot list" in answers[0].json()["message"]
    assert no_value_in(*answers)
