"""The network-isolation sidecars on a Docker-API engine: image, volume, containers, teardown.

What they do and why is in :mod:`toolhive_runtime_docker.isolation`. Order of a deploy: the shared
volume, ``NAME-egress`` (squid; listens on the volume's unix socket once squid is up), ``NAME-dns``
(owns the server's network namespace; ready once its forwarders run and the egress socket
exists), then the MCP container joining ``container:NAME-dns``. Anything that fails on the way
removes what was created. Teardown runs the other way: the server, then the sidecars, then the
volume (Podman refuses to remove a namespace's owner while a member exists).
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import docker
import docker.errors
import docker.types
from toolhive.contracts import ImageNotFoundError, ToolHiveError
from toolhive.contracts.runtime import LABEL_NAME, LABEL_TOOLHIVE, DeployRequest

from toolhive_runtime_docker import hardening, isolation

if TYPE_CHECKING:
    from toolhive_runtime_docker.runtime import DockerRuntime

logger = logging.getLogger(__name__)

READY = b"toolhive-netproxy: inside ready"
READY_TIMEOUT = 30.0
#: Sidecars hold no state worth a graceful stop.
STOP_TIMEOUT = 2


class IsolationError(ToolHiveError):
    """The isolation sidecars could not be set up (their image, volume or containers)."""

    http_status = 500


@dataclass(frozen=True)
class Isolated:
    """What the MCP container needs from its sidecars."""

    netns_container: str
    env: dict[str, str]
    names: isolation.SidecarNames
    policy: isolation.EgressPolicy


def _env_image(runtime: DockerRuntime) -> str | None:
    return os.environ.get("TOOLHIVE_EGRESS_IMAGE") or runtime.config.egress_image


def _base_image(runtime: DockerRuntime) -> str:
    return (
        os.environ.get("TOOLHIVE_EGRESS_BASE_IMAGE")
        or runtime.config.egress_base_image
        or isolation.DEFAULT_BASE_IMAGE
    )


def ensure_image(runtime: DockerRuntime) -> str:
    """The sidecars' image: ``TOOLHIVE_EGRESS_IMAGE``/``egress_image`` as is, else the local
    build of our recipe on the configured Debian base (built once, then reused by its tag)."""
    given = _env_image(runtime)
    if given:
        runtime.ensure_image(given)
        return given
    base = _base_image(runtime)
    tag = isolation.image_tag(base)
    if runtime._image_present(tag):
        return tag
    try:
        runtime.ensure_image(base)
    except ImageNotFoundError as exc:
        msg = (
            f"network isolation needs its sidecar image, built from {base}: {exc}. Set "
            "TOOLHIVE_EGRESS_BASE_IMAGE (or egress_base_image in this runtime's settings) to a "
            "local Debian-based image, or TOOLHIVE_EGRESS_IMAGE to a ready sidecar image"
        )
        raise ImageNotFoundError(msg) from None
    logger.info("building the network-isolation image %s from %s (first use)", tag, base)
    with tempfile.TemporaryDirectory(prefix="thv-netproxy-") as tmp:
        for name, data in isolation.recipe_files().items():
            if name == "Containerfile":
                text = data.decode().replace(
                    f"ARG BASE={isolation.DEFAULT_BASE_IMAGE}", f"ARG BASE={base}"
                )
                data = text.encode()
            (Path(tmp) / name).write_bytes(data)
        runtime.build_image(
            tmp,
            tag,
            labels={isolation.LABEL_RECIPE: tag.rsplit(":", 1)[1]},
            dockerfile="Containerfile",
        )
    _remove_older_images(runtime, tag)
    return tag


def _remove_older_images(runtime: DockerRuntime, current: str) -> None:
    """Images of earlier recipes or bases are not used any more (one in use stays, harmlessly)."""
    images = runtime.client.api.images(filters={"label": isolation.LABEL_RECIPE})
    for image in images:
        tags = [
            t.removeprefix("docker.io/").removeprefix("localhost/")
            for t in image.get("RepoTags") or []
        ]
        if current not in tags:
            runtime.remove_image(str(image["Id"]))


def _gateway(runtime: DockerRuntime) -> str:
    """The default bridge network's gateway (Docker's ``bridge``, Podman's ``podman``)."""
    api = runtime.client.api
    for network in ("bridge", "podman"):
        try:
            info = api.inspect_network(network)
        except docker.errors.APIError:
            continue
        for config in (info.get("IPAM") or {}).get("Config") or []:
            if config.get("Gateway"):
                return str(config["Gateway"])
            # dockerd 20.10 drops Gateway from the bridge's IPAM after some restarts (seen with a
            # kubelet on the same daemon); the bridge then still takes the subnet's first address.
            with contextlib.suppress(ValueError, TypeError, StopIteration):
                return str(next(ipaddress.ip_network(config.get("Subnet"), strict=False).hosts()))
    return ""


