"""The ``kubernetes`` runtime: each MCP server a one-replica StatefulSet with its Services.

Uses the official ``kubernetes`` client (the API's generated models and its websocket attach in
:mod:`kubernetes.stream`). Objects are built by :mod:`toolhive_runtime_kubernetes.workload_objects`
and written with server-side apply, so a deploy is idempotent and leaves fields other managers
own alone. ``stop`` scales to zero (the objects stay, ``thv start`` scales up again); ``remove``
deletes them.

There is no cluster DNS on every cluster (nor on the host running ``thv``), so an HTTP server's
address is its Service's ClusterIP, read from the API: kube-proxy makes it reachable from the
nodes and from pods.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn, Self

import kubernetes.client as k8s
import kubernetes.config
from kubernetes.client.exceptions import ApiException
from toolhive.contracts import (
    ImageNotFoundError,
    InvalidInputError,
    NotFoundError,
    PermissionProfileError,
    RuntimeDetection,
    RuntimeUnavailableError,
    ToolHiveError,
    WorkloadStateError,
)
from toolhive.contracts.runtime import (
    LABEL_TOOLHIVE,
    ContainerInfo,
    ContainerState,
    Deployment,
    DeployRequest,
    ProgressCallback,
)

from toolhive_runtime_kubernetes import workload_objects as objects
from toolhive_runtime_kubernetes.attach import ReattachingChannel, StderrSink, WebsocketAttach
from toolhive_runtime_kubernetes.config import KubernetesConfig
from toolhive_runtime_kubernetes.detection import NAMESPACE_ENV, SERVICE_ACCOUNT_DIR, in_cluster

logger = logging.getLogger(__name__)

#: A pod template patch (JSON) merged into every StatefulSet this process deploys; set by
#: ``thv-proxyrunner --k8s-pod-patch`` (ToolHive's flag of the same name).
POD_PATCH_ENV = "TOOLHIVE_KUBERNETES_POD_PATCH"
#: ``1``: the StatefulSet outlives this process (``thv-proxyrunner`` under the operator, which
#: owns its lifecycle): a deploy that changes nothing keeps the running pod, and ``stop`` leaves
#: the StatefulSet alone (a proxy rollout must not scale the server away from its successor).
KEEP_WORKLOAD_ENV = "TOOLHIVE_KUBERNETES_KEEP_WORKLOAD"
#: Seconds one API call may take (watches and log follows excepted).
API_TIMEOUT = 30
#: Seconds between two looks at a pod or StatefulSet while waiting.
POLL = 0.5
#: Seconds an image or container-creation failure must last before a deploy gives up on it.
FAILURE_GRACE = 10.0
#: Container waiting reasons that mean the image cannot be had.
_IMAGE_ERRORS = ("ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull")
#: Waiting reasons that mean the server cannot start as configured.
_START_ERRORS = (
    "CrashLoopBackOff",
    "CreateContainerConfigError",
    "CreateContainerError",
    "RunContainerError",
)


class PodStartError(ToolHiveError):
    """The StatefulSet exists but its pod cannot run the server (crash loop, bad config)."""

    http_status = 500


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _reason(exc: ApiException) -> str:
    with contextlib.suppress(ValueError, TypeError, AttributeError):
        return _one_line(str(json.loads(exc.body or "")["message"]))
    return _one_line(str(exc.reason or exc))


def _keep_workload() -> bool:
    return os.environ.get(KEEP_WORKLOAD_ENV, "").strip().lower() in ("1", "true", "yes")


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class KubernetesRuntime:
    """MCP servers as StatefulSets in one namespace of one cluster."""

    name = "kubernetes"

    def __init__(
        self,
        api_client: k8s.ApiClient,
        namespace: str,
        config: KubernetesConfig | None = None,
        *,
        endpoint: str = "",
    ) -> None:
        self.config = config or KubernetesConfig()
        self.api_client = api_client
        self.namespace = namespace
        self.endpoint = endpoint or str(api_client.configuration.host)
        self.core = k8s.CoreV1Api(api_client)
        self.apps = k8s.AppsV1Api(api_client)
        # Workloads ``stop`` left running (KEEP_WORKLOAD_ENV): no longer ours to wait for.
        self._released: set[str] = set()

    @classmethod
    def from_detection(cls, detection: RuntimeDetection, config: KubernetesConfig) -> Self:
        environ = os.environ
        configuration = k8s.Configuration()
        context_namespace: str | None = None
        try:
            if config.kubeconfig is None and in_cluster(environ):
                kubernetes.config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
            else:
                path = config.kubeconfig or detection.endpoint or None
                kubernetes.config.load_kube_config(  # type: ignore[no-untyped-call]
                    config_file=path, context=config.context, client_configuration=configuration
                )
                contexts, active = kubernetes.config.list_kube_config_contexts(path)  # type: ignore[no-untyped-call]
                chosen = next((c for c in contexts if c.get("name") == config.context), active)
                context_namespace = ((chosen or {}).get("context") or {}).get("namespace")
        except (kubernetes.config.ConfigException, OSError, ValueError) as exc:
            msg = f"cannot load the Kubernetes configuration: {_one_line(str(exc))}"
            raise RuntimeUnavailableError(msg) from None
        namespace = resolve_namespace(config, environ, context_namespace)
        return cls(
            k8s.ApiClient(configuration), namespace, config, endpoint=detection.endpoint or ""
        )

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.api_client.close()  # type: ignore[no-untyped-call]

    # -- helpers ------------------------------------------------------------------------------

    def _unavailable(self, reason: str) -> NoReturn:
        msg = f"the Kubernetes API ({self.endpoint}) is not usable: {reason}"
        raise RuntimeUnavailableError(msg)

    @contextlib.contextmanager
    def _api_errors(self) -> Iterator[None]:
        """Connection failures and refusals as ToolHive's errors (404s are handled by callers)."""
        import urllib3.exceptions

        try:
            yield
        except ApiException as exc:
            if exc.status in (401, 403):
                self._unavailable(
                    f"{_reason(exc)} (check the kubeconfig's credentials or the service "
                    f"account's RBAC in namespace {self.namespace})"
                )
            if exc.status == 422:
                raise InvalidInputError(f"the cluster refused the server: {_reason(exc)}") from None
            if exc.status == 0 or exc.status is None:
                self._unavailable(_reason(exc))
            raise WorkloadStateError(f"Kubernetes API error {exc.status}: {_reason(exc)}") from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            self._unavailable(_one_line(str(exc)) or type(exc).__name__)

    def _apply(self, body: dict[str, Any]) -> Any:
        """Server-side apply of one object (our field manager, conflicts forced: we own it)."""
        patch = {
            "StatefulSet": self.apps.patch_namespaced_stateful_set,
            "Service": self.core.patch_namespaced_service,
            "Secret": self.core.patch_namespaced_secret,
        }[body["kind"]]
        return patch(
            body["metadata"]["name"],
            self.namespace,
            body,
            field_manager=objects.FIELD_MANAGER,
            force=True,
            _content_type="application/apply-patch+yaml",
            _request_timeout=API_TIMEOUT,
        )

    def _get_stateful_set(self, name: str) -> Any | None:
        try:
            return self.apps.read_namespaced_stateful_set(
                name, self.namespace, _request_timeout=API_TIMEOUT
            )
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def _pods(self, name: str) -> list[Any]:
        pods = self.core.list_namespaced_pod(
            self.namespace,
            label_selector=f"{objects.LABEL_APP}={name},{LABEL_TOOLHIVE}=true",
            _request_timeout=API_TIMEOUT,
        )
        return list(pods.items)

    def _pod(self, name: str) -> Any | None:
        try:
            return self.core.read_namespaced_pod(
                objects.pod_name(name), self.namespace, _request_timeout=API_TIMEOUT
            )
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def _pod_patch(self) -> dict[str, Any] | None:
        raw = os.environ.get(POD_PATCH_ENV, "").strip()
        if not raw:
            return None
        try:
            patch = json.loads(raw)
        except ValueError as exc:
            msg = f"{POD_PATCH_ENV} is not JSON: {exc}"
            raise InvalidInputError(msg) from None
        if not isinstance(patch, dict):
            msg = f"{POD_PATCH_ENV} must be a JSON object (a pod template)"
            raise InvalidInputError(msg)
        return patch

    # -- Runtime protocol ---------------------------------------------------------------------

    def ping(self) -> None:
        with self._api_errors():
            self.core.list_namespaced_service(self.namespace, limit=1, _request_timeout=10)

    def ensure_image(self, image: str, progress: ProgressCallback | None = None) -> None:
        """Nothing to do before deploying: the kubelet pulls (or uses the node's copy, as
        ``imagePullPolicy: IfNotPresent`` says); a missing image fails :meth:`deploy`."""
        if not image.strip() or any(c.isspace() for c in image):
            msg = f"{image!r} is not an image reference"
            raise ImageNotFoundError(msg)

    def check_request(self, request: DeployRequest) -> None:
        objects.check_name(request.name)
        self.ensure_image(request.image)
        if not request.stdio and not request.target_port:
            msg = f"{request.transport} server {request.name!r} needs a target port to listen on"
            raise InvalidInputError(msg)
        profile = request.permission_profile
        if profile.privileged:
            msg = (
                "the kubernetes runtime does not run privileged servers (ToolHive's pods are "
                "never privileged); use a profile without 'privileged'"
            )
            raise PermissionProfileError(msg)
        host_paths = [m.source for m in request.mounts] + [*profile.read, *profile.write]
        if host_paths:
            paths = ", ".join(host_paths)
            msg = (
                f"the kubernetes runtime cannot mount host paths ({paths}): the server runs on a "
                "cluster node; remove the volumes and the profile's read/write paths"
            )
            raise PermissionProfileError(msg)
        network = profile.network
        outbound = network.outbound if network is not None else None
        if request.isolate_network and (outbound is None or not outbound.insecure_allow_all):
            msg = (
                "the kubernetes runtime cannot restrict the server's outbound network (no "
                "NetworkPolicy enforcement is assumed); use the 'network' permission profile or "
                "--isolate-network=false to accept unrestricted outbound access"
            )
            raise PermissionProfileError(msg)

    def deploy(self, request: DeployRequest) -> Deployment:
        self.check_request(request)
        pod_patch = self._pod_patch()
        with self._api_errors():
            existing = self._get_stateful_set(request.name)
            if (
                existing is not None
                and (existing.metadata.labels or {}).get(LABEL_TOOLHIVE) != "true"
            ):
                msg = (
                    f"a StatefulSet named {request.name} exists in namespace {self.namespace} and "
                    "is not managed by ToolHive; remove it or choose another name"
                )
                raise InvalidInputError(msg)
            # The Secret first: the pod's envFrom needs it (owner reference added below).
            self._apply(objects.env_secret(request, self.namespace))
            sts = self._apply(
                objects.stateful_set(
                    request,
                    self.namespace,
                    deployed_at=None if _keep_workload() else _now(),
                    pull_policy=self.config.image_pull_policy,
                    pod_patch=pod_patch,
                )
            )
            owner = {"name": sts.metadata.name, "uid": sts.metadata.uid}
            self._apply(objects.env_secret(request, self.namespace, owner))
            self._apply(objects.headless_service(request, self.namespace, owner))
            service = objects.mcp_service(request, self.namespace, owner)
            target_host = "127.0.0.1"
            if service is not None:
                applied = self._apply(service)
                target_host = str(applied.spec.cluster_ip or "")
                if not target_host or target_host == "None":
                    msg = f"Service {service['metadata']['name']} has no ClusterIP"
                    raise WorkloadStateError(msg)
            self._wait_rolled_out(request, int(sts.metadata.generation or 0))
        return Deployment(
            id=str(sts.metadata.uid),
            target_host=target_host,
            target_port=request.target_port if service is not None else None,
        )

    def _wait_rolled_out(self, request: DeployRequest, generation: int) -> None:
        """Until the StatefulSet's one pod runs this generation's template and is ready. A crash
        loop fails at once; image and container-creation failures once they have lasted
        :data:`FAILURE_GRACE` seconds (the kubelet retries them, and some pass: a Secret its
        cache has not synced yet, a registry's hiccup)."""
        deadline = time.monotonic() + self.config.ready_timeout
        name = request.name
        failing: dict[str, float] = {}  # waiting reason -> first seen
        while True:
            sts = self._get_stateful_set(name)
            if sts is None:
                msg = f"StatefulSet {name} disappeared while starting"
                raise WorkloadStateError(msg)
            status = sts.status
            if (
                (status.observed_generation or 0) >= generation
                and (status.ready_replicas or 0) >= 1
                and (status.updated_replicas or 0) >= 1
                and status.update_revision
                and status.current_revision == status.update_revision
            ):
                pod = self._pod(name)
                if pod is not None and _ready(pod) and not pod.metadata.deletion_timestamp:
                    return
            pod = self._pod(name)
            waiting = _waiting(pod) if pod is not None else None
            now = time.monotonic()
            if waiting is None:
                failing.clear()
            else:
                since = failing.setdefault(str(waiting.reason), now)
                if waiting.reason == "CrashLoopBackOff" or now - since >= FAILURE_GRACE:
                    self._raise_for(request, waiting)
            if now > deadline:
                reason = f" ({_detail(waiting)})" if waiting is not None else ""
                msg = (
                    f"the pod of {name} was not ready within {self.config.ready_timeout:.0f}s"
                    f"{reason}; see `kubectl -n {self.namespace} describe pod "
                    f"{objects.pod_name(name)}`"
                )
                raise WorkloadStateError(msg)
            time.sleep(POLL)

    def _raise_for(self, request: DeployRequest, waiting: Any) -> None:
        detail = _detail(waiting)
        if waiting.reason in _IMAGE_ERRORS:
            msg = (
                f"image {request.image} is not available to the cluster ({detail}); load it "
                "into the nodes' engine or push it to a registry the cluster can pull from"
            )
            raise ImageNotFoundError(msg)
        if waiting.reason in _START_ERRORS:
            msg = (
                f"the server of {request.name} cannot start ({detail}); see `thv logs "
                f"{request.name}` or `kubectl -n {self.namespace} describe pod "
                f"{objects.pod_name(request.name)}`"
            )
            raise PodStartError(msg)

    async def attach_stdio(
        self, name: str, on_stderr: StderrSink | None = None
    ) -> ReattachingChannel:
        import asyncio

        sts = await asyncio.to_thread(self._get_stateful_set_checked, name)
        if not sts.spec.template.spec.containers[0].stdin:
            msg = f"{name} is not a stdio server (its container has no stdin)"
            raise WorkloadStateError(msg)
        attach = WebsocketAttach(self, name)
        return await ReattachingChannel.open(attach, name=name, on_stderr=on_stderr)

    def _get_stateful_set_checked(self, name: str) -> Any:
        with self._api_errors():
            sts = self._get_stateful_set(name)
        if sts is None:
            msg = f"no workload named {name} in namespace {self.namespace}"
            raise NotFoundError(msg)
        return sts

    def workload_gone(self, name: str) -> bool:
        """Whether ``name`` was removed or stopped (scaled to zero): nothing to attach to."""
        sts = self._get_stateful_set(name)
        return sts is None or (sts.spec.replicas or 0) == 0

    def running_pod(self, name: str) -> Any | None:
        """The workload's pod once its ``mcp`` container runs; ``None`` while it does not."""
        pod = self._pod(name)
        if pod is None or pod.metadata.deletion_timestamp or pod.status.phase != "Running":
            return None
        for status in pod.status.container_statuses or []:
            if status.name == objects.CONTAINER and status.state and status.state.running:
                return pod
        return None

    def wait(self, name: str) -> int:
        """Until the workload is stopped (scaled to zero), removed, or left to its owner by
        ``stop`` (KEEP_WORKLOAD_ENV); Kubernetes restarts a server that exits, so an exit alone
        does not end the wait. The code is the container's last exit code (0 if it never
        exited)."""
        self._get_stateful_set_checked(name)
        code = 0
        while name not in self._released:
            with self._api_errors():
                pod = self._pod(name)
                if pod is not None:
                    code = _last_exit_code(pod, code)
                if self.workload_gone(name):
                    return code
            deadline = time.monotonic() + 2.0
            while name not in self._released and time.monotonic() < deadline:
                time.sleep(0.1)
        return code

    def stop(self, name: str, timeout: float = 30) -> None:
        if _keep_workload():
            logger.info(
                "%s: left running (%s=1: its StatefulSet is not ours)", name, KEEP_WORKLOAD_ENV
            )
            # A supervisor waiting on it (its exit monitor) must not hold the process: an
            # executor thread still in wait() kept the proxy runner's pod up until SIGKILL.
            self._released.add(name)
            return
        with self._api_errors():
            if self._get_stateful_set(name) is None:
                return
            try:
                self.apps.patch_namespaced_stateful_set_scale(
                    name, self.namespace, {"spec": {"replicas": 0}}, _request_timeout=API_TIMEOUT
                )
            except ApiException as exc:
                if exc.status != 404:
                    raise
                return
            deadline = time.monotonic() + max(timeout, 0) + objects.TERMINATION_GRACE
            while self._pods(name) and time.monotonic() < deadline:
                time.sleep(POLL)

    def remove(self, name: str) -> None:
        with self._api_errors():
            body = k8s.V1DeleteOptions(propagation_policy="Background", grace_period_seconds=1)
            deletes = (
                (self.apps.delete_namespaced_stateful_set, name),
                (self.core.delete_namespaced_service, objects.mcp_service_name(name)),
                (self.core.delete_namespaced_service, objects.headless_service_name(name)),
                (self.core.delete_namespaced_secret, objects.env_secret_name(name)),
            )
            for delete, object_name in deletes:
                try:
                    # Raw answer: some API versions answer a Service delete with a Status the
                    # client's models refuse.
                    answer: Any = delete(
                        object_name,
                        self.namespace,
                        body=body,
                        _request_timeout=API_TIMEOUT,
                        _preload_content=False,
                    )
                    with contextlib.suppress(Exception):
                        answer.read()
                        answer.release_conn()
                except ApiException as exc:
                    if exc.status != 404:
                        raise
            deadline = time.monotonic() + objects.TERMINATION_GRACE + 20
            while self._pods(name) and time.monotonic() < deadline:
                time.sleep(POLL)

    def inspect(self, name: str) -> ContainerInfo | None:
        with self._api_errors():
            sts = self._get_stateful_set(name)
            if sts is None:
                return None
            pod = self._pod(name)
        return _info(sts, pod)

    def list_workloads(self) -> list[ContainerInfo]:
        with self._api_errors():
            sets = self.apps.list_namespaced_stateful_set(
                self.namespace,
                label_selector=f"{LABEL_TOOLHIVE}=true",
                _request_timeout=API_TIMEOUT,
            ).items
            pods: dict[str, Any] = {
                str(p.metadata.name): p  # type: ignore[union-attr]
                for p in self.core.list_namespaced_pod(
                    self.namespace,
                    label_selector=f"{LABEL_TOOLHIVE}=true",
                    _request_timeout=API_TIMEOUT,
                ).items
            }
        infos = [_info(s, pods.get(objects.pod_name(str(s.metadata.name)))) for s in sets]  # type: ignore[union-attr]
        return sorted(infos, key=lambda i: i.name)

    def logs(self, name: str, *, follow: bool = False, tail: int | None = None) -> Iterator[bytes]:
        self._get_stateful_set_checked(name)
        with self._api_errors():
            if self._pod(name) is None:
                return iter(())
            try:
                response = self.core.read_namespaced_pod_log(
                    objects.pod_name(name),
                    self.namespace,
                    container=objects.CONTAINER,
                    follow=follow,
                    tail_lines=tail,
                    _preload_content=False,
                    _request_timeout=None if follow else API_TIMEOUT,
                )
            except ApiException as exc:
                if exc.status in (400, 404):  # the container has not started yet
                    return iter(())
                raise
        return _stream(response)


