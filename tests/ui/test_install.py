"""The Install views in Chromium against a real ``thv serve`` (process runtime): the registry
browsed, searched and filtered; ``time`` installed through the form generated from its entry and
followed on the event stream until it runs; the API's 400 shown at the field it names; a custom
``uvx://`` package installed."""

from __future__ import annotations

import re
import time
from typing import Any

from playwright.sync_api import expect
from toolhive.testing.api import ApiServer

from tests.ui.conftest import PHONE, Ui, axe_violations

WORKLOADS = "/api/v1beta/workloads"


def registry(server: ApiServer) -> list[dict[str, Any]]:
    answer = server.client.get("/api/v1beta/registry/default/servers").json()
    return [*answer["servers"], *answer["remote_servers"]]


def wait_running(server: ApiServer, name: str, timeout: float = 120) -> dict[str, Any]:
    """The workload as the API lists it once running (it was created by the page)."""
    deadline = time.monotonic() + timeout
    while True:
        answer = server.client.get(f"{WORKLOADS}/{name}")
        assert answer.status_code == 200, answer.text
        status = server.client.get(f"{WORKLOADS}/{name}/status").json()["status"]
        if status == "running":
            return dict(answer.json())
        assert status in ("starting", "running"), f"{name} is {status}"
        assert time.monotonic() < deadline, f"{name} did not reach running"
        time.sleep(0.3)


def test_the_registry_is_searched_and_filtered_in_the_page(ui: Ui, shoot):
    entries = registry(ui.server)
    total = len(entries)
    page = ui.open("/ui/install")
    count = page.get_by_role("status").filter(has_text="server")
    expect(count).to_have_text(f"{total} servers")
    cards = page.get_by_role("list", name="Registry servers").get_by_role("listitem")
    expect(cards).to_have_count(total)
    assert axe_violations(page) == []
    shoot(page, "install-light")

    page.get_by_label("Search").fill("timezone")
    expect(count).to_have_text(re.compile(rf"^\d+ of {total} servers match$"))
    expect(page.get_by_role("link", name="Time", exact=True)).to_be_visible()
    expect(page.get_by_role("link", name="GitHub", exact=True)).to_have_count(0)
    assert "q=timezone" in page.url  # the search is in the address (back restores it)

    page.get_by_label("Search").fill("")
    sse = sorted(e["name"] for e in entries if e["transport"] == "sse")
    page.get_by_label("Transport").select_option("sse")
    expect(count).to_have_text(f"{len(sse)} of {total} servers match")
    assert sorted(cards.locator(".install-card-name").all_inner_texts()) == sse

    page.get_by_label("Transport").select_option("")
    official = [e for e in entries if e["tier"] == "Official"]
    page.get_by_label("Tier").select_option("Official")
    expect(count).to_have_text(f"{len(official)} of {total} servers match")
    page.get_by_label("Tag").select_option("timezone")
    expect(cards).to_have_count(0)
    expect(page.get_by_text("No server matches")).to_be_visible()
    page.get_by_label("Tier").select_option("")
    expect(cards).to_have_count(1)

    page.get_by_label("Tag").select_option("")
    page.get_by_label("Runs").select_option("remote")
    remote = [e for e in entries if "url" in e]
    expect(count).to_have_text(f"{len(remote)} of {total} servers match")

    dark = ui.open("/ui/install", scheme="dark", viewport=PHONE)
    expect(dark.get_by_role("status").filter(has_text="server")).to_have_text(f"{total} servers")
    assert axe_violations(dark) == []
    assert dark.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shoot(dark, "install-dark")


def test_time_installs_from_its_registry_form_and_reaches_running_without_a_reload(ui: Ui, shoot):
    page = ui.open("/ui/install?q=time")
    page.evaluate("window.__sameDocument = true")
    page.get_by_role("link", name="Time", exact=True).click()
    page.wait_for_url("**/ui/install/server/io.github.stacklok/time")
    expect(page.get_by_role("heading", level=1)).to_have_text("Install Time")
    # The entry's detail: tools, package, repository, network.
    about = page.get_by_role("region", name="About")
    expect(about.get_by_text("get_current_time")).to_be_visible()
    expect(about.get_by_text("uvx://mcp-server-time@2026.10.19")).to_be_visible()
    expect(
        about.get_by_role("link", name="https://github.com/modelcontextprotocol/servers")
    ).to_be_visible()
    expect(about.get_by_text("No outbound network.")).to_be_visible()
    form = page.get_by_role("form", name="Install")
    expect(form.get_by_label("Name")).to_have_value("time")
    expect(form.get_by_label("Group")).to_have_value("default")
    expect(form.get_by_label("get_current_time")).to_be_checked()
    assert axe_violations(page) == []
    shoot(page, "install-form-light")

    # Only one tool: the filter reaches the workload's RunConfig.
    form.get_by_label("convert_time").uncheck()
    form.get_by_role("button", name="Install").click()
    # The page follows the event stream and moves to the servers view once it runs.
    page.wait_for_url(ui.server.base_url + "/", timeout=120_000)
    assert page.evaluate("window.__sameDocument") is True
    expect(page.get_by_role("status").filter(has_text="time is running")).to_be_visible()
    # The servers view lists it, running, in its group.
    group = page.get_by_role("region", name="default")
    time_row = group.get_by_role("row").filter(has=page.get_by_text("time", exact=True))
    expect(time_row.get_by_text("running", exact=True)).to_be_visible()
    row = wait_running(ui.server, "time")
    assert row["tools"] == ["get_current_time"]
    exported = ui.server.client.get(f"{WORKLOADS}/time/export").json()
    assert exported["registry_server_name"] == "io.github.stacklok/time"
    assert exported["tools_filter"] == ["get_current_time"]

    dark = ui.open("/ui/install/server/io.github.stacklok/time", scheme="dark")
    expect(dark.get_by_role("heading", level=1)).to_have_text("Install Time")
    assert axe_violations(dark) == []
    shoot(dark, "install-form-dark")