def _labels(request: DeployRequest, container: str) -> dict[str, str]:
    return {
        LABEL_TOOLHIVE: "true",
        LABEL_NAME: container,
        isolation.LABEL_AUXILIARY: "true",
        isolation.LABEL_ISOLATION_OF: request.name,
    }


def _host_config(runtime: DockerRuntime, **extra: Any) -> dict[str, Any]:
    return dict(
        runtime.client.api.create_host_config(
            cap_drop=list(hardening.CAP_DROP),
            security_opt=list(hardening.SECURITY_OPT),
            privileged=False,
            init=runtime.config.init or None,
            **extra,
        )
    )


def setup(runtime: DockerRuntime, request: DeployRequest, host_port: int | None) -> Isolated:
    """Create and start the sidecars for ``request``; the caller creates the MCP container."""
    api = runtime.client.api
    names = isolation.SidecarNames.of(request.name)
    egress = isolation.policy(request)
    image = ensure_image(runtime)
    teardown(runtime, request.name)
    facts = isolation.Resolved(
        pinned=isolation.resolve_pinned((*egress.hosts, *egress.domains)),
        host_addresses=isolation.host_addresses(),
        gateway=_gateway(runtime),
    )
    volume_mount = docker.types.Mount(
        target=isolation.SOCKET_DIR, source=names.volume, type="volume"
    )
    try:
        api.create_volume(names.volume, labels=_labels(request, names.volume))
        # The egress side: squid + the ingress listener, on the engine's bridge network.
        extra_hosts = {name: ips[0] for name, ips in facts.pinned.items()}
        if facts.gateway:
            extra_hosts.setdefault("host.docker.internal", facts.gateway)
            extra_hosts.setdefault("gateway.docker.internal", facts.gateway)
        ports: dict[str, Any] = {}
        forward = isolation.forwarded_names(egress, facts)
        env = {"THV_SQUID_CONF": isolation.squid_conf(request.name, egress, facts)}
        if forward:
            env["THV_DNS_FORWARD"] = "1"
        if host_port is not None:
            ports[f"{isolation.INGRESS_PORT}/tcp"] = ("127.0.0.1", host_port)
            env["THV_INGRESS_PORT"] = str(isolation.INGRESS_PORT)
        egress_config = api.create_container_config(
            image=image,
            entrypoint=["sh", f"{isolation.SCRIPTS_DIR}/outside.sh"],
            command=[],
            environment=env,
            labels=_labels(request, names.egress),
            user=isolation.SQUID_USER,
            ports=[(isolation.INGRESS_PORT, "tcp")] if ports else None,
            detach=True,
            host_config=_host_config(
                runtime,
                mounts=[volume_mount],
                port_bindings=ports or None,
                extra_hosts=extra_hosts or None,
            ),
        )
        _create_and_start(runtime, names.egress, dict(egress_config))
        # The inside: owns the server's network namespace (loopback only).
        inside_env = {"THV_DNSMASQ_CONF": isolation.dnsmasq_conf(facts, forward)}
        if forward:
            inside_env["THV_DNS_FORWARD"] = str(isolation.DNS_FORWARD_PORT)
        if not request.stdio and request.target_port:
            inside_env["THV_TARGET_PORT"] = str(request.target_port)
        inside_config = api.create_container_config(
            image=image,
            entrypoint=["sh", f"{isolation.SCRIPTS_DIR}/inside.sh"],
            command=[],
            environment=inside_env,
            labels=_labels(request, names.dns),
            detach=True,
            host_config=_host_config(
                runtime,
                mounts=[volume_mount],
                network_mode="none",
                # Shared with the server on Docker; Podman ignores it (see PodmanRuntime).
                dns=["127.0.0.1"],
                cap_add=["NET_BIND_SERVICE"],
            ),
        )
        dns_id = _create_and_start(runtime, names.dns, dict(inside_config))
        _wait_ready(runtime, names)
    except BaseException:
        with contextlib.suppress(Exception):
            teardown(runtime, request.name)
        raise
    logger.info(
        "%s: network isolation: egress proxy %s allows hosts %s on ports %s%s; DNS %s",
        request.name,
        names.egress,
        egress.hosts_label,
        egress.ports_label,
        "; the engine gateway is reachable" if egress.allow_gateway else "",
        names.dns,
    )
    return Isolated(netns_container=dns_id, env=isolation.proxy_env(), names=names, policy=egress)


