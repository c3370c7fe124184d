"""`thv run <remote registry entry>` end to end: headers and OAuth hints from the registry.

The upstream is the echo fixture's MCP server (official SDK, streamable HTTP) on 127.0.0.1, behind
a check that answers 401 unless ``X-API-Key`` carries the expected value, and that records the
headers it received. The registry is a local upstream-format file read by the remote registry
plugin's ``file`` source (``thv config set-registry``); its entry's remote requires ``X-API-Key``
(secret) and has a defaulted ``X-Tenant`` header and OAuth hints. No container runtime is needed:
remote workloads are only a proxy.
"""

from __future__ import annotations

import json
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import Thv
from tests.echo_upstream import EchoUpstream
from tests.mcp_client import call_tool
from tests.secret_checks import assert_nowhere, run_in_terminal
from tests.test_run_errors import one_line_error, state_files

ENTRY = "io.github.thvrem-test/thvrem-echo"
META = "io.modelcontextprotocol.registry/publisher-provided"
OAUTH = {
    "issuer": "https://auth.thvrem.example",
    "client_id": "thvrem-client",
    "scopes": ["openid", "mcp:read"],
    "callback_port": 8765,
    "oauth_params": {"prompt": "consent"},
    "resource": "https://thvrem.example/mcp",
}


class KeyedUpstream(EchoUpstream):
    """The echo MCP server refusing requests without ``X-API-Key: <key>`` (401), recording each
    request's headers."""

    def __init__(self, key: str) -> None:
        super().__init__()
        self.key = key
        self.seen: list[dict[str, str]] = []

    def refuse(self, scope: dict[str, Any]) -> tuple[int, bytes] | None:
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        self.seen.append(headers)
        if headers.get("x-api-key") != self.key:
            return 401, b'{"error": "missing or wrong X-API-Key"}'
        return None


@pytest.fixture
def api_key() -> str:
    return "thvrem-" + secrets.token_hex(16)


@pytest.fixture
def upstream(api_key: str) -> Iterator[KeyedUpstream]:
    with KeyedUpstream(api_key) as server:
        yield server


@pytest.fixture
def registry(thv: Thv, upstream: KeyedUpstream, tmp_path: Path) -> Path:
    server = {
        "name": ENTRY,
        "description": "echo behind an API key",
        "version": "1.0.0",
        "remotes": [
            {
                "type": "streamable-http",
                "url": upstream.url,
                "headers": [
                    {
                        "name": "X-API-Key",
                        "description": "your API key",
                        "isRequired": True,
                        "isSecret": True,
                    },
                    {"name": "X-Tenant", "description": "tenant", "default": "acme"},
                ],
            }
        ],
        "_meta": {META: {"io.github.stacklok": {upstream.url: {"oauth_config": OAUTH}}}},
    }
    path = tmp_path / "thvrem-registry.json"
    path.write_text(json.dumps({"version": "1.0.0", "meta": {}, "data": {"servers": [server]}}))
    thv("config", "set-registry", str(path))
    thv.env["TOOLHIVE_SECRETS_PASSWORD"] = "thvrem-store-password"
    thv.env.pop("TOOLHIVE_SECRETS_PROVIDER", None)
    return path


def _status(thv: Thv, name: str) -> dict[str, Any]:
    return json.loads(thv("status", name, "--format", "json").stdout)


def test_the_upstream_needs_the_key(upstream: KeyedUpstream, api_key: str) -> None:
    """The check the other tests rely on: without the header, no MCP."""
    body = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    assert httpx.post(upstream.url, json=body, timeout=30).status_code == 401
    keyed = httpx.post(
        upstream.url,
        json=body,
        headers={"x-api-key": api_key, "accept": "application/json, text/event-stream"},
        timeout=30,
    )
    assert keyed.status_code != 401


def test_missing_required_header_is_one_clear_error(thv: Thv, thv_env, registry: Path) -> None:
    proc = thv("run", "thvrem-echo", "--name", "thvrem-missing", check=False)
    one_line_error(proc, "X-API-Key (secret)")
    assert ENTRY in proc.stderr and "--remote-forward-headers-secret" in proc.stderr
    assert "X-Tenant" not in proc.stderr  # it has a default
    assert state_files(thv_env) == []


