"""Registry OAuth end to end: a real OpenID Connect provider (npm oidc-provider), a registry API
that accepts only tokens the provider vouches for (introspection), headless Chromium for the
user's part of the login, the real ``thv`` CLI and a real ``thv serve``.

How the browser step is driven: the machine has no display, so the login prints its URL (on
stderr for the CLI, in the server's log for the API) instead of opening a browser; the test reads
it there and completes it with :func:`toolhive.testing.oauth_server.complete_login`. The callback
port is set in config.yaml (``registry_auth.oauth.callback_port``) to a free one.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from toolhive.testing.api import api_server
from toolhive.testing.oauth_server import (
    CHROMIUM,
    OAuthServer,
    complete_login,
    node_tools,
    oauth_server,
)

from tests.conftest import Thv, require_or_skip

PASSWORD = "registry-auth-test-password"
SERVER_NAME = "com.example/secret-tool"
URL_LINE = re.compile(r"(http://127\.0\.0\.1:\d+/auth\?\S+)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ProtectedRegistry:
    """An MCP Registry API v0.1 that answers only requests with a token the provider says is
    active; ``seen`` holds every accepted token, ``refused`` counts the others."""

    idp: OAuthServer
    url: str = ""
    seen: list[str] = field(default_factory=list)
    refused: int = 0

    def app(self) -> Any:
        from starlette.applications import Starlette
        from starlette.requests import Request
        from starlette.responses import JSONResponse
        from starlette.routing import Route

        server = {
            "name": SERVER_NAME,
            "description": "Only for logged-in users",
            "version": "1.0.0",
            "packages": [
                {
                    "registryType": "oci",
                    "identifier": "localhost/example/secret-tool:1",
                    "transport": {"type": "stdio"},
                }
            ],
        }

        def authorized(request: Request) -> bool:
            header = request.headers.get("authorization", "")
            if not header.startswith("Bearer "):
                self.refused += 1
                return False
            token = header.removeprefix("Bearer ")
            answer = self.idp.introspect(token)
            if not answer.get("active") or answer.get("client_id") != self.idp.client_id:
                self.refused += 1
                return False
            self.seen.append(token)
            return True

        def refuse() -> JSONResponse:
            return JSONResponse(
                {"error": "unauthorized"}, 401, headers={"WWW-Authenticate": "Bearer"}
            )

        def servers(request: Request) -> JSONResponse:
            if not authorized(request):
                return refuse()
            return JSONResponse({"servers": [{"server": server}], "metadata": {"count": 1}})

        def latest(request: Request) -> JSONResponse:
            if not authorized(request):
                return refuse()
            if request.path_params["name"] != SERVER_NAME:
                return JSONResponse({"error": "not found"}, 404)
            return JSONResponse({"server": server})

        return Starlette(
            routes=[
                Route("/v0.1/servers", servers),
                Route("/v0.1/servers/{name:path}/versions/latest", latest),
            ]
        )


@pytest.fixture
def idp() -> Iterator[OAuthServer]:
    if node_tools() is None:
        require_or_skip("Node and oidc-provider (scripts/install-node.sh)")
    if not Path(CHROMIUM).exists():
        require_or_skip(f"Chromium at {CHROMIUM} (scripts/install-chromium.sh)")
    # 20 s is inside the client's 30 s refresh leeway: every new thv process refreshes silently.
    with oauth_server(access_token_ttl=20) as server:
        yield server


@pytest.fixture
def registry(idp: OAuthServer) -> Iterator[ProtectedRegistry]:
    import uvicorn

    protected = ProtectedRegistry(idp)
    port = free_port()
    config = uvicorn.Config(protected.app(), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "the registry did not start"
        time.sleep(0.05)
    protected.url = f"http://127.0.0.1:{port}"
    try:
        yield protected
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture
def secrets_thv(thv: Thv) -> Thv:
    """``thv`` with the encrypted secrets provider (password from the environment)."""
    thv.env["TOOLHIVE_SECRETS_PASSWORD"] = PASSWORD
    thv("secret", "provider", "encrypted")
    return thv


def config_path(thv: Thv) -> Path:
    return Path(thv.env["XDG_CONFIG_HOME"]) / "toolhive" / "config.yaml"


def use_callback_port(thv: Thv) -> None:
    """A free callback port instead of ToolHive's 8666, so tests never collide."""
    path = config_path(thv)
    data = yaml.safe_load(path.read_text())
    data["registry_auth"]["oauth"]["callback_port"] = free_port()
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def stored_tokens(thv: Thv) -> dict[str, str]:
    """The registry's secrets as the encrypted provider holds them (read in a subprocess with
    the test's home)."""
    script = (
        "import json\n"
        "from toolhive.plugins import build_plugin_manager, Hooks\n"
        "from toolhive.secrets.selection import open_secrets\n"
        "s = open_secrets(Hooks(build_plugin_manager()))\n"
        "out = {d.key: s.get(d.key) for d in s.list() if d.key.startswith('__thv_registry_')}\n"
        "print(json.dumps(out))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], env=thv.env, capture_output=True, text=True, check=True
    )
    tokens: dict[str, str] = json.loads(done.stdout)
    return tokens


