"""Token exchange end to end, with real `thv` processes and a real authorization server.

A backend MCP server (core's echo server on the process runtime) accepts only tokens of the test
provider for ``backend-aud``. A front workload — `thv run <backend URL>` or `thv proxy` — accepts
only the user's tokens for its own resource, and exchanges each one (RFC 8693, the provider's
confidential client) for a ``backend-aud`` token that it sends upstream. The user logs in once,
in headless Chromium, with the public client and the front's RFC 8707 resource.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from toolhive.testing import ThvHome
from toolhive.testing.mcp_servers import INITIALIZE_PARAMS, echo_session
from toolhive.testing.oauth_server import CHROMIUM, OAuthServer, node_tools, oauth_server
from toolhive.testing.workloads import ECHO_STDIO, ThvConsole, thv_console, workload_url

from tests.conftest import require_or_skip

pytestmark = [pytest.mark.timeout(300), pytest.mark.process_runtime]

FRONT = "https://front.example/mcp"
BACKEND = "backend-aud"
INIT = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": INITIALIZE_PARAMS}
ACCEPT = {"accept": "application/json, text/event-stream"}


@pytest.fixture(scope="module")
def idp() -> Iterator[OAuthServer]:
    if node_tools() is None:
        require_or_skip("Node and oidc-provider (scripts/install-node.sh)")
    if not Path(CHROMIUM).exists():
        require_or_skip(f"Chromium at {CHROMIUM} (scripts/install-chromium.sh)")
    with oauth_server(resources=(FRONT,)) as server:
        yield server


@pytest.fixture(scope="module")
def user_token(idp: OAuthServer) -> str:
    """alice's access token for the front (aud = FRONT), from a real login."""
    from toolhive.testing.user_token import user_access_token

    return user_access_token(idp, FRONT)


@pytest.fixture
def thv(thv_home: ThvHome) -> Iterator[ThvConsole]:
    with thv_console({**thv_home.env, "TOOLHIVE_STRICT_PLUGINS": "1"}) as runner:
        yield runner


def oidc_flags(idp: OAuthServer, audience: str) -> list[str]:
    return [
        "--oidc-issuer", idp.issuer, "--oidc-audience", audience,
        "--oidc-jwks-url", idp.jwks_url,
        "--oidc-insecure-allow-http", "--jwks-allow-private-ip",
    ]  # fmt: skip


def run_backend(thv: ThvConsole, idp: OAuthServer) -> str:
    thv("run", "--name", "backend", "--runtime", "process", *oidc_flags(idp, BACKEND), *ECHO_STDIO)
    return workload_url(thv, "backend")


def exchange_flags(idp: OAuthServer, *secret: str) -> list[str]:
    return [
        "--token-exchange-url", idp.metadata()["token_endpoint"],
        "--token-exchange-client-id", idp.exchange_client_id,
        *secret,
        "--token-exchange-audience", BACKEND,
    ]  # fmt: skip


def bearer(token: str) -> dict[str, str]:
    return {**ACCEPT, "authorization": f"Bearer {token}"}


def everything_written(thv: ThvConsole, home: ThvHome, *names: str) -> str:
    """State and config files, exports, the list, and the proxy logs: where a secret must not be."""
    parts = [thv("list", "--all", "--format", "json")]
    for name in names:
        parts.append(thv("export", name, "-"))
        parts.append(thv.run("logs", "--proxy", name).stdout)
    for path in home.root.rglob("*"):
        if path.is_file():
            parts.append(path.read_bytes().decode("utf-8", "replace"))
    return "\n".join(parts)


def test_a_tool_call_through_the_front_reaches_the_backend_with_an_exchanged_token(
    thv: ThvConsole, thv_home: ThvHome, idp: OAuthServer, user_token: str, tmp_path: Path
) -> None:
    backend = run_backend(thv, idp)
    secret_file = tmp_path / "exchange-client.secret"  # outside the ToolHive home
    secret_file.write_text(idp.exchange_client_secret + "\n")
    thv(
        "run", backend, "--name", "front", *oidc_flags(idp, FRONT),
        *exchange_flags(idp, "--token-exchange-client-secret-file", str(secret_file)),
    )  # fmt: skip
    front = workload_url(thv, "front")

    result = asyncio.run(echo_session(front, headers=bearer(user_token), text="exchanged ✓"))
    assert result.echoed == "exchanged ✓" and result.added == "42"

    # The user's own token is not good at the backend: only the exchanged one got in.
    direct = httpx.post(backend, json=INIT, headers=bearer(user_token), timeout=30)
    assert direct.status_code == 401, direct.text
    assert "invalid audience" in direct.headers["www-authenticate"]
    # No token at the front: its auth middleware refuses before any exchange.
    anonymous = httpx.post(front, json=INIT, headers=ACCEPT, timeout=30)
    assert anonymous.status_code == 401
    assert 'error="invalid_request"' in anonymous.headers["www-authenticate"]

    exported = json.loads(thv("export", "front", "-"))["token_exchange_config"]
    assert exported == {
        "token_url": idp.metadata()["token_endpoint"],
        "client_id": idp.exchange_client_id,
        "client_secret": "",
        "client_secret_file": str(secret_file.resolve()),
        "audience": BACKEND,
        "header_strategy": "replace",
    }
    written = everything_written(thv, thv_home, "front", "backend")
    assert idp.exchange_client_secret not in written
    assert user_token not in written
    assert "tokenexchange" in thv.run("logs", "--proxy", "front").stdout  # the chain it built


