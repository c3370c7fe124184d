"""A real OpenID Connect provider (npm oidc-provider) and a headless Chromium for the OAuth tests."""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from toolhive.testing.oauth_server import CHROMIUM, OAuthServer, node_tools, oauth_server


def require_or_skip(reason: str) -> None:
    """Skip locally; fail in CI (TOOLHIVE_TEST_REQUIRE_ENGINES=1), where everything is installed."""
    if os.environ.get("TOOLHIVE_TEST_REQUIRE_ENGINES") == "1":
        pytest.fail(f"required component missing: {reason}")
    pytest.skip(reason)


@pytest.fixture
def idp() -> Iterator[OAuthServer]:
    if node_tools() is None:
        require_or_skip("Node and oidc-provider (scripts/install-node.sh)")
    if not Path(CHROMIUM).exists():
        require_or_skip(f"Chromium at {CHROMIUM} (scripts/install-chromium.sh)")
    with oauth_server(access_token_ttl=3600) as server:
        yield server


@dataclass
class Background:
    """A call run on a thread, with the lines it announced (the login URL) on a queue."""

    lines: queue.Queue[str] = field(default_factory=queue.Queue)
    result: Any = None
    error: BaseException | None = None
    thread: threading.Thread | None = None

    def start(self, fn: Callable[[Callable[[str], None]], Any]) -> Background:
        def run() -> None:
            try:
                self.result = fn(self.lines.put)
            except BaseException as exc:  # handed to the test by join()
                self.error = exc

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        return self

    def url(self, timeout: float = 20) -> str:
        line = self.lines.get(timeout=timeout)
        return line[line.index("http") :]

    def join(self, timeout: float = 60) -> Any:
        assert self.thread is not None
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the login did not finish"
        if self.error is not None:
            raise self.error
        return self.result


@pytest.fixture
def background() -> Callable[[Callable[[Callable[[str], None]], Any]], Background]:
    """``background(fn)`` runs ``fn(announce)`` on a thread: ``.url()`` is the login URL it
    announced, ``.join()`` its result (or its exception)."""
    return lambda fn: Background().start(fn)
