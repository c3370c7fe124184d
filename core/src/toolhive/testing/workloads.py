"""End-to-end scaffolding for ``thv`` tests: core's echo server as a workload, exported the way
``thv export`` writes it, given extra RunConfig fields and run with ``thv run --from-config``.

``thv`` is any callable that runs ``thv`` with the given arguments, fails the test on a non-zero
exit, and returns its stdout: a wrapper around the ``thv_cli`` fixture (in-process), or
:class:`ThvConsole`, the installed console script in a subprocess (a real detached supervisor
that finds plugins through their entry points; :func:`require_process_runtime` first)::

    config = exported_echo(thv, "guarded")
    config["authz_config"] = {...}
    url = run_from_config(thv, config, tmp_path)
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from toolhive.testing.fixtures import ThvCli, ThvHome

__all__ = [
    "ECHO_STDIO",
    "Thv",
    "ThvConsole",
    "exported_echo",
    "require_process_runtime",
    "run_from_config",
    "saved_runconfigs",
    "thv_console",
    "thv_in_process",
    "workload_url",
    "write_runconfig",
]

#: ``thv run`` arguments for core's echo server on stdio (add ``--runtime process``).
ECHO_STDIO: tuple[str, ...] = (
    sys.executable,
    "--transport",
    "stdio",
    "--",
    str(Path(__file__).with_name("echo_server.py")),
    "stdio",
)

#: ``thv(*args) -> stdout``, failing the test on a non-zero exit.
Thv = Callable[..., str]


class ThvConsole:
    """The ``thv`` console script beside this interpreter, in a subprocess with ``env`` (e.g. a
    ``thv_home.env``): ``thv(*args)`` fails the test on a non-zero exit and returns stdout;
    ``thv.run(*args)`` returns the completed process whatever its exit."""

    def __init__(self, env: Mapping[str, str], *, timeout: float = 180) -> None:
        self.env = dict(env)
        self.exe = str(Path(sys.executable).with_name("thv"))
        self.timeout = timeout

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.exe, *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=self.timeout,
            check=False,
        )

    def __call__(self, *args: str) -> str:
        proc = self.run(*args)
        if proc.returncode != 0:
            msg = f"thv {' '.join(args)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
            raise AssertionError(msg)
        return proc.stdout


@contextlib.contextmanager
def thv_in_process(thv_cli: ThvCli) -> Iterator[Thv]:
    """The in-process ``thv_cli`` as a ``thv`` that fails the test on a non-zero exit and returns
    its stdout; every workload is removed afterwards."""

    def run(*args: str) -> str:
        result = thv_cli(*args)
        assert result.exit_code == 0, f"thv {' '.join(args)}: {result.output}"
        return result.stdout

    try:
        yield run
    finally:
        thv_cli("rm", "--all")


@contextlib.contextmanager
def thv_console(env: Mapping[str, str], *, timeout: float = 180) -> Iterator[ThvConsole]:
    """A :class:`ThvConsole` with ``env`` once :func:`require_process_runtime` passed; every
    workload is removed afterwards."""
    require_process_runtime()
    runner = ThvConsole(env, timeout=timeout)
    try:
        yield runner
    finally:
        runner.run("rm", "--all")


def require_process_runtime() -> None:
    """Skip the test unless workloads can run on the process runtime here: its plugin installed
    (not so when a plugin is tested alone), bubblewrap and uv on PATH. With
    ``TOOLHIVE_TEST_REQUIRE_ENGINES`` set, missing bubblewrap or uv fails the test instead."""
    import pytest

    if importlib.util.find_spec("toolhive_runtime_process") is None:
        pytest.skip("toolhive-runtime-process is not installed (a plugin tested alone)")
    if shutil.which("bwrap") is None or shutil.which("uv") is None:
        reason = "the process runtime needs bubblewrap and uv"
        if os.environ.get("TOOLHIVE_TEST_REQUIRE_ENGINES"):
            pytest.fail(f"required component missing: {reason}")
        pytest.skip(reason)


def exported_echo(thv: Thv, name: str) -> dict[str, Any]:
    """A RunConfig as ``thv export`` writes it for the echo server on the process runtime, renamed
    ``name`` (on a free port); the source workload is removed again."""
    thv("run", "--name", f"{name}-src", "--runtime", "process", *ECHO_STDIO)
    exported: dict[str, Any] = json.loads(thv("export", f"{name}-src", "-"))
    thv("rm", f"{name}-src")
    return {**exported, "name": name, "base_name": name, "container_name": name, "port": 0}


def write_runconfig(config: dict[str, Any], folder: Path) -> Path:
    """``config`` as ``<folder>/<name>.json``, for ``thv run --from-config``."""
    path = folder / f"{config['name']}.json"
    path.write_text(json.dumps(config))
    return path


def workload_url(thv: Thv, name: str) -> str:
    """The workload's MCP URL, from ``thv status``."""
    url: str = json.loads(thv("status", name, "--format", "json"))["url"]
    return url


def run_from_config(thv: Thv, config: dict[str, Any], folder: Path) -> str:
    """Run ``config`` with ``thv run --from-config`` (written under ``folder``); its MCP URL."""
    thv("run", "--from-config", str(write_runconfig(config, folder)))
    return workload_url(thv, config["name"])


def saved_runconfigs(home: ThvHome) -> list[str]:
    """The names of the RunConfigs saved in ``home``'s state."""
    folder = home.state / "toolhive" / "runconfigs"
    return sorted(p.stem for p in folder.iterdir()) if folder.is_dir() else []
