"""The Secrets view in Chromium against a real ``thv serve`` with no keyring (the password goes
in the set-up request, as tests/test_api_secrets.py does): the encrypted provider set up, keys
created, updated and deleted — values never on the page again — the environment provider's
405s explained, and a secret created in the install form reaching a workload by reference."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect
from toolhive.testing.api import ApiServer, api_server

from tests.ui.conftest import PHONE, Ui, axe_violations

VALUE = "ui-secret-value-7c1d"
KEYS = "/api/v1beta/secrets/default/keys"


@pytest.fixture
def server(ui_env: dict[str, str]) -> Iterator[ApiServer]:
    """No keyring and no password in the environment: only the page can set the store up."""
    ui_env["PYTHON_KEYRING_BACKEND"] = "keyring.backends.fail.Keyring"
    ui_env.pop("TOOLHIVE_SECRETS_PASSWORD", None)
    ui_env.pop("TOOLHIVE_SECRETS_PROVIDER", None)
    with api_server(ui_env) as started:
        yield started


def set_up_encrypted(page) -> None:
    page.get_by_label("Provider", exact=True).select_option("encrypted")
    page.get_by_label("Password").fill("ui-store-password")
    page.get_by_role("button", name="Set up").click()
    expect(page.get_by_role("region", name="Provider")).to_contain_text("In use: encrypted")


def test_the_encrypted_provider_is_set_up_and_keys_are_created_updated_and_deleted(ui: Ui, shoot):
    page = ui.open("/ui/secrets")
    expect(page.get_by_role("heading", name="Set up a secrets provider")).to_be_visible()
    assert axe_violations(page) == []
    set_up_encrypted(page)
    provider = page.get_by_role("region", name="Provider")
    expect(provider.get_by_text("Create and update: yes")).to_be_visible()
    expect(page.get_by_text("No secrets yet.")).to_be_visible()

    page.get_by_label("Key").fill("api-token")
    page.get_by_label("Value").fill(VALUE)
    page.get_by_role("button", name="Create").click()
    row = page.get_by_role("row", name="api-token")
    expect(row).to_be_visible()
    expect(page.get_by_label("Value")).to_have_value("")  # write-only: gone once sent
    assert ui.server.client.get(KEYS).json()["keys"] == [{"key": "api-token", "description": ""}]

    # The same key again: the API's 409, next to the key field.
    page.get_by_label("Key").fill("api-token")
    page.get_by_label("Value").fill(VALUE)
    page.get_by_role("button", name="Create").click()
    expect(page.get_by_label("Key")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_text("secret 'api-token' already exists")).to_be_visible()
    page.get_by_label("Value").fill("")
    assert axe_violations(page) == []
    shoot(page, "secrets-light")

    page.get_by_role("button", name="Update api-token").click()
    dialog = page.get_by_role("dialog", name="Update api-token")
    dialog.get_by_label("New value of api-token").fill(VALUE + "-2")
    dialog.get_by_role("button", name="Save").click()
    expect(dialog).to_have_count(0)
    expect(page.get_by_text("api-token updated")).to_be_visible()

    page.get_by_role("button", name="Delete api-token").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete").click()
    expect(row).to_have_count(0)
    expect(page.get_by_text("No secrets yet.")).to_be_visible()
    assert ui.server.client.get(KEYS).json()["keys"] == []
    # No value ever came back to the page, nor is it in the server's log.
    assert VALUE not in page.content()
    assert VALUE not in ui.server.log()

    ui.server.client.post(KEYS, json={"key": "github-token", "value": VALUE})
    dark = ui.open("/ui/secrets", scheme="dark", viewport=PHONE)
    expect(dark.get_by_role("row", name="github-token")).to_be_visible()
    assert axe_violations(dark) == []
    assert dark.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shoot(dark, "secrets-dark")


def test_the_environment_provider_says_in_words_what_it_cannot_do(ui: Ui):
    page = ui.open("/ui/secrets")
    page.get_by_label("Provider", exact=True).select_option("environment")
    expect(page.get_by_label("Password")).to_be_hidden()
    page.get_by_role("button", name="Set up").click()
    expect(page.get_by_role("region", name="Provider")).to_contain_text("In use: environment")
    expect(page.get_by_text("The environment provider only reads secrets").first).to_be_visible()
    expect(page.get_by_role("button", name="Create")).to_have_count(0)
    assert axe_violations(page) == []


def test_a_provider_that_cannot_work_here_is_refused_at_the_provider_field(ui: Ui):
    page = ui.open("/ui/secrets")
    page.get_by_label("Provider", exact=True).select_option("vault")
    page.get_by_role("button", name="Set up").click()
    provider = page.get_by_label("Provider", exact=True)
    expect(provider).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_text("no Vault address")).to_be_visible()
    assert ui.server.client.get("/api/v1beta/secrets/default").status_code == 404


def test_a_secret_created_in_the_install_form_reaches_the_workload_by_reference_only(ui: Ui):
    page = ui.open("/ui/secrets")
    set_up_encrypted(page)
    page.get_by_role("link", name="Install").click()
    page.get_by_role("link", name="Custom server").click()
    page.get_by_label("Package or image").fill("uvx://mcp-server-time")
    page.get_by_label("Name").fill("clock")
    page.get_by_role("button", name="Add secret").click()
    page.get_by_label("Secret", exact=True).select_option(label="Create a new secret…")
    page.get_by_label("New secret's name (Secret)").fill("clock-token")
    page.get_by_label("New secret's value (Secret)").fill(VALUE)
    page.get_by_label("As variable").fill("CLOCK_TOKEN")
    page.get_by_role("button", name="Install").click()
    page.wait_for_url(ui.server.base_url + "/", timeout=120_000)

    client = ui.server.client
    assert client.get(KEYS).json()["keys"] == [{"key": "clock-token", "description": ""}]
    deadline = time.monotonic() + 120
    while client.get("/api/v1beta/workloads/clock/status").json()["status"] != "running":
        assert time.monotonic() < deadline, "clock did not reach running"
        time.sleep(0.3)
    exported = client.get("/api/v1beta/workloads/clock/export")
    assert exported.json()["secrets"] == ["clock-token,target=CLOCK_TOKEN"]
    assert VALUE not in exported.text
    assert VALUE not in page.content()
    assert VALUE not in ui.server.log()


LEGACY_REGISTRY = {
    "version": "1.0.0",
    "last_updated": "2026-12-01T00:00:00Z",
    "servers": {
        "clock": {
            "description": "The time, with a token it does not need",
            "tier": "Community",
            "status": "Active",
            "transport": "stdio",
            "image": "uvx://mcp-server-time",
            "tools": ["get_current_time", "convert_time"],
            "env_vars": [
                {"name": "CLOCK_TOKEN", "description": "A token", "required": True, "secret": True},
                {"name": "CLOCK_MODE", "description": "A mode", "default": "fast"},
            ],
        }
    },
    "remote_servers": {
        "weather": {
            "description": "A remote server",
            "tier": "Community",
            "transport": "streamable-http",
            "url": "https://weather.example.com/mcp",
            "headers": [
                {"name": "X-Api-Key", "description": "Key", "required": True, "secret": True},
                {"name": "X-Region", "choices": ["eu", "us"], "default": "eu"},
            ],
        }
    },
}


@pytest.fixture
def own_registry(server: ApiServer, ui_env: dict[str, str], tmp_path: Path) -> None:
    """A registry file with a secret env var and a remote entry with headers (converted from
    the legacy shape by ``thv registry convert``), made the server's registry."""
    legacy, upstream = tmp_path / "legacy.json", tmp_path / "registry.json"
    legacy.write_text(json.dumps(LEGACY_REGISTRY))
    thv = str(Path(sys.executable).with_name("thv"))
    done = subprocess.run(
        [thv, "registry", "convert", "--in", str(legacy), "--out", str(upstream)],
        env=ui_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    answer = server.client.put("/api/v1beta/registry/default", json={"local_path": str(upstream)})
    assert answer.status_code == 200, answer.text


def test_a_registry_entrys_secret_env_var_and_secret_header_take_keys_from_the_store(
    ui: Ui, own_registry: None
):
    client = ui.server.client
    page = ui.open("/ui/install/server/io.github.stacklok/clock")
    # No provider yet: the form says so and links to the set-up.
    expect(page.get_by_role("link", name="set one up")).to_be_visible()
    assert client.post(
        "/api/v1beta/secrets", json={"provider_type": "encrypted", "password": "pw"}
    ).is_success
    assert client.post(KEYS, json={"key": "clock-key", "value": VALUE}).is_success

    page.reload()
    expect(page.get_by_label("CLOCK_MODE")).to_have_value("fast")
    page.get_by_role("combobox", name="CLOCK_TOKEN").select_option("clock-key")
    assert axe_violations(page) == []
    page.get_by_role("button", name="Install").click()
    page.wait_for_url(ui.server.base_url + "/", timeout=120_000)
    exported = client.get("/api/v1beta/workloads/clock/export")
    assert exported.json()["secrets"] == ["clock-key,target=CLOCK_TOKEN"]
    assert exported.json()["env_vars"] == {"CLOCK_MODE": "fast"}
    assert VALUE not in exported.text

    page = ui.open("/ui/install/server/io.github.stacklok/weather")
    about = page.get_by_role("region", name="About")
    expect(about.get_by_text("https://weather.example.com/mcp")).to_be_visible()
    expect(page.get_by_role("group", name="Volumes")).to_have_count(0)  # remote: nothing to mount
    page.get_by_role("combobox", name="Header X-Api-Key").select_option(
        label="Create a new secret…"
    )
    page.get_by_label("New secret's name (Header X-Api-Key)").fill("weather-key")
    page.get_by_label("New secret's value (Header X-Api-Key)").fill(VALUE + "-w")
    page.get_by_role("combobox", name="Header X-Region").select_option("us")
    page.get_by_role("button", name="Install").click()
    page.wait_for_url(ui.server.base_url + "/", timeout=120_000)
    exported = client.get("/api/v1beta/workloads/weather/export")
    assert exported.json()["header_forward"] == {
        "add_plaintext_headers": {"X-Region": "us"},
        "add_headers_from_secret": {"X-Api-Key": "weather-key"},
    }
    assert VALUE not in exported.text
    assert {k["key"] for k in client.get(KEYS).json()["keys"]} == {"clock-key", "weather-key"}
