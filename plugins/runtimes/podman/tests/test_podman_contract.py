"""The podman runtime runs the Docker-API engine contract suite against the real Podman API service
it detects (``TOOLHIVE_PODMAN_SOCKET``, else the rootful socket and the other Podman candidates),
loaded through its entry point; plus Podman's own image rules."""

from __future__ import annotations

import pytest
from toolhive.contracts import ImageNotFoundError
from toolhive_runtime_docker.testing import EngineRuntimeContract

pytestmark = [pytest.mark.engine, pytest.mark.timeout(180)]

#: Podman's default capability set: what its inspect lists as dropped for ``CapDrop: [ALL]``.
PODMAN_DEFAULT_CAPS = {
    "AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
    "NET_BIND_SERVICE", "NET_RAW", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT",
}  # fmt: skip


class TestPodmanRuntime(EngineRuntimeContract):
    name = "podman"
    entry_point = "runtime-podman"
    heavy_modules = ("docker",)
    # Its detection reuses the docker plugin's socket probing (stdlib only, no SDK).
    light_modules = ("toolhive_runtime_docker",)
    # conmon closes a non-TTY container's stdin when the attach client goes away.
    stdin_survives_detach = False

    @staticmethod
    def drops_all_capabilities(cap_drop: list[str]) -> bool:
        # Podman expands ALL into the default set it would otherwise grant (the in-container
        # check of the contract, CapBnd == 0, proves nothing is left).
        return {c.upper().removeprefix("CAP_") for c in cap_drop} >= PODMAN_DEFAULT_CAPS

    def test_short_name_resolves_to_local_image(self, runtime) -> None:
        runtime.ensure_image("toolhive-test/busybox:latest")

    def test_local_images_are_not_pulled(self, runtime) -> None:
        progress: list[str] = []
        with pytest.raises(ImageNotFoundError, match="only in the local Podman store"):
            runtime.ensure_image("localhost/toolhive-test/never-built:1", progress.append)
        assert progress == []
