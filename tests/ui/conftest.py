"""The web UI in a real browser: Debian's Chromium driven by Playwright, against a real
``thv serve`` (process runtime, isolated home and HOME, so client configs land in the test's
folder).

Every page a test opens is watched: an uncaught exception or a ``console.error`` fails the test
at teardown (a 4xx the test provoked on purpose is the API's answer, not a page error).
``axe_violations(page)`` runs axe-core (from the Node tools of ``scripts/install-node.sh``) and
returns the serious and critical findings. ``shoot(page, name)`` writes a screenshot into
``$TOOLHIVE_UI_SCREENSHOTS`` (``scripts/ui-screenshots.sh`` points it at ``docs/ui/``), else into
the test's temporary folder.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from toolhive.testing.api import ApiServer, api_server

from tests.conftest import process_runtime_available, require_or_skip

CHROMIUM = os.environ.get("TOOLHIVE_CHROMIUM", "/usr/bin/chromium")
NODE_TOOLS = Path(os.environ.get("TOOLHIVE_NODE_TOOLS", "/var/cache/toolhive-test/node-tools"))
AXE = NODE_TOOLS / "node_modules" / "axe-core" / "axe.min.js"
#: Chromium logs every non-2xx fetch as a console error; a 4xx is the API answering a request
#: the test made on purpose, so only those are let through.
CLIENT_ERROR = re.compile(r"Failed to load resource: the server responded with a status of 4\d\d")
#: Laptop and phone widths the issue asks the UI to work at.
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One Chromium per test module. Not per session: Playwright's sync API keeps an asyncio loop
    running in the main thread while it is started, and tests collected after the UI's (which
    call ``asyncio.run``) would fail."""
    if not Path(CHROMIUM).exists():
        require_or_skip(f"Chromium at {CHROMIUM} (scripts/install-chromium.sh)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        args = ["--no-sandbox"] if os.geteuid() == 0 else []
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=args)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def ui_env(thv_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """``thv_env`` with its own HOME and the process runtime (what the server starts runs there)."""
    if not process_runtime_available():
        require_or_skip("bubblewrap and uv for the process runtime")
    home = tmp_path / "user"
    home.mkdir()
    thv_env["HOME"] = str(home)
    thv_env["TOOLHIVE_RUNTIME"] = "process"
    return thv_env


@pytest.fixture
def server(ui_env: dict[str, str]) -> Iterator[ApiServer]:
    with api_server(ui_env) as started:
        yield started


@dataclass
class PageErrors:
    messages: list[str] = field(default_factory=list)

    def watch(self, page: Any) -> Any:
        def on_console(msg: Any) -> None:
            if msg.type == "error" and not CLIENT_ERROR.search(msg.text):
                self.messages.append(f"console.error: {msg.text}")

        page.on("console", on_console)
        page.on("pageerror", lambda exc: self.messages.append(f"uncaught: {exc}"))
        return page


@dataclass
class Ui:
    """A browser context on the server; ``open(path)`` gives a watched page at that UI path."""

    server: ApiServer
    browser: Any
    errors: PageErrors
    contexts: list[Any] = field(default_factory=list)

    def open(
        self, path: str = "/", *, viewport: dict[str, int] | None = None, scheme: str = "light"
    ) -> Any:
        context = self.browser.new_context(
            viewport=viewport or DESKTOP, color_scheme=scheme, base_url=self.server.base_url
        )
        context.set_default_timeout(15_000)
        self.contexts.append(context)
        page = self.errors.watch(context.new_page())
        page.goto(path)
        return page

    def close(self) -> None:
        for context in self.contexts:
            context.close()


@pytest.fixture
def ui(server: ApiServer, browser: Any) -> Iterator[Ui]:
    errors = PageErrors()
    opened = Ui(server, browser, errors)
    try:
        yield opened
    finally:
        opened.close()
    assert not errors.messages, "the page reported errors:\n" + "\n".join(errors.messages)


def axe_violations(page: Any, *, impacts: tuple[str, ...] = ("serious", "critical")) -> list[str]:
    """axe-core's findings of these impacts on the page as it is now, one line each."""
    if not AXE.exists():
        require_or_skip(f"axe-core at {AXE} (scripts/install-node.sh)")
    # Evaluated through the DevTools protocol: the UI's CSP forbids inline scripts (rightly).
    page.evaluate(AXE.read_text(encoding="utf-8"))
    result = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
    )
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — "
        + "; ".join(node["target"][0] for node in v["nodes"][:3])
        for v in result
        if v["impact"] in impacts
    ]


def screenshot_dir(tmp_path: Path) -> Path:
    target = os.environ.get("TOOLHIVE_UI_SCREENSHOTS")
    path = Path(target) if target else tmp_path / "screenshots"
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def shoot(tmp_path: Path) -> Any:
    folder = screenshot_dir(tmp_path)

    def take(page: Any, name: str) -> Path:
        path = folder / f"{name}.png"
        page.screenshot(path=str(path), full_page=False)
        return path

    return take
