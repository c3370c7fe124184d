"""A remote MCP server behind OAuth, created through a real ``thv serve``: the create answers at
once, ``GET …/workloads/{name}/auth`` offers the login's URL while the sign-in waits, and after
the login (headless Chromium) the workload runs and a tool call through it works.

Real components only: npm's ``oidc-provider`` (``toolhive.testing.oauth_server``: dynamic
registration, PKCE, RFC 8707 JWTs), the echo server behind ToolHive's own ``auth`` middleware
accepting only that provider's tokens for its URL (``toolhive.testing.remote_auth``), the
encrypted secrets provider, the ``thv`` console script.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from toolhive.testing.api import ApiServer, api_server
from toolhive.testing.oauth_server import OAuthServer, complete_login
from toolhive.testing.workloads import ECHO_STDIO, require_process_runtime

from tests.conftest import Thv
from tests.remote_auth_support import (
    free_port,
    login_tokens,
    provider_and_server,
    use_encrypted_secrets,
)

PASSWORD = "api-remote-auth-store-password"
#: What an authorization request may carry (RFC 6749, 7636, 8707): nothing secret.
AUTHORIZE_PARAMS = {
    "response_type", "client_id", "redirect_uri", "scope", "state",
    "code_challenge", "code_challenge_method", "resource", "prompt",
}  # fmt: skip
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


@pytest.fixture
def secrets_thv(thv: Thv) -> Thv:
    return use_encrypted_secrets(thv, PASSWORD)


@pytest.fixture
def remote(secrets_thv: Thv) -> Iterator[tuple[OAuthServer, str]]:
    with provider_and_server(secrets_thv) as both:
        yield both


@pytest.fixture
def api(secrets_thv: Thv) -> Iterator[ApiServer]:
    require_process_runtime()  # the protected server, and a local workload, run there
    secrets_thv.env["TOOLHIVE_RUNTIME"] = "process"
    with api_server(secrets_thv.env) as server:
        yield server


def auth_of(api: ApiServer, name: str) -> dict[str, Any]:
    answer = api.client.get(f"/api/v1beta/workloads/{name}/auth")
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def wait_for_login_url(api: ApiServer, name: str, timeout: float = 60) -> dict[str, Any]:
    """The workload's ``/auth`` once it offers a login (the status context follows the
    pending URL within a status write, a quarter second)."""
    deadline = time.monotonic() + timeout
    while True:
        body = auth_of(api, name)
        if body["authorization_url"] and body["status_context"].startswith("waiting for sign-in"):
            return body
        assert body["status"] == "starting", body
        assert time.monotonic() < deadline, f"no sign-in offered: {body}\n{api.log()[-3000:]}"
        time.sleep(0.3)


def wait_status(api: ApiServer, name: str, wanted: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        status = api.client.get(f"/api/v1beta/workloads/{name}/status").json()["status"]
        if status == wanted:
            return
        assert time.monotonic() < deadline, f"{name} is {status}, not {wanted}"
        time.sleep(0.3)


def test_a_remote_workload_created_through_the_api_offers_its_sign_in_and_runs_after_it(
    secrets_thv: Thv, remote: tuple[OAuthServer, str], api: ApiServer
) -> None:
    _idp, upstream = remote
    callback = free_port()
    began = time.monotonic()
    created = api.client.post(
        "/api/v1beta/workloads",
        json={"name": "r", "url": upstream, "oauth_config": {"callback_port": callback}},
    )
    assert created.status_code == 201, created.text
    assert time.monotonic() - began < 15, "the create waited for the sign-in"

    # The sign-in waits for the user: its URL is offered, the workload says what it waits for.
    waiting = wait_for_login_url(api, "r")
    assert waiting["workload"] == "r"
    assert waiting["status"] == "starting"
    assert waiting["status_context"] == f"waiting for sign-in to {upstream}"
    assert RFC3339.match(waiting["started_at"]), waiting
    url = waiting["authorization_url"]
    query = parse_qs(urlsplit(url).query)
    assert set(query) <= AUTHORIZE_PARAMS, query
    assert query["code_challenge_method"] == ["S256"]
    assert query["resource"] == [upstream]
    assert query["redirect_uri"] == [f"http://localhost:{callback}/callback"]
    listed = api.client.get("/api/v1beta/workloads", params={"all": "true"}).json()
    row = next(w for w in listed["workloads"] if w["name"] == "r")
    assert row["status_context"] == waiting["status_context"]

    assert "Login complete" in complete_login(url)
    wait_status(api, "r", "running")

    # A tool call through the workload's own URL reaches the protected server.
    echoed = secrets_thv(
        "mcp", "call", "echo", "--server", "r", "--args", json.dumps({"text": "after sign-in"}),
        "--format", "json",
    )  # fmt: skip
    assert "after sign-in" in echoed.stdout
    played = api.client.post(
        "/api/v1beta/workloads/r/mcp/tools/call",
        json={"name": "echo", "arguments": {"text": "from the playground"}},
    )
    assert played.status_code == 200, played.text
    assert "from the playground" in played.text

    # Nothing waits any more; nothing the API answers holds a token.
    done = auth_of(api, "r")
    assert done == {
        "workload": "r",
        "status": "running",
        "status_context": "",
        "authorization_url": "",
        "started_at": "",
    }
    tokens = login_tokens(secrets_thv.env)
    assert tokens, "the login stored nothing"
    answers = [
        url,
        json.dumps(waiting),
        json.dumps(done),
        json.dumps(listed),
        api.client.get("/api/v1beta/workloads", params={"all": "true"}).text,
        api.client.get("/api/v1beta/workloads/r").text,
        api.client.get("/api/v1beta/workloads/r/export").text,
        api.client.get("/api/v1beta/workloads/r/proxy-logs").text,
        api.log(),
    ]
    for token in tokens:
        for answer in answers:
            assert token not in answer


def test_the_sign_in_of_a_workload_that_needs_none_or_does_not_exist(
    secrets_thv: Thv, api: ApiServer
) -> None:
    created = api.client.post(
        "/api/v1beta/workloads",
        json={
            "name": "local",
            "image": ECHO_STDIO[0],
            "transport": "stdio",
            "cmd_arguments": list(ECHO_STDIO[-2:]),
        },
    )
    assert created.status_code == 201, created.text
    wait_status(api, "local", "running")
    assert auth_of(api, "local") == {
        "workload": "local",
        "status": "running",
        "status_context": "",
        "authorization_url": "",
        "started_at": "",
    }
    for name in ("nope", "%2E%2E", "a%20b"):
        missing = api.client.get(f"/api/v1beta/workloads/{name}/auth")
        assert missing.status_code == 404, (name, missing.text)
        assert missing.json()["code"] == 404
