"""The Groups and Clients views in Chromium against a real ``thv serve`` (process runtime, isolated
HOME): create, refuse and remove groups; register a client for a group and see its own config
file under HOME change, then unregister it."""

from __future__ import annotations

import json
import re
from pathlib import Path

from playwright.sync_api import expect

from tests.test_api_logstream import start_echo
from tests.ui.conftest import Ui, axe_violations


def group_row(page, name: str):
    return page.get_by_role("row").filter(has=page.get_by_role("rowheader", name=name, exact=True))


def test_create_a_group_see_the_apis_refusals_at_the_field_and_remove_it(ui: Ui, shoot):
    page = ui.open("/ui/groups")
    expect(group_row(page, "default")).to_contain_text("Cannot be removed")
    name = page.get_by_label("Group name")
    name.fill("research")
    page.get_by_role("button", name="Create group").click()
    expect(group_row(page, "research")).to_be_visible()
    expect(name).to_be_focused()
    expect(name).to_have_value("")
    assert "research" in [
        g["name"] for g in ui.server.client.get("/api/v1beta/groups").json()["groups"]
    ]

    # The API's own messages, next to the field, which is marked invalid.
    name.fill("research")
    page.get_by_role("button", name="Create group").click()
    duplicate = ui.server.client.post("/api/v1beta/groups", json={"name": "research"})
    assert duplicate.status_code == 409
    expect(page.get_by_text(duplicate.json()["message"], exact=True)).to_be_visible()
    expect(name).to_have_attribute("aria-invalid", "true")
    name.fill("Not A Name!")
    page.get_by_role("button", name="Create group").click()
    invalid = ui.server.client.post("/api/v1beta/groups", json={"name": "Not A Name!"})
    assert invalid.status_code == 400
    expect(page.get_by_text(invalid.json()["message"], exact=True)).to_be_visible()
    assert axe_violations(page) == []
    shoot(page, "groups-light")
    dark = ui.open("/ui/groups", scheme="dark")
    expect(group_row(dark, "research")).to_be_visible()
    assert axe_violations(dark) == []
    shoot(dark, "groups-dark")

    page.get_by_role("button", name="Remove group research").click()
    page.get_by_role("dialog").get_by_role("button", name="Remove").click()
    expect(group_row(page, "research")).to_have_count(0)
    expect(page.get_by_role("heading", name="Groups", level=2)).to_be_focused()
    assert ui.server.client.get("/api/v1beta/groups/research").status_code == 404


def test_removing_a_group_moves_its_servers_to_default_or_removes_them_too(ui: Ui):
    client = ui.server.client
    for group in ("keep", "drop"):
        assert client.post("/api/v1beta/groups", json={"name": group}).status_code == 201
    start_echo(ui.server, "kept", group="keep")
    start_echo(ui.server, "dropped", group="drop")
    page = ui.open("/ui/groups")
    expect(group_row(page, "keep").get_by_role("link", name="kept")).to_be_visible()

    page.get_by_role("button", name="Remove group keep").click()
    page.get_by_role("dialog").get_by_role("button", name="Remove, move servers to default").click()
    expect(group_row(page, "keep")).to_have_count(0)
    expect(group_row(page, "default").get_by_role("link", name="kept")).to_be_visible()
    assert client.get("/api/v1beta/workloads/kept").json()["group"] == "default"

    page.get_by_role("button", name="Remove group drop").click()
    page.get_by_role("dialog").get_by_role("button", name="Remove with its servers").click()
    expect(group_row(page, "drop")).to_have_count(0)
    names = {w["name"] for w in client.get("/api/v1beta/workloads?all=true").json()["workloads"]}
    assert "dropped" not in names and "kept" in names


def test_register_a_client_for_a_group_writes_its_config_file_and_unregister_clears_it(
    ui: Ui, ui_env: dict[str, str], shoot
):
    home = Path(ui_env["HOME"])
    (home / ".cursor").mkdir()  # Cursor "installed" for this user
    assert ui.server.client.post("/api/v1beta/groups", json={"name": "research"}).status_code == 201
    url = start_echo(ui.server, "echo", group="research")
    config = home / ".cursor" / "mcp.json"
    assert not config.exists()

    page = ui.open("/ui/clients")
    cursor = page.get_by_role("row").filter(has=page.get_by_role("rowheader", name="cursor"))
    expect(cursor).to_contain_text("no group")
    cursor.get_by_label("Group to register cursor for").select_option("research")
    cursor.get_by_role("button", name="Register cursor").click()
    expect(cursor.get_by_role("button", name="Unregister cursor from research")).to_be_visible()
    servers = json.loads(config.read_text())["mcpServers"]
    assert servers == {"echo": {"url": url, "type": "http"}}
    assert ui.server.client.get("/api/v1beta/clients").json() == [
        {"name": "cursor", "groups": ["research"]}
    ]
    assert axe_violations(page) == []
    shoot(page, "clients-light")
    dark = ui.open("/ui/clients", scheme="dark")
    expect(dark.get_by_role("button", name="Unregister cursor from research")).to_be_visible()
    assert axe_violations(dark) == []
    shoot(dark, "clients-dark")

    # The Groups view shows the registration too.
    groups = ui.open("/ui/groups")
    expect(group_row(groups, "research")).to_contain_text(re.compile(r"cursor"))

    cursor.get_by_role("button", name="Unregister cursor from research").focus()
    page.keyboard.press("Enter")
    expect(cursor).to_contain_text("no group")
    # The button went away with the registration: the keyboard stays on the client's row.
    expect(cursor.get_by_label("Group to register cursor for")).to_be_focused()
    assert json.loads(config.read_text())["mcpServers"] == {}
    assert ui.server.client.get("/api/v1beta/clients").json() == []


def test_a_client_that_is_not_installed_is_listed_when_asked_for(ui: Ui):
    page = ui.open("/ui/clients")
    expect(page.get_by_text("No supported AI client was found installed")).to_be_visible()
    page.get_by_label("Only clients installed here").uncheck()
    expect(page.get_by_role("rowheader", name="cursor")).to_be_visible()
    discovered = ui.server.client.get("/api/v1beta/discovery/clients").json()["clients"]
    expect(page.get_by_role("row")).to_have_count(len(discovered) + 1)
