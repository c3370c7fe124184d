"""Signing in to a remote MCP server from the web UI, in Chromium against a real ``thv serve``.

A remote workload whose server asks for OAuth waits for its user's login; the Servers view shows
a "Sign in" link to the authorization URL (a new tab), and once the login is done the row turns
``running`` by itself. A workload whose stored login was refused (``unauthenticated``) offers
"Sign in again", which restarts it and then offers the new login's link. Real components only:
npm's ``oidc-provider`` (``toolhive.testing.oauth_server``), the echo server behind ToolHive's
``auth`` middleware accepting only that provider's tokens (``toolhive.testing.remote_auth``), the
encrypted secrets provider. The user's part of a login is ``complete_login`` (its own headless
Chromium, in a thread: Playwright's sync API runs one loop per thread).
"""

from __future__ import annotations

import concurrent.futures
import json
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect
from toolhive.testing.oauth_server import OAuthServer, complete_login, node_tools, oauth_server
from toolhive.testing.remote_auth import protected_echo, reserve_url

from tests.conftest import Thv, require_or_skip
from tests.ui.conftest import PHONE, Ui, axe_violations
from tests.ui.test_servers import row, status_of

PASSWORD = "ui-remote-sign-in-password"
#: Short enough that the supervisor refreshes (30 s before expiry) within a test.
ACCESS_TTL = 40
SIGN_IN_MS = 60_000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def ui_env(ui_env: dict[str, str]) -> dict[str, str]:
    """The UI's environment with the encrypted secrets provider set up (before the server)."""
    ui_env["TOOLHIVE_SECRETS_PASSWORD"] = PASSWORD
    Thv(ui_env)("secret", "provider", "encrypted")
    return ui_env


@pytest.fixture
def remote(ui_env: dict[str, str]) -> Iterator[tuple[OAuthServer, str]]:
    if node_tools() is None:
        require_or_skip("Node tools (scripts/install-node.sh)")
    port, url = reserve_url()
    with (
        oauth_server(resources=(url,), access_token_ttl=ACCESS_TTL) as idp,
        protected_echo(Thv(ui_env), idp, port) as upstream,
    ):
        yield idp, upstream


