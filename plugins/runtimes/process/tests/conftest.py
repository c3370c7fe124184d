"""Fixtures for the process runtime's tests: real processes, real bubblewrap, isolated XDG dirs."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from toolhive_runtime_process.runtime import ProcessRuntime
from toolhive_runtime_process.sandbox import probe_bwrap


def require_or_skip(reason: str) -> None:
    """Skip locally; fail where every component must be present (CI)."""
    if os.environ.get("TOOLHIVE_TEST_REQUIRE_ENGINES") == "1" or os.environ.get("CI"):
        pytest.fail(f"required component missing: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def bwrap() -> str:
    path = shutil.which("bwrap")
    if path is None:
        require_or_skip("bubblewrap is not installed (apt-get install bubblewrap)")
        raise AssertionError  # unreachable
    problem = probe_bwrap(path)
    if problem:
        require_or_skip(problem)
    return path


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One XDG cache for the whole session: packages are installed once, not per test.

    uv and npm keep using the user's own download caches (``~/.cache/uv``, ``~/.npm``), so a
    second session installs from them instead of the network.
    """
    home = Path.home()
    xdg_cache = Path(os.environ.get("XDG_CACHE_HOME") or home / ".cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("UV_CACHE_DIR", os.environ.get("UV_CACHE_DIR") or str(xdg_cache / "uv"))
        npm_cache = os.environ.get("npm_config_cache")  # noqa: SIM112 - npm's own spelling
        mp.setenv("npm_config_cache", npm_cache or str(home / ".npm"))
        yield tmp_path_factory.mktemp("xdg-cache")


@pytest.fixture(autouse=True)
def xdg(tmp_path: Path, shared_cache: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Per-test ToolHive data/config/state; the package cache is shared (see shared_cache)."""
    for var in ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_STATE_HOME"):
        path = tmp_path / var.lower()
        path.mkdir()
        monkeypatch.setenv(var, str(path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(shared_cache))
    monkeypatch.delenv("TOOLHIVE_PROCESS_UNSANDBOXED", raising=False)
    return tmp_path


@pytest.fixture
def runtime(bwrap: str) -> Iterator[ProcessRuntime]:
    rt = ProcessRuntime(bwrap=bwrap)
    yield rt
    for info in rt.list_workloads():
        rt.remove(info.name)


@pytest.fixture
def unsandboxed(monkeypatch: pytest.MonkeyPatch) -> Iterator[ProcessRuntime]:
    monkeypatch.setenv("TOOLHIVE_PROCESS_UNSANDBOXED", "1")
    rt = ProcessRuntime(bwrap=None)
    yield rt
    for info in rt.list_workloads():
        rt.remove(info.name)