def cli_login(thv: Thv, *args: str) -> str:
    """``thv registry login``: read the URL it prints, log in with the browser, wait for it."""
    process = subprocess.Popen(
        [thv.exe, "registry", "login", *args],
        env=thv.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    printed = []
    for line in process.stderr:
        printed.append(line)
        found = URL_LINE.search(line)
        if found:
            assert "Login complete" in complete_login(found.group(1))
            break
    out, err = process.communicate(timeout=60)
    text = "".join(printed) + err + out
    assert process.returncode == 0, text
    return text


def home_texts(thv: Thv) -> dict[Path, bytes]:
    home = Path(thv.env["XDG_CONFIG_HOME"]).parent
    return {p: p.read_bytes() for p in home.rglob("*") if p.is_file()}


def assert_no_token(tokens: list[str], texts: list[str], files: dict[Path, bytes]) -> None:
    assert tokens
    for token in tokens:
        for text in texts:
            assert token not in text
        for path, content in files.items():
            assert token.encode() not in content, path


def test_cli_login_lists_with_the_token_refreshes_silently_and_logout_asks_to_log_in(
    secrets_thv: Thv, registry: ProtectedRegistry, idp: OAuthServer
) -> None:
    thv = secrets_thv
    outputs: list[str] = []

    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = thv(*args, check=check)
        outputs.extend([done.stdout, done.stderr])
        return done

    # Without auth the registry's 401 says how to configure it.
    refused = run("config", "set-registry", registry.url, "-p", check=False)
    assert refused.returncode != 0 and "--issuer" in refused.stderr
    set_it = run(
        "config", "set-registry", registry.url, "-p",
        "--issuer", idp.issuer, "--client-id", idp.client_id,
    )  # fmt: skip
    assert "thv registry login" in set_it.stdout
    config = yaml.safe_load(config_path(thv).read_text())
    assert config["registry_api_url"] == registry.url
    assert config["registry_auth"] == {
        "type": "oauth",
        "oauth": {
            "issuer": idp.issuer,
            "client_id": idp.client_id,
            "scopes": ["openid", "offline_access"],
            "callback_port": 8666,
        },
    }
    before = run("registry", "list", check=False)
    assert before.returncode != 0 and "thv registry login" in before.stderr
    assert registry.seen == []

    use_callback_port(thv)
    outputs.append(cli_login(thv))
    oauth = yaml.safe_load(config_path(thv).read_text())["registry_auth"]["oauth"]
    assert re.fullmatch(r"REGISTRY_OAUTH_[0-9a-f]{8}", oauth["cached_refresh_token_ref"])
    assert oauth["cached_token_expiry"]
    stored = stored_tokens(thv)
    key = "__thv_registry_" + oauth["cached_refresh_token_ref"]
    assert set(stored) == {key, key + "_AT"}
    first_refresh = stored[key]

    listed = run("registry", "list", "--format", "json")
    assert [e["name"] for e in json.loads(listed.stdout)] == [SERVER_NAME]
    info = run("registry", "info", "secret-tool", "--format", "json")
    assert json.loads(info.stdout)["image"] == "localhost/example/secret-tool:1"
    # Each command found the cached access token within the refresh leeway (20 s tokens, 30 s
    # leeway) and refreshed it silently: different tokens, all active, a rotated refresh token.
    assert len(registry.seen) >= 2 and len(set(registry.seen)) >= 2
    after = stored_tokens(thv)
    assert after[key] != first_refresh
    tokens = [*set(registry.seen), first_refresh, after[key]]

    shown = run("config", "get-registry", "--format", "json")
    assert json.loads(shown.stdout)["auth_status"] == "authenticated"

    run("registry", "logout")
    assert stored_tokens(thv) == {}
    oauth = yaml.safe_load(config_path(thv).read_text())["registry_auth"]["oauth"]
    assert "cached_refresh_token_ref" not in oauth
    seen_before = len(registry.seen)
    again = run("registry", "list", check=False)
    assert again.returncode != 0 and "thv registry login" in again.stderr
    assert len(registry.seen) == seen_before
    # The old refresh token is gone from the store; it was never written anywhere readable.
    assert_no_token(tokens, outputs, home_texts(thv))

    run("config", "unset-registry")
    assert "registry_auth" not in yaml.safe_load(config_path(thv).read_text())


def test_a_revoked_login_says_to_log_in_again(
    secrets_thv: Thv, registry: ProtectedRegistry, idp: OAuthServer
) -> None:
    thv = secrets_thv
    missing = thv("registry", "login", check=False)
    assert missing.returncode != 0
    for flag in ("--registry <url>", "--issuer <url>", "--client-id <id>"):
        assert flag in missing.stderr
    # The flags are saved before the browser step (ToolHive's callback port 8666 this time).
    cli_login(
        thv, "--registry", registry.url, "-p", "--issuer", idp.issuer, "--client-id", idp.client_id
    )
    assert yaml.safe_load(config_path(thv).read_text())["registry_api_url"] == registry.url
    stored = stored_tokens(thv)
    (refresh_key,) = [k for k in stored if not k.endswith("_AT")]
    idp.revoke(stored[refresh_key])
    refused = thv("registry", "list", check=False)
    assert refused.returncode != 0
    assert "expired or was revoked" in refused.stderr and "thv registry login" in refused.stderr
    assert stored_tokens(thv) == {}
    shown = json.loads(thv("config", "get-registry", "--format", "json").stdout)
    assert shown["auth_status"] == "configured"
    cli_login(thv)
    assert SERVER_NAME in thv("registry", "list").stdout


def test_login_refuses_a_secrets_provider_that_cannot_keep_the_tokens(
    thv: Thv, registry: ProtectedRegistry, idp: OAuthServer
) -> None:
    thv.env["TOOLHIVE_SECRETS_PROVIDER"] = "environment"
    thv("config", "set-registry", registry.url, "-p", "--issuer", idp.issuer, "--client-id", "c")
    refused = thv("registry", "login", check=False, timeout=30)
    assert refused.returncode != 0
    assert "cannot store registry tokens as secrets" in refused.stderr
    assert "http://127.0.0.1" not in refused.stderr  # failed before any browser step


def test_the_api_sets_reports_logs_in_and_out_of_registry_oauth(
    secrets_thv: Thv, registry: ProtectedRegistry, idp: OAuthServer
) -> None:
    thv = secrets_thv
    base = "/api/v1beta/registry"
    answers: list[str] = []
    with api_server(thv.env) as api:
        client = api.client

        def call(method: str, path: str, **kwargs: Any) -> httpx.Response:
            answer = client.request(method, path, **kwargs)
            answers.append(answer.text)
            return answer

        assert call("GET", base).json()["registries"][0]["auth_status"] == "none"
        for path in ("/auth/login", "/auth/logout"):
            unconfigured = call("POST", base + path)
            assert unconfigured.status_code == 400
            assert "PUT /api/v1beta/registry/default" in unconfigured.json()["message"]
        target = {"api_url": registry.url, "allow_private_ip": True}
        cases = [
            ({"client_id": "x"}, 400, "auth.issuer and auth.client_id are required"),
            ({"issuer": idp.issuer}, 400, "auth.issuer and auth.client_id are required"),
            ({"issuer": "http://id.example.com", "client_id": "x"}, 400, "must use HTTPS"),
            ({"issuer": f"http://127.0.0.1:{free_port()}", "client_id": "x"}, 502, "cannot reach"),
        ]
        for auth, status, says in cases:
            answer = call("PUT", base + "/default", json={**target, "auth": auth})
            assert answer.status_code == status and says in answer.json()["message"], answer.text
        no_auth = call("PUT", base + "/default", json=target)
        assert no_auth.status_code == 400 and "requires authentication" in no_auth.text
        assert "registry_api_url" not in yaml.safe_load(config_path(thv).read_text() or "{}")

        auth = {"issuer": idp.issuer, "client_id": idp.client_id, "scopes": ["openid"]}
        put = call("PUT", base + "/default", json={**target, "auth": auth})
        assert put.status_code == 200 and put.json() == {"type": "api"}
        use_callback_port(thv)
        needs_login = call("GET", base)
        assert needs_login.status_code == 503
        assert needs_login.json() == {
            "code": "registry_auth_required",
            "message": "Registry authentication required. POST to "
            "/api/v1beta/registry/auth/login to authenticate.",
        }
        assert call("GET", base + "/default/servers").status_code == 503

        # The login blocks until the browser step is done: run it on a thread.
        result: dict[str, httpx.Response] = {}
        thread = threading.Thread(
            target=lambda: result.update(login=client.post(base + "/auth/login", timeout=120))
        )
        thread.start()
        deadline = time.monotonic() + 30
        assert api.log_path is not None
        while not (found := URL_LINE.search(api.log_path.read_text(errors="replace"))):
            assert time.monotonic() < deadline, api.log()
            time.sleep(0.1)
        assert "Login complete" in complete_login(found.group(1))
        thread.join(60)
        assert result["login"].status_code == 200, result["login"].text
        assert result["login"].json() == {"status": "authenticated"}
        answers.append(result["login"].text)

        info = call("GET", base).json()["registries"][0]
        assert info["auth_status"] == "authenticated" and info["auth_type"] == "oauth"
        assert info["auth_config"] == {
            "issuer": idp.issuer,
            "client_id": idp.client_id,
            "audience": "",
            "scopes": ["openid"],
        }
        assert info["server_count"] == 1 and info["type"] == "api"
        detail = call("GET", base + "/default").json()
        assert SERVER_NAME in detail["registry"]["servers"]
        one = call("GET", base + "/default/servers/secret-tool")
        assert one.status_code == 200 and one.json()["server"]["name"] == SERVER_NAME
        assert registry.seen

        tokens = [*set(registry.seen), *stored_tokens(thv).values()]
        logout = call("POST", base + "/auth/logout")
        assert logout.status_code == 200 and logout.json() == {"status": "logged_out"}
        assert call("GET", base).json()["code"] == "registry_auth_required"
        assert stored_tokens(thv) == {}

        # PUT without auth clears it, as ToolHive: the registry is then read without a token.
        reset = call("PUT", base + "/default", json={})
        assert reset.status_code == 200 and reset.json() == {"type": "default"}
        assert call("GET", base).json()["registries"][0]["auth_status"] == "none"
        log = api.log()
    assert_no_token([t.split("|")[0] for t in tokens], [*answers, log], home_texts(thv))
