"""Where Podman's Docker-compatible API service listens (standard library only)."""

from __future__ import annotations

import os
from collections.abc import Mapping

from toolhive_runtime_docker.sockets import SocketSearch


def podman_candidates(environ: Mapping[str, str]) -> list[str]:
    """Rootful service, rootless service, then Podman machine (macOS/Windows) sockets."""
    runtime_dir = environ.get("XDG_RUNTIME_DIR") or f"/run/user/{os.getuid()}"
    candidates = [
        "/var/run/podman/podman.sock",
        "/run/podman/podman.sock",
        f"{runtime_dir}/podman/podman.sock",
        "~/.local/share/containers/podman/machine/podman.sock",
    ]
    tmpdir = environ.get("TMPDIR")
    if tmpdir:
        candidates.append(f"{tmpdir.rstrip('/')}/podman/*-api.sock")
    return candidates


PODMAN_SEARCH = SocketSearch(
    runtime="podman",
    engine="Podman",
    override_env="TOOLHIVE_PODMAN_SOCKET",
    candidates=podman_candidates,
    start_hint=(
        "start Podman's API service (`systemctl start podman.socket`, rootless: "
        "`systemctl --user start podman.socket`, or `podman system service --time=0 &`; "
        "on macOS `podman machine start`) or set TOOLHIVE_PODMAN_SOCKET to its socket"
    ),
)
