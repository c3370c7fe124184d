"""The UI's shell: served by thv serve at / with a strict CSP, client-side navigation, the theme
switch, a not-found view, `thv ui` finding the running server, and `--no-ui`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
from toolhive.testing.api import ApiServer, api_server

from tests.ui.conftest import Ui, axe_violations


def test_the_shell_is_served_at_the_root_with_a_strict_content_security_policy(server: ApiServer):
    page = server.client.get("/")
    assert page.status_code == 200
    assert "<title>ToolHive</title>" in page.text
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert page.headers["x-frame-options"] == "DENY"
    deep = server.client.get("/ui/servers/anything/logs")
    assert deep.status_code == 200 and deep.text == page.text
    script = server.client.get("/ui/static/app.js")
    assert script.status_code == 200
    assert "javascript" in script.headers["content-type"]
    assert server.client.get("/ui/static/missing.js").status_code == 404


def test_the_navigation_moves_between_views_without_a_page_load(ui: Ui):
    page = ui.open("/")
    page.evaluate("window.__sameDocument = true")
    page.get_by_role("link", name="Groups").click()
    page.wait_for_url("**/ui/groups")
    assert page.get_by_role("heading", level=1).inner_text() == "Groups"
    assert page.get_by_role("link", name="Groups").get_attribute("aria-current") == "page"
    page.go_back()
    page.wait_for_url(ui.server.base_url + "/")
    assert page.evaluate("window.__sameDocument") is True


def test_an_unknown_ui_path_shows_a_not_found_view(ui: Ui):
    page = ui.open("/ui/no-such-view")
    assert page.get_by_role("heading", level=1).inner_text() == "Not found"
    assert page.title() == "Not found · ToolHive"


def test_the_theme_button_cycles_system_light_dark_and_is_remembered(ui: Ui):
    page = ui.open("/", scheme="dark")
    button = page.get_by_role("button", name="Colour theme: system")
    background = "getComputedStyle(document.body).backgroundColor"
    dark = page.evaluate(background)
    button.click()
    assert page.evaluate("document.documentElement.dataset.theme") == "light"
    assert page.evaluate(background) != dark
    page.get_by_role("button", name="Colour theme: light").click()
    assert page.evaluate("document.documentElement.dataset.theme") == "dark"
    page.reload()
    assert page.evaluate("document.documentElement.dataset.theme") == "dark"


def test_the_shell_has_no_serious_accessibility_violations(ui: Ui):
    page = ui.open("/ui/no-such-view")
    assert axe_violations(page) == []


def test_thv_ui_opens_the_running_server_instead_of_starting_another(
    server: ApiServer, ui_env: dict[str, str]
):
    thv = str(Path(sys.executable).with_name("thv"))
    done = subprocess.run(
        [thv, "ui", "--no-browser"], env=ui_env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert f"ToolHive UI: {server.base_url}/" in done.stderr


def test_thv_inspector_refuses_a_workload_that_does_not_exist(ui_env: dict[str, str]):
    thv = str(Path(sys.executable).with_name("thv"))
    done = subprocess.run(
        [thv, "inspector", "ghost", "--no-browser"],
        env=ui_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "ghost" in done.stderr


def test_no_ui_serves_the_api_alone(ui_env: dict[str, str]):
    with api_server(ui_env, args=["--no-ui"]) as server:
        assert server.client.get("/").status_code == 404
        assert server.client.get("/ui/static/app.js").status_code == 404
        assert server.client.get("/api/v1beta/version").status_code == 200


def test_ui_assets_are_public_while_the_api_stays_protected(ui_env: dict[str, str]):
    from toolhive.testing.oidc import OIDCIssuer

    with (
        OIDCIssuer(audience="thv") as issuer,
        api_server(
            ui_env,
            args=[
                "--oidc-issuer",
                issuer.url,
                "--oidc-audience",
                "thv",
                "--oidc-insecure-allow-http",
                "--jwks-allow-private-ip",
            ],
        ) as server,
    ):
        assert server.client.get("/").status_code == 200
        assert server.client.get("/ui/static/lib/api.js").status_code == 200
        assert server.client.get("/api/v1beta/workloads").status_code == 401
        token = issuer.token()
        authed = httpx.get(
            server.base_url + "/api/v1beta/workloads",
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        assert authed.status_code == 200


def test_thv_ui_serves_the_ui_itself_when_no_server_is_running(ui_env: dict[str, str]):
    thv = str(Path(sys.executable).with_name("thv"))
    proc = subprocess.Popen(
        [thv, "ui", "--no-browser", "--port", "0"],
        env=ui_env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        line = ""
        while "ToolHive UI:" not in line:
            line = proc.stderr.readline()
            assert line, "thv ui exited without printing the UI's URL"
        url = line.split("ToolHive UI:", 1)[1].strip()
        page = httpx.get(url, timeout=30)
        assert page.status_code == 200 and "<title>ToolHive</title>" in page.text
        assert httpx.get(url + "api/v1beta/version", timeout=30).status_code == 200
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        if proc.stderr is not None:
            proc.stderr.close()