def test_a_refused_exchange_answers_401_and_a_literal_secret_is_stored_as_a_reference(
    thv: ThvConsole, thv_home: ThvHome, idp: OAuthServer, user_token: str
) -> None:
    thv.env["TOOLHIVE_SECRETS_PASSWORD"] = "token-exchange-e2e"
    thv.env.pop("TOOLHIVE_SECRETS_PROVIDER", None)
    thv("secret", "provider", "encrypted")
    backend = run_backend(thv, idp)
    wrong = "not-the-exchange-client-secret"
    thv(
        "run", backend, "--name", "front", *oidc_flags(idp, FRONT),
        *exchange_flags(idp, "--token-exchange-client-secret", wrong),
    )  # fmt: skip
    front = workload_url(thv, "front")

    refused = httpx.post(front, json=INIT, headers=bearer(user_token), timeout=30)
    assert refused.status_code == 401, refused.text
    assert refused.json() == {
        "jsonrpc": "2.0",
        "id": 1,
        "error": {"code": -32001, "message": "Token exchange failed"},
    }
    exported = json.loads(thv("export", "front", "-"))["token_exchange_config"]
    assert exported["client_secret"] == (
        "__thv_token_exchange_client_secret_front,target=token_exchange_client_secret"
    )
    log = thv.run("logs", "--proxy", "front").stdout
    assert "invalid_client" in log  # the OAuth error code, nothing more
    written = everything_written(thv, thv_home, "front", "backend")
    assert wrong not in written and user_token not in written

    thv("rm", "front")  # its stored secret goes with it
    assert "__thv_token_exchange_client_secret_front" not in thv("secret", "list")


def test_thv_proxy_exchanges_the_callers_token_too(
    thv: ThvConsole, idp: OAuthServer, user_token: str, tmp_path: Path
) -> None:
    backend = run_backend(thv, idp)
    secret_file = tmp_path / "exchange-client.secret"
    secret_file.write_text(idp.exchange_client_secret)
    proxy = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("thv")), "proxy", "front",
            "--target-uri", backend, *oidc_flags(idp, FRONT),
            *exchange_flags(idp, "--token-exchange-client-secret-file", str(secret_file)),
        ],
        env=thv.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert proxy.stderr is not None
        seen: list[str] = []
        while not (found := re.search(r" at (http://\S+) \(Ctrl-C", "".join(seen[-1:]))):
            seen.append(proxy.stderr.readline())
            assert seen[-1] and len(seen) < 50, "".join(seen)
        url = found.group(1)
        result = asyncio.run(echo_session(url, headers=bearer(user_token), text="proxied ✓"))
        assert result.echoed == "proxied ✓"
        assert httpx.post(url, json=INIT, headers=ACCEPT, timeout=30).status_code == 401
    finally:
        proxy.terminate()
        try:
            proxy.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proxy.kill()
            proxy.wait()
    assert proxy.stderr is not None
    errors = "".join(seen) + proxy.stderr.read()
    proxy.stderr.close()
    assert idp.exchange_client_secret not in errors and user_token not in errors
    assert os.environ.get("TOOLHIVE_TOKEN_EXCHANGE_CLIENT_SECRET") is None


def test_token_exchange_without_its_plugin_is_refused_before_anything_is_created(
    thv: ThvConsole,
) -> None:
    thv.env["TOOLHIVE_DISABLE_PLUGINS"] = "toolhive-middleware-tokenexchange"
    proc = thv.run(
        "run", "http://127.0.0.1:9/mcp", "--name", "front",
        "--token-exchange-url", "https://idp.example.com/token",
        "--token-exchange-client-secret", "never-stored",
    )  # fmt: skip
    assert proc.returncode != 0
    assert "pip install toolhive-middleware-tokenexchange" in proc.stderr
    assert "never-stored" not in proc.stderr + proc.stdout
    assert json.loads(thv("list", "--all", "--format", "json")) == []
