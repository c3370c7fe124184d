import json
import multiprocessing
import os
import subprocess
import sys
from pathlib import Path

import pytest
from toolhive.models.runconfig import RunConfig
from toolhive.models.workload import WorkloadStatus
from toolhive.state import paths, store
from toolhive.state.atomic import write_atomic
from toolhive.workloads.status import merged_status


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


def test_status_merge_uses_the_supervisor_pid_from_the_status_file(home):
    store.save_runconfig(RunConfig(name="w", base_name="w", image="x"))
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        store.set_status("w", WorkloadStatus.RUNNING, process_id=live.pid)
        assert merged_status(store.read_workload("w")) == (WorkloadStatus.RUNNING, "")
    finally:
        live.kill()
        live.wait()
    assert merged_status(store.read_workload("w")) == (
        WorkloadStatus.UNHEALTHY,
        "proxy process not running",
    )
    store.set_status("w", WorkloadStatus.STOPPING)
    assert merged_status(store.read_workload("w"))[0] == WorkloadStatus.STOPPED
    store.set_status("w", WorkloadStatus.STOPPED)
    assert merged_status(store.read_workload("w"))[0] == WorkloadStatus.STOPPED


def test_one_record_holds_runconfig_status_and_pid(home):
    config = RunConfig(name="w", base_name="w", image="x", port=1234)
    store.save_runconfig(config)
    assert store.read_workload("w").status is None and store.read_workload("w").pid == 0
    store.set_status("w", WorkloadStatus.STARTING, process_id=4321)
    record = store.read_workload("w")
    assert record.config == config and record.pid == 4321
    assert record.status is not None and record.status.status == WorkloadStatus.STARTING
    assert [r.base_name for r in store.read_workloads()] == ["w"]


def test_reading_a_record_opens_two_files(home):
    """The RunConfig and the status file, once each; the PID comes with the status file."""
    store.save_runconfig(RunConfig(name="w", base_name="w", image="x"))
    store.set_status("w", WorkloadStatus.RUNNING, process_id=os.getpid())
    store.write_pid("w", os.getpid())
    code = (
        "import sys\n"
        "opened = []\n"
        "sys.addaudithook(lambda e, a: opened.append(str(a[0])) if e == 'open' else None)\n"
        "from toolhive.state import store\n"
        "opened.clear()\n"
        "store.read_workload('w')\n"
        "print('\\n'.join(p for p in opened if p.endswith(('.json', '.pid'))))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=os.environ
    ).stdout.split()
    assert [Path(p).parent.name for p in out] == ["runconfigs", "statuses"]


def test_a_spawned_supervisors_pid_is_recorded_unless_it_recorded_itself(home):
    store.set_status("w", WorkloadStatus.STARTING, process_id=0)
    store.record_pid("w", 111)
    assert store.read_status("w").process_id == 111
    store.set_status("w", WorkloadStatus.RUNNING, process_id=111)  # the supervisor itself
    store.record_pid("w", 111)
    record = store.read_status("w")
    assert record.status == WorkloadStatus.RUNNING and record.process_id == 111
    store.record_pid("x", 5)  # no status file: nothing to record into
    assert store.read_status("x") is None


def test_unreadable_status_is_reported_not_replaced(home):
    path = paths.status_path("w")
    path.parent.mkdir(parents=True)
    path.write_text("{garbage")
    record = store.read_status("w")
    assert record.status == WorkloadStatus.UNKNOWN and "unreadable" in record.status_context
    assert path.read_text() == "{garbage"
