"""A real OAuth 2.0 / OpenID Connect provider on 127.0.0.1 for tests, and a headless browser that
logs in through it.

:func:`oauth_server` starts npm's ``oidc-provider`` (panva; installed by
``scripts/install-node.sh``) under the Node of those tools, configured by ``oauth_server.mjs``
beside this file: a public PKCE client (``application_type: native``, redirect
``http://127.0.0.1/callback`` on any port, RFC 8252 §7.3), refresh tokens for every client allowed
the grant, opaque access tokens with a configurable lifetime — RS256 JWTs (``aud`` = the resource)
for the RFC 8707 ``resources`` it is started with —, open RFC 7591 dynamic registration, RFC 8693
token exchange for a confidential client (``exchange_client_id``/``_secret``), introspection and
revocation, and the provider's development login pages (any name, any password, then consent).

:func:`complete_login` drives Debian's Chromium through Playwright (headless) from an
authorization URL to the redirect back to the loopback callback — the user's part of a login.

::

    with oauth_server(access_token_ttl=60) as idp:
        ...                                     # idp.issuer, idp.client_id
        complete_login(authorization_url)        # printed by the login under test
        idp.introspect(token)["active"]          # what a resource server checks
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

__all__ = [
    "CHROMIUM",
    "OAuthServer",
    "OAuthServerError",
    "complete_login",
    "node_tools",
    "oauth_server",
]

CONFIG = Path(__file__).with_name("oauth_server.mjs")
CHROMIUM = os.environ.get("TOOLHIVE_CHROMIUM", "/usr/bin/chromium")


class OAuthServerError(RuntimeError):
    """The provider did not start, or Node / oidc-provider are not installed."""


def node_tools() -> Path | None:
    """The folder ``scripts/install-node.sh`` filled ($TOOLHIVE_NODE_TOOLS or its defaults), if
    it holds Node and oidc-provider."""
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    for candidate in (
        os.environ.get("TOOLHIVE_NODE_TOOLS", ""),
        "/var/cache/toolhive-test/node-tools",
        f"{cache}/toolhive-test/node-tools",
    ):
        if not candidate:
            continue
        root = Path(candidate)
        if (root / "bin" / "node").exists() and (root / "node_modules" / "oidc-provider").is_dir():
            return root
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class OAuthServer:
    """A running provider. ``client_id`` is the public client a login uses; ``rs_client_id`` /
    ``rs_client_secret`` authenticate a resource server's introspection calls."""

    issuer: str
    client_id: str
    rs_client_id: str
    rs_client_secret: str
    process: subprocess.Popen[bytes]
    log_path: Path
    exchange_client_id: str = "token-exchanger"
    exchange_client_secret: str = "token-exchanger-secret"

    @property
    def jwks_url(self) -> str:
        return f"{self.issuer}/jwks"

    def metadata(self) -> dict[str, Any]:
        data: dict[str, Any] = httpx.get(
            f"{self.issuer}/.well-known/openid-configuration", timeout=10
        ).json()
        return data

    def introspect(self, token: str) -> dict[str, Any]:
        """RFC 7662 introspection as the resource server: ``{"active": bool, ...}``."""
        response = httpx.post(
            self.metadata()["introspection_endpoint"],
            data={"token": token},
            auth=(self.rs_client_id, self.rs_client_secret),
            timeout=10,
        )
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def revoke(self, token: str) -> None:
        """RFC 7009 revocation as the public client (a refresh token revokes its grant)."""
        response = httpx.post(
            self.metadata()["revocation_endpoint"],
            data={"token": token, "client_id": self.client_id},
            timeout=10,
        )
        response.raise_for_status()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@contextlib.contextmanager
def oauth_server(
    *,
    client_id: str = "toolhive-cli",
    access_token_ttl: int = 3600,
    resources: tuple[str, ...] = (),
    port: int | None = None,
    startup_timeout: float = 30.0,
) -> Iterator[OAuthServer]:
    """Start the provider on ``port`` (default: a free one) of 127.0.0.1; stop it (SIGTERM, then
    kill) on exit. ``resources``: the RFC 8707 resource indicators it issues JWTs for."""
    tools = node_tools()
    if tools is None:
        msg = "Node and oidc-provider are not installed: run scripts/install-node.sh"
        raise OAuthServerError(msg)
    port = port or _free_port()
    env = {
        **os.environ,
        "OIDC_PORT": str(port),
        "OIDC_CLIENT_ID": client_id,
        "OIDC_RS_CLIENT_ID": "registry-api",
        "OIDC_RS_CLIENT_SECRET": "registry-api-secret",
        "OIDC_ACCESS_TOKEN_TTL": str(access_token_ttl),
        "OIDC_RESOURCES": " ".join(resources),
        "OIDC_EXCHANGE_CLIENT_ID": "token-exchanger",
        "OIDC_EXCHANGE_CLIENT_SECRET": "token-exchanger-secret",
    }
    folder = Path(tempfile.mkdtemp(prefix="thv-oidc-"))
    log_path = folder / "oidc-provider.log"
    # ESM resolves imports from the importing file's folder (NODE_PATH is ignored): run a copy
    # of the config next to a link to the tools' node_modules.
    (folder / "node_modules").symlink_to(tools / "node_modules")
    script = folder / CONFIG.name
    script.write_text(CONFIG.read_text())
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(tools / "bin" / "node"), str(script)],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = OAuthServer(
        issuer=f"http://127.0.0.1:{port}",
        client_id=client_id,
        rs_client_id=env["OIDC_RS_CLIENT_ID"],
        rs_client_secret=env["OIDC_RS_CLIENT_SECRET"],
        process=process,
        log_path=log_path,
    )
    try:
        deadline = time.monotonic() + startup_timeout
        while "listening " not in server.log():
            if process.poll() is not None or time.monotonic() > deadline:
                msg = f"oidc-provider did not start (exit {process.poll()}):\n{server.log()}"
                raise OAuthServerError(msg)
            time.sleep(0.05)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(folder, ignore_errors=True)


def complete_login(
    authorization_url: str,
    *,
    login: str = "alice",
    timeout: float = 30.0,
    executable_path: str = CHROMIUM,
) -> str:
    """Log in as ``login`` in headless Chromium, consent, and follow the redirect to the loopback
    callback; returns the text of the callback's page (``Login complete`` when it worked)."""
    from playwright.sync_api import sync_playwright

    args = ["--no-sandbox"] if os.geteuid() == 0 else []
    callback = re.compile(r"^http://(127\.0\.0\.1|localhost):\d+/callback\?")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable_path, headless=True, args=args
        )
        try:
            page = browser.new_page()
            page.set_default_timeout(timeout * 1000)
            page.goto(authorization_url)
            for _ in range(6):  # login page, consent page(s), then the callback
                if callback.match(page.url):
                    break
                if page.locator("input[name=login]").count():
                    page.fill("input[name=login]", login)
                    page.fill("input[name=password]", "any-password")
                with page.expect_navigation():
                    page.click("button[type=submit]")
            else:
                msg = f"the login did not reach the callback; last page: {page.url}"
                raise OAuthServerError(msg)
            return str(page.inner_text("body"))
        finally:
            browser.close()
