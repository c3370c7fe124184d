"""The bubblewrap sandbox: what a permission profile can and cannot become, and the ``bwrap`` argv.

The sandbox is a read-only view of the host (:func:`root_flags`) with a private ``/tmp``, fresh
``/dev`` and ``/proc``, its own PID, IPC and UTS namespaces, no capabilities, and no network at all
unless the profile allows every destination (allow-lists go through an egress proxy, see
:mod:`.network`). A profile's ``read`` entries become ``--ro-bind``
and its ``write`` entries ``--bind``. Whatever a profile asks for that this cannot enforce is
refused here, before anything starts — never silently weakened.

Stdlib and ``toolhive`` only: :func:`detect` runs during runtime auto-detection.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from toolhive.contracts import (
    InvalidInputError,
    PermissionProfileError,
    RuntimeDetection,
    thvignore,
)
from toolhive.contracts.runtime import DeployRequest, PermissionProfile

#: Set to ``1`` to run servers without a sandbox when bubblewrap is missing or unusable.
UNSANDBOXED_ENV = "TOOLHIVE_PROCESS_UNSANDBOXED"

INSTALL_HINT = (
    "install bubblewrap (apt-get install bubblewrap) or set TOOLHIVE_PROCESS_UNSANDBOXED=1 "
    "to run servers without a sandbox"
)

#: Container paths a mount may not cover: the sandbox's own root, /dev and /proc.
_RESERVED_TARGETS = (PurePosixPath("/proc"), PurePosixPath("/dev"))
_NETWORK_MODES = ("", "bridge", "host", "none")
_TRUE = ("1", "true", "yes", "on")

_BASE_FLAGS = (
    "--die-with-parent",
    "--unshare-pid",
    "--unshare-ipc",
    "--unshare-uts",
    "--unshare-cgroup-try",
    # As root, bwrap keeps every capability unless told: CAP_SYS_ADMIN could remount / read-write.
    "--cap-drop",
    "ALL",
)


#: Host trees the sandbox does not show: container engines' and the kubelet's state hold other
#: workloads' root filesystems and secret volumes, which no server needs. Their mounts also come
#: and go while a sandbox starts, and bwrap (0.8) fails the whole start when a submount of a
#: recursive bind vanishes between its reading the mount table and remounting it read-only —
#: binding ``/`` whole failed that way while Kubernetes pods were being created and deleted.
_UNSHOWN = frozenset(
    PurePosixPath(path)
    for path in (
        "/var/lib/docker",
        "/var/lib/containers",
        "/var/lib/containerd",
        "/var/lib/kubelet",
        "/run/docker",
        "/run/containerd",
        "/run/containers",
        "/run/netns",
    )
)
#: Top-level entries the sandbox gets fresh rather than from the host.
_FRESH = frozenset({"proc", "dev", "tmp"})


def unsandboxed_allowed(environ: Mapping[str, str]) -> bool:
    return environ.get(UNSANDBOXED_ENV, "").strip().lower() in _TRUE


# --------------------------------------------------------------------------- detection


def find_bwrap(environ: Mapping[str, str]) -> str | None:
    return shutil.which("bwrap", path=environ.get("PATH", os.defpath))


def root_flags(root: Path = Path("/")) -> list[str]:
    """bwrap options showing the host's ``root`` read-only, without :data:`_UNSHOWN` trees.

    Each top-level entry is bound on its own (symlinks recreated as symlinks) and only the
    directories leading to an unshown tree are walked further, so no recursive bind crosses an
    engine's mounts. ``/proc``, ``/dev`` and ``/tmp`` are left to the caller; the sandbox's own
    root is made read-only by :data:`_SEAL_ROOT`, which goes after every other option.
    """
    flags: list[str] = []
    _show_children(root, PurePosixPath("/"), flags)
    return flags


#: Last options of every sandbox: its root (a tmpfs holding the mount points) read-only, as the
#: host's own ``/`` is — servers write only where a profile allows.
_SEAL_ROOT = ("--remount-ro", "/")


def _show_children(host_dir: Path, place: PurePosixPath, flags: list[str]) -> None:
    try:
        entries = sorted(os.scandir(host_dir), key=lambda entry: entry.name)
    except OSError:  # unreadable: shown whole, as a recursive bind would have
        flags += ["--ro-bind", str(host_dir), str(place)]
        return
    for entry in entries:
        target = place / entry.name
        if target in _UNSHOWN or (place == PurePosixPath("/") and entry.name in _FRESH):
            continue
        if entry.is_symlink():
            flags += ["--symlink", os.readlink(entry.path), str(target)]
        elif entry.is_dir(follow_symlinks=False) and any(
            unshown.is_relative_to(target) for unshown in _UNSHOWN
        ):
            flags += ["--dir", str(target)]
            _show_children(Path(entry.path), target, flags)
        else:  # directories, files, sockets (a server may talk to /run/docker.sock)
            flags += ["--ro-bind", entry.path, str(target)]


def probe_bwrap(bwrap: str) -> str | None:
    """Start a throw-away sandbox with the flags we use; ``None`` if it works, else why not."""
    argv = [bwrap, *_BASE_FLAGS, "--unshare-net", *root_flags(), *_SEAL_ROOT, "--", "true"]
    try:
        done = subprocess.run(argv, capture_output=True, timeout=15, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{bwrap} cannot start a sandbox: {exc}"
    if done.returncode != 0:
        why = done.stderr.decode(errors="replace").strip().splitlines()
        reason = why[-1] if why else f"exit status {done.returncode}"
        return f"{bwrap} cannot start a sandbox here ({reason}); are user namespaces disabled?"
    return None


def detect(environ: Mapping[str, str]) -> RuntimeDetection:
    """Available with bubblewrap, or without it when the user allowed unsandboxed servers."""
    if not sys.platform.startswith("linux"):
        return RuntimeDetection(
            name="process", available=False, detail="the process runtime needs Linux"
        )
    bwrap = find_bwrap(environ)
    reason = "bubblewrap (bwrap) is not installed"
    if bwrap is not None:
        problem = probe_bwrap(bwrap)
        if problem is None:
            return RuntimeDetection(
                name="process",
                available=True,
                endpoint=bwrap,
                detail=f"bubblewrap sandbox ({bwrap})",
            )
        reason = problem
    if unsandboxed_allowed(environ):
        return RuntimeDetection(
            name="process",
            available=True,
            endpoint=None,
            detail=f"UNSANDBOXED: {reason}; servers run without a sandbox ({UNSANDBOXED_ENV}=1)",
        )
    return RuntimeDetection(name="process", available=False, detail=f"{reason}; {INSTALL_HINT}")


# --------------------------------------------------------------------------- mounts


@dataclass(frozen=True)
class Bind:
    """A host path shown inside the sandbox at ``target``."""

    source: Path
    target: PurePosixPath
    writable: bool

    def flags(self) -> list[str]:
        return ["--bind" if self.writable else "--ro-bind", str(self.source), str(self.target)]


def _profile_label(profile: PermissionProfile) -> str:
    return f"permission profile {profile.name!r}" if profile.name else "permission profile"


def parse_entry(entry: str, *, writable: bool, owner: str) -> Bind:
    """``/path`` or ``/host:/ctr`` → :class:`Bind`; anything else is refused with the reason."""
    kind = "write" if writable else "read"
    if entry.startswith("volume://"):
        msg = (
            f"{owner}: {kind} entry {entry!r} names a container volume, which the process "
            "runtime does not have; mount a host directory instead (/host/path or /host:/path)"
        )
        raise PermissionProfileError(msg)
    parts = entry.split(":")
    if len(parts) > 2:
        msg = f"{owner}: {kind} entry {entry!r}: expected /path or /host/path:/sandbox/path"
        raise PermissionProfileError(msg)
    host_text, target_text = (parts[0], parts[1]) if len(parts) == 2 else (parts[0], parts[0])
    source = Path(host_text).expanduser()
    target = PurePosixPath(target_text if len(parts) == 2 else str(source))
    if not source.is_absolute() or not target.is_absolute():
        msg = f"{owner}: {kind} entry {entry!r}: paths must be absolute"
        raise PermissionProfileError(msg)
    return Bind(source=source, target=target, writable=writable)


def request_binds(request: DeployRequest) -> list[Bind]:
    """The profile's ``read``/``write`` entries and the request's mounts, parents first."""
    profile = request.permission_profile
    profile.check_mounts()
    owner = _profile_label(profile)
    binds = [parse_entry(e, writable=False, owner=owner) for e in profile.read]
    binds += [parse_entry(e, writable=True, owner=owner) for e in profile.write]
    for mount in request.mounts:
        source, target = Path(mount.source).expanduser(), PurePosixPath(mount.target)
        if not source.is_absolute() or not target.is_absolute():
            msg = f"mount {mount.source}:{mount.target}: paths must be absolute"
            raise InvalidInputError(msg)
        binds.append(Bind(source=source, target=target, writable=not mount.read_only))
    # bwrap applies mounts in order: a parent mounted after a child would hide it.
    return sorted(binds, key=lambda b: len(b.target.parts))


def _check_bind(bind: Bind, *, sandboxed: bool) -> None:
    if not bind.source.exists():
        msg = f"cannot mount {bind.source}: it does not exist on this host; create it first"
        raise PermissionProfileError(msg)
    if not sandboxed:
        if bind.source.resolve() != Path(str(bind.target)).resolve():
            msg = (
                f"cannot mount {bind.source} at {bind.target}: without a sandbox a server sees "
                "host paths as they are; use the same path on both sides or install bubblewrap"
            )
            raise PermissionProfileError(msg)
        return
    target = bind.target
    if target == PurePosixPath("/") or any(
        target == r or target.is_relative_to(r) for r in _RESERVED_TARGETS
    ):
        msg = f"cannot mount {bind.source} at {target}: that path belongs to the sandbox itself"
        raise PermissionProfileError(msg)
    in_tmp = target.is_relative_to("/tmp")
    if not in_tmp and not Path(str(target)).exists():
        msg = (
            f"cannot mount {bind.source} at {target}: the sandbox's root is the host's, read-only, "
            f"so {target} must already exist on the host (or lie under /tmp); pick an existing "
            "directory or create it"
        )
        raise PermissionProfileError(msg)


# --------------------------------------------------------------------------- profile policy


def network_allowed(profile: PermissionProfile) -> bool:
    """Whether the sandbox shares the host's network (only for unrestricted outbound access)."""
    mode = profile.network.mode if profile.network else ""
    return profile.network_unrestricted and mode != "none"


