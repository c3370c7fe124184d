"""The issue's whole path in one browser tab, as a user walks it: install ``time`` from the
registry through the form, see it reach running without a reload, call ``get_current_time`` in the
playground, read its logs, stop it and remove it — every step through the UI, none through the
API."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.ui.conftest import Ui
from tests.ui.test_servers import row, status_of

#: The first install of the package may fetch it from PyPI.
FIRST_START_MS = 240_000


@pytest.mark.slow
def test_install_call_read_logs_stop_and_remove_time_in_one_tab(ui: Ui):
    page = ui.open("/")
    page.evaluate("window.__sameDocument = true")
    page.get_by_role("link", name="Install", exact=True).click()
    page.get_by_label("Search").fill("time")
    page.get_by_role("link", name="Time", exact=True).click()
    form = page.get_by_role("form", name="Install")
    expect(form.get_by_label("Name")).to_have_value("time")
    form.get_by_role("button", name="Install").click()

    # Back on the servers view once it runs: no reload, the event stream brought it there.
    page.wait_for_url(ui.server.base_url + "/", timeout=FIRST_START_MS)
    expect(status_of(page, "time", "running")).to_be_visible(timeout=FIRST_START_MS)

    row(page, "time").get_by_role("link", name="Playground").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Playground: time")
    page.get_by_role("button", name="get_current_time").click()
    tool = page.get_by_role("form", name="get_current_time")
    tool.get_by_label("timezone").fill("UTC")
    tool.get_by_role("button", name="Call").click()
    result = page.get_by_role("region", name="Result")
    expect(result.locator("pre.pg-json").first).to_contain_text('"timezone": "UTC"')
    expect(result.get_by_text("Took ")).to_be_visible()

    page.get_by_role("link", name="Logs").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Logs: time")
    page.get_by_role("tab", name="Proxy").click()
    # The supervisor's log of this workload, live (it names the workload it serves).
    expect(page.get_by_role("tabpanel").locator("pre")).to_contain_text("time")

    page.get_by_role("link", name="Servers", exact=True).click()
    page.get_by_role("button", name="Stop time").click()
    expect(status_of(page, "time", "stopped")).to_be_visible(timeout=60_000)
    page.get_by_role("button", name="Remove time").click()
    page.get_by_role("dialog").get_by_role("button", name="Remove").click()
    expect(row(page, "time")).to_have_count(0, timeout=60_000)
    assert page.evaluate("window.__sameDocument") is True
    assert ui.server.client.get("/api/v1beta/workloads/time").status_code == 404
