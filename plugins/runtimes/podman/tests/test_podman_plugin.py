"""The podman plugin: hook, entry point, detection order and override, lazy imports, load."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import pytest
import toolhive_runtime_podman
from toolhive.contracts import RuntimeDetection, RuntimeUnavailableError
from toolhive.plugins import Hooks, build_plugin_manager
from toolhive_runtime_docker.runtime import DockerRuntime
from toolhive_runtime_docker.testing import PingServer
from toolhive_runtime_podman import PodmanConfig
from toolhive_runtime_podman.runtime import PodmanRuntime
from toolhive_runtime_podman.sockets import PODMAN_SEARCH, podman_candidates


@pytest.fixture
def sockdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="thv-", dir="/tmp") as path:
        yield Path(path)


def test_hook_declares_the_podman_runtime() -> None:
    (spec,) = toolhive_runtime_podman.thv_runtimes()
    assert (spec.name, spec.priority, spec.config_model) == ("podman", 10, PodmanConfig)
    pm = build_plugin_manager(autoload=False, plugins=[toolhive_runtime_podman])
    assert Hooks(pm).runtimes()["podman"].priority == 10


def test_entry_point() -> None:
    (ep,) = [e for e in metadata.entry_points(group="toolhive") if e.name == "runtime-podman"]
    assert ep.value == "toolhive_runtime_podman"


def test_candidates_follow_toolhive_order() -> None:
    env = {"HOME": "/home/u", "XDG_RUNTIME_DIR": "/run/user/1000", "TMPDIR": "/var/tmp/x/"}
    assert podman_candidates(env) == [
        "/var/run/podman/podman.sock",
        "/run/podman/podman.sock",
        "/run/user/1000/podman/podman.sock",
        "~/.local/share/containers/podman/machine/podman.sock",
        "/var/tmp/x/podman/*-api.sock",
    ]
    without = podman_candidates({"HOME": "/home/u"})
    assert without[2] == f"/run/user/{os.getuid()}/podman/podman.sock"
    assert len(without) == 4


def test_rootless_and_machine_sockets_are_found(sockdir: Path) -> None:
    xdg = sockdir / "xdg"
    machine = sockdir / "tmp" / "podman" / "podman-machine-default-api.sock"
    env = {
        "HOME": str(sockdir / "home"),
        "XDG_RUNTIME_DIR": str(xdg),
        "TMPDIR": str(sockdir / "tmp"),
    }
    # The rootful paths come first and may hold a real service on this machine; search the rest
    # of the same list the same way.
    user_only = dataclasses.replace(
        PODMAN_SEARCH, candidates=lambda environ: podman_candidates(environ)[2:]
    )
    with PingServer(str(machine), server="Libpod/5.0.0 (linux)"):
        assert PODMAN_SEARCH.candidate_paths(env)[-1] == str(machine)
        detection = user_only.detect(env)
        assert detection.endpoint == f"unix://{machine}"
        assert "Libpod/5.0.0" in detection.detail
        with PingServer(str(xdg / "podman" / "podman.sock")):
            assert user_only.detect(env).endpoint == f"unix://{xdg}/podman/podman.sock"


def test_override(sockdir: Path) -> None:
    path = str(sockdir / "p.sock")
    with PingServer(path, server="Libpod/4.3.1 (linux)"):
        detection = toolhive_runtime_podman.detect({"TOOLHIVE_PODMAN_SOCKET": path})
    assert detection.available
    assert detection.endpoint == f"unix://{path}"
    gone = toolhive_runtime_podman.detect({"TOOLHIVE_PODMAN_SOCKET": path})
    assert not gone.available
    assert "TOOLHIVE_PODMAN_SOCKET" in gone.detail


def test_detection_does_not_import_the_sdk(tmp_path: Path) -> None:
    code = (
        "import sys, toolhive_runtime_podman as p\n"
        "p.thv_runtimes()[0].detect({'HOME': sys.argv[1]})\n"
        "heavy = {'docker', 'requests'} & set(sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code, str(tmp_path)], check=True, timeout=60)


def test_load(tmp_path: Path) -> None:
    found = RuntimeDetection(name="podman", available=True, endpoint="unix:///run/p.sock")
    runtime = toolhive_runtime_podman.load(found, PodmanConfig())
    assert isinstance(runtime, PodmanRuntime) and isinstance(runtime, DockerRuntime)
    assert runtime.name == "podman"
    assert runtime.socket_path == "/run/p.sock"
    missing = PodmanRuntime(str(tmp_path / "podman.sock"))
    with pytest.raises(RuntimeUnavailableError, match="podman system service"):
        missing.ping()


def test_local_images_are_never_pulled() -> None:
    runtime = PodmanRuntime("/nonexistent.sock")
    assert runtime.not_pullable("localhost/x:1")
    assert runtime.not_pullable("localhost:5000/x:1") is None
    assert runtime.not_pullable("ghcr.io/x/y:1") is None
