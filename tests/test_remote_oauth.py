"""``thv run <URL>`` against a real OAuth-protected MCP server, end to end.

The authorization server is npm's ``oidc-provider`` (``toolhive.testing.oauth_server``: dynamic
registration, PKCE, RFC 8707 resources with JWT access tokens, rotating refresh tokens); the remote
server is the echo server behind ToolHive's own ``auth`` middleware, which accepts only that
provider's JWTs for its own URL (``toolhive.testing.remote_auth``). The user's part of each login
is headless Chromium (``complete_login``). Nothing is configured but the URL: the 401 leads to the
authorization server, a client is registered on the fly, and the tokens land in the encrypted
secrets provider.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from toolhive.testing.oauth_server import OAuthServer, complete_login

from tests.conftest import Thv
from tests.remote_auth_support import (
    URL_LINE,
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

PASSWORD = "remote-oauth-store-password"
#: Short, so the proxy refreshes (at half the lifetime) and a first token expires during a test.
ACCESS_TTL = 20


@pytest.fixture
def secrets_thv(thv: Thv) -> Thv:
    return use_encrypted_secrets(thv, PASSWORD)


@pytest.fixture
def remote(secrets_thv: Thv) -> Iterator[tuple[OAuthServer, str]]:
    with provider_and_server(secrets_thv, access_token_ttl=ACCESS_TTL) as both:
        yield both


def status(thv: Thv, name: str) -> dict[str, Any]:
    listed = json.loads(thv("list", "--all", "--format", "json").stdout)
    rows = [row for row in listed if row["name"] == name]
    assert rows, listed
    return dict(rows[0])


def wait_status(thv: Thv, name: str, wanted: str, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        row = status(thv, name)
        if row["status"] == wanted:
            return row
        assert time.monotonic() < deadline, f"{name} is {row['status']}, not {wanted}: {row}"
        time.sleep(0.5)


def runconfig(thv: Thv, name: str) -> dict[str, Any]:
    path = Path(thv.env["XDG_STATE_HOME"]) / "toolhive" / "runconfigs" / f"{name}.json"
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


def supervisor_pid(thv: Thv, name: str) -> int:
    status_file = Path(thv.env["XDG_DATA_HOME"]) / "toolhive" / "statuses" / f"{name}.json"
    return int(json.loads(status_file.read_text())["process_id"])


def test_a_remote_server_that_answers_401_is_signed_in_to_and_stays_signed_in(
    secrets_thv: Thv, remote: tuple[OAuthServer, str]
) -> None:
    thv = secrets_thv
    idp, upstream = remote
    callback = str(free_port())
    first = run_with_login(
        thv, "run", upstream, "--name", "remote",
        "--remote-auth-skip-browser", "--remote-auth-callback-port", callback,
    )  # fmt: skip
    outputs = [first]
    assert "remote is running" in outputs[0]
    assert_echoes(thv, "remote", "through the login")

    # The RunConfig keeps names and the expiry, ToolHive's fields; the client was registered.
    auth = runconfig(thv, "remote")["remote_auth_config"]
    assert auth["cached_refresh_token_ref"] == "OAUTH_REFRESH_TOKEN_remote"
    assert auth["cached_client_id"] and auth["cached_dcr_callback_port"] == int(callback)
    assert auth["issuer"] == idp.issuer and auth["resource"] == upstream
    assert auth["cached_token_expiry"]
    stored = stored_secrets(thv.env)
    refresh = stored["OAUTH_REFRESH_TOKEN_remote"]
    access = stored["OAUTH_REFRESH_TOKEN_remote_AT"].rpartition("|")[0]

    # Past the access token's lifetime: the proxy refreshed on its own, the client saw nothing.
    time.sleep(ACCESS_TTL / 2 + 1)
    assert_echoes(thv, "remote", "after one refresh")
    time.sleep(ACCESS_TTL / 2 + 1)
    assert_echoes(thv, "remote", "after the first token expired")
    assert stored_secrets(thv.env)["OAUTH_REFRESH_TOKEN_remote"] != refresh  # rotated and kept
    assert status(thv, "remote")["status"] == "running"

    # A restart and a killed supervisor need no new login.
    outputs.append(run_with_login(thv, "restart", "remote", expect_login=False))
    assert_echoes(thv, "remote", "after a restart")
    os.kill(supervisor_pid(thv, "remote"), signal.SIGKILL)
    time.sleep(1)
    outputs.append(run_with_login(thv, "start", "remote", expect_login=False))
    wait_status(thv, "remote", "running")
    assert_echoes(thv, "remote", "after a crash")

    # No token in anything the user or a client can see, nor in any file of the home but the
    # encrypted store.
    stored = stored_secrets(thv.env)
    tokens = [refresh, access, *(v for k, v in stored.items() if k.startswith("OAUTH_"))]
    tokens = [t.rpartition("|")[0] or t for t in tokens]
    outputs += [
        thv("list", "--all", "--format", "json").stdout,
        thv("export", "remote", str(Path(thv.env["XDG_STATE_HOME"]) / "export.json")).stdout,
        (Path(thv.env["XDG_STATE_HOME"]) / "export.json").read_text(),
        thv("logs", "--proxy", "remote").stdout,
        thv("status", "remote").stdout,
    ]
    assert_nowhere(tokens, outputs, home_files(thv))


def test_a_revoked_login_is_unauthenticated_until_a_new_sign_in(
    secrets_thv: Thv, remote: tuple[OAuthServer, str]
) -> None:
    thv = secrets_thv
    idp, upstream = remote
    callback = str(free_port())
    run_with_login(
        thv, "run", upstream, "--name", "revoked",
        "--remote-auth-skip-browser", "--remote-auth-callback-port", callback,
    )  # fmt: skip
    assert_echoes(thv, "revoked", "before")
    # Revoked as the client it was issued to: the one registered during the login.
    client_id = runconfig(thv, "revoked")["remote_auth_config"]["cached_client_id"]
    revoked = httpx.post(
        idp.metadata()["revocation_endpoint"],
        data={
            "token": stored_secrets(thv.env)["OAUTH_REFRESH_TOKEN_revoked"],
            "client_id": client_id,
        },
        timeout=10,
    )
    assert revoked.status_code == 200, revoked.text

    # The next refresh is refused: the workload says so and what to run.
    row = wait_status(thv, "revoked", "unauthenticated", timeout=ACCESS_TTL + 60)
    assert "thv restart revoked" in row["status_context"]
    failed = call_echo(thv, "revoked", "refused")
    assert failed.returncode != 0

    # Signing in again brings it back.
    run_with_login(thv, "restart", "revoked")
    wait_status(thv, "revoked", "running")
    assert_echoes(thv, "revoked", "after the new login")


def test_a_resource_the_authorization_server_does_not_know_is_refused(
    secrets_thv: Thv, remote: tuple[OAuthServer, str]
) -> None:
    thv = secrets_thv
    _idp, upstream = remote
    process = subprocess.Popen(
        [
            thv.exe, "run", upstream, "--name", "wrong",
            "--remote-auth-skip-browser", "--remote-auth-callback-port", str(free_port()),
            "--remote-auth-resource", "http://127.0.0.1:1/elsewhere",
        ],
        env=thv.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert process.stderr is not None
    printed: list[str] = []
    for line in process.stderr:
        printed.append(line)
        found = URL_LINE.search(line)
        if found:
            complete_login(found.group(1))  # the provider answers with an error instead
            break
    out, err = process.communicate(timeout=120)
    text = "".join(printed) + err + out
    assert process.returncode != 0, text
    assert "invalid_target" in text or "resource" in text
    # A run that fails leaves nothing behind.
    listed = json.loads(thv("list", "--all", "--format", "json").stdout)
    assert "wrong" not in [row["name"] for row in listed]


def test_a_static_bearer_token_is_kept_as_a_secret_and_sent_upstream(
    secrets_thv: Thv, remote: tuple[OAuthServer, str]
) -> None:
    """``--remote-auth-bearer-token``: no login; the token (one the provider issued for the
    server's resource) goes to the secrets provider, the RunConfig names it."""
    thv = secrets_thv
    idp, upstream = remote
    from toolhive.testing.user_token import user_access_token

    token = user_access_token(idp, upstream)
    thv("run", upstream, "--name", "bearer", "--remote-auth-bearer-token", token)
    assert_echoes(thv, "bearer", "with a bearer token")
    config = runconfig(thv, "bearer")
    assert config["remote_auth_config"]["bearer_token"] == "BEARER_TOKEN_bearer,target=bearer_token"
    assert stored_secrets(thv.env)["BEARER_TOKEN_bearer"] == token


def test_thv_proxy_signs_in_and_forwards_with_the_login(
    secrets_thv: Thv, remote: tuple[OAuthServer, str]
) -> None:
    thv = secrets_thv
    _idp, upstream = remote
    port = free_port()
    process = subprocess.Popen(
        [
            thv.exe, "proxy", "standalone", "--target-uri", upstream, "--port", str(port),
            "--remote-auth", "--remote-auth-skip-browser",
            "--remote-auth-callback-port", str(free_port()),
        ],
        env=thv.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert process.stderr is not None
        printed: list[str] = []
        for line in process.stderr:
            printed.append(line)
            found = URL_LINE.search(line)
            if found:
                assert "Login complete" in complete_login(found.group(1))
            if "proxying" in line:
                break
        else:
            pytest.fail("".join(printed))
        done = call_echo(thv, f"http://127.0.0.1:{port}/mcp", "through thv proxy")
        assert done.returncode == 0, done.stdout + done.stderr + "".join(printed)
        assert "through thv proxy" in done.stdout
    finally:
        process.terminate()
        process.communicate(timeout=30)  # also closes its pipes


def test_a_registry_entrys_oauth_hints_drive_the_sign_in(
    secrets_thv: Thv, remote: tuple[OAuthServer, str], tmp_path: Path
) -> None:
    """A remote entry's ``oauth_config`` (issuer, client id, scopes, callback port) is used:
    the pre-registered client logs in, nothing is registered."""
    thv = secrets_thv
    idp, upstream = remote
    meta = "io.modelcontextprotocol.registry/publisher-provided"
    oauth = {
        "issuer": idp.issuer,
        "client_id": idp.client_id,
        "scopes": ["openid", "mcp:tools"],
        "callback_port": free_port(),
    }
    server = {
        "name": "io.github.thv-test/oauth-echo",
        "description": "echo behind OAuth",
        "version": "1.0.0",
        "remotes": [{"type": "streamable-http", "url": upstream}],
        "_meta": {meta: {"io.github.stacklok": {upstream: {"oauth_config": oauth}}}},
    }
    path = tmp_path / "registry.json"
    path.write_text(json.dumps({"version": "1.0.0", "meta": {}, "data": {"servers": [server]}}))
    thv("config", "set-registry", str(path))
    run_with_login(thv, "run", "oauth-echo", "--name", "hinted", "--remote-auth-skip-browser")
    assert_echoes(thv, "hinted", "with the entry's client")
    auth = runconfig(thv, "hinted")["remote_auth_config"]
    assert auth["client_id"] == idp.client_id and "cached_client_id" not in auth
    assert auth["callback_port"] == oauth["callback_port"]
    assert auth["cached_refresh_token_ref"] == "OAUTH_REFRESH_TOKEN_hinted"