def check_request(request: DeployRequest, *, sandboxed: bool) -> None:
    """Refuse what the process runtime cannot honour, saying what to do instead."""
    profile = request.permission_profile
    label = _profile_label(profile)
    if not request.stdio and request.target_port is None:
        msg = f"{request.transport} server {request.name!r} needs a target port to listen on"
        raise InvalidInputError(msg)
    binds = request_binds(request)
    for bind in binds:
        _check_bind(bind, sandboxed=sandboxed)
    if not sandboxed:
        return  # The user opted out of enforcement (TOOLHIVE_PROCESS_UNSANDBOXED=1).

    if request.allow_docker_gateway and profile.network_enabled and not network_allowed(profile):
        msg = (
            "--allow-docker-gateway: the process runtime has no engine gateway; to let the server "
            "reach this host, list the host's address (an IP, or a network) in allow_host"
        )
        raise InvalidInputError(msg)

    if profile.privileged:
        msg = (
            f"{label} asks for privileged mode, which the process runtime never grants; "
            "remove 'privileged' from the profile or use a container runtime"
        )
        raise PermissionProfileError(msg)
    network = profile.network
    if network is not None:
        if network.mode not in _NETWORK_MODES:
            msg = (
                f"{label}: network mode {network.mode!r} names a container network; the process "
                "runtime has only 'host' (full access) or 'none'"
            )
            raise PermissionProfileError(msg)
        out = network.outbound
        if (
            network.mode == "host"
            and not out.insecure_allow_all
            and (out.allow_host or out.allow_port)
        ):
            msg = (
                f"{label}: network mode 'host' shares the host's network, so allow_host/"
                "allow_port could not be enforced; remove the mode (the sandbox then gets its "
                "own network behind an allow-list proxy) or the rules"
            )
            raise PermissionProfileError(msg)
        from toolhive_runtime_process.egress import Policy  # not at import: detection stays lean

        try:
            Policy.from_lists(out.allow_host, out.allow_port)
        except ValueError as exc:
            raise PermissionProfileError(f"{label}: {exc}") from None
        if network.inbound is not None and network.inbound.allow_host:
            msg = (
                f"{label} has inbound network rules, which need a container runtime's ingress "
                "proxy; remove network.inbound or use a container runtime"
            )
            raise PermissionProfileError(msg)


