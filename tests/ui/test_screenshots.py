"""Every view, light and dark, on a populated server: photographed (``scripts/ui-screenshots.sh``
writes these into ``docs/ui/`` for ``docs/ui.md``) and checked by axe-core in both themes — the
dark palette has its own contrast to get right."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import expect
from toolhive.testing.api import ApiServer

from tests.ui.conftest import DESKTOP, PHONE, Ui, axe_violations

#: (screenshot name, path) of every view.
VIEWS = [
    ("servers", "/"),
    ("install", "/ui/install"),
    ("install-form", "/ui/install/server/io.github.stacklok/time"),
    ("install-custom", "/ui/install/custom"),
    ("logs", "/ui/servers/time/logs"),
    ("playground", "/ui/servers/time/playground"),
    ("tools", "/ui/servers/time/tools"),
    ("groups", "/ui/groups"),
    ("clients", "/ui/clients"),
    ("secrets", "/ui/secrets"),
]


def populate(server: ApiServer) -> None:
    """A running ``time`` workload, a second group, and the encrypted secrets provider."""
    client = server.client
    assert client.post("/api/v1beta/groups", json={"name": "research"}).status_code == 201
    created = client.post(
        "/api/v1beta/workloads", json={"name": "time", "image": "uvx://mcp-server-time"}
    )
    assert created.status_code == 201, created.text
    deadline = time.monotonic() + 240
    while client.get("/api/v1beta/workloads/time/status").json()["status"] != "running":
        assert time.monotonic() < deadline, "time did not reach running"
        time.sleep(0.5)


@pytest.mark.slow
def test_every_view_is_photographed_in_light_and_dark_without_accessibility_violations(
    ui: Ui, shoot
):
    populate(ui.server)
    problems: dict[str, list[str]] = {}
    for scheme in ("light", "dark"):
        for name, path in VIEWS:
            page = ui.open(path, viewport=DESKTOP, scheme=scheme)
            page.locator("main h1").first.wait_for()
            # Views load in parallel fetches and the event stream never idles: let them land
            # before the picture (the assertions of each view live in its own tests).
            # (expect, not wait_for_function: the UI's CSP rightly refuses eval of a string.)
            expect(page.locator('main [aria-busy="true"]')).to_have_count(0)
            page.wait_for_timeout(400)
            assert shoot(page, f"{name}-{scheme}").stat().st_size > 5_000
            found = axe_violations(page)
            if found:
                problems[f"{path} ({scheme})"] = found
            page.close()
    phone = ui.open("/", viewport=PHONE)
    phone.locator("main h1").first.wait_for()
    phone.wait_for_timeout(400)
    shoot(phone, "servers-phone")
    # Nothing wider than the phone: no sideways scrolling of the whole page.
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert problems == {}
