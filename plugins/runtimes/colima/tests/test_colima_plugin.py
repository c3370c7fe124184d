"""The colima plugin: hook, entry point, detection (COLIMA_HOME/COLIMA_PROFILE), shared paths."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import pytest
import toolhive_runtime_colima
from toolhive.contracts import PermissionProfileError, RuntimeDetection
from toolhive.contracts.runtime import DeployRequest, Mount, PermissionProfile
from toolhive.plugins import Hooks, build_plugin_manager
from toolhive_runtime_colima import ColimaConfig
from toolhive_runtime_colima.runtime import ColimaRuntime
from toolhive_runtime_colima.sockets import COLIMA_SEARCH, colima_candidates
from toolhive_runtime_docker.testing import PingServer


@pytest.fixture
def sockdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="thv-", dir="/tmp") as path:
        yield Path(path)


def test_hook_declares_the_colima_runtime() -> None:
    (spec,) = toolhive_runtime_colima.thv_runtimes()
    assert (spec.name, spec.priority, spec.config_model) == ("colima", 20, ColimaConfig)
    pm = build_plugin_manager(autoload=False, plugins=[toolhive_runtime_colima])
    assert Hooks(pm).runtimes()["colima"].priority == 20


def test_entry_point() -> None:
    (ep,) = [e for e in metadata.entry_points(group="toolhive") if e.name == "runtime-colima"]
    assert ep.value == "toolhive_runtime_colima"


def test_candidates() -> None:
    assert colima_candidates({}) == [
        "~/.colima/default/docker.sock",
        "~/.colima/default/docker.sock",
        "~/.colima/docker.sock",
    ]
    env = {"COLIMA_HOME": "/opt/colima/", "COLIMA_PROFILE": "work"}
    assert colima_candidates(env)[0] == "/opt/colima/work/docker.sock"
    home = {"HOME": "/home/u"}
    assert COLIMA_SEARCH.candidate_paths(home) == [
        "/home/u/.colima/default/docker.sock",
        "/home/u/.colima/docker.sock",
    ]


def test_detection_order_and_override(sockdir: Path) -> None:
    home = sockdir / "home"
    default = home / ".colima" / "default" / "docker.sock"
    work = sockdir / "ch" / "work" / "docker.sock"
    env = {"HOME": str(home), "COLIMA_HOME": str(sockdir / "ch"), "COLIMA_PROFILE": "work"}
    assert not COLIMA_SEARCH.detect(env).available
    assert "colima start" in COLIMA_SEARCH.detect(env).detail
    with PingServer(str(default)):
        assert COLIMA_SEARCH.detect(env).endpoint == f"unix://{default}"
        with PingServer(str(work)):
            assert COLIMA_SEARCH.detect(env).endpoint == f"unix://{work}"
            override = {**env, "TOOLHIVE_COLIMA_SOCKET": str(default)}
            assert toolhive_runtime_colima.detect(override).endpoint == f"unix://{default}"


def test_detection_does_not_import_the_sdk(tmp_path: Path) -> None:
    code = (
        "import sys, toolhive_runtime_colima as p\n"
        "p.thv_runtimes()[0].detect({'HOME': sys.argv[1]})\n"
        "heavy = {'docker', 'requests'} & set(sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code, str(tmp_path)], check=True, timeout=60)


def test_load_keeps_colima_settings() -> None:
    found = RuntimeDetection(name="colima", available=True, endpoint="unix:///c.sock")
    runtime = toolhive_runtime_colima.load(found, ColimaConfig(shared_paths=["/srv"]))
    assert isinstance(runtime, ColimaRuntime)
    assert runtime.shared_paths() == ["/srv"]


def test_mounts_outside_the_vm_shares_are_refused(tmp_path: Path) -> None:
    shared, private = tmp_path / "shared", tmp_path / "private"
    shared.mkdir()
    private.mkdir()
    runtime = ColimaRuntime("/nonexistent.sock", ColimaConfig(shared_paths=[str(shared)]))
    ok = DeployRequest(name="s", image="i", mounts=[Mount(source=str(shared), target="/d")])
    runtime.check_request(ok)
    for request in (
        DeployRequest(name="s", image="i", mounts=[Mount(source=str(private), target="/d")]),
        DeployRequest(
            name="s", image="i", permission_profile=PermissionProfile(write=[f"{private}:/w"])
        ),
    ):
        with pytest.raises(PermissionProfileError, match="not shared into the Colima VM"):
            runtime.check_request(request)
    volume = DeployRequest(
        name="s", image="i", permission_profile=PermissionProfile(write=["volume://v:/v"])
    )
    runtime.check_request(volume)  # named volumes live in the VM: fine


def test_default_shares_are_colimas(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert ColimaRuntime("/x.sock").shared_paths() == [str(tmp_path), "/tmp/colima"]
