"""The Docker-API contract suite for the colima runtime, against the real dockerd on this machine.

Colima runs a plain dockerd inside a VM; there is no VM here (Linux CI, no nested virtualisation),
so unless ``TOOLHIVE_COLIMA_SOCKET`` is set the runtime is pointed at the local dockerd (found by
the docker plugin's detection) through that variable, as a user would point it at a non-default
profile. That covers every API call the runtime makes; what
only a real Colima VM shows (which host paths are shared, port forwarding to the host) is covered
by the unit tests of the shared-path check.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator

import pytest
import toolhive_runtime_colima
import toolhive_runtime_docker
from toolhive.contracts import RuntimeDetection
from toolhive_runtime_colima import ColimaConfig
from toolhive_runtime_colima.runtime import ColimaRuntime
from toolhive_runtime_docker.testing import EngineRuntimeContract, open_engine, skip_or_fail

pytestmark = pytest.mark.engine


def _load() -> ColimaRuntime:
    env = dict(os.environ)
    if "TOOLHIVE_COLIMA_SOCKET" not in env:
        dockerd = toolhive_runtime_docker.detect(env)
        if not dockerd.available or dockerd.endpoint is None:
            skip_or_fail(f"no Colima and no dockerd to stand in for it: {dockerd.detail}")
        env["TOOLHIVE_COLIMA_SOCKET"] = dockerd.endpoint
    detection = toolhive_runtime_colima.detect(env)
    if not detection.available:
        skip_or_fail(f"no engine for the colima runtime: {detection.detail}")
    assert isinstance(detection, RuntimeDetection)
    # The contract mounts pytest's temporary directories; share them as a Colima user would.
    config = ColimaConfig(shared_paths=[tempfile.gettempdir(), os.path.expanduser("~")])
    runtime = toolhive_runtime_colima.load(detection, config)
    assert isinstance(runtime, ColimaRuntime)
    return runtime


class TestColimaEngine(EngineRuntimeContract):
    stdin_survives_detach = True  # dockerd

    @pytest.fixture
    def runtime(self) -> Iterator[ColimaRuntime]:
        runtime = open_engine(_load)
        yield runtime
        runtime.close()
