"""The plugin as ToolHive sees it: the hook, detection, loading, and staying light."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import toolhive_runtime_process
from toolhive.contracts import RuntimeUnavailableError
from toolhive.contracts.runtime import Runtime
from toolhive.plugins import Hooks, build_plugin_manager
from toolhive_runtime_process.config import ProcessRuntimeConfig
from toolhive_runtime_process.runtime import ProcessRuntime


def test_hook_declares_the_process_runtime() -> None:
    (spec,) = toolhive_runtime_process.thv_runtimes()
    assert spec.name == "process"
    assert spec.priority == 1000
    assert spec.is_container is False
    assert spec.config_model is ProcessRuntimeConfig


def test_plugin_manager_accepts_the_plugin() -> None:
    pm = build_plugin_manager(autoload=False, plugins=[toolhive_runtime_process])
    assert "process" in Hooks(pm).runtimes()


def test_detect_with_bubblewrap(bwrap: str) -> None:
    spec = toolhive_runtime_process.thv_runtimes()[0]
    found = spec.detect({"PATH": str(Path(bwrap).parent)})
    assert found.available
    assert found.endpoint == bwrap
    assert "bubblewrap sandbox" in found.detail
    runtime = spec.load(found, ProcessRuntimeConfig())
    assert isinstance(runtime, Runtime)
    assert isinstance(runtime, ProcessRuntime) and runtime.sandboxed
    runtime.ping()


def test_detect_without_bubblewrap_says_what_to_do() -> None:
    spec = toolhive_runtime_process.thv_runtimes()[0]
    found = spec.detect({"PATH": "/nonexistent"})
    assert not found.available
    assert "apt-get install bubblewrap" in found.detail
    assert "TOOLHIVE_PROCESS_UNSANDBOXED=1" in found.detail
    runtime = spec.load(found, ProcessRuntimeConfig())
    with pytest.raises(RuntimeUnavailableError, match="install bubblewrap"):
        runtime.ping()


def test_detect_unsandboxed_when_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = toolhive_runtime_process.thv_runtimes()[0]
    env = {"PATH": "/nonexistent", "TOOLHIVE_PROCESS_UNSANDBOXED": "1"}
    found = spec.detect(env)
    assert found.available
    assert found.endpoint is None
    assert found.detail.startswith("UNSANDBOXED")
    monkeypatch.setenv("TOOLHIVE_PROCESS_UNSANDBOXED", "1")
    runtime = spec.load(found, ProcessRuntimeConfig())
    assert isinstance(runtime, ProcessRuntime) and not runtime.sandboxed
    runtime.ping()


def test_config_rejects_unknown_keys() -> None:
    with pytest.raises(ValueError, match="extra"):
        ProcessRuntimeConfig.model_validate({"hidden_path": ["~/.ssh"]})


def test_importing_the_plugin_stays_light() -> None:
    """Declaring the runtime imports none of its implementation (only config.py)."""
    code = (
        "import sys, toolhive_runtime_process\n"
        "toolhive_runtime_process.thv_runtimes()\n"
        "mine = {m for m in sys.modules if m.startswith('toolhive_runtime_process.')}\n"
        "assert mine == {'toolhive_runtime_process.config'}, mine\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
