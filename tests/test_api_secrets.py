"""The secrets endpoints through a real ``thv serve``: the encrypted provider set up with a
password in the request (no keyring, nobody to prompt), keys CRUD, the ``environment`` provider's
405s — and the value in no answer, no server log line and not in clear in the store."""

from __future__ import annotations

import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from toolhive.testing.api import ApiServer, api_server

from tests.conftest import FIXTURES, process_runtime_available, require_or_skip

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


def process_environments(marker: str) -> list[dict[str, str]]:
    """The environments of this user's processes whose command line mentions ``marker``."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if marker.encode() not in (proc / "cmdline").read_bytes():
                continue
            raw = (proc / "environ").read_bytes()
        except OSError:  # gone, or not ours
            continue
        pairs = (item.split(b"=", 1) for item in raw.split(b"\0") if b"=" in item)
        found.append({k.decode(errors="replace"): v.decode(errors="replace") for k, v in pairs})
    return found


def test_a_workload_the_server_starts_gets_a_secret_from_the_store_set_up_by_request(
    thv_env: dict[str, str],
):
    """The password given to POST /secrets (no keyring here) is what the server and the
    supervisors it spawns open the store with: the secret reaches the MCP server's environment."""
    if not process_runtime_available():
        require_or_skip("bubblewrap and uv for the process runtime")
    thv_env |= {
        "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
        "TOOLHIVE_DETACHED": "1",
        "TOOLHIVE_RUNTIME": "process",
    }
    thv_env.pop("TOOLHIVE_SECRETS_PASSWORD", None)
    with api_server(thv_env) as api:
        client = api.client
        setup = client.post(SECRETS, json={"provider_type": "encrypted", "password": "e2e-pw"})
        assert setup.status_code == 201
        assert client.post(KEYS, json={"key": "echo-token", "value": VALUE}).status_code == 201
        marker = f"echo_server.py-{uuid.uuid4().hex[:8]}"
        script = Path(thv_env["XDG_DATA_HOME"]) / marker
        script.write_bytes((FIXTURES / "echo_server.py").read_bytes())
        created = client.post(
            "/api/v1beta/workloads",
            json={
                "name": "api-secret-echo",
                "image": sys.executable,
                "transport": "streamable-http",
                "cmd_arguments": [str(script), "streamable-http"],
                "secrets": [{"name": "echo-token", "target": "ECHO_TOKEN"}],
            },
        )
        assert created.status_code == 201, created.text
        deadline = time.monotonic() + 120
        while (
            client.get("/api/v1beta/workloads/api-secret-echo/status").json().get("status")
            != "running"
        ):
            assert time.monotonic() < deadline, api.log()
            time.sleep(0.25)
        environments = process_environments(marker)
        assert any(env.get("ECHO_TOKEN") == VALUE for env in environments), environments
        assert VALUE not in created.text and VALUE not in api.log()
