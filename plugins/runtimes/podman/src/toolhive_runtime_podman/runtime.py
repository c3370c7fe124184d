"""The ``podman`` runtime: the Docker runtime plus Podman's quirks.

Podman's API service speaks the Docker Engine API, so everything is inherited from
:class:`~toolhive_runtime_docker.runtime.DockerRuntime`; only what Podman does differently is here.
Each quirk was found by running the same contract suite (``toolhive_runtime_docker.testing``)
against both engines.
"""

from __future__ import annotations

from importlib import resources
from typing import ClassVar

import docker.types
from toolhive_runtime_docker.config import EngineConfig
from toolhive_runtime_docker.runtime import DockerRuntime
from toolhive_runtime_docker.sockets import SocketSearch

from toolhive_runtime_podman.config import PodmanConfig
from toolhive_runtime_podman.sockets import PODMAN_SEARCH

#: Podman names images built, loaded or imported locally ``localhost/<name>``; there is no
#: registry behind that prefix, so pulling one only waits for a connection to be refused.
LOCAL_PREFIX = "localhost/"


class PodmanRuntime(DockerRuntime):
    """MCP servers in Podman containers, through Podman's Docker-compatible API.

    Differences from Docker (see the README for the full list):

    * A stdio server's stdin is closed when the attach connection ends (conmon closes a non-TTY
      container's stdin on the client's EOF, whatever ``StdinOnce`` says), so a stdio server lives
      as long as its first attach; restarting the proxy means redeploying the server.
    * ``localhost/…`` images are local-only: they are never pulled.
    * Short names resolve to local ``localhost/`` images (``podman build -t x`` makes
      ``localhost/x:latest``), which Docker does not do; that needs nothing from us.
    * ``CapDrop`` in inspect lists the dropped default capabilities instead of ``ALL``.
    * A container joining another's network namespace keeps its own ``/etc/resolv.conf`` (the
      host's servers) and ``Dns`` is ignored there, so an isolated server gets a read-only
      resolv.conf naming its DNS sidecar on 127.0.0.1 (Docker shares the sidecar's).
    """

    name = "podman"
    search: ClassVar[SocketSearch] = PODMAN_SEARCH
    config_model: ClassVar[type[EngineConfig]] = PodmanConfig

    def not_pullable(self, ref: str) -> str | None:
        if ref.startswith(LOCAL_PREFIX):
            return (
                f"{LOCAL_PREFIX}… images exist only in the local Podman store "
                "(podman build, load or import), there is no registry to pull them from"
            )
        return None

    def isolated_mounts(self) -> list[docker.types.Mount]:
        conf = resources.files("toolhive_runtime_docker") / "netproxy" / "resolv.conf"
        return [
            docker.types.Mount(
                target="/etc/resolv.conf", source=str(conf), type="bind", read_only=True
            )
        ]
