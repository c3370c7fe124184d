"""The Docker-API contract suite against a real dockerd.

The engine is the one the plugin detects (``TOOLHIVE_DOCKER_SOCKET``, else ``/var/run/docker.sock``
and the other Docker candidates), loaded the way ToolHive loads it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import toolhive_runtime_docker
from toolhive_runtime_docker import DockerConfig
from toolhive_runtime_docker.runtime import DockerRuntime
from toolhive_runtime_docker.sockets import ping_socket
from toolhive_runtime_docker.testing import EngineRuntimeContract, open_engine, skip_or_fail

pytestmark = pytest.mark.engine


def load_dockerd() -> DockerRuntime:
    detection = toolhive_runtime_docker.detect(os.environ)
    if not detection.available:
        skip_or_fail(f"no Docker engine: {detection.detail}")
    runtime = toolhive_runtime_docker.load(detection, DockerConfig())
    if ping_socket(runtime.socket_path).is_podman:
        skip_or_fail(f"{runtime.endpoint} is Podman's service, not dockerd (podman-docker?)")
    return runtime


class TestDockerEngine(EngineRuntimeContract):
    stdin_survives_detach = True

    @pytest.fixture
    def runtime(self) -> Iterator[DockerRuntime]:
        runtime = open_engine(load_dockerd)
        yield runtime
        runtime.close()
