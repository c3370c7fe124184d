"""The playground in Chromium against a real ``thv serve``: ``uvx://mcp-server-time`` called through
the form generated from its inputSchema (the answer, the timing, the server's error for a bad
argument), a fixture server's resources, prompt, structured output and image, the message for a
workload that is not running, and ``thv inspector`` opening the view."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect
from toolhive.testing.api import ApiServer

from tests.conftest import FIXTURES
from tests.ui.conftest import PHONE, Ui, axe_violations

pytestmark = pytest.mark.process_runtime

WORKLOADS = "/api/v1beta/workloads"


@pytest.fixture(autouse=True)
def server_round_trips_may_be_slow() -> Iterator[None]:
    """Answers that wait on an MCP server (on a loaded 2-core machine) get 30 s, not 5 s."""
    expect.set_options(timeout=30_000)
    yield
    expect.set_options(timeout=5_000)  # Playwright's default


def run_workload(client: httpx.Client, body: dict[str, object]) -> None:
    created = client.post(WORKLOADS, json=body)
    assert created.status_code == 201, created.text
    name = body["name"]
    deadline = time.monotonic() + 240
    while client.get(f"{WORKLOADS}/{name}/status").json()["status"] != "running":
        assert time.monotonic() < deadline, f"{name} did not reach running"
        time.sleep(0.25)


def test_calling_get_current_time_through_the_generated_form_shows_the_answer_and_timing(
    ui: Ui, shoot
):
    run_workload(ui.server.client, {"name": "time", "image": "uvx://mcp-server-time"})
    page = ui.open("/ui/servers/time/playground")
    expect(page.get_by_role("heading", level=1)).to_have_text("Playground: time")
    expect(page.get_by_role("tab", name="Tools (2)")).to_have_attribute("aria-selected", "true")
    page.get_by_role("button", name="get_current_time").click()
    tool = page.get_by_role("form", name="get_current_time")
    timezone = tool.get_by_label("timezone")
    expect(timezone).to_be_visible()
    # Generated from the schema: required, with the schema's description as help.
    expect(timezone).to_have_attribute("required", "")
    # mcp-server-time's description of the argument (it names the machine's zone)
    expect(timezone).to_have_accessible_description(re.compile(r"^IANA timezone name \(e\.g\."))

    # Required and empty: the form says so and calls nothing.
    tool.get_by_role("button", name="Call").click()
    expect(tool.get_by_text("timezone is required")).to_be_visible()
    expect(timezone).to_have_attribute("aria-invalid", "true")

    timezone.fill("UTC")
    tool.get_by_role("button", name="Call").click()
    result = page.get_by_role("region", name="Result")
    expect(result.get_by_text("OK", exact=True)).to_be_visible()
    expect(result.locator("pre.pg-json").first).to_contain_text('"timezone": "UTC"')
    expect(result.get_by_text("Took ")).to_be_visible()
    expect(result.get_by_text("Raw JSON")).to_be_visible()
    assert axe_violations(page) == []
    shoot(page, "playground-light")

    # A bad argument: the server's own error, flagged.
    timezone.fill("Mars/Olympus_Mons")
    tool.get_by_role("button", name="Call").click()
    failed = page.get_by_role("region", name="Result")
    expect(failed.get_by_role("heading", name="The tool reported an error")).to_be_visible()
    expect(failed.get_by_text("Error", exact=True)).to_be_visible()
    expect(failed).to_contain_text("Mars/Olympus_Mons")
    assert axe_violations(page) == []

    dark = ui.open("/ui/servers/time/playground?tool=convert_time", scheme="dark")
    expect(dark.get_by_role("heading", name="convert_time")).to_be_visible()
    for label in ("source_timezone", "time", "target_timezone"):
        expect(dark.get_by_role("textbox", name=label, exact=True)).to_be_visible()
    assert axe_violations(dark) == []
    shoot(dark, "playground-dark")


def test_resources_prompts_structured_output_and_images_are_shown(ui: Ui):
    fixture = str(FIXTURES / "playground_server.py")
    run_workload(
        ui.server.client, {"name": "fixture", "image": sys.executable, "cmd_arguments": [fixture]}
    )
    page = ui.open("/ui/servers/fixture/playground", viewport=PHONE)

    # Types from the schema: an integer with its default, a boolean, an enum, a list of strings.
    page.get_by_role("button", name="repeat").click()
    expect(page.get_by_label("times")).to_have_value("2")
    expect(page.get_by_label("shout")).not_to_be_checked()
    page.get_by_label("text").fill("hey")
    page.get_by_label("shout").check()
    page.get_by_role("button", name="Call").click()
    expect(page.get_by_role("region", name="Result")).to_contain_text("HEY HEY")

    page.get_by_role("button", name="measure").click()
    expect(page.get_by_label("unit")).to_have_value("0")  # the default, "letters"
    page.get_by_label("word").fill("héllo")
    page.get_by_label("unit").select_option(label="bytes")
    page.get_by_label("tags").fill("a\nb")
    page.get_by_role("button", name="Call").click()
    result = page.get_by_role("region", name="Result")
    expect(result.get_by_role("heading", name="Structured content")).to_be_visible()
    shown = result.locator("pre.pg-json").first  # under "Structured content"
    expect(shown).to_contain_text('"size": 6')
    expect(shown).to_contain_text('"b"')
    # The text content repeats the structured content as JSON: shown once (and in the raw JSON).
    expect(result.locator("pre.pg-json")).to_have_count(2)

    # An object argument is JSON in a text area; what does not parse is refused before the call.
    page.get_by_role("button", name="total").click()
    weights = page.get_by_role("textbox", name="weights")
    weights.fill("{a: 1}")
    page.get_by_role("button", name="Call").click()
    expect(page.get_by_text("weights: not valid JSON")).to_be_visible()
    weights.fill('{"a": 1, "b": 41}')
    page.get_by_role("button", name="Call").click()
    expect(page.get_by_role("region", name="Result").locator("pre").first).to_contain_text("42")

    page.get_by_role("button", name="pixel").click()
    page.get_by_role("button", name="Call").click()
    image = page.get_by_role("img", name="Image returned by the tool (image/png)")
    expect(image).to_be_visible()
    assert image.evaluate("img => img.naturalWidth") == 1

    page.get_by_role("tab", name="Resources (2)").click()
    page.get_by_role("button", name="Read greeting").click()
    contents = page.get_by_role("region", name="Resource contents")
    expect(contents).to_contain_text("Hello from the playground fixture")
    template = page.get_by_role("form", name="topic-note")
    template.get_by_role("textbox", name="topic").fill("owls")
    template.get_by_role("button", name="Read").click()
    expect(contents).to_contain_text("A note about owls")

    page.get_by_role("tab", name="Prompts (1)").click()
    prompt = page.get_by_role("form", name="summarize")
    prompt.get_by_role("textbox", name="topic").fill("cats")
    prompt.get_by_role("button", name="Get prompt").click()
    expect(prompt.get_by_role("region", name="Prompt messages")).to_contain_text(
        "Summarize cats in a short way."
    )
    assert axe_violations(page) == []
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


def test_a_stopped_workload_says_so_and_loads_once_it_runs_again(ui: Ui):
    client = ui.server.client
    run_workload(client, {"name": "time", "image": "uvx://mcp-server-time"})
    assert client.post(f"{WORKLOADS}/time/stop").status_code == 202
    deadline = time.monotonic() + 60
    while client.get(f"{WORKLOADS}/time/status").json()["status"] != "stopped":
        assert time.monotonic() < deadline
        time.sleep(0.25)
    page = ui.open("/ui/servers/time/playground")
    expect(page.get_by_role("heading", name="The server is not running")).to_be_visible()
    expect(page.get_by_role("main").get_by_role("link", name="Back to the servers")).to_be_visible()
    assert axe_violations(page) == []
    assert client.post(f"{WORKLOADS}/time/restart").status_code == 202
    expect(page.get_by_role("tab", name="Tools (2)")).to_be_visible(timeout=120_000)


def test_thv_inspector_opens_the_playground_of_the_workload(
    server: ApiServer, ui_env: dict[str, str], ui: Ui
):
    run_workload(server.client, {"name": "time", "image": "uvx://mcp-server-time"})
    thv = str(Path(sys.executable).with_name("thv"))
    done = subprocess.run(
        [thv, "inspector", "time", "--no-browser"],
        env=ui_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    url = f"{server.base_url}/ui/servers/time/playground"
    assert url in done.stderr + done.stdout
    page = ui.open(url.removeprefix(server.base_url))
    expect(page.get_by_role("button", name="get_current_time")).to_be_visible()
