"""Socket discovery and /_ping, against real HTTP servers on unix sockets in a temp dir."""

from __future__ import annotations

import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from toolhive_runtime_docker.sockets import (
    DOCKER_SEARCH,
    SocketSearch,
    ping_socket,
    socket_path,
)
from toolhive_runtime_docker.testing import PingServer


@pytest.fixture
def sockdir() -> Iterator[Path]:
    """A short directory: unix socket paths are limited to about 100 bytes."""
    with tempfile.TemporaryDirectory(prefix="thv-", dir="/tmp") as path:
        yield Path(path)


def search(*paths: str, env: str = "TOOLHIVE_TEST_SOCKET") -> SocketSearch:
    return SocketSearch(
        runtime="test",
        engine="Test",
        override_env=env,
        candidates=lambda environ: list(paths),
        start_hint="start the test engine",
    )


def test_ping_answers(sockdir: Path) -> None:
    path = str(sockdir / "ok.sock")
    with PingServer(path, server="Libpod/4.3.1 (linux)") as server:
        result = ping_socket(path)
    assert result.ok
    assert result.server == "Libpod/4.3.1 (linux)"
    assert result.api_version == "1.41"
    assert result.is_podman
    assert server.requests == 1
    assert result.describe() == f"Libpod/4.3.1 (linux), API 1.41 at unix://{path}"


def test_ping_failures(sockdir: Path) -> None:
    assert ping_socket(str(sockdir / "missing.sock")).error == "no such socket"
    plain = sockdir / "file"
    plain.write_text("")
    assert ping_socket(str(plain)).error == "not a socket"
    dead = str(sockdir / "dead.sock")
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(dead)  # bound, never listening: connection refused
    refused = ping_socket(dead)
    assert not refused.ok
    assert "refused" in refused.error.lower()
    broken = str(sockdir / "broken.sock")
    with PingServer(broken, status=500):
        result = ping_socket(broken)
    assert not result.ok
    assert result.error.startswith("HTTP 500")


def test_first_answering_candidate_wins(sockdir: Path) -> None:
    missing, broken, good, later = (str(sockdir / n) for n in ("a", "b", "c", "d"))
    with PingServer(broken, status=500), PingServer(good), PingServer(later) as last:
        detection = search(missing, broken, good, later).detect({})
        assert last.requests == 0
    assert detection.available
    assert detection.name == "test"
    assert detection.endpoint == f"unix://{good}"


def test_nothing_answers(sockdir: Path) -> None:
    broken = str(sockdir / "b.sock")
    with PingServer(broken, status=500):
        detection = search(str(sockdir / "missing"), broken).detect({})
    assert not detection.available
    assert detection.endpoint is None
    assert "no Test engine answered" in detection.detail
    assert broken in detection.detail  # tried and broken is shown, missing is not noise
    assert "missing" not in detection.detail
    assert detection.detail.endswith("start the test engine")


def test_override_wins_and_never_falls_back(sockdir: Path) -> None:
    candidate, override = str(sockdir / "c.sock"), str(sockdir / "o.sock")
    with PingServer(candidate), PingServer(override):
        chosen = search(candidate).detect({"TOOLHIVE_TEST_SOCKET": f"unix://{override}"})
        assert chosen.endpoint == f"unix://{override}"
        assert "from TOOLHIVE_TEST_SOCKET" in chosen.detail
        gone = str(sockdir / "gone.sock")
        refused = search(candidate).detect({"TOOLHIVE_TEST_SOCKET": gone})
    assert not refused.available
    assert refused.detail == f"TOOLHIVE_TEST_SOCKET={gone} does not answer: no such socket"
    tcp = search(candidate).detect({"TOOLHIVE_TEST_SOCKET": "tcp://127.0.0.1:2375"})
    assert not tcp.available
    assert "only unix:// sockets" in tcp.detail


def test_home_globs_and_symlinks_are_expanded(sockdir: Path) -> None:
    home = sockdir / "home"
    real = home / ".docker" / "run" / "docker.sock"
    link = sockdir / "link.sock"
    with PingServer(str(real)):
        link.symlink_to(real)
        paths = search(str(link), "~/.docker/run/docker.sock", f"{sockdir}/*/x.sock")
        assert paths.candidate_paths({"HOME": str(home)}) == [str(link)]
        detection = search("~/.docker/run/docker.sock").detect({"HOME": str(home)})
    assert detection.endpoint == f"unix://{real}"


def test_docker_candidates_follow_toolhive_order(sockdir: Path) -> None:
    home = str(sockdir)
    assert DOCKER_SEARCH.candidate_paths({"HOME": home}) == [
        "/var/run/docker.sock",
        f"{home}/.docker/run/docker.sock",
        f"{home}/.docker/desktop/docker.sock",
        f"{home}/.rd/docker.sock",
        f"{home}/.orbstack/run/docker.sock",
    ]
    assert DOCKER_SEARCH.override_env == "TOOLHIVE_DOCKER_SOCKET"


def test_docker_override(sockdir: Path) -> None:
    path = str(sockdir / "d.sock")
    with PingServer(path):
        detection = DOCKER_SEARCH.detect({"TOOLHIVE_DOCKER_SOCKET": path, "HOME": str(sockdir)})
    assert detection.available
    assert detection.name == "docker"
    assert detection.endpoint == f"unix://{path}"


def test_socket_path() -> None:
    assert socket_path("unix:///run/x.sock") == "/run/x.sock"
    assert socket_path("/run/x.sock") == "/run/x.sock"
    with pytest.raises(ValueError, match="only unix://"):
        socket_path("ssh://host")


def test_docker_socket_that_is_podman_says_so(sockdir: Path) -> None:
    path = str(sockdir / "docker.sock")
    with PingServer(path, server="Libpod/4.3.1 (linux)"):
        detection = DOCKER_SEARCH.detect({"TOOLHIVE_DOCKER_SOCKET": path})
    assert detection.available
    assert "prefer --runtime podman" in detection.detail
