"""Concurrent workload creates and deletes through a real ``thv serve`` (the process runtime, the
echo server): afterwards the state files, the processes and a registered client's config agree
with each other and with what the API and ``thv list`` say, and no process is left behind."""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from toolhive.testing.api import ApiServer, api_server
from toolhive.testing.workloads import ECHO_STDIO, ThvConsole, require_process_runtime

pytestmark = pytest.mark.process_runtime

WORKLOADS = "/api/v1beta/workloads"
#: A create request for core's echo server on stdio (the server's TOOLHIVE_RUNTIME is process).
ECHO_BODY = {
    "image": sys.executable,
    "transport": "stdio",
    "cmd_arguments": [ECHO_STDIO[-2], "stdio"],
}
CONCURRENCY = 20


class Home:
    """The isolated home one ``thv serve`` and the ``thv`` CLI share, with cursor registered."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.root = Path(env["HOME"])
        self.state = Path(env["XDG_STATE_HOME"]) / "toolhive"
        self.data = Path(env["XDG_DATA_HOME"]) / "toolhive"
        self.cursor = self.root / ".cursor" / "mcp.json"

    def runconfigs(self) -> set[str]:
        return _stems(self.state / "runconfigs")

    def statuses(self) -> dict[str, dict[str, Any]]:
        folder = self.data / "statuses"
        if not folder.is_dir():
            return {}
        return {p.stem: json.loads(p.read_text()) for p in folder.glob("*.json")}

    def pid_files(self) -> set[str]:
        folder = self.data / "pids"
        return {p.name for p in folder.iterdir()} if folder.is_dir() else set()

    def client_entries(self) -> dict[str, Any]:
        servers: dict[str, Any] = json.loads(self.cursor.read_text()).get("mcpServers", {})
        return servers


def _stems(folder: Path) -> set[str]:
    return {p.stem for p in folder.glob("*.json")} if folder.is_dir() else set()


def _processes() -> dict[int, int]:
    """``{pid: parent pid}`` of every process."""
    out: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        out[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    return out


def descendants(pids: set[int]) -> set[int]:
    """``pids`` and every process below them."""
    parents = _processes()
    found = set(pids)
    grew = True
    while grew:
        below = {pid for pid, ppid in parents.items() if ppid in found} - found
        found |= below
        grew = bool(below)
    return found


def processes_of_home(home: Home, *, besides: set[int]) -> set[int]:
    """Processes (but ``besides``) whose environment points at this home's state: supervisors
    and anything they started that kept the environment."""
    marker = f"XDG_STATE_HOME={home.env['XDG_STATE_HOME']}".encode()
    found = set()
    for pid in _processes():
        if pid in besides or pid == os.getpid():
            continue
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes()
        except OSError:
            continue
        if marker in environ.split(b"\0"):
            found.add(pid)
    return found


def alive(pids: set[int]) -> set[int]:
    still = set()
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        if stat.rsplit(")", 1)[1].split()[0] != "Z":
            still.add(pid)
    return still


@pytest.fixture
def home(thv_env: dict[str, str], tmp_path: Path) -> Home:
    require_process_runtime()
    # In place: thv_env's teardown (`thv rm --all`) must see this HOME, never the user's.
    thv_env["HOME"] = str(tmp_path / "user")
    thv_env["TOOLHIVE_RUNTIME"] = "process"
    home = Home(thv_env)
    home.cursor.parent.mkdir(parents=True)
    home.cursor.write_text('{"mcpServers": {}}\n')
    ThvConsole(thv_env)("client", "register", "cursor")
    return home


@pytest.fixture
def api(home: Home) -> Iterator[ApiServer]:
    with api_server(home.env) as server:
        yield server


def concurrently(api: ApiServer, calls: list[tuple[str, str, Any]]) -> list[httpx.Response]:
    """Each ``(method, path, json)`` on its own connection, all at once."""

    def one(call: tuple[str, str, Any]) -> httpx.Response:
        method, path, body = call
        with api.new_client(timeout=120) as client:
            return client.request(method, path, json=body)

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(one, calls))


def listed(api: ApiServer) -> dict[str, str]:
    rows = api.client.get(WORKLOADS, params={"all": "true"}).json()["workloads"]
    return {w["name"]: w["status"] for w in rows}


def wait_until(what: str, check: Any, timeout: float = 120) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.5)


def assert_consistent(api: ApiServer, home: Home, names: set[str]) -> set[int]:
    """Every one of ``names`` — and nothing else — is running, in every place that records it;
    the supervisors' pids."""
    assert listed(api) == dict.fromkeys(names, "running")
    cli = json.loads(ThvConsole(home.env)("list", "--all", "--format", "json"))
    assert {w["name"]: w["status"] for w in cli} == dict.fromkeys(names, "running")
    assert home.runconfigs() == names
    statuses = home.statuses()
    assert set(statuses) == names
    supervisors = {int(s["process_id"]) for s in statuses.values()}
    assert len(supervisors) == len(names) and alive(supervisors) == supervisors
    entries = home.client_entries()
    assert set(entries) == names
    ports = {n: int(entries[n]["url"].split(":")[2].split("/")[0]) for n in names}
    assert len(set(ports.values())) == len(names)  # no two workloads share a port
    return supervisors


