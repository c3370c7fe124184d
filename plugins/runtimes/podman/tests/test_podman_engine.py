"""The Docker-API contract suite against a real Podman API service.

The service is the one the plugin detects (``TOOLHIVE_PODMAN_SOCKET``, else the rootful socket
``/run/podman/podman.sock`` and the other Podman candidates), loaded the way ToolHive loads it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import toolhive_runtime_podman
from toolhive.contracts import ImageNotFoundError
from toolhive_runtime_docker.testing import EngineRuntimeContract, open_engine, skip_or_fail
from toolhive_runtime_podman import PodmanConfig
from toolhive_runtime_podman.runtime import PodmanRuntime

pytestmark = pytest.mark.engine

#: Podman's default capability set: what its inspect lists as dropped for ``CapDrop: [ALL]``.
PODMAN_DEFAULT_CAPS = {
    "AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
    "NET_BIND_SERVICE", "NET_RAW", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT",
}  # fmt: skip


def load_podman() -> PodmanRuntime:
    detection = toolhive_runtime_podman.detect(os.environ)
    if not detection.available:
        skip_or_fail(f"no Podman service: {detection.detail}")
    return toolhive_runtime_podman.load(detection, PodmanConfig())


class TestPodmanEngine(EngineRuntimeContract):
    # conmon closes a non-TTY container's stdin when the attach client goes away.
    stdin_survives_detach = False

    @pytest.fixture
    def runtime(self) -> Iterator[PodmanRuntime]:
        runtime = open_engine(load_podman)
        yield runtime
        runtime.close()

    @staticmethod
    def drops_all_capabilities(cap_drop: list[str]) -> bool:
        # Podman expands ALL into the default set it would otherwise grant (the in-container
        # check of the contract, CapBnd == 0, proves nothing is left).
        return {c.upper().removeprefix("CAP_") for c in cap_drop} >= PODMAN_DEFAULT_CAPS

    def test_short_name_resolves_to_local_image(self, runtime: PodmanRuntime) -> None:
        runtime.ensure_image("toolhive-test/busybox:latest")

    def test_local_images_are_not_pulled(self, runtime: PodmanRuntime) -> None:
        progress: list[str] = []
        with pytest.raises(ImageNotFoundError, match="only in the local Podman store"):
            runtime.ensure_image("localhost/toolhive-test/never-built:1", progress.append)
        assert progress == []