def _create_and_start(runtime: DockerRuntime, name: str, config: dict[str, Any]) -> str:
    api = runtime.client.api
    try:
        created = api.create_container_from_config(config, name=name)
    except docker.errors.APIError as exc:
        if exc.status_code == 409:
            msg = (
                f"a container named {name} exists and is not one of ToolHive's isolation "
                f"sidecars; remove it (`{runtime.name} rm -f {name}`) or choose another name"
            )
            raise IsolationError(msg) from None
        raise
    container_id = str(created["Id"])
    try:
        api.start(container_id)
    except docker.errors.APIError as exc:
        msg = f"isolation sidecar {name} could not start: {exc.explanation or exc}"
        raise IsolationError(msg) from None
    return container_id


def _wait_ready(runtime: DockerRuntime, names: isolation.SidecarNames) -> None:
    api = runtime.client.api
    deadline = time.monotonic() + READY_TIMEOUT
    delay = 0.05
    while True:
        logs = bytes(api.logs(names.dns, stdout=True, stderr=True))
        if READY in logs:
            return
        for name in (names.dns, names.egress):
            state = api.inspect_container(name).get("State") or {}
            if not state.get("Running"):
                tail = bytes(api.logs(name, stdout=True, stderr=True, tail=10)).decode(
                    errors="replace"
                )
                msg = f"isolation sidecar {name} exited: {' | '.join(tail.split(chr(10)))}"
                raise IsolationError(msg)
        if time.monotonic() > deadline:
            msg = f"isolation sidecars of {names.dns[:-4]} not ready after {READY_TIMEOUT:.0f} s"
            raise IsolationError(msg)
        time.sleep(delay)
        delay = min(delay * 2, 0.5)


def _ours(runtime: DockerRuntime, name: str, owner: str) -> bool:
    try:
        labels = (runtime.client.api.inspect_container(name).get("Config") or {}).get("Labels")
    except docker.errors.NotFound:
        return False
    labels = labels or {}
    return (
        labels.get(isolation.LABEL_AUXILIARY) == "true"
        and labels.get(isolation.LABEL_ISOLATION_OF, owner) == owner
    )


def stop(runtime: DockerRuntime, name: str) -> None:
    """Stop ``name``'s sidecars (after the server itself)."""
    names = isolation.SidecarNames.of(name)
    for sidecar in (names.dns, names.egress):
        if not _ours(runtime, sidecar, name):
            continue
        try:
            runtime.client.api.stop(sidecar, timeout=STOP_TIMEOUT)
        except docker.errors.APIError as exc:
            if exc.status_code not in (304, 404):
                logger.warning("%s: stopping %s: %s", name, sidecar, exc.explanation or exc)


def teardown(runtime: DockerRuntime, name: str) -> None:
    """Remove ``name``'s sidecars and their volume (after the server itself); idempotent."""
    api = runtime.client.api
    names = isolation.SidecarNames.of(name)
    for sidecar in (names.dns, names.egress):
        if not _ours(runtime, sidecar, name):
            continue
        with contextlib.suppress(docker.errors.NotFound):
            api.remove_container(sidecar, force=True, v=True)
    try:
        info = api.inspect_volume(names.volume)
    except docker.errors.NotFound:
        return
    except docker.errors.APIError as exc:
        if exc.status_code == 404:
            return
        raise
    if (info.get("Labels") or {}).get(isolation.LABEL_ISOLATION_OF) != name:
        return
    for attempt in range(10):
        try:
            api.remove_volume(names.volume, force=True)
            return
        except docker.errors.NotFound:
            return
        except docker.errors.APIError as exc:
            # "volume is in use": a container is still being removed.
            if exc.status_code == 404:
                return
            if attempt == 9:
                logger.warning("%s: removing volume %s: %s", name, names.volume, exc)
                return
            time.sleep(0.2)
