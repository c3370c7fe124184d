"""The workload use cases through their one seam, on the process runtime (fast, real).

`Workloads` is called in-process (as the REST API will) and through the real `thv` CLI; both
spawn real detached supervisors that serve the echo fixture through the proxy.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import FIXTURES, Thv, process_runtime_available, require_or_skip
from tests.mcp_client import call_tool
from tests.secret_checks import run_in_terminal

ECHO_ARGS = ["--", str(FIXTURES / "echo_server.py"), "stdio"]
ECHO = ["--transport", "stdio", "--runtime", "process", sys.executable, *ECHO_ARGS]


@pytest.fixture(autouse=True)
def _needs_process_runtime():
    if not process_runtime_available():
        require_or_skip("bubblewrap and uv for the process runtime")


@pytest.fixture
def user_home(thv_env: dict[str, str], tmp_path: Path) -> Path:
    """A user with Cursor installed (its MCP file is what client sync edits)."""
    home = tmp_path / "user"
    (home / ".cursor").mkdir(parents=True)
    thv_env["HOME"] = str(home)
    thv_env.pop("TOOLHIVE_DEBUG", None)
    return home


@pytest.fixture
def in_process(thv_env: dict[str, str], user_home: Path, monkeypatch: pytest.MonkeyPatch):
    """This process sees the same ToolHive home and user as the `thv` fixture's subprocesses."""
    for key in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "HOME"):
        monkeypatch.setenv(key, thv_env[key])
    monkeypatch.delenv("TOOLHIVE_DEBUG", raising=False)


def request(name: str, **extra: Any):
    from toolhive.workloads.request import RunRequest

    return RunRequest(
        image=sys.executable,
        name=name,
        transport="stdio",
        runtime="process",
        cmd_arguments=ECHO_ARGS[1:],
        **extra,
    )


def workloads_with_events():
    """The seam as a front end assembles it: client sync subscribed, plus a recorder."""
    from toolhive.clients.sync import subscribe
    from toolhive.plugins import Hooks, build_plugin_manager
    from toolhive.workloads.events import WorkloadEvents
    from toolhive.workloads.service import Workloads

    hooks = Hooks(build_plugin_manager())
    events = WorkloadEvents()
    subscribe(events, hooks)
    seen: list[str] = []
    events.subscribe(lambda e: seen.append(f"{e.type}:{e.name}"))
    return Workloads(hooks, events=events), seen


def cursor_servers(home: Path) -> dict[str, Any]:
    path = home / ".cursor" / "mcp.json"
    return json.loads(path.read_text()).get("mcpServers", {}) if path.exists() else {}


def exported(thv: Thv, name: str) -> dict[str, Any]:
    return json.loads(thv("export", name, "-").stdout)


def test_the_cli_and_the_use_case_make_the_same_runconfig(thv: Thv, in_process):
    thv("run", "--name", "by-cli", "-e", "GREETING=hi", "-l", "team=red", *ECHO)
    workloads, _ = workloads_with_events()
    workloads.run(request("by-api", env_vars={"GREETING": "hi"}, labels={"team": "red"}))
    by_cli, by_api = exported(thv, "by-cli"), exported(thv, "by-api")
    differ = {"name", "base_name", "container_name", "port"}
    assert {k: v for k, v in by_cli.items() if k not in differ} == {
        k: v for k, v in by_api.items() if k not in differ
    }
    assert by_api["env_vars"] == {"GREETING": "hi"} and by_api["runtime"] == "process"


