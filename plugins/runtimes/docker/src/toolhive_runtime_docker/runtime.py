"""The ``docker`` runtime: MCP servers in containers of an engine speaking the Docker Engine API.

Uses the Docker SDK (``docker.DockerClient``) over a unix socket; the stdio attach is made with
asyncio (:mod:`toolhive_runtime_docker.attach`). Engine-specific behaviour lives in small
overridable methods (``not_pullable``, ``check_request``, ``exit_code``, …) so the Podman and
Colima runtimes subclass this one and change only their quirks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import re
import socket
import time
from collections.abc import Iterator
from typing import Any, ClassVar, NoReturn, Self

import docker
import docker.errors
import docker.types
import requests.exceptions
from toolhive.contracts import (
    AlreadyExistsError,
    ImageNotFoundError,
    InvalidInputError,
    NotFoundError,
    PermissionProfileError,
    PluginError,
    PortInUseError,
    RuntimeDetection,
    RuntimeUnavailableError,
    ToolHiveError,
    WorkloadStateError,
)
from toolhive.contracts.runtime import (
    LABEL_BASENAME,
    LABEL_GROUP,
    LABEL_NAME,
    LABEL_PORT,
    LABEL_TOOLHIVE,
    LABEL_TRANSPORT,
    ContainerInfo,
    ContainerState,
    Deployment,
    DeployRequest,
    ProgressCallback,
)

from toolhive_runtime_docker import hardening, isolation, sidecars, thvignore_mounts
from toolhive_runtime_docker.attach import AttachChannel, StderrSink
from toolhive_runtime_docker.config import DockerConfig, EngineConfig
from toolhive_runtime_docker.sidecars import Isolated
from toolhive_runtime_docker.sockets import (
    DOCKER_SEARCH,
    UNIX_SCHEME,
    SocketSearch,
    ping_socket,
    socket_path,
)

logger = logging.getLogger(__name__)

#: ToolHive's label recording whether the workload asked for network isolation.
LABEL_NETWORK_ISOLATION = "toolhive-network-isolation"
LOOPBACK = "127.0.0.1"

_STATES: dict[str, ContainerState] = {
    "running": "running",
    "exited": "exited",
    "stopped": "exited",
    "created": "created",
    "configured": "created",
    "initialized": "created",
    "paused": "paused",
    "restarting": "restarting",
    "dead": "dead",
    "removing": "dead",
}


class ContainerStartError(ToolHiveError):
    """The engine created the container but could not start it (bad command, mount, …)."""

    http_status = 500


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port that is free on ``host`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def check_port_free(port: int, host: str = LOOPBACK) -> None:
    """Raise :class:`PortInUseError` if ``host:port`` cannot be bound."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError as exc:
            msg = f"port {port} on {host} is already in use ({exc.strerror}); choose another port"
            raise PortInUseError(msg) from None


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _api_reason(exc: BaseException) -> str:
    if isinstance(exc, docker.errors.APIError):
        return _one_line(str(exc.explanation or exc))
    return _one_line(str(exc)) or type(exc).__name__


#: How an engine says an image reference cannot be one (Docker: 400; Podman: 500 with these).
_BAD_REFERENCE = ("invalid reference format", "normalizing name", "repository name must")

#: A build step's resulting image in the build output: Docker " ---> 3f2a…", Podman "--> 3f2a…".
_STEP_IMAGE = re.compile(r"^\s*-+>\s*(?:Using cache\s*)?([0-9a-f]{10,64})\s*$")


def _repo_tags(image: dict[str, Any]) -> list[str]:
    """Tags of an image; Podman's ``docker.io/`` qualification of short names is dropped, so a
    reused image is named as it was built."""
    tags = [t for t in image.get("RepoTags") or [] if t and t != "<none>:<none>"]
    return [t.removeprefix("docker.io/") if t.count("/") > 1 else t for t in tags]


