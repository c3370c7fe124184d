"""``.thvignore`` on Docker-API engines: extra mounts that hide what the patterns match.

Core decides what is hidden (:mod:`toolhive.contracts.thvignore`); here each hidden directory gets
a read-only bind of one empty host directory and each hidden file a read-only bind of one empty
host file, as ToolHive does. Binds, not tmpfs: Podman's compat API mounts tmpfs before binds, so a
tmpfs inside a bind-mounted folder would end up underneath it (measured: the files stay visible).
The engines mount parents before children, so these binds land inside the folder mounts.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from pathlib import Path

import docker.types
from toolhive.contracts import storage, thvignore
from toolhive.contracts.runtime import DeployRequest

from toolhive_runtime_docker.hardening import MountPlan


def empty_file() -> Path:
    """One empty, read-only host file to bind over hidden files."""
    path = storage.data_dir() / "thvignore-empty"
    if not path.is_file() or path.stat().st_size:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)
        path.write_bytes(b"")
        path.chmod(0o444)
    return path


def empty_dir() -> Path:
    """One empty, read-only host directory to bind over hidden directories."""
    path = storage.data_dir() / "thvignore-empty.d"
    if path.is_dir() and any(path.iterdir()):
        path.chmod(0o755)
        shutil.rmtree(path)
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o555)
    return path


def overlays(request: DeployRequest, plans: Iterable[MountPlan]) -> list[thvignore.Overlay]:
    """What the request's bind-mounted folders' ``.thvignore`` (and the global file) hide."""
    glob = thvignore.global_file() if request.ignore_globally else None
    binds = [(plan.source, plan.target) for plan in plans if plan.kind == "bind"]
    return thvignore.overlays(binds, global_file=glob)


def ignore_mounts(request: DeployRequest, plans: Iterable[MountPlan]) -> list[docker.types.Mount]:
    """The extra mounts for the container create request."""
    found = overlays(request, plans)
    if not found:
        return []
    file, folder = str(empty_file()), str(empty_dir())
    return [
        docker.types.Mount(
            target=str(o.target), source=folder if o.is_dir else file, type="bind", read_only=True
        )
        for o in found
    ]
