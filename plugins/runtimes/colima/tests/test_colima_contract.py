"""The colima runtime runs the Docker-API engine contract suite, against the real dockerd on this
machine, loaded through its entry point.

Colima runs a plain dockerd inside a VM; there is no VM here (Linux CI, no nested virtualisation),
so unless ``TOOLHIVE_COLIMA_SOCKET`` is set the runtime is pointed at the local dockerd (found by
the docker plugin's detection) through that variable, as a user would point it at a non-default
profile. That covers every API call the runtime makes; what only a real Colima VM shows (which
host paths are shared, port forwarding to the host) is covered by the unit tests of the
shared-path check.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

import pytest
from toolhive.contracts import RuntimeDetection
from toolhive.testing import plugin_hooks_for
from toolhive_runtime_docker.testing import EngineRuntimeContract, skip_or_fail

pytestmark = [pytest.mark.engine, pytest.mark.timeout(180)]


class TestColimaRuntime(EngineRuntimeContract):
    name = "colima"
    entry_point = "runtime-colima"
    heavy_modules = ("docker",)
    # Its detection reuses the docker plugin's socket probing (stdlib only, no SDK).
    light_modules = ("toolhive_runtime_docker",)
    stdin_survives_detach = True  # dockerd

    @pytest.fixture
    def plugin_config(self) -> dict[str, Any]:
        # The contract mounts pytest's temporary directories; share them as a Colima user would.
        return {"shared_paths": [tempfile.gettempdir(), os.path.expanduser("~")]}

    @pytest.fixture
    def detection(self, plugin_spec: Any, monkeypatch: pytest.MonkeyPatch) -> RuntimeDetection:
        if "TOOLHIVE_COLIMA_SOCKET" not in os.environ:
            dockerd = plugin_hooks_for("runtime-docker").runtimes()["docker"].detect(os.environ)
            if not dockerd.available or dockerd.endpoint is None:
                skip_or_fail(f"no Colima and no dockerd to stand in for it: {dockerd.detail}")
            monkeypatch.setenv("TOOLHIVE_COLIMA_SOCKET", dockerd.endpoint)
        detection: RuntimeDetection = plugin_spec.detect(os.environ)
        if not detection.available:
            skip_or_fail(f"no engine for the colima runtime: {detection.detail}")
        return detection
