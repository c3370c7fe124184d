"""Shared pieces of the tests that build and run images on the real engines: a Docker-API client
for an engine whose test images are present (else skip, or fail in CI), the engine's init inside a
container, and how long `thv stop` takes."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from tests.conftest import ENGINE_SOCKETS, Thv, engine_available, require_or_skip

#: What the engine's init is called inside the container (its bind-mounted binary).
INIT_PATH = {"podman": "/run/podman-init", "docker": "/sbin/docker-init"}
#: The supervisor gives the server 10 s to stop before the engine kills it: a server that ignored
#: SIGTERM (PID 1 without an init) would end only after this.
KILL_TIMEOUT_S = 10.0


@contextmanager
def engine_client(engine: str, images: tuple[str, ...]) -> Iterator[Any]:
    """A ``docker.DockerClient`` on ``engine``'s socket, once ``images`` are known to be there."""
    import docker

    if not engine_available(engine):
        require_or_skip(f"{engine} engine with the test images")
    client = docker.DockerClient(base_url=f"unix://{ENGINE_SOCKETS[engine]}", version="auto")
    try:
        for image in images:
            try:
                client.images.get(image)
            except docker.errors.ImageNotFound:
                require_or_skip(f"{image} in {engine}: run scripts/build-test-images.sh")
        yield client
    finally:
        client.close()


def timed_stop(thv: Thv, client: Any, name: str) -> tuple[float, float]:
    """``thv stop``: seconds until the container ended (engine clock) and until the command
    returned. The first is what an init changes; the second adds the supervisor's own teardown."""
    start_wall, start = time.time(), time.monotonic()
    thv("stop", name)
    total = time.monotonic() - start
    state = client.containers.get(name).attrs["State"]
    assert state["Running"] is False, state
    stamp = re.sub(r"(\.\d{6})\d+", r"\1", state["FinishedAt"]).replace("Z", "+00:00")
    return datetime.fromisoformat(stamp).timestamp() - start_wall, total