class DockerRuntime:
    """The Runtime protocol over the Docker Engine API (``docker.DockerClient``)."""

    name = "docker"
    search: ClassVar[SocketSearch] = DOCKER_SEARCH
    config_model: ClassVar[type[EngineConfig]] = DockerConfig

    def __init__(self, socket_path: str, config: EngineConfig | None = None) -> None:
        self.socket_path = socket_path
        self.config = config or self.config_model()
        self._client: docker.DockerClient | None = None

    @classmethod
    def from_detection(cls, detection: RuntimeDetection, config: EngineConfig) -> Self:
        """The runtime on the configured socket, else on the detected one."""
        endpoint = config.socket or detection.endpoint
        if not endpoint:
            msg = f"{cls.search.engine} is not available: {detection.detail}"
            raise RuntimeUnavailableError(msg)
        try:
            path = socket_path(endpoint)
        except ValueError as exc:
            msg = f"runtime {cls.name}: {exc}"
            raise PluginError(msg) from None
        return cls(path, config)

    # -- plumbing ---------------------------------------------------------------------------

    @property
    def endpoint(self) -> str:
        return UNIX_SCHEME + self.socket_path

    @property
    def client(self) -> docker.DockerClient:
        """The SDK client, created on first use (it asks the engine for its API version)."""
        if self._client is None:
            # Ping first: a clear reason, and the SDK leaks its socket when connect() fails.
            self.ping()
            with self._engine_errors():
                self._client = docker.DockerClient(
                    base_url=self.endpoint, version="auto", timeout=int(self.config.api_timeout)
                )
        return self._client

    def close(self) -> None:
        """Release the SDK client's connections."""
        if self._client is not None:
            self._client.close()
            self._client = None

    def _unavailable(self, reason: str) -> NoReturn:
        msg = (
            f"{self.search.engine} engine at {self.endpoint} is not usable ({reason}); "
            f"{self.search.start_hint}"
        )
        raise RuntimeUnavailableError(msg)

    @contextlib.contextmanager
    def _engine_errors(self) -> Iterator[None]:
        """Turn "cannot reach the engine" into :class:`RuntimeUnavailableError`."""
        try:
            yield
        except (requests.exceptions.ConnectionError, ConnectionError) as exc:
            self._unavailable(_one_line(str(exc)) or type(exc).__name__)
        except docker.errors.DockerException as exc:
            if isinstance(exc, docker.errors.APIError):
                raise
            self._unavailable(_api_reason(exc))

    # -- quirks (overridden by engine-specific subclasses) ----------------------------------

    def not_pullable(self, ref: str) -> str | None:
        """Why ``ref`` cannot come from a registry (skip the pull), or ``None`` to try."""
        return None

    def isolated_mounts(self) -> list[docker.types.Mount]:
        """Extra mounts of an isolated server's container (an engine that does not share the
        namespace owner's DNS settings mounts a resolv.conf naming 127.0.0.1)."""
        return []

    def container_config(
        self,
        request: DeployRequest,
        host_port: int | None,
        network: hardening.NetworkPlan,
        isolated: Isolated | None = None,
    ) -> dict[str, Any]:
        """The body of ``POST /containers/create`` (hardening included)."""
        api = self.client.api
        stdio = request.stdio
        ports: dict[str, Any] = {}
        if host_port is not None and request.target_port is not None and isolated is None:
            ports[f"{request.target_port}/tcp"] = (LOOPBACK, host_port)
        env = dict(request.env)
        labels = self.labels(request, host_port)
        network_mode = "none" if network.mode == "none" else None
        plans = hardening.plan_mounts(request)
        mounts = [
            docker.types.Mount(
                target=m.target,
                source=m.source,
                type=m.kind,
                read_only=m.read_only,
            )
            for m in plans
        ]
        mounts += thvignore_mounts.ignore_mounts(request, plans)  # .thvignore'd paths hidden
        if isolated is not None:
            # Loopback only: the DNS sidecar's namespace, whose forwarders are the only way out.
            network_mode = f"container:{isolated.netns_container}"
            env.update(isolated.env)
            mounts += self.isolated_mounts()
            labels[LABEL_NETWORK_ISOLATION] = "true"
            labels[isolation.LABEL_EGRESS_HOSTS] = isolated.policy.hosts_label
            labels[isolation.LABEL_EGRESS_PORTS] = isolated.policy.ports_label
        else:
            labels[LABEL_NETWORK_ISOLATION] = "false"
        host_config = api.create_host_config(
            cap_drop=list(hardening.CAP_DROP),
            security_opt=list(hardening.SECURITY_OPT),
            privileged=False,
            mounts=mounts,
            network_mode=network_mode,
            port_bindings=ports or None,
            init=self.config.init or None,
        )
        config = api.create_container_config(
            image=request.image,
            command=list(request.command) or None,
            environment=env,
            labels=labels,
            ports=[(request.target_port, "tcp")] if ports else None,
            stdin_open=stdio,
            tty=False,
            detach=not stdio,
            host_config=host_config,
        )
        if stdio:
            # The SDK sets StdinOnce with stdin_open; that would close the server's stdin when the
            # first attached client (a proxy) goes away, so a restarted proxy could not re-attach.
            config["StdinOnce"] = False
            config["AttachStdin"] = config["AttachStdout"] = config["AttachStderr"] = True
        return dict(config)

    def labels(self, request: DeployRequest, host_port: int | None) -> dict[str, str]:
        labels = {
            LABEL_NAME: request.name,
            LABEL_BASENAME: request.name,
            LABEL_TRANSPORT: request.transport,
            LABEL_PORT: str(host_port or ""),
            LABEL_GROUP: "default",
        }
        labels.update(request.labels)
        labels[LABEL_TOOLHIVE] = "true"
        return labels

    # -- Runtime protocol ---------------------------------------------------------------------

    def ping(self) -> None:
        result = ping_socket(self.socket_path)
        if not result.ok:
            self._unavailable(result.error)

    def ensure_image(self, image: str, progress: ProgressCallback | None = None) -> None:
        with self._engine_errors():
            if self._image_present(image):
                return
            reason = self.not_pullable(image)
            if reason:
                self._image_missing(image, reason)
            try:
                self._pull(image, progress)
            except docker.errors.APIError as exc:
                self._image_missing(image, _api_reason(exc))
            if not self._image_present(image):
                self._image_missing(image, "the engine reported success but has no such image")

    def _image_present(self, ref: str) -> bool:
        try:
            self.client.api.inspect_image(ref)
        except docker.errors.ImageNotFound:
            return False
        except docker.errors.APIError as exc:
            if exc.status_code == 404:
                return False
            # The user's input, not the engine's fault (Podman answers it with a 500).
            reason = _api_reason(exc)
            if exc.status_code == 400 or any(m in reason for m in _BAD_REFERENCE):
                msg = f"invalid image reference {ref!r}: {reason}"
                raise InvalidInputError(msg) from None
            raise
        return True

    def _image_missing(self, image: str, reason: str, *, pulled: bool = True) -> NoReturn:
        tried = " and could not be pulled" if pulled else ""
        msg = f"image {image} is not available locally{tried}: {reason}; build or load it first"
        raise ImageNotFoundError(msg)

    def _pull(self, ref: str, progress: ProgressCallback | None) -> None:
        if progress:
            progress(f"pulling {ref}")
        last: dict[str, str] = {}
        error = ""
        # Read the stream to its end even after an error event, so the connection is released.
        for event in self.client.api.pull(ref, stream=True, decode=True):
            if "error" in event:
                detail = event.get("errorDetail") or {}
                error = error or str(detail.get("message") or event["error"])
                continue
            status = str(event.get("status", ""))
            if not progress or not status:
                continue
            layer = str(event.get("id", ""))
            # One line per change of a layer's status, not one per progress tick.
            if last.get(layer) == status:
                continue
            last[layer] = status
            progress(f"{layer}: {status}" if layer else status)
        if error:
            raise docker.errors.APIError(error)

    # -- ImageBuilder (protocol-scheme builds) -------------------------------------------------

    def build_image(
        self,
        context_dir: str,
        tag: str,
        *,
        labels: dict[str, str] | None = None,
        dockerfile: str = "Dockerfile",
        network_mode: str | None = None,
        progress: ProgressCallback | None = None,
    ) -> str:
        """Build ``context_dir`` (the classic ``POST /build``) and tag it ``tag``.

        The untagged images the build leaves behind are removed afterwards: a builder stage may
        hold a CA certificate, build env or auth files that must not linger in the local store
        (and a build cache is of no use: the reuse check happens before building).
        """
        from toolhive.contracts.runtime import BuildError

        tail: list[str] = []
        steps: list[str] = []
        image_id = ""
        error = ""
        with self._engine_errors():
            try:
                stream = self.client.api.build(
                    path=context_dir,
                    dockerfile=dockerfile,
                    tag=tag,
                    labels=dict(labels or {}),
                    network_mode=network_mode,
                    rm=True,
                    forcerm=True,
                    pull=False,
                    decode=True,
                )
                # Read to the end even after an error event, so the connection is released.
                for event in stream:
                    if "error" in event:
                        detail = event.get("errorDetail") or {}
                        error = error or str(detail.get("message") or event["error"])
                        continue
                    image_id = str((event.get("aux") or {}).get("ID") or image_id)
                    for line in str(event.get("stream", "")).splitlines():
                        if not line.strip():
                            continue
                        step = _STEP_IMAGE.match(line)
                        if step:
                            # Podman's compat API refuses full 64-hex ids as names; 12 is enough.
                            steps.append(step.group(1)[:12])
                        tail = [*tail[-19:], line.rstrip()]
                        if progress:
                            progress(line.rstrip())
            except docker.errors.APIError as exc:
                error = _api_reason(exc)
            finally:
                self._remove_step_images(steps)
        if error:
            last = "\n".join(tail[-10:])
            msg = f"building {tag} failed: {_one_line(error)}" + (f"\n{last}" if last else "")
            raise BuildError(msg)
        if not image_id:
            image_id = str(self.client.api.inspect_image(tag)["Id"])
        return image_id

    def _remove_step_images(self, steps: list[str]) -> None:
        """Remove the build's untagged step images, leaves first (a parent of the tagged result
        stays: the engine refuses with "dependent child images"). Retried briefly, because the
        engine may still be removing a step's container when the build stream ends."""
        pending = list(reversed(steps))
        last_error = ""
        for attempt in range(5):
            retry: list[str] = []
            for ref in pending:
                try:
                    info = self.client.api.inspect_image(ref)
                    if [t for t in info.get("RepoTags") or [] if t != "<none>:<none>"]:
                        continue
                    self.client.api.remove_image(ref)
                except docker.errors.NotFound:
                    continue
                except docker.errors.APIError as exc:
                    reason = _api_reason(exc).lower()
                    gone = exc.status_code == 404 or "not known" in reason or "no such" in reason
                    if not gone and "child" not in reason:
                        retry.append(ref)
                        last_error = reason
            if not retry:
                return
            pending = retry
            time.sleep(0.2 * (attempt + 1))
        logger.warning("could not remove build step images %s: %s", ", ".join(pending), last_error)

    def find_image(self, labels: dict[str, str]) -> str | None:
        with self._engine_errors():
            filters = {"label": [f"{k}={v}" for k, v in labels.items()]}
            images: list[dict[str, Any]] = self.client.api.images(filters=filters)
        tagged = [(i, _repo_tags(i)) for i in images if _repo_tags(i)]
        if not tagged:
            return None
        _newest, tags = max(tagged, key=lambda it: int(it[0].get("Created") or 0))
        return sorted(tags)[-1]

    def remove_image(self, ref: str) -> None:
        with self._engine_errors():
            try:
                self.client.api.remove_image(ref)
            except docker.errors.APIError as exc:
                # Absent, or used by a container: nothing to do (it stays, harmlessly).
                logger.debug("not removing image %s: %s", ref, _api_reason(exc))

    def check_request(self, request: DeployRequest) -> None:
        hardening.check_request(request, runtime=self.name)
        engine_socket = os.path.realpath(self.socket_path)
        for mount in hardening.plan_mounts(request):
            if mount.kind == "bind" and os.path.realpath(mount.source) == engine_socket:
                msg = (
                    f"mounting the engine socket {mount.source} would give the server control "
                    "of every container and of the host; remove that mount"
                )
                raise PermissionProfileError(msg)

    def deploy(self, request: DeployRequest) -> Deployment:
        self.check_request(request)
        network = hardening.plan_network(request)
        if network.widened:
            logger.warning(
                "%s: outbound network is unrestricted (--isolate-network=false); the profile's "
                "allow_host/allow_port rules are not enforced",
                request.name,
            )
        with self._engine_errors():
            # First the old container, which may hold the very port this one asks for.
            self._replace_existing(request.name)
            host_port: int | None = None
            if not request.stdio:
                if request.host_port is not None:
                    check_port_free(request.host_port)
                    host_port = request.host_port
                else:
                    host_port = free_port()
            isolated = None
            if network.mode == "isolated":
                isolated = sidecars.setup(self, request, host_port)
            try:
                config = self.container_config(request, host_port, network, isolated)
                container_id = self._create(request, config)
                self._start(request, container_id, host_port)
            except BaseException:
                if isolated is not None:
                    with contextlib.suppress(Exception):
                        sidecars.teardown(self, request.name)
                raise
        return Deployment(id=container_id, target_host=LOOPBACK, target_port=host_port)

    def _replace_existing(self, name: str) -> None:
        try:
            old = self.client.api.inspect_container(name)
        except docker.errors.NotFound:
            return
        labels = (old.get("Config") or {}).get("Labels") or {}
        if labels.get(LABEL_TOOLHIVE) != "true":
            msg = (
                f"a container named {name} exists and is not managed by ToolHive; "
                f"remove it (`{self.name} rm -f {name}`) or choose another name"
            )
            raise AlreadyExistsError(msg)
        logger.info("%s: replacing the existing container %s", name, old["Id"][:12])
        self.remove(name)

    def _create(self, request: DeployRequest, config: dict[str, Any]) -> str:
        try:
            created = self.client.api.create_container_from_config(config, name=request.name)
        except docker.errors.ImageNotFound as exc:
            self._image_missing(request.image, _api_reason(exc), pulled=False)
        except docker.errors.APIError as exc:
            if exc.status_code == 409:
                msg = f"a container named {request.name} already exists (created concurrently?)"
                raise AlreadyExistsError(msg) from None
            if exc.status_code == 404:
                self._image_missing(request.image, _api_reason(exc), pulled=False)
            raise
        container_id: str = created["Id"]
        for warning in created.get("Warnings") or []:
            logger.warning("%s: %s", request.name, warning)
        return container_id

    def _start(self, request: DeployRequest, container_id: str, host_port: int | None) -> None:
        try:
            self.client.api.start(container_id)
        except docker.errors.APIError as exc:
            reason = _api_reason(exc)
            with contextlib.suppress(docker.errors.APIError):
                self.client.api.remove_container(container_id, force=True, v=True)
            if host_port is not None and self.port_conflict(reason):
                msg = f"port {host_port} on {LOOPBACK} is already in use ({reason})"
                raise PortInUseError(msg) from None
            msg = f"container {request.name} could not start: {reason}"
            raise ContainerStartError(msg) from None

    @staticmethod
    def port_conflict(reason: str) -> bool:
        reason = reason.lower()
        return "address already in use" in reason or "port is already allocated" in reason

    async def attach_stdio(self, name: str, on_stderr: StderrSink | None = None) -> AttachChannel:
        raw = await asyncio.to_thread(self.inspect_raw, name)
        if raw is None:
            msg = f"no container named {name}"
            raise NotFoundError(msg)
        state = raw.get("State") or {}
        if not state.get("Running"):
            msg = (
                f"container {name} is not running (state {state.get('Status', '?')}, "
                f"exit code {state.get('ExitCode', '?')}); see `thv logs {name}`"
            )
            raise WorkloadStateError(msg)
        tty = bool((raw.get("Config") or {}).get("Tty"))
        try:
            return await AttachChannel.open(
                self.socket_path, raw["Id"], multiplexed=not tty, on_stderr=on_stderr
            )
        except OSError as exc:
            self._unavailable(exc.strerror or str(exc))

    def wait(self, name: str) -> int:
        with self._engine_errors():
            try:
                # timeout=None: no HTTP timeout, the call blocks until the container exits.
                result = self.client.api.wait(name, timeout=None)
            except docker.errors.NotFound:
                msg = f"no container named {name}"
                raise NotFoundError(msg) from None
        return self.exit_code(name, result)

    def exit_code(self, name: str, result: dict[str, Any]) -> int:
        """The exit code from a ``wait`` answer; ``-1`` when the engine could not tell.

        Podman answers a wait interrupted by a forced removal with ``StatusCode: 0`` and an
        ``Error``; a clean exit must not be reported for that.
        """
        error = (result.get("Error") or {}).get("Message")
        code = int(result.get("StatusCode", -1))
        if error:
            logger.warning("%s: waiting for the container failed: %s", name, error)
            return code or -1
        return code

    def stop(self, name: str, timeout: float = 30) -> None:
        with self._engine_errors():
            try:
                self.client.api.stop(name, timeout=math.ceil(max(timeout, 0)))
            except docker.errors.NotFound:
                pass
            except docker.errors.APIError as exc:
                if not self.already_stopped(exc):
                    raise
            sidecars.stop(self, name)

    @staticmethod
    def already_stopped(exc: docker.errors.APIError) -> bool:
        return bool(exc.status_code == 304)

    def remove(self, name: str) -> None:
        with self._engine_errors():
            deadline = time.monotonic() + self.config.api_timeout
            while True:
                try:
                    self.client.api.remove_container(name, force=True, v=True)
                except docker.errors.NotFound:
                    break
                except docker.errors.APIError as exc:
                    # "removal already in progress": wait for the other removal to finish.
                    if exc.status_code != 409 or time.monotonic() > deadline:
                        raise
                    time.sleep(0.2)
                    continue
                break
            sidecars.teardown(self, name)

    def inspect_raw(self, name: str) -> dict[str, Any] | None:
        """The engine's ``GET /containers/{name}/json``; ``None`` if there is no such container."""
        with self._engine_errors():
            try:
                raw: dict[str, Any] = self.client.api.inspect_container(name)
            except docker.errors.NotFound:
                return None
        return raw

    def inspect(self, name: str) -> ContainerInfo | None:
        raw = self.inspect_raw(name)
        return None if raw is None else self.container_info(raw)

    def container_info(self, raw: dict[str, Any]) -> ContainerInfo:
        state = raw.get("State") or {}
        config = raw.get("Config") or {}
        status = _STATES.get(str(state.get("Status", "")).lower(), "exited")
        exit_code = state.get("ExitCode")
        return ContainerInfo(
            id=raw["Id"],
            name=str(raw.get("Name", "")).lstrip("/"),
            image=str(config.get("Image", "")),
            state=status,
            labels=dict(config.get("Labels") or {}),
            created_at=str(raw.get("Created", "")),
            exit_code=None if status in ("running", "created") or exit_code is None else exit_code,
        )

    def list_workloads(self) -> list[ContainerInfo]:
        with self._engine_errors():
            summaries = self.client.api.containers(
                all=True, filters={"label": f"{LABEL_TOOLHIVE}=true"}
            )
        out: list[ContainerInfo] = []
        for summary in summaries:
            if (summary.get("Labels") or {}).get(isolation.LABEL_AUXILIARY) == "true":
                continue  # a sidecar, not a workload
            info = self.inspect(summary["Id"])
            if info is not None:  # removed meanwhile
                out.append(info)
        return sorted(out, key=lambda i: i.name)

    def logs(self, name: str, *, follow: bool = False, tail: int | None = None) -> Iterator[bytes]:
        raw = self.inspect_raw(name)
        if raw is None:
            msg = f"no container named {name}"
            raise NotFoundError(msg)
        config = raw.get("Config") or {}
        labels = config.get("Labels") or {}
        # A stdio server's stdout is the JSON-RPC stream; its log is stderr only.
        stdio = labels.get(LABEL_TRANSPORT, "stdio" if config.get("OpenStdin") else "") == "stdio"
        return self._log_stream(raw["Id"], stdout=not stdio, follow=follow, tail=tail)

    def _log_stream(
        self, container_id: str, *, stdout: bool, follow: bool, tail: int | None
    ) -> Iterator[bytes]:
        with self._engine_errors():
            stream = self.client.api.logs(
                container_id,
                stdout=stdout,
                stderr=True,
                stream=True,
                follow=follow,
                tail="all" if tail is None else tail,
            )
            try:
                for chunk in stream:
                    yield bytes(chunk)
            finally:
                stream.close()
