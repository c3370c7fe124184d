"""The single-node Kubernetes test cluster (``scripts/install-k8s.sh`` builds it,
``scripts/k8s-cluster.sh`` starts it): a handle with ``kubectl`` and pytest fixtures for tests.

Kubernetes tests are marked ``kubernetes`` (``pytest -m kubernetes`` runs them, CI runs them after
the cluster is up) and get their fixtures from the factories here, in a ``conftest.py`` or the
test module::

    import pytest
    from toolhive.testing.k8s_cluster import cluster_fixture, namespace_fixture

    pytestmark = pytest.mark.kubernetes
    k8s = cluster_fixture()  # session: KubeCluster, cluster started if needed
    k8s_namespace = namespace_fixture()  # per test: a fresh namespace, deleted afterwards


    def test_pod(k8s: KubeCluster, k8s_namespace: str) -> None:
        k8s.kubectl("run", "x", "--image=localhost/toolhive-test/busybox:latest", "-n", k8s_namespace)

Without the built binaries the fixtures skip (naming ``scripts/install-k8s.sh``); with
``TOOLHIVE_TEST_REQUIRE_K8S=1`` (CI) they fail instead. A cluster the fixture starts is left
running for the next session (several sessions may share it): ``scripts/k8s-cluster.sh stop``.
Subprocesses only — no Kubernetes client library, so core's test helpers stay dependency-free.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import pytest

__all__ = [
    "BUSYBOX_IMAGE",
    "DEFAULT_DIR",
    "REQUIRE_ENV",
    "KubeCluster",
    "KubectlError",
    "OperatorProcess",
    "build_images",
    "cluster_dir",
    "cluster_fixture",
    "create_namespace",
    "delete_namespace",
    "ensure_cluster",
    "find_cluster_script",
    "install_crds",
    "k8s_required",
    "namespace_fixture",
    "skip_or_fail",
]

#: Where scripts/install-k8s.sh caches binaries, certificates and the running cluster's state.
DEFAULT_DIR = Path("/var/cache/toolhive-test/k8s")
#: ``1`` (CI): a missing or failing cluster fails the test instead of skipping it.
REQUIRE_ENV = "TOOLHIVE_TEST_REQUIRE_K8S"
#: A static busybox image in dockerd (scripts/build-test-images.sh); use ``imagePullPolicy: Never``.
BUSYBOX_IMAGE = "localhost/toolhive-test/busybox:latest"
BINARIES = (
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubelet",
    "kube-proxy",
    "kubectl",
)
INSTALL_HINT = (
    "scripts/install-k8s.sh [--yes] builds it (≈ 11 min), scripts/k8s-cluster.sh start starts it"
)


def k8s_required() -> bool:
    return os.environ.get(REQUIRE_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def skip_or_fail(reason: str) -> NoReturn:
    """Skip, or fail with ``TOOLHIVE_TEST_REQUIRE_K8S=1`` (CI: the cluster must be there)."""
    if k8s_required():
        pytest.fail(f"{reason} ({REQUIRE_ENV}=1)", pytrace=False)
    pytest.skip(reason)


def cluster_dir() -> Path:
    return Path(os.environ.get("TOOLHIVE_K8S_DIR") or DEFAULT_DIR)


class KubectlError(RuntimeError):
    """``kubectl`` exited non-zero; the message holds its arguments and stderr."""


@dataclass(frozen=True)
class KubeCluster:
    """A running cluster: its kubeconfig and ``kubectl`` (ours, v1.20.2, not whatever is on PATH)."""

    root: Path
    kubeconfig: Path = field(init=False)
    bin_dir: Path = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "kubeconfig", self.root / "run" / "admin.kubeconfig")
        object.__setattr__(self, "bin_dir", self.root / "bin")

    @property
    def env(self) -> dict[str, str]:
        """This process's environment with ``KUBECONFIG`` and our ``kubectl`` first on ``PATH``, for
        subprocesses (an out-of-cluster operator, a runtime plugin)."""
        path = f"{self.bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"
        return {**os.environ, "KUBECONFIG": str(self.kubeconfig), "PATH": path}

    def kubectl(
        self,
        *args: str,
        input: str | None = None,
        check: bool = True,
        timeout: float = 120,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``kubectl *args`` against this cluster; raises :class:`KubectlError` on a non-zero
        exit when ``check``."""
        cmd = [str(self.bin_dir / "kubectl"), f"--kubeconfig={self.kubeconfig}", *args]
        proc = subprocess.run(
            cmd, input=input, capture_output=True, text=True, timeout=timeout, check=False
        )
        if check and proc.returncode != 0:
            msg = f"kubectl {' '.join(args)} exited {proc.returncode}: {proc.stderr.strip() or proc.stdout.strip()}"
            raise KubectlError(msg)
        return proc

    def json(self, *args: str, timeout: float = 120) -> Any:
        """``kubectl *args -o json``, parsed."""
        return json.loads(self.kubectl(*args, "-o", "json", timeout=timeout).stdout)

    def apply(self, manifest: str | Mapping[str, Any], namespace: str | None = None) -> None:
        """``kubectl apply -f -`` of a YAML/JSON text or one object."""
        text = manifest if isinstance(manifest, str) else json.dumps(manifest)
        self.kubectl("apply", *(["-n", namespace] if namespace else []), "-f", "-", input=text)

    def service_address(
        self, namespace: str, name: str, port: int | None = None, timeout: float = 120
    ) -> str:
        """``IP:PORT`` of Service ``name``'s ClusterIP (``port``: its first port), once it accepts a
        TCP connection from this host.

        Ready (a pod's condition, a Deployment's ``readyReplicas``, an operator's ``phase``) comes
        before kube-proxy has written the Service's rules for the new endpoint; until then its
        REJECT rule for a Service without endpoints refuses connections. kube-proxy syncs at most
        once a second, so the gap grows while it is busy with other changes (an earlier test's
        namespace going away): wait for the address instead of trusting Ready."""
        spec = self.json("get", "service", name, "-n", namespace)["spec"]
        ip = str(spec["clusterIP"])
        port = port or int(spec["ports"][0]["port"])

        def accepts() -> bool:
            try:
                with socket.create_connection((ip, port), timeout=3):
                    return True
            except OSError:
                return False

        self.wait_for(
            f"Service {namespace}/{name} accepting connections at {ip}:{port}", accepts, timeout
        )
        return f"{ip}:{port}"

    def node_ready(self) -> bool:
        proc = self.kubectl("get", "nodes", "-o", "json", check=False, timeout=10)
        if proc.returncode != 0:
            return False
        nodes = json.loads(proc.stdout)["items"]
        return bool(nodes) and all(
            any(
                c["type"] == "Ready" and c["status"] == "True"
                for c in n["status"].get("conditions", [])
            )
            for n in nodes
        )

    def wait_for(
        self, what: str, ready: Callable[[], bool], timeout: float = 120, interval: float = 0.3
    ) -> None:
        """Poll ``ready()`` until it is true; ``TimeoutError`` naming ``what`` otherwise."""
        deadline = time.monotonic() + timeout
        while not ready():
            if time.monotonic() > deadline:
                msg = f"{what}: not reached within {timeout:.0f} s"
                raise TimeoutError(msg)
            time.sleep(interval)


