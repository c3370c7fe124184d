"""A remote workload's supervisor keeping its upstream credentials valid, end to end with the real
``thv``: the sign-in (``thv run <URL>`` with the pre-registered client of the real provider, the
browser step in headless Chromium), then the detached supervisor on its own — refreshes through a
token-endpoint outage (``auth_retrying``, then ``running``), a revoked login (``unauthenticated``
saying what to run, 401 with that message to clients), a refused static bearer token (ToolHive's
message), and no token in the proxy log, the state files or ``thv list``.

The remote server is core's echo server behind ToolHive's ``auth`` middleware
(:mod:`toolhive.testing.remote_auth`). The token endpoint is reached through a TCP relay of the
test (manual ``--remote-auth-authorize-url``/``--remote-auth-token-url`` endpoints), so the outage can end without the provider losing its grants.
"""

from __future__ import annotations

import contextlib
import json
import selectors
import socket
import socketserver
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from toolhive.testing.oauth_server import OAuthServer

from tests.conftest import Thv
from tests.remote_auth_support import (
    assert_echoes,
    assert_nowhere,
    call_echo,
    free_port,
    home_files,
    provider_and_server,
    run_with_login,
    stored_secrets,
    use_encrypted_secrets,
)

PASSWORD = "remote-token-refresh-password"
#: Refreshed every 5 s (half the lifetime, under the 30 s leeway): several times per test.
ACCESS_TTL = 10
QUICK_RETRIES = {
    "TOOLHIVE_TOKEN_REFRESH_INITIAL_RETRY_INTERVAL": "200ms",
    "TOOLHIVE_TOKEN_REFRESH_MAX_TRIES": "1",
    "TOOLHIVE_TOKEN_AUTH_RETRYING_TICK_INTERVAL": "1s",
}


class Relay:
    """A TCP relay on a fixed loopback port to ``target_port``; :meth:`stop` refuses connections
    (and cuts open ones) until :meth:`start` again."""

    def __init__(self, target_port: int) -> None:
        self.port = free_port()
        self.target_port = target_port
        self._server: socketserver.ThreadingTCPServer | None = None
        self._open: set[socket.socket] = set()

    def start(self) -> None:
        relay = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                upstream = socket.create_connection(("127.0.0.1", relay.target_port))
                pair = {self.request: upstream, upstream: self.request}
                relay._open |= set(pair)
                with selectors.DefaultSelector() as selector:
                    for sock in pair:
                        selector.register(sock, selectors.EVENT_READ)
                    with contextlib.suppress(OSError):
                        while True:
                            for key, _ in selector.select():
                                data = key.fileobj.recv(65536)  # type: ignore[union-attr]
                                if not data:
                                    return
                                pair[key.fileobj].sendall(data)  # type: ignore[index]
                upstream.close()

        socketserver.ThreadingTCPServer.allow_reuse_address = True
        server = socketserver.ThreadingTCPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self._server = server

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        self._server = None
        for sock in list(self._open):
            with contextlib.suppress(OSError):
                sock.close()
        self._open.clear()


@pytest.fixture
def secrets_thv(thv: Thv) -> Thv:
    thv.env.update(QUICK_RETRIES)  # the detached supervisor inherits them
    return use_encrypted_secrets(thv, PASSWORD)


@pytest.fixture
def remote(secrets_thv: Thv) -> Iterator[tuple[OAuthServer, str]]:
    with provider_and_server(secrets_thv, access_token_ttl=ACCESS_TTL) as both:
        yield both


def listed(thv: Thv, *flags: str) -> dict[str, dict[str, Any]]:
    rows = json.loads(thv("list", *flags, "--format", "json").stdout)
    return {row["name"]: row for row in rows}


