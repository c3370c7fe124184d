"""The Logs view in Chromium against a real ``thv serve`` (process runtime, core's echo server):
the server's output, a line it writes appearing live, the proxy tab, search, download."""

from __future__ import annotations

import re
import time
from pathlib import Path

from playwright.sync_api import expect

from tests.test_api_logstream import rejected_call, start_echo
from tests.ui.conftest import PHONE, Ui, axe_violations

REJECTED = "rejected arguments"


def proxy_log(ui: Ui) -> str:
    return ui.server.client.get("/api/v1beta/workloads/echo/proxy-logs").text


def test_the_server_log_shows_its_output_and_new_lines_live(ui: Ui, shoot):
    url = start_echo(ui.server, "echo")
    rejected_call(url)
    page = ui.open("/ui/servers/echo/logs")
    expect(page.get_by_role("heading", level=1)).to_have_text("Logs: echo")
    expect(page.get_by_role("tab", name="Server")).to_have_attribute("aria-selected", "true")
    log = page.get_by_role("tabpanel").locator("pre")
    expect(log).to_contain_text(REJECTED)
    expect(page.get_by_text("1 lines")).to_be_visible()
    page.evaluate("window.__sameDocument = true")
    rejected_call(url)
    # The second line arrives over the stream: two of them now, no reload.
    expect(log).to_have_text(re.compile(f"{REJECTED}.*\\n.*{REJECTED}", re.S))
    expect(page.get_by_text("2 lines")).to_be_visible()
    assert page.evaluate("window.__sameDocument === true")
    expect(page.get_by_role("status").filter(has_text="Following live.")).to_be_visible()
    assert axe_violations(page) == []
    shoot(page, "logs-light")
    dark = ui.open("/ui/servers/echo/logs", scheme="dark")
    expect(dark.get_by_role("tabpanel").locator("pre")).to_contain_text(REJECTED)
    assert axe_violations(dark) == []
    shoot(dark, "logs-dark")


def test_the_proxy_tab_search_and_download(ui: Ui, tmp_path: Path):
    start_echo(ui.server, "echo")
    page = ui.open("/ui/servers/echo/logs")
    proxy = page.get_by_role("tab", name="Proxy")
    proxy.click()
    expect(proxy).to_have_attribute("aria-selected", "true")
    expect(page).to_have_url(re.compile(r"\?source=proxy$"))
    log = page.get_by_role("tabpanel").locator("pre")
    expect(log).to_contain_text("deploying")
    expect(log).to_contain_text("echo is running at")

    page.get_by_label("Search").fill("RUNNING AT")
    expect(log).not_to_contain_text("deploying")
    expect(log).to_contain_text("echo is running at")
    expect(log.locator("mark")).to_have_text(["running at"])
    expect(page.get_by_text("1 of 2 lines match")).to_be_visible()
    page.get_by_label("Search").fill("no such text")
    expect(log).to_have_text("No line matches.")
    page.get_by_label("Search").fill("")
    expect(log).to_contain_text("deploying")

    with page.expect_download() as info:
        page.get_by_role("button", name="Download").click()
    download = info.value
    assert download.suggested_filename == "echo-proxy.log"
    target = tmp_path / "echo-proxy.log"
    download.save_as(target)
    text = target.read_text()
    assert text == ui.server.client.get("/api/v1beta/workloads/echo/proxy-logs").text
    assert "echo is running at" in text

    # The keyboard moves between the tabs too.
    proxy.focus()
    page.keyboard.press("ArrowLeft")
    expect(page.get_by_role("tab", name="Server")).to_have_attribute("aria-selected", "true")
    expect(page.get_by_role("tab", name="Server")).to_be_focused()


def test_follow_keeps_the_newest_line_in_view_and_removal_ends_the_tail(ui: Ui):
    start_echo(ui.server, "echo")
    # A short phone: the log box (at most 60% of the height) overflows after a few runs' lines.
    page = ui.open("/ui/servers/echo/logs?source=proxy", viewport={**PHONE, "height": 500})
    log = page.get_by_role("tabpanel").locator("pre")
    expect(log).to_contain_text("echo is running at")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    expect(page.get_by_label("Follow")).to_be_checked()
    for runs in (2, 3):  # enough wrapped lines at phone width to overflow the box
        assert ui.server.client.post("/api/v1beta/workloads/echo/restart").status_code == 202
        deadline = time.monotonic() + 60
        while proxy_log(ui).count("echo is running at") < runs:
            assert time.monotonic() < deadline, "the restart did not happen"
            time.sleep(0.2)
    expect(log).to_contain_text(re.compile(r"(echo is running at.*){3}", re.S))
    # Overflowing, and scrolled to the end.
    at_bottom = "el => [el.scrollHeight > el.clientHeight, el.scrollHeight - el.scrollTop - el.clientHeight]"
    overflowing, below = log.evaluate(at_bottom)
    assert overflowing and below <= 2
    assert ui.server.client.delete("/api/v1beta/workloads/echo").status_code == 202
    expect(page.get_by_text("echo was removed; this is the last of its log.")).to_be_visible(
        timeout=60_000
    )


def test_an_unknown_workload_says_so(ui: Ui):
    page = ui.open("/ui/servers/ghost/logs")
    expect(page.get_by_role("alert")).to_have_text("No workload named ghost.")