def find_cluster_script() -> Path | None:
    """``scripts/k8s-cluster.sh`` of the checkout under test: ``TOOLHIVE_K8S_CLUSTER_SCRIPT``, else
    the first parent of the working directory or of this file that has it."""
    if explicit := os.environ.get("TOOLHIVE_K8S_CLUSTER_SCRIPT"):
        return Path(explicit)
    for start in (Path.cwd(), Path(__file__).resolve()):
        for folder in (start, *start.parents):
            candidate = folder / "scripts" / "k8s-cluster.sh"
            if candidate.is_file():
                return candidate
    return None


def build_images(timeout: float = 1800) -> None:
    """``scripts/build-k8s-images.sh`` of the checkout under test (a no-op when the images match
    it), at nice 19."""
    script = find_cluster_script()
    if script is None:
        skip_or_fail("scripts/build-k8s-images.sh not found (run the tests from the checkout)")
    proc = subprocess.run(
        ["nice", "-n", "19", str(script.parent / "build-k8s-images.sh")],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        msg = "scripts/build-k8s-images.sh failed:\n" + proc.stdout[-3000:] + proc.stderr[-3000:]
        raise AssertionError(msg)


def _missing_binaries(root: Path) -> list[str]:
    return [b for b in BINARIES if not os.access(root / "bin" / b, os.X_OK)]


def ensure_cluster(*, start: bool = True, timeout: float = 300) -> KubeCluster:
    """The running cluster; started with ``scripts/k8s-cluster.sh start`` first when it is down
    and the binaries are built. Skips (fails with ``TOOLHIVE_TEST_REQUIRE_K8S=1``) when it cannot be
    had, saying what to run."""
    cluster = KubeCluster(cluster_dir())
    if missing := _missing_binaries(cluster.root):
        skip_or_fail(
            f"no Kubernetes test cluster: {', '.join(missing)} missing in {cluster.bin_dir}; {INSTALL_HINT}"
        )
    if cluster.kubeconfig.is_file() and cluster.node_ready():
        return cluster
    if not start:
        skip_or_fail(
            f"the Kubernetes test cluster is not running: scripts/k8s-cluster.sh start ({INSTALL_HINT})"
        )
    script = find_cluster_script()
    if script is None:
        skip_or_fail(
            f"the Kubernetes test cluster is not running and scripts/k8s-cluster.sh is not found ({INSTALL_HINT})"
        )
    proc = subprocess.run(
        ["bash", str(script), "start"], capture_output=True, text=True, timeout=timeout, check=False
    )
    if proc.returncode != 0:
        # Built but not startable is a broken setup, not an absent one: always fail.
        pytest.fail(
            f"scripts/k8s-cluster.sh start failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}",
            pytrace=False,
        )
    if not cluster.node_ready():
        pytest.fail(
            "scripts/k8s-cluster.sh start succeeded but the node is not Ready", pytrace=False
        )
    return cluster


def create_namespace(cluster: KubeCluster, prefix: str = "thv-test", timeout: float = 60) -> str:
    """A fresh namespace ``<prefix>-<random>``, once its ``default`` ServiceAccount exists (pods are
    refused before that)."""
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    cluster.kubectl("create", "namespace", name)
    cluster.wait_for(
        f"ServiceAccount default in {name}",
        lambda: (
            cluster.kubectl("get", "serviceaccount", "default", "-n", name, check=False).returncode
            == 0
        ),
        timeout=timeout,
    )
    return name


#: ToolHive's custom resources (``deploy/crds``); those the operator finalizes carry finalizers.
TOOLHIVE_KINDS = (
    "mcpservers,mcpremoteproxies,mcpgroups,mcptoolconfigs,mcpexternalauthconfigs,"
    "mcpoidcconfigs,mcptelemetryconfigs,mcpregistries,virtualmcpservers"
)


def release_finalizers(cluster: KubeCluster, namespace: str) -> None:
    """Strip the finalizers ToolHive's resources in ``namespace`` still carry: with the test's
    operator already stopped nobody removes them, and the namespace would stay Terminating."""
    listed = cluster.kubectl("get", TOOLHIVE_KINDS, "-n", namespace, "-o", "name", check=False)
    for obj in listed.stdout.split():
        patch = '{"metadata":{"finalizers":[]}}'
        cluster.kubectl("patch", obj, "-n", namespace, "--type", "merge", "-p", patch, check=False)


def install_crds(cluster: KubeCluster, crds: Path) -> None:
    """``kubectl apply -k crds`` (the checkout's ``deploy/crds``) and wait until established."""
    cluster.kubectl("apply", "-k", str(crds))
    cluster.kubectl(
        "wait", "--for=condition=Established", "crd", "--all", "--timeout=60s", timeout=70
    )


class OperatorProcess:
    """``thv-operator`` of this checkout out of cluster, watching one namespace, its log in a
    file; restartable. Extra ``args`` go after ``--namespace`` (``--resync``, pull policy …)."""

    def __init__(self, cluster: KubeCluster, namespace: str, log: Path, *args: str) -> None:
        self.cluster, self.namespace, self.log, self.args = cluster, namespace, log, args
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        argv = [sys.executable, "-m", "toolhive_runtime_kubernetes.operator.main"]
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [*argv, "--namespace", self.namespace, *self.args],
                env={**os.environ, **self.cluster.env},
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


def delete_namespace(
    cluster: KubeCluster, name: str, *, wait: bool = False, timeout: float = 120
) -> None:
    """Delete the namespace and everything in it (by default without waiting for the pods to go)."""
    release_finalizers(cluster, name)
    cluster.kubectl(
        "delete",
        "namespace",
        name,
        "--ignore-not-found",
        f"--wait={str(wait).lower()}",
        f"--timeout={timeout:.0f}s",
        timeout=timeout + 10,
    )


def _require_marker(request: pytest.FixtureRequest) -> None:
    # A test without the marker would run in CI's main pass (-m "not kubernetes") before the cluster exists.
    if request.node.get_closest_marker("kubernetes") is None:
        pytest.fail(
            "a test using the Kubernetes cluster must be marked @pytest.mark.kubernetes",
            pytrace=False,
        )


def cluster_fixture(name: str = "k8s") -> Any:
    """A session-scoped fixture ``name`` yielding the :class:`KubeCluster` (see the module doc)."""

    @pytest.fixture(scope="session", name=name)
    def _cluster() -> KubeCluster:
        return ensure_cluster()

    return _cluster


def namespace_fixture(name: str = "k8s_namespace", cluster: str = "k8s") -> Any:
    """A fixture ``name`` yielding a fresh namespace per test (deleted afterwards); it uses the
    cluster fixture named ``cluster`` and fails a test that lacks the ``kubernetes`` marker."""

    @pytest.fixture(name=name)
    def _namespace(request: pytest.FixtureRequest) -> Iterator[str]:
        _require_marker(request)
        kube: KubeCluster = request.getfixturevalue(cluster)
        namespace = create_namespace(kube)
        try:
            yield namespace
        finally:
            delete_namespace(kube, namespace)

    return _namespace