def wait_status(thv: Thv, name: str, wanted: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        row = listed(thv, "--all").get(name, {})
        if row.get("status") == wanted:
            return row
        assert time.monotonic() < deadline, f"{name} is not {wanted}: {row}"
        time.sleep(0.3)


def test_the_supervisor_refreshes_through_an_outage_and_reports_a_revoked_login(
    secrets_thv: Thv, remote: tuple[OAuthServer, str]
) -> None:
    thv = secrets_thv
    idp, upstream = remote
    relay = Relay(int(idp.issuer.rsplit(":", 1)[1]))
    relay.start()
    token_url = idp.metadata()["token_endpoint"].replace(
        f":{relay.target_port}/", f":{relay.port}/"
    )
    try:
        signed_in = run_with_login(
            thv, "run", upstream, "--name", "flaky",
            "--remote-auth-authorize-url", idp.metadata()["authorization_endpoint"],
            "--remote-auth-token-url", token_url, "--remote-auth-client-id", idp.client_id,
            "--remote-auth-scopes", "openid,offline_access", "--remote-auth-skip-browser",
            "--remote-auth-callback-port", str(free_port()),
        )  # fmt: skip
        outputs = [signed_in]
        assert_echoes(thv, "flaky", "signed in")
        seen = stored_secrets(thv.env)
        tokens = {seen["OAUTH_REFRESH_TOKEN_flaky"]}

        # More than two access-token lifetimes: refreshed in the background, no error.
        for n in range(3):
            time.sleep(ACCESS_TTL / 2 + 1)
            assert_echoes(thv, "flaky", f"still there {n}")
            seen = stored_secrets(thv.env)
            tokens |= {seen["OAUTH_REFRESH_TOKEN_flaky"]}
            tokens |= {seen["OAUTH_REFRESH_TOKEN_flaky_AT"].rpartition("|")[0]}
        assert len(tokens) >= 4, "refresh tokens rotate and are kept"

        # The token endpoint goes away: auth_retrying (listed by default), then running.
        relay.stop()
        row = wait_status(thv, "flaky", "auth_retrying", timeout=ACCESS_TTL + 10)
        assert "retrying every 1s" in row["status_context"]
        assert "flaky" in listed(thv)
        relay.start()
        wait_status(thv, "flaky", "running", timeout=20)
        assert_echoes(thv, "flaky", "after the outage")

        # The login is revoked: the next refresh is refused; a new sign-in is needed.
        idp.revoke(stored_secrets(thv.env)["OAUTH_REFRESH_TOKEN_flaky"])
        row = wait_status(thv, "flaky", "unauthenticated", timeout=ACCESS_TTL + 10)
        assert "sign in again: thv restart flaky" in row["status_context"]
        assert "flaky" not in listed(thv)  # not among the default list's statuses
        assert call_echo(thv, "flaky", "refused").returncode != 0
        answer = httpx.post(row["url"], json={"jsonrpc": "2.0", "id": 3, "method": "ping"})
        assert answer.status_code == 401
        assert "thv restart flaky" in answer.json()["error"]["message"]
        assert "OAUTH_REFRESH_TOKEN_flaky" not in stored_secrets(thv.env)  # the dead login is gone

        outputs += [
            thv("list", "--all", "--format", "json").stdout,
            thv("logs", "--proxy", "flaky").stdout,
            thv("status", "flaky").stdout,
        ]
        assert_nowhere(sorted(tokens), outputs, home_files(thv))
    finally:
        relay.stop()


def test_a_refused_bearer_token_makes_the_workload_unauthenticated(
    secrets_thv: Thv, remote: tuple[OAuthServer, str]
) -> None:
    thv = secrets_thv
    _idp, upstream = remote
    token = "not-a-token-this-server-accepts"
    thv("run", upstream, "--name", "bearer", "--remote-auth-bearer-token", token)
    assert call_echo(thv, "bearer", "refused").returncode != 0
    row = wait_status(thv, "bearer", "unauthenticated", timeout=20)
    assert row["status_context"] == (
        "Bearer token authentication failed. Please restart the server with a new token"
    )
    texts = [
        thv("list", "--all", "--format", "json").stdout,
        thv("logs", "--proxy", "bearer").stdout,
    ]
    assert_nowhere([token], texts, home_files(thv))