def test_the_apis_400_is_shown_at_the_field_it_names(ui: Ui):
    page = ui.open("/ui/install/server/io.github.stacklok/time")
    name = page.get_by_label("Name")
    name.fill("my server")
    page.get_by_role("button", name="Install").click()
    expect(name).to_have_attribute("aria-invalid", "true")
    message = page.get_by_text("invalid workload name 'my server'")
    expect(message).to_be_visible()
    described = name.get_attribute("aria-describedby") or ""
    assert message.get_attribute("id") in described.split()
    expect(name).to_be_focused()
    assert ui.server.client.get(WORKLOADS, params={"all": "true"}).json()["workloads"] == []

    # Fixed and sent again: the mark goes (the install itself is another test's).
    name.fill("")
    page.get_by_label("Group").focus()
    name.fill("time two")
    page.get_by_role("button", name="Install").click()
    expect(page.get_by_text("invalid workload name 'time two'")).to_be_visible()
    expect(page.get_by_text("invalid workload name 'my server'")).to_have_count(0)


def test_a_custom_uvx_package_installs_with_its_arguments_and_volume(ui: Ui, tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    page = ui.open("/ui/install/custom")
    expect(page.get_by_role("heading", level=1)).to_have_text("Install a custom server")
    page.get_by_label("Package or image").fill("uvx://mcp-server-time")
    page.get_by_label("Name").fill("clock")
    page.get_by_label("Command arguments").fill("--local-timezone\nEurope/Paris")
    page.get_by_role("button", name="Add volume").click()
    page.get_by_label("Host path").fill(str(shared))
    # The process runtime mounts at a path that exists in its sandbox (under /tmp).
    page.get_by_label("Path in the server").fill("/tmp/data")
    page.get_by_label("Read only").check()
    assert axe_violations(page) == []
    page.get_by_role("button", name="Install").click()
    # The package installs (a cold cache: this test's HOME) while the panel shows its progress.
    expect(page.get_by_role("region", name="Progress")).to_contain_text(
        re.compile(
            r"clock is starting: (preparing uvx://mcp-server-time|installing mcp-server-time)"
        )
    )
    page.wait_for_url(ui.server.base_url + "/", timeout=120_000)
    wait_running(ui.server, "clock")
    exported = ui.server.client.get(f"{WORKLOADS}/clock/export").json()
    assert exported["image"] == "uvx://mcp-server-time"
    assert exported["cmd_args"] == ["--local-timezone", "Europe/Paris"]
    assert exported["volumes"] == [f"{shared}:/tmp/data:ro"]
    assert exported["transport"] == "stdio"


def test_a_remote_url_form_sends_headers_and_hides_what_only_local_servers_have(ui: Ui):
    page = ui.open("/ui/install/custom")
    # A secret row started for a package (its variable is required) no longer counts for a URL.
    page.get_by_role("button", name="Add secret").click()
    page.get_by_label("A remote MCP server (URL)").check()
    expect(page.get_by_label("As variable")).to_be_disabled()
    expect(page.get_by_label("Package or image")).to_be_hidden()
    expect(page.get_by_role("group", name="Volumes")).to_be_hidden()
    expect(page.get_by_label("Transport")).to_have_value("streamable-http")
    page.get_by_label("Server URL").fill("ftp://example.invalid/mcp")
    page.get_by_role("button", name="Install").click()
    # The browser's own check (type=url accepts ftp:) lets it through; the API names the field.
    url = page.get_by_label("Server URL")
    expect(url).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_text("expected an http:// or https:// URL")).to_be_visible()

    url.fill("https://mcp.example.invalid/mcp")
    page.get_by_label("Transport").select_option("sse")
    page.get_by_label("Name").fill("faraway")
    page.get_by_role("button", name="Add header").click()
    page.get_by_label("Header name").fill("X-Team")
    page.get_by_label("Header value").fill("blue")
    page.get_by_role("button", name="Install").click()
    expect(url).not_to_have_attribute("aria-invalid", "true")
    page.wait_for_url(ui.server.base_url + "/", timeout=60_000)
    exported = ui.server.client.get(f"{WORKLOADS}/faraway/export").json()
    assert exported["remote_url"] == "https://mcp.example.invalid/mcp"
    assert exported["transport"] == "sse"
    assert exported["header_forward"]["add_plaintext_headers"] == {"X-Team": "blue"}
    assert exported["env_vars"] == {} and exported["secrets"] == []


def test_a_group_given_to_the_registry_is_preselected_in_the_form(ui: Ui):
    assert ui.server.client.post("/api/v1beta/groups", json={"name": "research"}).is_success
    page = ui.open("/ui/install?group=research")
    page.get_by_role("link", name="Time", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Install Time")
    expect(page.get_by_label("Group")).to_have_value("research")
    page.go_back()
    page.get_by_role("link", name="Custom server").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Install a custom server")
    expect(page.get_by_label("Group")).to_have_value("research")
