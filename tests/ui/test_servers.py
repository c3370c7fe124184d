"""The Servers view in Chromium against a real ``thv serve`` (process runtime): workloads appear,
change status and disappear live (the event stream, no reload), whoever made the change — this
page, the API, the ``thv`` CLI; row and group actions; moving a server to another group; phone
width; accessibility."""

from __future__ import annotations

import re
import sys
import time
from typing import Any

from playwright.sync_api import expect
from toolhive.testing.api import ApiServer
from toolhive.testing.workloads import ECHO_STDIO, thv_console

from tests.test_api_logstream import start_echo, wait_status
from tests.ui.conftest import PHONE, Ui, axe_violations

#: Long enough for uvx to fetch mcp-server-time through the mirror on a loaded machine.
FIRST_START_MS = 240_000
STATUS_MS = 60_000


def row(scope: Any, name: str) -> Any:
    """The table row of workload ``name`` in ``scope`` (a page or a locator)."""
    page = getattr(scope, "page", scope)  # a filter's inner locator is relative to the row
    return scope.get_by_role("row").filter(has=page.get_by_text(name, exact=True))


def status_of(page: Any, name: str, status: str) -> Any:
    return row(page, name).get_by_text(status, exact=True)


def started(server: ApiServer, name: str) -> tuple[str, int]:
    """When the workload last started, and its port."""
    rows = server.client.get("/api/v1beta/workloads?all=true").json()["workloads"]
    return next((w["started_at"], w["port"]) for w in rows if w["name"] == name)


def mark_document(page: Any) -> None:
    """A marker that a page load would wipe: checked at the end of tests that promise no reload."""
    page.evaluate("window.__sameDocument = true")


def same_document(page: Any) -> bool:
    return page.evaluate("window.__sameDocument === true")


def test_a_workload_created_through_the_api_appears_and_reaches_running_without_reload(
    ui: Ui, shoot
):
    page = ui.open("/")
    expect(page.get_by_text("No MCP servers yet.")).to_be_visible()
    expect(page.get_by_role("link", name="Install one from the registry")).to_be_visible()
    mark_document(page)
    created = ui.server.client.post(
        "/api/v1beta/workloads", json={"name": "time", "image": "uvx://mcp-server-time"}
    )
    assert created.status_code == 201, created.text
    expect(row(page, "time")).to_be_visible()
    expect(status_of(page, "time", "running")).to_be_visible(timeout=FIRST_START_MS)
    url = next(w["url"] for w in ui.server.client.get("/api/v1beta/workloads").json()["workloads"])
    expect(row(page, "time").get_by_text(url, exact=True)).to_be_visible()
    expect(page.get_by_role("button", name=f"Copy: {url}")).to_be_visible()
    expect(row(page, "time").get_by_text("uvx://mcp-server-time")).to_be_visible()
    expect(row(page, "time").get_by_role("link", name="Logs of time")).to_have_attribute(
        "href", "/ui/servers/time/logs"
    )
    assert same_document(page)
    assert axe_violations(page) == []
    shoot(page, "servers-light")
    dark = ui.open("/", scheme="dark")
    expect(status_of(dark, "time", "running")).to_be_visible()
    assert axe_violations(dark) == []
    shoot(dark, "servers-dark")


def test_stop_start_restart_and_remove_from_the_row_show_live(ui: Ui):
    start_echo(ui.server, "echo")
    page = ui.open("/")
    mark_document(page)
    expect(status_of(page, "echo", "running")).to_be_visible()
    page.get_by_role("button", name="Stop echo").click()
    expect(status_of(page, "echo", "stopped")).to_be_visible(timeout=STATUS_MS)
    page.get_by_role("button", name="Start echo").click()
    expect(status_of(page, "echo", "running")).to_be_visible(timeout=STATUS_MS)
    before = started(ui.server, "echo")
    page.get_by_role("button", name="Restart echo").click()
    # The server went down and up again (a new start), and the page shows it running.
    deadline = time.monotonic() + STATUS_MS / 1000
    while started(ui.server, "echo") == before:
        assert time.monotonic() < deadline, "the restart did not happen"
        time.sleep(0.2)
    wait_status(ui.server, "echo", "running")
    assert started(ui.server, "echo")[1] == before[1]  # on the same port: the URL stays
    expect(status_of(page, "echo", "running")).to_be_visible(timeout=STATUS_MS)
    expect(page.get_by_role("button", name="Stop echo")).to_be_enabled()
    page.get_by_role("button", name="Remove echo").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Remove echo?")
    dialog.get_by_role("button", name="Remove").click()
    expect(row(page, "echo")).to_have_count(0, timeout=STATUS_MS)
    expect(page.get_by_text("No MCP servers yet.")).to_be_visible()
    assert ui.server.client.get("/api/v1beta/workloads/echo").status_code == 404
    assert same_document(page)


def test_cancelling_the_remove_dialog_keeps_the_server(ui: Ui):
    start_echo(ui.server, "echo")
    page = ui.open("/")
    page.get_by_role("button", name="Remove echo").click()
    page.get_by_role("dialog").get_by_role("button", name="Cancel").click()
    expect(page.get_by_role("dialog")).to_have_count(0)
    expect(status_of(page, "echo", "running")).to_be_visible()
    assert ui.server.client.get("/api/v1beta/workloads/echo").status_code == 200


