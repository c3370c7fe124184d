"""The plugin as ToolHive sees it: the hook, the entry point, lazy imports, load and config."""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
import toolhive_runtime_docker
from pydantic import ValidationError
from toolhive.contracts import PluginError, RuntimeDetection, RuntimeUnavailableError
from toolhive.contracts.runtime import Runtime
from toolhive.plugins import Hooks, build_plugin_manager
from toolhive_runtime_docker import DockerConfig
from toolhive_runtime_docker.runtime import DockerRuntime


def test_hook_declares_the_docker_runtime() -> None:
    (spec,) = toolhive_runtime_docker.thv_runtimes()
    assert spec.name == "docker"
    assert spec.priority == 30
    assert spec.is_container
    assert spec.config_model is DockerConfig


def test_registered_through_the_plugin_manager() -> None:
    pm = build_plugin_manager(autoload=False, plugins=[toolhive_runtime_docker])
    assert Hooks(pm).runtimes()["docker"].priority == 30


def test_entry_point() -> None:
    (ep,) = [e for e in metadata.entry_points(group="toolhive") if e.name == "runtime-docker"]
    assert ep.value == "toolhive_runtime_docker"
    assert ep.dist is not None and ep.dist.name == "toolhive-runtime-docker"


def test_detection_does_not_import_the_sdk(tmp_path: Path) -> None:
    code = (
        "import sys, toolhive_runtime_docker as p\n"
        "spec, = p.thv_runtimes()\n"
        "d = spec.detect({'HOME': sys.argv[1], 'TOOLHIVE_DOCKER_SOCKET': sys.argv[1] + '/x'})\n"
        "assert not d.available, d\n"
        "heavy = {'docker', 'requests', 'urllib3'} & set(sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code, str(tmp_path)], check=True, timeout=60)


def test_load_uses_config_then_detection() -> None:
    found = RuntimeDetection(name="docker", available=True, endpoint="unix:///run/found.sock")
    runtime = toolhive_runtime_docker.load(found, DockerConfig())
    assert isinstance(runtime, DockerRuntime)
    assert isinstance(runtime, Runtime)
    assert runtime.socket_path == "/run/found.sock"
    configured = toolhive_runtime_docker.load(found, DockerConfig(socket="/run/mine.sock"))
    assert configured.socket_path == "/run/mine.sock"


def test_settings_reach_load_as_docker_config_through_the_host() -> None:
    found = RuntimeDetection(name="docker", available=True, endpoint="unix:///run/found.sock")
    hooks = Hooks(build_plugin_manager(autoload=False, plugins=[toolhive_runtime_docker]))
    runtime = hooks.load("runtimes", "docker", {"socket": "/run/mine.sock"}, detection=found)
    assert isinstance(runtime, DockerRuntime)
    assert runtime.config == DockerConfig(socket="/run/mine.sock")
    with pytest.raises(PluginError, match=r"plugins\.runtimes\.docker\.sokcet"):
        hooks.load("runtimes", "docker", {"sokcet": "/run/mine.sock"}, detection=found)


def test_load_without_an_engine() -> None:
    missing = RuntimeDetection(name="docker", available=False, detail="no Docker engine answered")
    with pytest.raises(RuntimeUnavailableError, match="no Docker engine answered"):
        toolhive_runtime_docker.load(missing, DockerConfig())
    with pytest.raises(PluginError, match="only unix://"):
        toolhive_runtime_docker.load(missing, DockerConfig(socket="tcp://1.2.3.4:2375"))


def test_ping_says_where_and_how_to_start(tmp_path: Path) -> None:
    runtime = DockerRuntime(str(tmp_path / "docker.sock"))
    with pytest.raises(RuntimeUnavailableError) as caught:
        runtime.ping()
    message = str(caught.value)
    assert f"unix://{tmp_path}/docker.sock" in message
    assert "no such socket" in message
    assert "systemctl start docker" in message


def test_engine_calls_without_an_engine(tmp_path: Path) -> None:
    runtime = DockerRuntime(str(tmp_path / "docker.sock"))
    with pytest.raises(RuntimeUnavailableError, match="TOOLHIVE_DOCKER_SOCKET"):
        runtime.inspect("anything")
    runtime.close()


def test_config_is_strict() -> None:
    with pytest.raises(ValidationError):
        DockerConfig.model_validate({"sockett": "/x"})
    with pytest.raises(ValidationError):
        DockerConfig(api_timeout=0)
    assert DockerConfig().init is True