# --------------------------------------------------------------------------- .thvignore


def ignore_overlays(
    request: DeployRequest, environ: Mapping[str, str] | None = None
) -> list[thvignore.Overlay]:
    """What ``.thvignore`` patterns hide in the request's mounted folders."""
    mounts = [(bind.source, bind.target) for bind in request_binds(request)]
    glob = thvignore.global_file(environ) if request.ignore_globally else None
    return thvignore.overlays(mounts, global_file=glob)


def overlay_args(overlays: Iterable[thvignore.Overlay], empty_file: Path) -> list[str]:
    """bwrap options hiding each path: an empty read-only tmpfs over a directory, the empty
    ``empty_file`` over a file (as ToolHive does; ``/dev/null`` would not open on bwrap's
    ``nodev`` binds). The sandbox sees the whole host read-only, so a folder mounted elsewhere
    is also covered at its host path (unless that lies under the sandbox's private /tmp)."""
    args: list[str] = []
    done: set[str] = set()
    for overlay in overlays:
        places = [str(overlay.target)]
        host = overlay.source
        if not host.is_relative_to("/tmp") and str(host) != str(overlay.target):
            places.append(str(host))
        for place in places:
            if place in done:
                continue
            done.add(place)
            if overlay.is_dir:
                args += ["--tmpfs", place, "--remount-ro", place]
            else:
                args += ["--ro-bind", str(empty_file), place]
    return args


