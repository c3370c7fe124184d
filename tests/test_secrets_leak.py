"""A secret used by a real workload reaches the server and nothing else.

The encrypted store (password from ``TOOLHIVE_SECRETS_PASSWORD``, as on a headless machine) holds a
random value; a process-runtime workload gets it through ``--secret`` and returns it from a tool.
Then every output channel is searched for the value: run/list/status/export/logs output, the proxy
and server logs, error messages of failing runs and starts, every file under the temporary home,
and every process's command line. The tool result is the only place it may appear.
"""

from __future__ import annotations

import json
import secrets
import sys
from pathlib import Path

import pytest

from tests.conftest import FIXTURES, Thv, process_runtime_available, require_or_skip
from tests.mcp_client import call_tool
from tests.secret_checks import assert_nowhere, home_files, run_in_terminal

pytestmark = pytest.mark.process_runtime

SERVER = ["--transport", "stdio", sys.executable, "--", str(FIXTURES / "env_server.py")]


@pytest.fixture(autouse=True)
def _needs_process_runtime():
    if not process_runtime_available():
        require_or_skip("bubblewrap and uv for the process runtime")


def test_secret_value_appears_nowhere_but_in_the_server(thv: Thv, tmp_path: Path):
    value = "sv-" + secrets.token_hex(16)
    thv.env["TOOLHIVE_SECRETS_PASSWORD"] = "leak-test-password"
    thv.env.pop("TOOLHIVE_SECRETS_PROVIDER", None)
    outputs: list[str] = []

    def run(*args: str, check: bool = True) -> str:
        proc = thv(*args, check=check)
        outputs.extend([proc.stdout, proc.stderr])
        return proc.stdout + proc.stderr

    # Using a secret before any provider is set up is an error, not a silent default.
    assert "thv secret setup" in run(
        "run", "--name", "secleak-early", "--secret", "tok,target=T", *SERVER, check=False
    )
    run("secret", "provider", "encrypted")
    import subprocess

    subprocess.run(
        [thv.exe, "secret", "set", "leak-token"],
        input=value,
        env=thv.env,
        check=True,
        capture_output=True,
        text=True,
    )
    run(
        "run", "--name", "secleak-ok", "--runtime", "process",
        "--secret", "leak-token,target=LEAK_TOKEN", *SERVER,
    )  # fmt: skip
    status = json.loads(run("status", "secleak-ok", "--format", "json"))
    assert call_tool(status["url"], "getenv", {"name": "LEAK_TOKEN"}) == value
    assert call_tool(status["url"], "getenv", {"name": "TOOLHIVE_SECRETS_PASSWORD"}) == ""

    export = tmp_path / "export.json"
    run("export", "secleak-ok", str(export))
    assert json.loads(export.read_text())["secrets"] == ["leak-token,target=LEAK_TOKEN"]
    outputs.append(export.read_text())
    for args in (
        ["list", "--format", "json"],
        ["list", "--all", "--format", "mcpservers"],
        ["list"],
        ["status", "secleak-ok"],
        ["logs", "secleak-ok"],
        ["logs", "--proxy", "secleak-ok"],
        ["secret", "list"],
        ["export", "secleak-ok", "-"],
    ):
        run(*args)

    # The store password is wrong: a clear error, no value.
    thv.env["TOOLHIVE_SECRETS_PASSWORD"] = "wrong"
    assert "does not decrypt" in run(
        "run", "--name", "secleak-bad-pw", "--runtime", "process",
        "--secret", "leak-token,target=LEAK_TOKEN", *SERVER, check=False,
    )  # fmt: skip
    thv.env["TOOLHIVE_SECRETS_PASSWORD"] = "leak-test-password"
    # A server that dies at once, with the secret in its environment.
    assert "failed to start" in run(
        "run", "--name", "secleak-dies", "--runtime", "process",
        "--secret", "leak-token,target=LEAK_TOKEN", "--transport", "stdio",
        sys.executable, "--", "-c", "import sys; sys.exit(3)", check=False,
    )  # fmt: skip
    # The secret disappears between runs: `thv start` checks references before spawning.
    run("stop", "secleak-ok")
    run("secret", "delete", "leak-token")
    restart = run("start", "secleak-ok", check=False)
    assert "leak-token" in restart and "not found" in restart
    assert "stopped" in run("status", "secleak-ok")
    run("logs", "--proxy", "secleak-ok")

    files = home_files(thv)
    assert any(p.name == "secleak-ok.log" for p in files)
    assert any(p.name == "secrets_encrypted" for p in files)
    assert_nowhere(thv, value, outputs)


def test_a_typed_password_reaches_the_detached_supervisor(thv: Thv, tmp_path: Path):
    """Headless (no keyring, no TOOLHIVE_SECRETS_PASSWORD): the password typed at the hidden
    prompt, after one wrong try, is handed to the supervisor through its environment only."""
    value = "sv-" + secrets.token_hex(16)
    env = {**thv.env, "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
    env.pop("TOOLHIVE_SECRETS_PASSWORD", None)
    import subprocess

    with_pw = {**env, "TOOLHIVE_SECRETS_PASSWORD": "typed-pw"}
    subprocess.run([thv.exe, "secret", "provider", "encrypted"], env=with_pw, check=True)
    subprocess.run(
        [thv.exe, "secret", "set", "tty-token"], input=value, text=True, env=with_pw, check=True
    )
    out = run_in_terminal(
        [thv.exe, "run", "--name", "secleak-tty", "--runtime", "process",
         "--secret", "tty-token,target=TTY_TOKEN", *SERVER],
        env,
        [("password", "wrong-pw"), ("password", "typed-pw")],
    )  # fmt: skip
    assert "Wrong password. Try again." in out, out
    assert "secleak-tty is running" in out, out
    assert "typed-pw" not in out and value not in out  # hidden input, no echo
    thv.env = {**env}
    status = json.loads(thv("status", "secleak-tty", "--format", "json").stdout)
    assert call_tool(status["url"], "getenv", {"name": "TTY_TOKEN"}) == value
    for path in home_files(thv):
        assert b"typed-pw" not in path.read_bytes(), path
