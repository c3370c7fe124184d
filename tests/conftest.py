"""Shared fixtures for the cross-package tests: an isolated ToolHive home and a `thv` runner."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from toolhive.testing.k8s_cluster import OperatorProcess

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures"
MCP_IMAGE = "localhost/toolhive-test/mcp-servers:latest"
ENGINE_SOCKETS = {
    "podman": "/run/podman/podman.sock",
    "docker": "/var/run/docker.sock",
}


def require_or_skip(reason: str) -> None:
    """Skip locally; fail in CI, where every engine must be present."""
    if os.environ.get("TOOLHIVE_TEST_REQUIRE_ENGINES") == "1":
        pytest.fail(f"required component missing: {reason}")
    pytest.skip(reason)


class Thv:
    """Runs the real `thv` console script in a subprocess with an isolated home."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.exe = str(Path(sys.executable).with_name("thv"))

    def __call__(
        self, *args: str, check: bool = True, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [self.exe, *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"thv {' '.join(args)} exited {proc.returncode}\n"
                f"stdout: {proc.stdout}\nstderr: {proc.stderr}"
            )
        return proc


@pytest.fixture
def thv_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    home = tmp_path / "home"
    env = {
        **os.environ,
        "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_DATA_HOME": str(home / "data"),
        "XDG_STATE_HOME": str(home / "state"),
        "TOOLHIVE_STRICT_PLUGINS": "1",
    }
    # Keep package caches shared between tests (uv's and npm's own defaults).
    env.pop("XDG_CACHE_HOME", None)
    yield env
    # Tear down anything still running under this home.
    exe = str(Path(sys.executable).with_name("thv"))
    subprocess.run([exe, "rm", "--all"], env=env, capture_output=True, timeout=120, check=False)


@pytest.fixture
def thv(thv_env: dict[str, str]) -> Thv:
    return Thv(thv_env)


def engine_available(name: str) -> bool:
    sock = ENGINE_SOCKETS[name]
    if not Path(sock).exists():
        return False
    try:
        import docker

        client = docker.DockerClient(base_url=f"unix://{sock}", timeout=5)
        try:
            client.images.get(MCP_IMAGE)
        finally:
            client.close()
    except Exception:
        return False
    return True


def process_runtime_available() -> bool:
    return shutil.which("bwrap") is not None and shutil.which("uv") is not None


@pytest.fixture(scope="session")
def k8s_images() -> None:
    """The operator and proxy runner images of this checkout in the cluster's dockerd (cached by
    scripts/build-k8s-images.sh: a no-op when nothing changed)."""
    from toolhive.testing.k8s_cluster import build_images

    build_images()


#: The ToolHive kinds a test may leave behind, the finalized ones first.
_OPERATOR_KINDS = (
    "virtualmcpservers,mcpremoteproxies,mcpservers,mcpregistries,mcpoidcconfigs,mcpgroups,"
    "mcptoolconfigs,mcptelemetryconfigs,mcpexternalauthconfigs"
)


@pytest.fixture
def operator(
    k8s: Any, k8s_namespace: str, k8s_images: None, tmp_path: Path
) -> Iterator[OperatorProcess]:
    """``thv-operator`` out of cluster (``--image-pull-policy Never --resync 5``) watching the
    test's namespace, the CRDs installed; for modules that define ``k8s`` and ``k8s_namespace``."""
    from toolhive.testing.k8s_cluster import OperatorProcess, install_crds

    install_crds(k8s, REPO / "deploy" / "crds")
    handle = OperatorProcess(
        k8s,
        k8s_namespace,
        tmp_path / "operator.log",
        "--image-pull-policy",
        "Never",
        "--resync",
        "5",
    )
    handle.start()
    try:
        yield handle
    finally:
        # The test's resources go while the operator still runs: their finalizers are its to remove.
        k8s.kubectl(
            "delete", _OPERATOR_KINDS, "--all", "-n", k8s_namespace, "--wait=true",
            "--timeout=90s", timeout=120, check=False,
        )  # fmt: skip
        handle.stop()