def assert_nothing_left(api: ApiServer, home: Home, processes: set[int]) -> None:
    assert listed(api) == {}
    assert home.runconfigs() == set() and home.statuses() == {} and home.pid_files() == set()
    assert home.client_entries() == {}
    assert alive(processes) == set(), "processes of removed workloads still run"
    assert processes_of_home(home, besides={api.pid}) == set()


def test_twenty_concurrent_creates_then_twenty_concurrent_deletes_leave_nothing_behind(
    api: ApiServer, home: Home
) -> None:
    names = {f"conc-{i:02d}" for i in range(CONCURRENCY)}
    created = concurrently(api, [("POST", WORKLOADS, {**ECHO_BODY, "name": n}) for n in names])
    assert [r.status_code for r in created] == [201] * CONCURRENCY, [r.text for r in created]
    assert {r.json()["name"] for r in created} == names
    wait_until("all run", lambda: listed(api) == dict.fromkeys(names, "running"))
    supervisors = assert_consistent(api, home, names)
    processes = descendants(supervisors)

    deleted = concurrently(api, [("DELETE", f"{WORKLOADS}/{n}", None) for n in names])
    assert [r.status_code for r in deleted] == [202] * CONCURRENCY, [r.text for r in deleted]
    wait_until("all are gone", lambda: listed(api) == {})
    assert_nothing_left(api, home, processes)


def test_deletes_chasing_creates_of_the_same_names_leave_each_workload_whole_or_gone(
    api: ApiServer, home: Home
) -> None:
    """Each delete is retried from the moment its create is sent until it is accepted, so it
    lands while the workload is being created (saved, not yet supervised)."""
    names = [f"race-{i:02d}" for i in range(CONCURRENCY // 2)]
    answered = {name: threading.Event() for name in names}

    def create(name: str) -> httpx.Response:
        try:
            with api.new_client(timeout=120) as client:
                return client.post(WORKLOADS, json={**ECHO_BODY, "name": name})
        finally:
            answered[name].set()

    def chase(name: str) -> tuple[httpx.Response, bool]:
        with api.new_client(timeout=120) as client:
            while True:
                done = answered[name].is_set()
                answer = client.delete(f"{WORKLOADS}/{name}")
                if answer.status_code != 404 or done:
                    return answer, done
                time.sleep(0.01)

    with ThreadPoolExecutor(2 * len(names)) as pool:
        creating = [pool.submit(create, n) for n in names]
        chasing = [pool.submit(chase, n) for n in names]
        creates = [f.result() for f in creating]
        deletes = [f.result() for f in chasing]
    # A create whose workload a delete removed before its supervisor started says so (409).
    assert {r.status_code for r in creates} <= {201, 409}, [r.text for r in creates]
    assert [d.status_code for d, _ in deletes] == [202] * len(names), [d.text for d, _ in deletes]
    during = sum(not after for _, after in deletes)
    assert during > 0, "no delete landed while its create was in progress"

    wait_until("creates and deletes settle", lambda: listed(api) == {})
    time.sleep(1)  # a supervisor spawned for a workload removed meanwhile has time to show up
    assert_nothing_left(api, home, set())