def test_a_workload_run_and_removed_by_the_thv_cli_appears_and_disappears_live(
    ui: Ui, ui_env: dict[str, str]
):
    page = ui.open("/")
    expect(page.get_by_text("No MCP servers yet.")).to_be_visible()
    mark_document(page)
    with thv_console(ui_env) as thv:
        thv("run", "--name", "from-cli", "--runtime", "process", *ECHO_STDIO)
        expect(status_of(page, "from-cli", "running")).to_be_visible(timeout=STATUS_MS)
        expect(row(page, "from-cli").get_by_text("stdio")).to_be_visible()
        thv("rm", "from-cli")
        expect(row(page, "from-cli")).to_have_count(0, timeout=STATUS_MS)
    assert same_document(page)


def test_a_server_that_fails_says_why(ui: Ui):
    body = {
        "name": "broken",
        "image": sys.executable,
        "transport": "stdio",
        "cmd_arguments": ["-c", "import sys; sys.exit('no config here')"],
    }
    assert ui.server.client.post("/api/v1beta/workloads", json=body).status_code == 201
    page = ui.open("/")
    broken = row(page, "broken")
    expect(broken.locator(".status-bad")).to_be_visible(timeout=STATUS_MS)
    context = ui.server.client.get("/api/v1beta/workloads?all=true").json()["workloads"][0][
        "status_context"
    ]
    assert context, "the API gives no reason to show"
    expect(broken.get_by_text(context)).to_be_visible()


def test_stop_all_stops_only_that_groups_servers(ui: Ui):
    assert ui.server.client.post("/api/v1beta/groups", json={"name": "research"}).status_code == 201
    assert ui.server.client.post("/api/v1beta/groups", json={"name": "empty"}).status_code == 201
    start_echo(ui.server, "alpha", group="research")
    start_echo(ui.server, "beta", group="research")
    start_echo(ui.server, "gamma")
    page = ui.open("/")
    research = page.get_by_role("region", name=re.compile(r"^research"))
    expect(research.get_by_role("row")).to_have_count(3)  # header + 2
    empty = page.get_by_role("region", name=re.compile(r"^empty"))
    expect(empty.get_by_text("No servers in this group.")).to_be_visible()
    expect(empty.get_by_role("button", name="Stop all in empty")).to_be_disabled()
    page.get_by_role("button", name="Stop all in research").click()
    expect(status_of(page, "alpha", "stopped")).to_be_visible(timeout=STATUS_MS)
    expect(status_of(page, "beta", "stopped")).to_be_visible(timeout=STATUS_MS)
    expect(status_of(page, "gamma", "running")).to_be_visible()
    assert ui.server.client.get("/api/v1beta/workloads/gamma/status").json()["status"] == "running"


def test_moving_a_server_to_another_group_recreates_it_there(ui: Ui):
    assert ui.server.client.post("/api/v1beta/groups", json={"name": "research"}).status_code == 201
    start_echo(ui.server, "echo")
    page = ui.open("/")
    expect(status_of(page, "echo", "running")).to_be_visible()
    page.get_by_role("button", name="Move or copy echo").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_label("Name of the copy")).to_be_hidden()  # only when copying
    dialog.get_by_label("To group").select_option("research")
    dialog.get_by_role("button", name="Move", exact=True).click()
    expect(page.get_by_role("dialog")).to_have_count(0, timeout=STATUS_MS)
    research = page.get_by_role("region", name=re.compile(r"^research"))
    expect(status_of(research, "echo", "running")).to_be_visible(timeout=STATUS_MS)
    listed = ui.server.client.get("/api/v1beta/workloads?group=research").json()["workloads"]
    assert [w["name"] for w in listed] == ["echo"]

    # Copy (ToolHive Studio's "copy to group"): a second workload, a new name and port.
    page.get_by_role("button", name="Move or copy echo").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Copy: a second server").check()
    dialog.get_by_label("Name of the copy").fill("echo-2")
    dialog.get_by_role("button", name="Copy", exact=True).click()
    default = page.get_by_role("region", name=re.compile(r"^default"))
    expect(status_of(default, "echo-2", "running")).to_be_visible(timeout=STATUS_MS)
    expect(status_of(research, "echo", "running")).to_be_visible()
    ports = {
        w["name"]: w["port"]
        for w in ui.server.client.get("/api/v1beta/workloads").json()["workloads"]
    }
    assert set(ports) == {"echo", "echo-2"} and ports["echo"] != ports["echo-2"]


def test_the_servers_view_is_usable_at_phone_width(ui: Ui):
    start_echo(ui.server, "echo")
    page = ui.open("/", viewport=PHONE)
    expect(status_of(page, "echo", "running")).to_be_visible()
    stop = page.get_by_role("button", name="Stop echo")
    expect(stop).to_be_in_viewport()
    box = stop.bounding_box()
    assert box is not None and box["x"] + box["width"] <= PHONE["width"]
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    # Stacked: each cell says what it is.
    label = page.evaluate(
        "getComputedStyle(document.querySelector('td[data-label=Status]'), '::before').content"
    )
    assert "Status" in label
    assert axe_violations(page) == []


def test_a_keyboard_user_keeps_their_place_when_the_row_changes(ui: Ui):
    start_echo(ui.server, "echo")
    page = ui.open("/")
    expect(status_of(page, "echo", "running")).to_be_visible()
    page.get_by_role("button", name="Stop echo").focus()
    page.keyboard.press("Enter")
    expect(status_of(page, "echo", "stopped")).to_be_visible(timeout=STATUS_MS)
    # Stop became Start: focus moved to it, not lost to the page.
    expect(page.get_by_role("button", name="Start echo")).to_be_focused()
    page.keyboard.press("Enter")
    expect(status_of(page, "echo", "running")).to_be_visible(timeout=STATUS_MS)
    expect(page.get_by_role("button", name="Stop echo")).to_be_focused()