def test_header_from_a_secret_reaches_the_upstream(
    thv: Thv, registry: Path, upstream: KeyedUpstream, api_key: str
) -> None:
    outputs: list[str] = []

    def run(*args: str, check: bool = True, stdin: str | None = None) -> str:
        proc = subprocess.run(
            [thv.exe, *args], env=thv.env, input=stdin, capture_output=True, text=True, timeout=120
        )
        outputs.extend([proc.stdout, proc.stderr])
        if check:
            assert proc.returncode == 0, proc.stderr
        return proc.stdout + proc.stderr

    run("secret", "provider", "encrypted")
    # A reference to a secret that does not exist fails before anything starts.
    missing = run(
        "run", ENTRY, "--name", "thvrem-nokey",
        "--remote-forward-headers-secret", "X-API-Key=thvrem-absent", check=False,
    )  # fmt: skip
    assert "thvrem-absent" in missing and "thv secret set thvrem-absent" in missing
    run("secret", "set", "thvrem-key", stdin=api_key)
    name = "thvrem-secret"
    run(
        "run", "thvrem-echo", "--name", name,
        "--remote-forward-headers-secret", "X-API-Key=thvrem-key",
    )  # fmt: skip
    wl = _status(thv, name)
    assert wl["status"] == "running" and wl["remote"] is True
    upstream.seen.clear()
    assert call_tool(wl["url"], "echo", {"text": "through the key"}) == "through the key"
    assert upstream.seen and all(h.get("x-api-key") == api_key for h in upstream.seen)
    assert all(h.get("x-tenant") == "acme" for h in upstream.seen)  # the entry's default
    # A client's own X-API-Key does not win over the configured one.
    body = {"jsonrpc": "2.0", "id": 7, "method": "ping"}
    r = httpx.post(
        wl["url"],
        json=body,
        headers={"x-api-key": "wrong", "accept": "application/json, text/event-stream"},
        timeout=30,
    )
    assert r.status_code != 401 and upstream.seen[-1]["x-api-key"] == api_key

    exported_text = thv("export", name, "-").stdout
    outputs.append(exported_text)
    exported = json.loads(exported_text)
    assert exported["remote_url"] == upstream.url
    assert exported["registry_server_name"] == ENTRY
    assert exported["header_forward"] == {
        "add_plaintext_headers": {"X-Tenant": "acme"},
        "add_headers_from_secret": {"X-API-Key": "thvrem-key"},
    }
    auth = exported["remote_auth_config"]
    assert (auth["issuer"], auth["client_id"], auth["scopes"]) == (
        OAUTH["issuer"],
        OAUTH["client_id"],
        OAUTH["scopes"],
    )
    assert auth["callback_port"] == 8765 and auth["use_pkce"] is True
    assert auth["oauth_params"] == {"prompt": "consent"}
    assert auth["resource"] == OAUTH["resource"]
    assert [h["name"] for h in auth["headers"]] == ["X-API-Key", "X-Tenant"]
    assert auth["headers"][0]["secret"] is True and auth["headers"][0]["required"] is True

    # A restart resolves the secret again.
    run("stop", name)
    run("start", name)
    upstream.seen.clear()
    assert call_tool(_status(thv, name)["url"], "add", {"a": 2, "b": 3}) == "5"
    assert upstream.seen[-1]["x-api-key"] == api_key
    for args in (
        ["list", "--format", "json"],
        ["list", "--all", "--format", "mcpservers"],
        ["status", name],
        ["logs", "--proxy", name],
        ["export", name, "-"],
    ):
        run(*args)
    assert_nowhere(thv, api_key, outputs)


def test_a_secret_header_given_in_clear_is_stored_as_a_secret(
    thv: Thv, registry: Path, upstream: KeyedUpstream, api_key: str
) -> None:
    thv("secret", "provider", "encrypted")
    name = "thvrem-clear"
    proc = thv(
        "run", "thvrem-echo", "--name", name,
        "--remote-forward-headers", f"X-API-Key={api_key}",
        "--remote-forward-headers", "X-Tenant=globex",
    )  # fmt: skip
    wl = _status(thv, name)
    upstream.seen.clear()
    assert call_tool(wl["url"], "echo", {"text": "clear"}) == "clear"
    assert upstream.seen[-1]["x-api-key"] == api_key
    assert upstream.seen[-1]["x-tenant"] == "globex"  # the user's value beats the default
    export = thv("export", name, "-").stdout
    forward = json.loads(export)["header_forward"]
    assert forward == {
        "add_plaintext_headers": {"X-Tenant": "globex"},
        "add_headers_from_secret": {"X-API-Key": "thvrem-echo-x-api-key"},
    }
    assert "thvrem-echo-x-api-key" in thv("secret", "list").stdout
    logs = thv("logs", "--proxy", name)
    assert_nowhere(thv, api_key, [proc.stderr, proc.stdout, export, logs.stdout, logs.stderr])


def test_missing_header_is_prompted_on_a_terminal(
    thv: Thv, registry: Path, upstream: KeyedUpstream, api_key: str
) -> None:
    thv("secret", "provider", "encrypted")
    name = "thvrem-tty"
    out = run_in_terminal(
        [thv.exe, "run", "thvrem-echo", "--name", name],
        thv.env,
        [("X-API-Key (your API key)", api_key)],
    )
    assert f"{name} is running" in out, out
    assert api_key not in out  # hidden input: no echo
    upstream.seen.clear()
    assert call_tool(_status(thv, name)["url"], "echo", {"text": "typed"}) == "typed"
    assert upstream.seen[-1]["x-api-key"] == api_key
    forward = json.loads(thv("export", name, "-").stdout)["header_forward"]
    assert forward["add_headers_from_secret"] == {"X-API-Key": "thvrem-echo-x-api-key"}
    assert_nowhere(thv, api_key, [out])


