"""The secrets endpoints through a real ``thv serve``: the encrypted provider set up with a
password in the request (no keyring, nobody to prompt), keys CRUD, the ``environment`` provider's
405s — and the value in no answer, no server log line and not in clear in the store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from toolhive.testing.api import ApiServer, api_server

SECRETS = "/api/v1beta/secrets"
KEYS = f"{SECRETS}/default/keys"
VALUE = "e2e-secret-value-9f3c"


@pytest.fixture
def api(thv_env: dict[str, str]) -> Iterator[ApiServer]:
    thv_env["PYTHON_KEYRING_BACKEND"] = "keyring.backends.fail.Keyring"
    thv_env["TOOLHIVE_DETACHED"] = "1"
    thv_env.pop("TOOLHIVE_SECRETS_PASSWORD", None)
    thv_env.pop("TOOLHIVE_SECRETS_PROVIDER", None)
    with api_server(thv_env) as server:
        yield server


def test_encrypted_provider_keys_crud(api: ApiServer, thv_env: dict[str, str]):
    client = api.client
    assert client.get(f"{SECRETS}/default").status_code == 404
    setup = client.post(SECRETS, json={"provider_type": "encrypted", "password": "e2e-pw"})
    assert setup.status_code == 201, setup.text
    assert client.get(f"{SECRETS}/default").json()["capabilities"]["can_list"] is True

    answers = [client.post(KEYS, json={"key": "token", "value": VALUE})]
    assert answers[-1].status_code == 201
    answers.append(client.post(KEYS, json={"key": "token", "value": VALUE}))
    assert answers[-1].status_code == 409
    answers.append(client.get(KEYS))
    assert answers[-1].json() == {"keys": [{"key": "token", "description": ""}]}
    answers.append(client.put(f"{KEYS}/token", json={"value": VALUE + "-2"}))
    assert answers[-1].status_code == 200
    answers.append(client.delete(f"{KEYS}/token"))
    assert answers[-1].status_code == 204
    answers.append(client.delete(f"{KEYS}/token"))
    assert answers[-1].status_code == 404

    assert all(VALUE not in a.text and "e2e-pw" not in a.text for a in answers)
    assert VALUE not in api.log() and "e2e-pw" not in api.log()


def test_the_store_holds_no_value_in_clear(api: ApiServer, thv_env: dict[str, str]):
    api.client.post(SECRETS, json={"provider_type": "encrypted", "password": "e2e-pw"})
    assert api.client.post(KEYS, json={"key": "token", "value": VALUE}).status_code == 201
    store = Path(thv_env["XDG_DATA_HOME"]) / "toolhive" / "secrets_encrypted"
    assert store.exists() and VALUE.encode() not in store.read_bytes()


def test_environment_provider_answers_405(api: ApiServer):
    client = api.client
    assert client.post(SECRETS, json={"provider_type": "environment"}).status_code == 201
    codes = [
        client.get(KEYS).status_code,
        client.post(KEYS, json={"key": "token", "value": VALUE}).status_code,
        client.put(f"{KEYS}/token", json={"value": VALUE}).status_code,
        client.delete(f"{KEYS}/token").status_code,
    ]
    assert codes == [405, 405, 405, 405]
