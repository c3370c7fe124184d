import json
import multiprocessing
import os
import subprocess
import sys

import pytest
from toolhive.models.runconfig import RunConfig
from toolhive.models.workload import WorkloadStatus
from toolhive.state import paths, store
from toolhive.state.atomic import write_atomic
from toolhive.workloads.manager import merged_status


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        monkeypatch.setenv(var, str(tmp_path / var.lower()))
    return tmp_path


def test_layout_matches_toolhive(home):
    assert paths.runconfig_path("w") == home / "xdg_state_home/toolhive/runconfigs/w.json"
    assert paths.status_path("w") == home / "xdg_data_home/toolhive/statuses/w.json"
    assert paths.pid_path("w") == home / "xdg_data_home/toolhive/pids/toolhive-w.pid"
    assert paths.proxy_log_path("w") == home / "xdg_data_home/toolhive/logs/w.log"


def test_a_failed_write_leaves_the_previous_file(home, monkeypatch):
    target = home / "f.json"
    write_atomic(target, "old")

    def crash(*_a, **_k):
        raise OSError("disk gone")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk gone"):
        write_atomic(target, "new")
    assert target.read_text() == "old"
    assert [p.name for p in home.iterdir()] == ["f.json"]  # no temp file left behind


def test_a_killed_writer_leaves_the_previous_file(home):
    """SIGKILL a process in the middle of writing a large file: the old content survives."""
    target = home / "big.json"
    write_atomic(target, "old")
    code = (
        "import os, signal; from pathlib import Path; import toolhive.state.atomic as a;"
        "real = os.fsync\n"
        "def die(fd):\n    os.kill(os.getpid(), signal.SIGKILL)\n"
        "os.fsync = die\n"
        f"a.write_atomic(Path({str(target)!r}), 'x' * 10_000_000)"
    )
    proc = subprocess.run([sys.executable, "-c", code], check=False)
    assert proc.returncode == -9
    assert target.read_text() == "old"


def _bump(base: str, n: int) -> None:
    for _ in range(n):
        store.set_status(base, WorkloadStatus.RUNNING, context="x")


def test_status_file_writes_under_a_lock(home):
    store.set_status("w", WorkloadStatus.STARTING)
    created = store.read_status("w").created_at
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_bump, args=("w", 50)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    record = store.read_status("w")
    assert record.status == WorkloadStatus.RUNNING and record.created_at == created
    raw = json.loads(paths.status_path("w").read_text())
    assert set(raw) == {"status", "status_context", "created_at", "updated_at", "process_id"}


def test_status_merge_uses_the_supervisor_pid(home):
    store.save_runconfig(RunConfig(name="w", base_name="w", image="x"))
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        store.set_status("w", WorkloadStatus.RUNNING, process_id=live.pid)
        store.write_pid("w", live.pid)
        assert merged_status("w") == (WorkloadStatus.RUNNING, "")
    finally:
        live.kill()
        live.wait()
    assert merged_status("w") == (WorkloadStatus.UNHEALTHY, "proxy process not running")
    store.set_status("w", WorkloadStatus.STOPPING)
    assert merged_status("w")[0] == WorkloadStatus.STOPPED
    store.set_status("w", WorkloadStatus.STOPPED)
    assert merged_status("w")[0] == WorkloadStatus.STOPPED


def test_unreadable_status_is_reported_not_replaced(home):
    path = paths.status_path("w")
    path.parent.mkdir(parents=True)
    path.write_text("{garbage")
    record = store.read_status("w")
    assert record.status == WorkloadStatus.UNKNOWN and "unreadable" in record.status_context
    assert path.read_text() == "{garbage"