# --------------------------------------------------------------------------- unit: apply_entry


def _remote_entry(**headers_and_oauth: Any) -> Any:
    from toolhive.registry.upstream import server_to_entry

    header = {"name": "X-API-Key", "isRequired": True, "isSecret": True}
    return server_to_entry(
        {
            "name": ENTRY,
            "remotes": [
                {
                    "type": "sse",
                    "url": "https://thvrem.example/sse",
                    "headers": headers_and_oauth.get("headers", [header]),
                }
            ],
        }
    )


class _Source:
    kind = "url"
    location = "https://thvrem.example/registry.json"


def test_prompted_headers_and_choices() -> None:
    from toolhive.errors import InvalidInputError
    from toolhive.models.remote import HeaderForwardConfig
    from toolhive.registry.run import apply_entry
    from toolhive.workloads.request import RunRequest
    from toolhive.workloads.runconfig_builder import build_runconfig

    entry = _remote_entry(
        headers=[
            {"name": "X-API-Key", "isRequired": True, "isSecret": True},
            {"name": "X-Region", "isRequired": True, "choices": ["eu", "us"]},
            {"name": "X-Fixed", "value": "v1"},  # a fixed value counts as the default
            {"name": "X-Template", "value": "Bearer {token}"},  # a template is not a value
        ]
    )
    asked: list[tuple[str, bool]] = []
    answers = {"X-API-Key": "k-123", "X-Region": "eu"}

    def prompt(label: str, secret: bool) -> str:
        asked.append((label, secret))
        return answers[label.split(" ")[0]]

    stored: dict[str, str] = {}

    def store(header: str, value: str) -> str:
        stored[header] = value
        return f"stored-{header.lower()}"

    request, origin = apply_entry(
        RunRequest(image="thvrem-echo"), entry, _Source(),  # type: ignore[arg-type]
        prompt=prompt, store_secret=store,
    )  # fmt: skip
    assert asked == [("X-API-Key", True), ("X-Region [eu/us]", False)]
    assert stored == {"X-API-Key": "k-123"}
    config = build_runconfig(request, origin)
    assert config.transport == "sse" and config.remote_url == "https://thvrem.example/sse"
    assert config.header_forward is not None
    assert config.header_forward.add_plaintext_headers == {"X-Region": "eu", "X-Fixed": "v1"}
    assert config.header_forward.add_headers_from_secret == {"X-API-Key": "stored-x-api-key"}
    assert "k-123" not in config.to_json()
    assert config.registry_url == _Source.location

    answers["X-Region"] = "mars"
    with pytest.raises(InvalidInputError, match=r"X-Region .* must be one of eu, us"):
        apply_entry(
            RunRequest(image="x"), entry, _Source(),  # type: ignore[arg-type]
            prompt=prompt, store_secret=store,
        )  # fmt: skip
    # A secret header typed in clear with no secrets provider to keep it: refused, not stored.
    with pytest.raises(InvalidInputError, match="thv secret setup"):
        plain = HeaderForwardConfig(add_plaintext_headers={"X-API-Key": "k", "X-Region": "us"})
        apply_entry(
            RunRequest(image="x", header_forward=plain), entry, _Source(),  # type: ignore[arg-type]
        )  # fmt: skip


def test_bad_header_flags_are_refused() -> None:
    from toolhive.cli.run_cmd import request_for
    from toolhive.errors import InvalidInputError
    from toolhive.workloads.runconfig_builder import build_runconfig

    remote = "https://thvrem.example/mcp"
    for flags, fragment in (
        (["--remote-forward-headers", "Host=evil"], "restricted"),
        (["--remote-forward-headers", "X-A"], "expected Name=Value"),
        (["--remote-forward-headers", "Bad Name=1"], "invalid header name"),
        (["--remote-forward-headers-secret", "X-A="], "secret name is empty"),
    ):
        with pytest.raises(InvalidInputError, match=fragment):
            build_runconfig(request_for([remote, *flags]))
    with pytest.raises(InvalidInputError, match="apply to remote URLs"):
        build_runconfig(request_for(["localhost/img:1", "--remote-forward-headers", "X-A=1"]))
    with pytest.raises(InvalidInputError, match="both as a value and as a secret"):
        build_runconfig(
            request_for(
                [
                    remote,
                    "--remote-forward-headers",
                    "X-A=1",
                    "--remote-forward-headers-secret",
                    "x-a=s",
                ]
            )
        )
