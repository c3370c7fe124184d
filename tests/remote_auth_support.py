"""Shared scaffolding for the remote-server OAuth tests (CLI, supervisor, REST API, web UI): the
real provider and protected echo server together, a ``thv`` whose secrets go to the encrypted
provider, a run that logs in through headless Chromium when it prints an authorization URL, and
reading back what the secrets provider holds."""

from __future__ import annotations

import contextlib
import json
import re
import socket
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

from toolhive.testing.oauth_server import OAuthServer, complete_login, node_tools, oauth_server
from toolhive.testing.remote_auth import protected_echo, reserve_url

from tests.conftest import Thv, require_or_skip

#: The line a sign-in prints: the provider's authorization URL.
URL_LINE = re.compile(r"(http://127\.0\.0\.1:\d+/auth\?\S+)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def use_encrypted_secrets(thv: Thv, password: str) -> Thv:
    """``thv`` with the encrypted secrets provider (its password in the environment)."""
    thv.env["TOOLHIVE_SECRETS_PASSWORD"] = password
    thv("secret", "provider", "encrypted")
    return thv


@contextlib.contextmanager
def provider_and_server(
    thv: Thv, *, access_token_ttl: int = 3600
) -> Iterator[tuple[OAuthServer, str]]:
    """The real provider and, as workload ``protected-upstream`` of ``thv``, the echo server
    accepting only its tokens for its own URL; yields ``(idp, upstream URL)``."""
    if node_tools() is None or not Path("/usr/bin/chromium").exists():
        require_or_skip("Node tools (scripts/install-node.sh) and Chromium")
    port, url = reserve_url()
    with (
        oauth_server(resources=(url,), access_token_ttl=access_token_ttl) as idp,
        protected_echo(thv, idp, port) as upstream,
    ):
        yield idp, upstream


def run_with_login(thv: Thv, *args: str, expect_login: bool = True) -> str:
    """Run ``thv ARGS``; when it prints an authorization URL, log in through the browser.
    Everything it printed; fails on a non-zero exit or a login that was (not) expected."""
    process = subprocess.Popen(
        [thv.exe, *args], env=thv.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert process.stderr is not None
    printed: list[str] = []
    logged_in = False
    for line in process.stderr:
        printed.append(line)
        found = URL_LINE.search(line)
        if found:
            assert expect_login, f"an unexpected login was asked for: {line}"
            assert "Login complete" in complete_login(found.group(1))
            logged_in = True
            break
    out, err = process.communicate(timeout=120)
    text = "".join(printed) + err + out
    assert process.returncode == 0, text
    assert logged_in == expect_login, text
    return text


def call_echo(thv: Thv, server: str, text: str) -> subprocess.CompletedProcess[str]:
    """``thv mcp call echo`` on a workload name or URL."""
    return thv(
        "mcp", "call", "echo", "--server", server, "--args", json.dumps({"text": text}),
        "--format", "json", check=False,
    )  # fmt: skip


def assert_echoes(thv: Thv, server: str, text: str) -> None:
    done = call_echo(thv, server, text)
    assert done.returncode == 0, done.stdout + done.stderr
    assert text in done.stdout


def stored_secrets(env: Mapping[str, str]) -> dict[str, str]:
    """Every secret the configured provider holds, read in a subprocess with ``env``."""
    script = (
        "import json\n"
        "from toolhive.plugins import build_plugin_manager, Hooks\n"
        "from toolhive.secrets.selection import open_secrets\n"
        "s = open_secrets(Hooks(build_plugin_manager()))\n"
        "print(json.dumps({d.key: s.get(d.key) for d in s.list()}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], env=dict(env), capture_output=True, text=True, check=True
    )
    stored: dict[str, str] = json.loads(done.stdout)
    return stored


def login_tokens(env: Mapping[str, str]) -> list[str]:
    """The values a remote login left in the secrets provider (tokens, a registered client's
    secret), without the expiry the access-token entry carries."""
    stored = stored_secrets(env)
    return [v.rpartition("|")[0] or v for k, v in stored.items() if k.startswith("OAUTH_")]


def home_files(thv: Thv, *, but_secrets: bool = True) -> dict[Path, bytes]:
    """Every file under the test's ToolHive home (the encrypted store left out by default)."""
    home = Path(thv.env["XDG_CONFIG_HOME"]).parent
    return {
        path: path.read_bytes()
        for path in home.rglob("*")
        if path.is_file() and not (but_secrets and "secrets_encrypted" in path.name)
    }


def assert_nowhere(tokens: list[str], texts: list[str], files: Mapping[Path, bytes]) -> None:
    assert tokens
    for token in tokens:
        for text in texts:
            assert token not in text
        for path, content in files.items():
            assert token.encode() not in content, path
