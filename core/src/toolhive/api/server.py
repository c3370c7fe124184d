"""Serving the API: a TCP port or a unix socket, and ToolHive's discovery file.

While it serves, ``$XDG_STATE_HOME/toolhive/server/server.json`` holds ``{url, pid, nonce,
started_at}`` (0600), so a UI finds the running server and checks it is that one: ``/health``
echoes the nonce in ``X-Toolhive-Nonce``. The file is removed on the way out.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import secrets
import socket
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from toolhive.errors import InvalidInputError
from toolhive.state import paths
from toolhive.state.atomic import write_atomic
from toolhive.userpaths import expand_user


def discovery_file() -> Path:
    return paths.state_dir() / "server" / "server.json"


def new_nonce() -> str:
    return secrets.token_hex(16)


def unix_listener(path: str) -> socket.socket:
    """A listening unix socket at ``path``, mode 0600; a stale socket file is replaced, any
    other file is not."""
    target = expand_user(path, "--socket")
    if target.exists() or target.is_symlink():
        if not stat.S_ISSOCK(target.lstat().st_mode):
            msg = f"--socket {path}: a file that is not a socket is in the way"
            raise InvalidInputError(msg)
        target.unlink()
    target.parent.mkdir(parents=True, exist_ok=True)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)  # created 0600: no window where another user could connect
    try:
        sock.bind(str(target))
    finally:
        os.umask(old)
    os.chmod(target, 0o600)
    sock.listen(128)
    return sock


@contextlib.contextmanager
def discovery(url: str, nonce: str) -> Iterator[None]:
    """Write the discovery file while the server runs."""
    record: dict[str, Any] = {
        "url": url,
        "pid": os.getpid(),
        "nonce": nonce,
        "started_at": datetime.datetime.now(datetime.UTC).isoformat().replace("+00:00", "Z"),
    }
    path = discovery_file()
    write_atomic(path, json.dumps(record, indent=2) + "\n", mode=0o600)
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            current = json.loads(path.read_text())
            if current.get("nonce") == nonce:  # a newer server's file stays
                path.unlink()


def serve(app: Any, sock: socket.socket, url: str, nonce: str) -> None:
    """Serve ``app`` on ``sock`` until SIGINT/SIGTERM."""
    import asyncio

    from toolhive.proxy.server import ProxyServer

    server = ProxyServer(app, sock, lifespan="off")
    with discovery(url, nonce):
        asyncio.run(server.serve())