def test_run_stop_start_list_export_and_rm_through_the_seam(thv: Thv, in_process, user_home):
    thv("client", "register", "cursor")
    workloads, seen = workloads_with_events()
    running = workloads.run(request("seam"))
    assert running.status == "running" and call_tool(running.url, "echo", {"text": "a"}) == "a"
    # `running` is published by the supervisor, in its own process: its client sync added us.
    assert cursor_servers(user_home)["seam"]["url"] == running.url
    assert [w.name for w in workloads.list()] == ["seam"]
    assert workloads.get("seam") == running

    assert workloads.stop("seam") is True
    assert workloads.stop("seam") is False  # idempotent, and no second event
    assert "seam" not in cursor_servers(user_home)
    assert workloads.list() == [] and workloads.list(include_all=True)[0].status == "stopped"

    again = workloads.start("seam")
    assert again.url == running.url and call_tool(again.url, "add", {"a": 2, "b": 3}) == "5"
    assert "seam" in cursor_servers(user_home)
    assert workloads.export("seam").to_json() == thv("export", "seam", "-").stdout

    workloads.remove("seam")
    assert workloads.list(include_all=True) == [] and "seam" not in cursor_servers(user_home)
    assert seen == [
        "created:seam",
        "starting:seam",
        "stopped:seam",
        "starting:seam",
        "stopped:seam",  # rm stops it first
        "removed:seam",
    ]


def test_a_restart_refused_before_anything_stops(thv: Thv, thv_env, in_process):
    """Secrets and the fail-closed check run before a running workload is touched."""
    thv_env["TOOLHIVE_SECRETS_PROVIDER"] = "environment"
    thv_env["TOOLHIVE_SECRET_tok"] = "t0k"
    thv("run", "--name", "guarded", "--secret", "tok,target=TOKEN", *ECHO)
    url = json.loads(thv("status", "guarded", "--format", "json").stdout)["url"]

    del thv_env["TOOLHIVE_SECRET_tok"]  # the secret is gone since
    proc = thv("restart", "guarded", check=False)
    assert proc.returncode == 1 and "secret 'tok'" in proc.stderr
    assert call_tool(url, "echo", {"text": "still up"}) == "still up"

    # A saved RunConfig asking for what no installed plugin enforces (uninstalled since).
    thv_env["TOOLHIVE_SECRET_tok"] = "t0k"
    thv_env["TOOLHIVE_DISABLE_PLUGINS"] = "toolhive-middleware-tools"
    saved = Path(thv_env["XDG_STATE_HOME"]) / "toolhive" / "runconfigs" / "guarded.json"
    saved.write_text(json.dumps({**json.loads(saved.read_text()), "tools_filter": ["echo"]}))
    proc = thv("restart", "guarded", check=False)
    assert proc.returncode != 0 and "tools_filter" in proc.stderr
    assert call_tool(url, "echo", {"text": "untouched"}) == "untouched"


# --- one state record per read -------------------------------------------------------------------


class StateReads:
    """Counts opens of state files in this process (an audit hook: nothing is replaced)."""

    def __init__(self) -> None:
        self.counts: Counter[str] | None = None
        sys.addaudithook(self._hook)

    def _hook(self, event: str, args: tuple[Any, ...]) -> None:
        if self.counts is None or event != "open" or not isinstance(args[0], (str, os.PathLike)):
            return
        path = Path(os.fsdecode(args[0]))
        kind = {"runconfigs": "runconfig", "statuses": "status", "pids": "pid"}.get(
            path.parent.name
        )
        if kind and path.suffix in {".json", ".pid"}:
            self.counts[kind] += 1

    @contextlib.contextmanager
    def __call__(self) -> Iterator[Counter[str]]:
        self.counts = counts = Counter()
        try:
            yield counts
        finally:
            self.counts = None


reads = StateReads()


def test_list_status_and_run_read_each_state_file_once(thv: Thv, in_process):
    workloads, _ = workloads_with_events()
    with reads() as during_run:
        workloads.run(request("r1"))
    # Waiting polls the status file only (its process_id is the PID); nothing else is re-read.
    assert during_run["runconfig"] == 0 and during_run["pid"] == 0 and during_run["status"] >= 1
    workloads.run(request("r2"))
    with reads() as during_get:
        workloads.get("r1")
    assert during_get == Counter(runconfig=1, status=1)
    with reads() as during_list:
        assert len(workloads.list()) == 2
    assert during_list == Counter(runconfig=2, status=2)


