"""PreparingStatus: a workload whose image is being made present is listed as ``starting`` with
the last progress line as its context, kept fresh while the tool is silent, and removed again
when the preparation fails."""

from __future__ import annotations

import time

import pytest
from toolhive.models.runconfig import RunConfig
from toolhive.models.workload import WorkloadStatus
from toolhive.state import store
from toolhive.workloads import preparing
from toolhive.workloads.preparing import PreparingStatus
from toolhive.workloads.status import merged_status


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        monkeypatch.setenv(var, str(tmp_path / var.lower()))
    return tmp_path


def config() -> RunConfig:
    return RunConfig(name="w", base_name="w", image="uvx://mcp-server-time", port=8080)


def listed() -> tuple[WorkloadStatus, str]:
    return merged_status(store.read_workload("w"))


def test_nothing_is_saved_before_the_workload_is_placed():
    reported: list[str] = []
    with PreparingStatus("w", reported.append) as status:
        status.progress("resolving")
    assert reported == ["resolving"]
    assert not store.runconfig_exists("w") and store.read_status("w") is None


def test_progress_lines_become_the_status_context_of_a_starting_workload(monkeypatch):
    monkeypatch.setattr(preparing, "THROTTLE_S", 0.0)  # each line written at once
    reported: list[str] = []
    with PreparingStatus("w", reported.append) as status:
        status.show(config())
        assert listed() == (WorkloadStatus.STARTING, "preparing uvx://mcp-server-time")
        status.progress("installing mcp-server-time with uv\nResolved 12 packages\n")
        assert listed() == (WorkloadStatus.STARTING, "Resolved 12 packages")
        status.progress("x" * 500)
        assert listed()[1] == "x" * preparing.MAX_CONTEXT
    assert reported[0].startswith("installing")  # the caller's progress still hears everything
    assert store.load_runconfig("w").port == 8080


def test_a_silent_preparation_stays_starting_past_the_spawn_grace(monkeypatch):
    monkeypatch.setattr(preparing, "HEARTBEAT_S", 0.05)
    monkeypatch.setattr(preparing, "THROTTLE_S", 0.01)
    monkeypatch.setattr("toolhive.workloads.status.SPAWN_GRACE_S", 0.3)
    with PreparingStatus("w", lambda _line: None) as status:
        status.show(config())
        time.sleep(0.6)
        assert listed() == (WorkloadStatus.STARTING, "preparing uvx://mcp-server-time")
    # Without the heartbeat (it stopped with the block), the same silence reads as a failure.
    time.sleep(0.6)
    assert listed()[0] == WorkloadStatus.ERROR


def test_a_burst_of_progress_is_written_a_few_times_and_its_last_line_soon(monkeypatch):
    writes: list[str] = []
    real = store.set_status

    def counting(*args, **kwargs):  # the real write, counted
        writes.append(args[2] if len(args) > 2 else kwargs.get("context", ""))
        return real(*args, **kwargs)

    monkeypatch.setattr(store, "set_status", counting)
    with PreparingStatus("w", lambda _line: None) as status:
        status.show(config())
        for i in range(2000):
            status.progress(f"layer {i}: downloading")
        time.sleep(preparing.THROTTLE_S * 3)
        assert listed()[1] == "layer 1999: downloading"
    assert len(writes) < 20, len(writes)


def test_a_failed_preparation_leaves_nothing_behind():
    with (
        pytest.raises(RuntimeError, match="no such package"),
        PreparingStatus("w", lambda _line: None) as status,
    ):
        status.show(config())
        status.progress("installing")
        raise RuntimeError("no such package")
    assert not store.runconfig_exists("w") and store.read_status("w") is None