# --------------------------------------------------------------------------- argv


def named_tmp_paths(command: list[str]) -> list[Path]:
    """Paths under ``/tmp`` that a plain command names explicitly (its executable, file
    arguments): the sandbox's private ``/tmp`` would hide them, so they are shown read-only.
    An executable inside a virtual environment brings the whole environment."""
    found: list[Path] = []
    for index, arg in enumerate(command):
        path = Path(arg)
        if not (path.is_absolute() and path.is_relative_to("/tmp") and path.exists()):
            continue
        prefix = path.parent.parent
        if index == 0 and (prefix / "pyvenv.cfg").is_file():
            found.append(prefix)
        else:
            found.append(path)
    return found


def bwrap_argv(
    bwrap: str,
    command: list[str],
    *,
    network: bool,
    binds: Iterable[Bind] = (),
    read_only: Iterable[Path] = (),
    hidden: Iterable[Path] = (),
    extra: Iterable[str] = (),
) -> list[str]:
    """The full ``bwrap`` command line that runs ``command`` in the sandbox.

    ``read_only`` are paths the command itself needs (its install directory, interpreter) shown
    read-only even if they live under ``/tmp`` or a hidden directory; ``hidden`` are host
    directories covered with an empty tmpfs (ToolHive's own state and secrets); ``extra`` are
    more bwrap options applied last (the isolated network's sockets, ``.thvignore`` overlays).
    """
    argv = [bwrap, *_BASE_FLAGS]
    if not network:
        argv.append("--unshare-net")
    argv += [*root_flags(), "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"]
    for path in hidden:
        if path.is_dir() and not path.is_relative_to("/tmp"):
            argv += ["--tmpfs", str(path)]
    for path in dict.fromkeys(read_only):
        argv += ["--ro-bind", str(path), str(path)]
    for bind in binds:
        argv += bind.flags()
    argv += extra
    argv += [*_SEAL_ROOT, "--", *command]
    return argv


def installer_argv(
    bwrap: str, command: list[str], *, writable: Iterable[Path], hidden: Iterable[Path] = ()
) -> list[str]:
    """Run a package installer with the network but writing only to its cache directories."""
    argv = [bwrap, *_BASE_FLAGS, *root_flags(), "--dev", "/dev", "--proc", "/proc"]
    argv += ["--tmpfs", "/tmp"]
    for path in hidden:
        if path.is_dir() and not path.is_relative_to("/tmp"):
            argv += ["--tmpfs", str(path)]
    for path in dict.fromkeys(writable):
        argv += ["--bind", str(path), str(path)]
    argv += [*_SEAL_ROOT, "--", *command]
    return argv