# --- --debug and --isolate-network reach the workload ---------------------------------------------


def proxy_log(thv_env: dict[str, str], name: str) -> str:
    return (Path(thv_env["XDG_DATA_HOME"]) / "toolhive" / "logs" / f"{name}.log").read_text()


def test_debug_reaches_the_detached_supervisors_log(thv: Thv, thv_env, user_home):
    thv("--debug", "run", "--name", "dbg", *ECHO)
    assert exported(thv, "dbg")["debug"] is True
    assert "DEBUG toolhive.supervisor: supervising dbg" in proxy_log(thv_env, "dbg")

    thv("run", "--name", "quiet", *ECHO)
    assert exported(thv, "quiet")["debug"] is False
    assert " DEBUG " not in proxy_log(thv_env, "quiet")
    thv("--debug", "restart", "quiet")  # for this start only
    assert "DEBUG toolhive.supervisor: supervising quiet" in proxy_log(thv_env, "quiet")
    assert exported(thv, "quiet")["debug"] is False


def test_isolate_network_is_a_bare_flag_as_in_toolhive(thv: Thv):
    thv("run", "--name", "iso", "--isolate-network", *ECHO)
    assert exported(thv, "iso")["isolate_network"] is True
    thv("run", "--name", "open", "--isolate-network=false", *ECHO)
    assert exported(thv, "open")["isolate_network"] is False
    proc = thv("run", "--isolate-network=perhaps", *ECHO, check=False)
    assert proc.returncode == 2 and '"--isolate-network" flag' in proc.stderr


def test_an_unknown_transport_lists_the_installed_ones(thv: Thv):
    proc = thv("run", "--transport", "pigeon", "--runtime", "process", sys.executable, check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip() == (
        "Error: unknown transport 'pigeon'; available transports: sse, stdio, streamable-http"
    )


def test_run_in_the_foreground_hands_a_typed_password_to_its_supervisor(thv: Thv, user_home):
    """Headless (no keyring): the password is typed once, in the terminal running `thv run -f`,
    and the supervisor gets it in its environment (this process's environment is never
    changed); `thv stop` ends the foreground run."""
    value = "fg-" + secrets.token_hex(12)
    env = {**thv.env, "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
    env.pop("TOOLHIVE_SECRETS_PASSWORD", None)
    with_pw = {**env, "TOOLHIVE_SECRETS_PASSWORD": "typed-pw"}
    subprocess.run([thv.exe, "secret", "provider", "encrypted"], env=with_pw, check=True)
    subprocess.run(
        [thv.exe, "secret", "set", "fg-token"], input=value, text=True, env=with_pw, check=True
    )
    server = ["--transport", "stdio", sys.executable, "--", str(FIXTURES / "env_server.py")]
    argv = [thv.exe, "run", "-f", "--name", "fg", "--runtime", "process",
            "--secret", "fg-token,target=FG_TOKEN", *server]  # fmt: skip
    printed: list[str] = []
    foreground = threading.Thread(
        target=lambda: printed.append(run_in_terminal(argv, env, [("password", "typed-pw")]))
    )
    foreground.start()
    try:
        deadline = time.monotonic() + 90
        while True:
            status = json.loads(thv("status", "fg", "--format", "json", check=False).stdout or "{}")
            if status.get("status") == "running" or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert status.get("status") == "running", status
        assert call_tool(status["url"], "getenv", {"name": "FG_TOKEN"}) == value
    finally:
        thv("stop", "fg", check=False)
        foreground.join(60)
    assert not foreground.is_alive()
    out = printed[0]
    assert out.count("Secrets password:") == 1, out  # asked once, not again by the supervisor
    assert "fg is running at" in out  # the supervisor logs to this terminal
    assert value not in out and "typed-pw" not in out