def log_in(url: str) -> str:
    """The user's part of the login, in another thread (this one runs the test's browser)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(complete_login, url).result(timeout=120)


def sign_in_link(page: Any, name: str) -> Any:
    return page.get_by_role("link", name=f"Sign in to {name} (opens in a new tab)")


def auth_of(ui: Ui, name: str) -> dict[str, Any]:
    answer = ui.server.client.get(f"/api/v1beta/workloads/{name}/auth")
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def create_remote(ui: Ui, name: str, upstream: str) -> None:
    created = ui.server.client.post(
        "/api/v1beta/workloads",
        json={"name": name, "url": upstream, "oauth_config": {"callback_port": free_port()}},
    )
    assert created.status_code == 201, created.text


def echo_through(ui: Ui, name: str, text: str) -> None:
    called = ui.server.client.post(
        f"/api/v1beta/workloads/{name}/mcp/tools/call",
        json={"name": "echo", "arguments": {"text": text}},
    )
    assert called.status_code == 200, called.text
    assert text in called.text


def stored_refresh_token(env: dict[str, str], name: str) -> str:
    script = (
        "from toolhive.plugins import build_plugin_manager, Hooks\n"
        "from toolhive.secrets.selection import open_secrets\n"
        f"print(open_secrets(Hooks(build_plugin_manager())).get('OAUTH_REFRESH_TOKEN_{name}'))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def revoke_login(ui: Ui, idp: OAuthServer, env: dict[str, str], name: str) -> str:
    """Revoke the workload's refresh token (and so its grant) as the client it registered: the
    provider ignores a revocation by another client. Returns the revoked token."""
    exported = ui.server.client.get(f"/api/v1beta/workloads/{name}/export").json()
    client_id = exported["remote_auth_config"]["cached_client_id"]
    token = stored_refresh_token(env, name)
    revoked = httpx.post(
        idp.metadata()["revocation_endpoint"],
        data={"token": token, "client_id": client_id},
        timeout=10,
    )
    assert revoked.status_code == 200, revoked.text
    assert idp.introspect(token)["active"] is False
    return token


def test_a_workload_waiting_for_its_login_offers_sign_in_and_runs_once_signed_in(
    ui: Ui, remote: tuple[OAuthServer, str], shoot: Any
) -> None:
    _idp, upstream = remote
    page = ui.open("/")
    create_remote(ui, "notes", upstream)

    link = sign_in_link(page, "notes")
    expect(link).to_be_visible(timeout=SIGN_IN_MS)
    expect(status_of(page, "notes", "starting")).to_be_visible()
    expect(row(page, "notes").get_by_text(f"waiting for sign-in to {upstream}")).to_be_visible()
    # A link to the login the API offers, for a new tab that cannot reach back to this page.
    href = link.get_attribute("href")
    assert href and href == auth_of(ui, "notes")["authorization_url"]
    expect(link).to_have_attribute("target", "_blank")
    assert set((link.get_attribute("rel") or "").split()) >= {"noopener", "noreferrer"}
    expect(link).to_have_text(re.compile(r"^Sign in"))
    assert axe_violations(page) == []
    shoot(page, "servers-sign-in-light")

    # The other themes and widths show it too.
    dark = ui.open("/", scheme="dark")
    expect(sign_in_link(dark, "notes")).to_be_visible()
    assert axe_violations(dark) == []
    shoot(dark, "servers-sign-in-dark")
    phone = ui.open("/", viewport=PHONE)
    on_phone = sign_in_link(phone, "notes")
    expect(on_phone).to_be_in_viewport()
    box = on_phone.bounding_box()
    assert box is not None and box["x"] + box["width"] <= PHONE["width"]
    logs = ui.open("/ui/servers/notes/logs")
    expect(sign_in_link(logs, "notes")).to_have_attribute("href", href)
    playground = ui.open("/ui/servers/notes/playground")
    expect(playground.get_by_role("heading", name="The server is not running")).to_be_visible()
    expect(sign_in_link(playground, "notes")).to_have_attribute("href", href)

    # Following the link (the user's login) brings the row to running, live.
    assert "Login complete" in log_in(href)
    expect(status_of(page, "notes", "running")).to_be_visible(timeout=SIGN_IN_MS)
    expect(sign_in_link(page, "notes")).to_have_count(0)
    expect(logs.locator(".logs-status").get_by_text("running", exact=True)).to_be_visible()
    expect(sign_in_link(logs, "notes")).to_have_count(0)
    # The playground loads by itself once the server runs.
    expect(playground.get_by_role("heading", name="echo")).to_be_visible(timeout=SIGN_IN_MS)
    assert auth_of(ui, "notes")["authorization_url"] == ""
    echo_through(ui, "notes", "signed in from the UI")


def test_an_unauthenticated_workload_offers_sign_in_again_and_then_the_new_login(
    ui: Ui, remote: tuple[OAuthServer, str], ui_env: dict[str, str]
) -> None:
    idp, upstream = remote
    create_remote(ui, "revoked", upstream)
    deadline = time.monotonic() + SIGN_IN_MS / 1000
    while not (url := auth_of(ui, "revoked")["authorization_url"]):
        assert time.monotonic() < deadline, "no sign-in offered"
        time.sleep(0.3)
    assert "Login complete" in log_in(url)

    page = ui.open("/")
    expect(status_of(page, "revoked", "running")).to_be_visible(timeout=SIGN_IN_MS)
    # The provider forgets the login: the supervisor's next refresh is refused.
    revoked = revoke_login(ui, idp, ui_env, "revoked")
    expect(status_of(page, "revoked", "unauthenticated")).to_be_visible(
        timeout=(ACCESS_TTL + 60) * 1000
    )
    again = page.get_by_role("button", name="Sign in again to revoked")
    expect(again).to_be_visible()
    expect(row(page, "revoked").get_by_role("button", name="Restart revoked")).to_have_count(0)
    assert axe_violations(page) == []
    dark = ui.open("/", scheme="dark")
    expect(dark.get_by_role("button", name="Sign in again to revoked")).to_be_visible()
    assert axe_violations(dark) == []

    again.click()
    link = sign_in_link(page, "revoked")
    expect(link).to_be_visible(timeout=SIGN_IN_MS)
    expect(link).to_be_focused()  # the keyboard followed from the button to the link
    href = link.get_attribute("href")
    assert href and href != url  # a new login
    assert "Login complete" in log_in(href)
    expect(status_of(page, "revoked", "running")).to_be_visible(timeout=SIGN_IN_MS)
    expect(sign_in_link(page, "revoked")).to_have_count(0)
    echo_through(ui, "revoked", "signed in again")
    # No token reached the API's answers.
    answers = json.dumps(ui.server.client.get("/api/v1beta/workloads?all=true").json())
    answers += json.dumps(auth_of(ui, "revoked")) + href + url
    for token in (revoked, stored_refresh_token(ui_env, "revoked")):
        assert token not in answers


def test_a_remote_server_installed_from_the_form_offers_sign_in_in_its_progress(
    ui: Ui, remote: tuple[OAuthServer, str]
) -> None:
    _idp, upstream = remote
    page = ui.open("/ui/install/custom")
    page.get_by_label("A remote MCP server (URL)").check()
    page.get_by_label("Server URL").fill(upstream)
    page.get_by_label("Name").fill("viaform")
    page.get_by_role("button", name="Install").click()

    progress = page.get_by_role("region", name="Progress")
    link = sign_in_link(progress, "viaform")
    expect(link).to_be_visible(timeout=SIGN_IN_MS)
    expect(progress.get_by_role("status")).to_contain_text("waiting for sign-in")
    href = link.get_attribute("href")
    assert href and href == auth_of(ui, "viaform")["authorization_url"]
    assert axe_violations(page) == []

    # Once signed in, the form moves on to the Servers view, where it runs.
    assert "Login complete" in log_in(href)
    page.wait_for_url(ui.server.base_url + "/", timeout=SIGN_IN_MS)
    expect(status_of(page, "viaform", "running")).to_be_visible(timeout=SIGN_IN_MS)
    echo_through(ui, "viaform", "installed and signed in")
