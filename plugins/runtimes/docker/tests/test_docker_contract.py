"""The docker runtime runs the Docker-API engine contract suite (core's runtime contract plus the
engine checks) against the real dockerd it detects, loaded through its entry point."""

from __future__ import annotations

import os
from typing import Any

import pytest
from toolhive.contracts import RuntimeDetection
from toolhive_runtime_docker.sockets import ping_socket, socket_path
from toolhive_runtime_docker.testing import EngineRuntimeContract, skip_or_fail

pytestmark = [pytest.mark.engine, pytest.mark.timeout(180)]


class TestDockerRuntime(EngineRuntimeContract):
    name = "docker"
    entry_point = "runtime-docker"
    heavy_modules = ("docker",)
    stdin_survives_detach = True

    @pytest.fixture
    def detection(self, plugin_spec: Any) -> RuntimeDetection:
        detection: RuntimeDetection = plugin_spec.detect(os.environ)
        if not detection.available or detection.endpoint is None:
            skip_or_fail(f"no Docker engine: {detection.detail}")
        if ping_socket(socket_path(detection.endpoint)).is_podman:
            skip_or_fail(f"{detection.endpoint} is Podman's service, not dockerd (podman-docker?)")
        return detection
