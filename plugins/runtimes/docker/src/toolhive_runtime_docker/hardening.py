"""Permission profile → container settings, and the requests a Docker-API runtime refuses.

Pure Python (no Docker SDK): what every MCP container gets, and why a request is refused, can be
tested without an engine. :mod:`toolhive_runtime_docker.runtime` turns these plans into API calls.

Every container gets ``CapDrop: [ALL]``, ``SecurityOpt: [no-new-privileges, label=disable]``,
``Privileged: false``, read-only mounts unless the profile grants write access, and no network at
all unless the profile allows outbound traffic. A profile that allows only some hosts/ports gets
network isolation (:mod:`toolhive_runtime_docker.isolation`). What cannot be enforced is refused
with a message that says what to do; nothing is silently weakened.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Literal

from toolhive.contracts import InvalidInputError, PermissionProfileError
from toolhive.contracts.runtime import DeployRequest

from toolhive_runtime_docker import isolation
from toolhive_runtime_docker.isolation import profile_label

CAP_DROP = ("ALL",)
#: ``label=disable`` turns SELinux labelling off so bind mounts work without relabelling the
#: host's files (ToolHive does the same); ``no-new-privileges`` blocks setuid escalation.
SECURITY_OPT = ("no-new-privileges", "label=disable")

VOLUME_SCHEME = "volume://"
#: Docker's own rule for container names (stricter than workload names: no leading ``.``/``_``).
_CONTAINER_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")
_VOLUME_NAME = _CONTAINER_NAME
#: Network modes a profile may ask for; ``""`` means "decide from the outbound rules".
_SUPPORTED_MODES = ("", "bridge", "none")


@dataclass(frozen=True)
class MountPlan:
    """One mount as the engine will get it."""

    kind: Literal["bind", "volume"]
    source: str
    target: str
    read_only: bool


@dataclass(frozen=True)
class NetworkPlan:
    """``none`` (no interface but loopback), ``bridge`` (the engine's default) or ``isolated``
    (loopback only, outbound through the egress-proxy and DNS sidecars)."""

    mode: Literal["none", "bridge", "isolated"]
    #: True when outbound traffic is unrestricted only because the user accepted it
    #: (``--isolate-network=false`` with a profile that lists allowed hosts/ports).
    widened: bool = False


def split_mount_entry(entry: str) -> tuple[Literal["bind", "volume"], str, str | None]:
    """A profile entry or mount source → ``(kind, source, target or None)``.

    ``/host`` (same path inside), ``/host:/ctr`` and ``volume://name:/ctr``.
    """
    if entry.startswith(VOLUME_SCHEME):
        rest = entry[len(VOLUME_SCHEME) :]
        name, sep, target = rest.partition(":")
        return "volume", name, (target if sep else None)
    head, sep, tail = entry.rpartition(":")
    if sep and head and tail.startswith("/"):
        return "bind", head, tail
    return "bind", entry, None


def plan_mounts(request: DeployRequest) -> list[MountPlan]:
    """Request mounts plus the profile's ``read``/``write`` entries, one per target.

    A target is writable if any source grants write access (``Mount.read_only=False`` or an entry
    in the profile's ``write`` list); otherwise it is read-only. Two different sources for one
    target are refused.
    """
    profile = request.permission_profile
    planned: dict[str, MountPlan] = {}

    def add(entry: str, target: str | None, read_only: bool) -> None:
        kind, source, parsed_target = split_mount_entry(entry)
        dest = parsed_target or target or (source if kind == "bind" else None)
        if not dest:
            msg = f"mount {entry!r}: a named volume needs a target (volume://name:/path)"
            raise PermissionProfileError(msg)
        mount = MountPlan(kind, source, dest, read_only)
        old = planned.get(dest)
        if old is None:
            planned[dest] = mount
        elif (old.kind, old.source) != (kind, source):
            msg = f"two mounts target {dest}: {old.source} and {source}; keep one"
            raise PermissionProfileError(msg)
        elif not read_only:
            planned[dest] = mount

    for m in request.mounts:
        add(m.source, None if m.target == m.source else m.target, m.read_only)
    for entry in profile.read:
        add(entry, None, True)
    for entry in profile.write:
        add(entry, None, False)
    return list(planned.values())


def plan_network(request: DeployRequest) -> NetworkPlan:
    """The container's network, or :class:`PermissionProfileError` if it cannot be enforced."""
    profile = request.permission_profile
    mode = profile.network.mode if profile.network else ""
    if mode not in _SUPPORTED_MODES:
        why = (
            "network isolation needs the engine's bridge networking, and a host or custom network "
            "would bypass the egress proxy"
            if request.isolate_network and profile.network_enabled
            else "host or custom networks would bypass the profile's network rules"
        )
        msg = (
            f"permission profile {profile_label(profile)}: network mode {mode!r} is not supported "
            f"(use {', '.join(repr(m) for m in _SUPPORTED_MODES)}): {why}; nothing was created"
        )
        raise PermissionProfileError(msg)
    if mode == "none" or not profile.network_enabled:
        return NetworkPlan("none")
    if profile.network_unrestricted:
        return NetworkPlan("bridge")
    # allow_host / allow_port without insecure_allow_all: the egress proxy enforces them.
    if isolation.wants_isolation(request):
        return NetworkPlan("isolated")
    return NetworkPlan("bridge", widened=True)


def check_request(request: DeployRequest, *, runtime: str) -> None:
    """Refuse what a Docker-API runtime cannot run safely; no side effects beyond ``stat``."""
    if not _CONTAINER_NAME.match(request.name):
        msg = (
            f"{request.name!r} cannot be a container name: start with a letter or digit, "
            "then letters, digits, '_', '.' or '-'"
        )
        raise InvalidInputError(msg)
    if not request.image:
        msg = "no image given"
        raise InvalidInputError(msg)
    profile = request.permission_profile
    profile.check_mounts()
    if profile.privileged:
        msg = (
            f"permission profile {profile_label(profile)} asks for a privileged container; "
            f"the {runtime} runtime refuses that (it gives the server root on the host). "
            "Remove 'privileged' from the profile and grant only the mounts it needs"
        )
        raise PermissionProfileError(msg)
    network = plan_network(request)
    if network.mode == "isolated":
        isolation.check(request)
    if not request.stdio:
        if request.target_port is None or not 0 < request.target_port < 65536:
            msg = f"transport {request.transport} needs the port the server listens on (1-65535)"
            raise InvalidInputError(msg)
        if request.host_port is not None and not 0 < request.host_port < 65536:
            msg = f"host port {request.host_port} is out of range (1-65535)"
            raise InvalidInputError(msg)
        if network.mode == "none":
            msg = (
                f"transport {request.transport} needs a published port, but permission profile "
                f"{profile_label(profile)} allows no network; use a profile with network access "
                "(e.g. --permission-profile network) or run the server with --transport stdio"
            )
            raise PermissionProfileError(msg)
    for mount in plan_mounts(request):
        _check_mount(mount)


def _check_mount(mount: MountPlan) -> None:
    if not mount.target.startswith("/"):
        msg = f"mount target {mount.target!r} must be an absolute path inside the container"
        raise PermissionProfileError(msg)
    if mount.kind == "volume":
        if not _VOLUME_NAME.match(mount.source):
            msg = f"invalid volume name {mount.source!r} in volume://{mount.source}:{mount.target}"
            raise PermissionProfileError(msg)
        return
    if not os.path.isabs(mount.source):
        msg = f"mount source {mount.source!r} must be an absolute host path"
        raise PermissionProfileError(msg)
    if not os.path.exists(mount.source):
        # Docker would silently create an empty root-owned directory; refuse instead.
        msg = f"mount source {mount.source} does not exist on this host; create it or fix the path"
        raise PermissionProfileError(msg)
