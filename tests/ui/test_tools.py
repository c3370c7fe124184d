"""Customize tools in Chromium against a real ``thv serve`` on the process runtime: filter out one of
``mcp-server-time``'s tools and rename and redescribe the other, apply (the workload restarts),
and see the playground list only the kept tool under its new name and the exported RunConfig carry
ToolHive's ``tools_filter`` / ``tools_override``; what the tools middleware would refuse is refused
in the form; a filtered server the registry does not know says which tools it cannot name."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from tests.conftest import FIXTURES
from tests.ui.conftest import Ui, axe_violations
from tests.ui.test_playground import WORKLOADS, run_workload

pytestmark = pytest.mark.process_runtime


@pytest.fixture(autouse=True)
def server_round_trips_may_be_slow() -> Iterator[None]:
    """Answers that wait on an MCP server (on a loaded 2-core machine) get 30 s, not 5 s."""
    expect.set_options(timeout=30_000)
    yield
    expect.set_options(timeout=5_000)  # Playwright's default


def test_filtering_and_renaming_a_tool_applies_with_a_restart_and_reaches_the_playground(
    ui: Ui, shoot
):
    client = ui.server.client
    run_workload(client, {"name": "time", "image": "uvx://mcp-server-time"})
    page = ui.open("/ui/servers/time/tools")
    expect(page.get_by_role("heading", level=1)).to_have_text("Customize tools: time")
    convert = page.get_by_role("group", name="convert_time")
    current = page.get_by_role("group", name="get_current_time")
    expect(convert.get_by_label("Visible to clients")).to_be_checked()
    expect(current.get_by_text("Server's description: Get current time")).to_be_visible()
    expect(page.get_by_text("the registry entry io.github.stacklok/time lists")).to_be_visible()

    # What the tools middleware would refuse is caught in the form (nothing is sent).
    current.get_by_label("Name for clients").fill("convert_time")
    page.get_by_role("button", name="Apply and restart").click()
    expect(current.get_by_text("the server has a tool named “convert_time”")).to_be_visible()
    expect(current.get_by_label("Name for clients")).to_be_focused()

    convert.get_by_label("Visible to clients").uncheck()
    expect(convert.get_by_label("Name for clients")).to_be_hidden()
    current.get_by_label("Name for clients").fill("now")
    expect(page.get_by_text("the server has a tool named")).to_have_count(0)  # fixed: it goes
    current.get_by_label("Description for clients").fill("The current time in a time zone")
    assert axe_violations(page) == []
    shoot(page, "tools-light")

    page.get_by_role("button", name="Apply and restart").click()
    done = page.get_by_text("time is running again")
    expect(done).to_be_visible(timeout=180_000)
    assert client.get(f"{WORKLOADS}/time/status").json()["status"] == "running"

    # ToolHive's RunConfig fields: the filter by the name clients see, overrides by the server's.
    exported = client.get(f"{WORKLOADS}/time/export").json()
    assert exported["tools_filter"] == ["now"]
    assert exported["tools_override"] == {
        "get_current_time": {"name": "now", "description": "The current time in a time zone"}
    }

    # The hidden tool is still listed (the registry entry names it), unchecked.
    reloaded = page.get_by_role("group", name="convert_time")
    expect(reloaded.get_by_label("Visible to clients")).not_to_be_checked()
    expect(
        page.get_by_role("group", name="get_current_time").get_by_label("Name for clients")
    ).to_have_value("now")

    page.get_by_role("link", name="Open the playground").click()
    expect(page.get_by_role("tab", name="Tools (1)")).to_be_visible()
    expect(page.get_by_role("button", name="now")).to_be_visible()
    expect(page.get_by_role("button", name="convert_time")).to_have_count(0)
    form = page.get_by_role("form", name="now")
    expect(form.get_by_text("The current time in a time zone")).to_be_visible()
    form.get_by_role("textbox", name="timezone").fill("UTC")
    form.get_by_role("button", name="Call").click()
    expect(page.get_by_role("region", name="Result")).to_contain_text('"timezone": "UTC"')

    dark = ui.open("/ui/servers/time/tools", scheme="dark")
    expect(dark.get_by_role("group", name="convert_time")).to_be_visible()
    assert axe_violations(dark) == []
    shoot(dark, "tools-dark")


def test_a_filtered_server_outside_the_registry_says_what_it_cannot_list_until_the_filter_goes(
    ui: Ui,
):
    fixture = str(FIXTURES / "playground_server.py")
    body = {"name": "fixture", "image": sys.executable, "cmd_arguments": [fixture]}
    run_workload(ui.server.client, {**body, "tools": ["repeat"]})
    page = ui.open("/ui/servers/fixture/tools")
    expect(page.get_by_role("group", name="repeat")).to_be_visible()
    expect(page.get_by_role("group", name="measure")).to_have_count(0)
    expect(page.get_by_text("The filter hides tools this page cannot name")).to_be_visible()

    # Unchecking every tool cannot be expressed (an empty filter shows them all).
    page.get_by_role("group", name="repeat").get_by_label("Visible to clients").uncheck()
    page.get_by_role("button", name="Apply and restart").click()
    expect(page.get_by_text("Keep at least one tool visible")).to_be_visible()

    page.get_by_role("button", name="Remove the filter").click()
    expect(page.get_by_text("fixture is running again")).to_be_visible(timeout=180_000)
    for tool in ("measure", "pixel", "repeat"):
        expect(
            page.get_by_role("group", name=tool).get_by_label("Visible to clients")
        ).to_be_checked()
    expect(page.get_by_text("The filter hides tools")).to_have_count(0)
    assert ui.server.client.get(f"{WORKLOADS}/fixture/export").json().get("tools_filter") in (
        None,
        [],
    )
    assert axe_violations(page) == []