def _stream(response: Any) -> Iterator[bytes]:
    try:
        yield from response.stream(65536, decode_content=True)
    finally:
        response.release_conn()


def _waiting(pod: Any) -> Any | None:
    """The ``mcp`` container's waiting state when it is a failure (not ``ContainerCreating``)."""
    for status in pod.status.container_statuses or []:
        waiting = status.state.waiting if status.state else None
        if (
            status.name == objects.CONTAINER
            and waiting is not None
            and (waiting.reason in _IMAGE_ERRORS or waiting.reason in _START_ERRORS)
        ):
            return waiting
    return None


def _detail(waiting: Any) -> str:
    return _one_line(f"{waiting.reason}: {waiting.message or ''}").rstrip(": ")


def _ready(pod: Any) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])


def _last_exit_code(pod: Any, default: int) -> int:
    for status in pod.status.container_statuses or []:
        if status.name != objects.CONTAINER:
            continue
        for state in (status.state, status.last_state):
            if state is not None and state.terminated is not None:
                return int(state.terminated.exit_code)
    return default


def _info(sts: Any, pod: Any | None) -> ContainerInfo:
    spec_replicas = sts.spec.replicas or 0
    state: ContainerState
    exit_code: int | None = None
    if spec_replicas == 0:
        state = "exited"
        exit_code = 0 if pod is None else _last_exit_code(pod, 0)
    elif pod is None or pod.metadata.deletion_timestamp:
        state = "created"
    else:
        state = _pod_state(pod)
        if state in ("restarting", "exited"):
            exit_code = _last_exit_code(pod, -1)
    created = sts.metadata.creation_timestamp
    return ContainerInfo(
        id=str(sts.metadata.uid),
        name=str(sts.metadata.name),
        image=str(sts.spec.template.spec.containers[0].image),
        state=state,
        labels=dict(sts.metadata.labels or {}),
        created_at=created.isoformat() if created else "",
        exit_code=exit_code,
    )


def _pod_state(pod: Any) -> ContainerState:
    phase = pod.status.phase
    if phase in ("Succeeded", "Failed"):
        return "exited"
    for status in pod.status.container_statuses or []:
        if status.name != objects.CONTAINER or status.state is None:
            continue
        if status.state.running is not None:
            return "running"
        if status.state.terminated is not None or (
            status.state.waiting is not None and status.state.waiting.reason == "CrashLoopBackOff"
        ):
            return "restarting"
    return "created"


def resolve_namespace(config: KubernetesConfig, environ: Any, context_namespace: str | None) -> str:
    """The configured namespace, ``$TOOLHIVE_KUBERNETES_NAMESPACE``, the pod's own (in a
    cluster), the kubeconfig context's, else ``default``."""
    if config.namespace:
        return config.namespace
    if environ.get(NAMESPACE_ENV):
        return str(environ[NAMESPACE_ENV])
    if in_cluster(environ):
        with contextlib.suppress(OSError):
            value = Path(SERVICE_ACCOUNT_DIR / "namespace").read_text().strip()
            if value:
                return value
    return context_namespace or "default"
