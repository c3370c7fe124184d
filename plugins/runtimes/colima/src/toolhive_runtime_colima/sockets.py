"""Where Colima's Docker socket is (standard library only).

Colima keeps its files in ``$COLIMA_HOME`` (default ``~/.colima``), one directory per profile
(``$COLIMA_PROFILE``, default ``default``); the Docker socket of a profile is ``docker.sock`` in it.
Colima 0.3.4 and older used ``~/.colima/docker.sock``.
"""

from __future__ import annotations

from collections.abc import Mapping

from toolhive_runtime_docker.sockets import SocketSearch


def colima_home(environ: Mapping[str, str]) -> str:
    return (environ.get("COLIMA_HOME") or "~/.colima").rstrip("/")


def colima_candidates(environ: Mapping[str, str]) -> list[str]:
    profile = environ.get("COLIMA_PROFILE") or "default"
    return [
        f"{colima_home(environ)}/{profile}/docker.sock",
        "~/.colima/default/docker.sock",
        "~/.colima/docker.sock",
    ]


COLIMA_SEARCH = SocketSearch(
    runtime="colima",
    engine="Colima",
    override_env="TOOLHIVE_COLIMA_SOCKET",
    candidates=colima_candidates,
    start_hint=(
        "start it with `colima start` (`colima status` shows the socket) "
        "or set TOOLHIVE_COLIMA_SOCKET to its socket"
    ),
    warn_if_podman=True,
)
