"""ToolHive's small CLI conveniences: ``thv ls``, ``thv completion bash|zsh|fish``, ``thv logs prune``.

The real ``thv`` console script runs in a subprocess; workloads are saved state files (core writes
them), so no server runs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from toolhive.models.runconfig import RunConfig
from toolhive.models.workload import WorkloadStatus
from toolhive.state import paths, store
from toolhive.testing import ThvHome

from tests.conftest import Thv

BIN = Path(sys.executable).parent


@pytest.fixture
def thv(thv_home: ThvHome) -> Thv:
    env = {k: v for k, v in thv_home.env.items() if not k.startswith("TOOLHIVE_")}
    return Thv({**env, "TOOLHIVE_STRICT_PLUGINS": "1"})


def save_workload(name: str, status: WorkloadStatus = WorkloadStatus.STOPPED) -> None:
    store.save_runconfig(
        RunConfig(
            name=name,
            base_name=name,
            container_name=name,
            image="localhost/fake/server:1",
            transport="stdio",
            port=20000,
            target_port=30000,
            runtime="docker",
        )
    )
    store.set_status(name, status, process_id=0)


def write_logs(*names: str) -> dict[str, Path]:
    files = {}
    for name in names:
        path = paths.proxy_log_path("x").parent / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"log of {name}\n")
        files[name] = path
    return files


def test_ls_is_list(thv: Thv) -> None:
    save_workload("one", WorkloadStatus.STOPPED)
    save_workload("two", WorkloadStatus.STOPPED)
    for args in (["--all"], ["--all", "--format", "json"], []):
        assert thv("ls", *args).stdout == thv("list", *args).stdout
    assert [w["name"] for w in json.loads(thv("ls", "-a", "--format", "json").stdout)] == [
        "one",
        "two",
    ]


def test_help_lists_completion_and_logs(thv: Thv) -> None:
    out = thv("--help").stdout
    assert "completion  Print a shell completion script (bash, zsh, fish)" in out
    assert "logs " in out


def test_bash_completion_script_completes_commands_and_workload_names(thv: Thv) -> None:
    save_workload("time-server")
    script = thv("completion", "bash").stdout
    assert "_THV_COMPLETE=bash_complete" in script
    probe = (
        f"{script}\n"
        "complete_for() { COMP_WORDS=($1); COMP_CWORD=$2; COMPREPLY=(); _thv_completion thv;"
        ' echo "${COMPREPLY[*]}"; }\n'
        "complete_for 'thv comp' 1\n"
        "complete_for 'thv logs ' 2\n"
        "complete_for 'thv completion ' 2\n"
    )
    env = {**thv.env, "PATH": f"{BIN}{os.pathsep}{thv.env['PATH']}"}
    proc = subprocess.run(
        ["/bin/bash", "-c", probe], env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["completion", "prune time-server", "bash zsh fish"]


@pytest.mark.parametrize(
    ("shell", "cword"),
    [("zsh", "1"), ("fish", "log")],  # the word's index for zsh, the word itself for fish
)
def test_zsh_and_fish_scripts_call_thv_back(thv: Thv, shell: str, cword: str) -> None:
    script = thv("completion", shell).stdout
    assert "_THV_COMPLETE" in script and f"{shell}_complete" in script
    # What the script asks thv for, answered in that shell's format.
    asked = {"_THV_COMPLETE": f"{shell}_complete", "COMP_WORDS": "thv log", "COMP_CWORD": cword}
    assert "logs" in Thv({**thv.env, **asked})().stdout


def test_completion_for_an_unknown_shell_is_a_usage_error(thv: Thv) -> None:
    proc = thv("completion", "powershell", check=False)
    assert proc.returncode == 2
    assert "'powershell' is not one of 'bash', 'zsh', 'fish'" in proc.stderr


def test_logs_prune_deletes_only_logs_of_workloads_no_longer_managed(thv: Thv) -> None:
    save_workload("kept")
    save_workload("with.dots")
    files = write_logs(
        "kept.log",
        "kept.server.log",
        "with.dots.log",
        "with.dots.server.log",
        "gone.log",
        "gone.server.log",
        "gone.again.log",
    )
    proc = thv("logs", "prune")
    removed = ["gone.again.log", "gone.log", "gone.server.log"]
    assert proc.stdout.splitlines() == [f"Removed: {files[n]}" for n in removed]
    assert sorted(p.name for p in files["kept.log"].parent.iterdir()) == [
        "kept.log",
        "kept.server.log",
        "with.dots.log",
        "with.dots.server.log",
    ]

    again = thv("logs", "prune")
    assert again.stdout == ""
    assert again.stderr == "No orphaned log files found to prune\n"


def test_logs_prune_is_never_read_as_a_workload_named_prune(thv: Thv) -> None:
    save_workload("prune")
    files = write_logs("prune.log", "old.log")
    proc = thv("logs", "prune")
    assert proc.stdout == f"Removed: {files['old.log']}\n"  # pruned, not prune's log printed
    assert files["prune.log"].exists()  # a managed workload's log stays


def test_logs_prune_takes_no_options(thv: Thv) -> None:
    proc = thv("logs", "prune", "--follow", check=False)
    assert proc.returncode == 2
    assert "`thv logs prune` takes no options" in proc.stderr


def test_logs_prune_without_a_logs_folder_says_so(thv: Thv) -> None:
    proc = thv("logs", "prune")
    assert proc.returncode == 0
    assert proc.stderr == "No orphaned log files found to prune\n"
