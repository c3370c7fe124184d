"""The ``colima`` runtime: the Docker runtime, for the Docker engine inside Colima's VM.

The engine is a plain dockerd, so the API behaves as Docker's; what differs is that it runs in a
VM. Bind mounts see the VM's file system, which shares only some host directories: a mount from
anywhere else starts without error but is silently empty. Those are refused here.
"""

from __future__ import annotations

import os
from typing import ClassVar

from toolhive.contracts import PermissionProfileError
from toolhive.contracts.runtime import DeployRequest
from toolhive_runtime_docker import hardening
from toolhive_runtime_docker.config import EngineConfig
from toolhive_runtime_docker.runtime import DockerRuntime
from toolhive_runtime_docker.sockets import SocketSearch

from toolhive_runtime_colima.config import DEFAULT_SHARED_PATHS, ColimaConfig
from toolhive_runtime_colima.sockets import COLIMA_SEARCH


def _within(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


class ColimaRuntime(DockerRuntime):
    """MCP servers in containers of the Docker engine that Colima runs in its VM."""

    name = "colima"
    search: ClassVar[SocketSearch] = COLIMA_SEARCH
    config_model: ClassVar[type[EngineConfig]] = ColimaConfig

    def shared_paths(self) -> list[str]:
        """Host directories visible in the VM, absolute and without symlinks."""
        configured = getattr(self.config, "shared_paths", None)
        paths = DEFAULT_SHARED_PATHS if configured is None else configured
        return [os.path.realpath(os.path.expanduser(p)) for p in paths]

    def check_request(self, request: DeployRequest) -> None:
        super().check_request(request)
        shared = self.shared_paths()
        for mount in hardening.plan_mounts(request):
            if mount.kind != "bind":
                continue
            source = os.path.realpath(mount.source)
            if not any(_within(source, root) for root in shared):
                msg = (
                    f"mount source {mount.source} is not shared into the Colima VM "
                    f"(shared: {', '.join(shared) or 'nothing'}), so the container would see an "
                    "empty directory; add it to `mounts` in colima.yaml (`colima start --edit`) "
                    "and to this runtime's shared_paths setting, or mount a shared directory"
                )
                raise PermissionProfileError(msg)
