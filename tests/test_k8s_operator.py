"""thv-operator on the real test cluster: out of cluster (a subprocess with the kubeconfig), then in
cluster from its image (deploy/operator).

One MCPServer for the stdio image's ``mcp-server-time`` goes through its life: proxy pod and MCP
pod Running, a tool call through the proxy Service's ClusterIP with the official client (the
host reaches ClusterIPs; the cluster has no DNS), an operator restart that rewrites nothing, an
MCPToolConfig change that changes the tool list, a spec edit that rolls the proxy out, the
StatefulSet deleted by hand and deployed again, the MCPServer deleted and everything it owned gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from toolhive.testing.k8s_cluster import (
    KubeCluster,
    KubectlError,
    OperatorProcess,
    cluster_fixture,
    create_namespace,
    delete_namespace,
    install_crds,
)

from tests.conftest import Thv

pytestmark = [pytest.mark.kubernetes, pytest.mark.timeout(900)]

k8s = cluster_fixture()

REPO = Path(__file__).resolve().parents[1]
IMAGE = "localhost/toolhive-test/mcp-servers:latest"
OWNED = [
    ("deployment", "time"),
    ("service", "mcp-time-proxy"),
    ("configmap", "time-runconfig"),
    ("serviceaccount", "time-proxy-runner"),
    ("serviceaccount", "time-sa"),
    ("role", "time-proxy-runner"),
    ("rolebinding", "time-proxy-runner"),
    ("statefulset", "time"),
]


@pytest.fixture(scope="module", autouse=True)
def crds(k8s: KubeCluster) -> None:
    """ToolHive's CRDs installed (idempotent: a fresh cluster has none)."""
    install_crds(k8s, REPO / "deploy" / "crds")


@pytest.fixture(scope="module")
def namespace(k8s: KubeCluster) -> Iterator[str]:
    name = create_namespace(k8s, prefix="thv-operator")
    try:
        yield name
    finally:
        delete_namespace(k8s, name)  # strips what finalizers remain


@pytest.fixture
def operator(k8s: KubeCluster, namespace: str, tmp_path: Path) -> Iterator[OperatorProcess]:
    op = OperatorProcess(k8s, namespace, tmp_path / "operator.log", "--resync", "60")
    op.start()
    try:
        yield op
    finally:
        op.stop()
        sys.stderr.write(op.log.read_text()[-6000:])


def get(k8s: KubeCluster, namespace: str, kind: str, name: str) -> dict[str, Any] | None:
    proc = k8s.kubectl("get", kind, name, "-n", namespace, "-o", "json", check=False)
    return json.loads(proc.stdout) if proc.returncode == 0 else None


def phase(k8s: KubeCluster, namespace: str, name: str = "time") -> str:
    obj = get(k8s, namespace, "mcpserver", name) or {}
    return str((obj.get("status") or {}).get("phase", ""))


def wait_phase(k8s: KubeCluster, namespace: str, want: str, timeout: float = 240) -> None:
    try:
        k8s.wait_for(f"MCPServer phase {want}", lambda: phase(k8s, namespace) == want, timeout, 1)
    except TimeoutError:
        obj = get(k8s, namespace, "mcpserver", "time") or {}
        pods = k8s.kubectl("get", "pods,sts,deploy", "-n", namespace, check=False).stdout
        raise AssertionError(f"status {obj.get('status')}\n{pods}") from None


def server(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "toolhive.stacklok.dev/v1beta1",
        "kind": "MCPServer",
        "metadata": {"name": "time"},
        "spec": {"image": IMAGE, "transport": "stdio", "args": ["mcp-server-time"], **spec},
    }


def service_url(k8s: KubeCluster, namespace: str) -> str:
    svc = get(k8s, namespace, "service", "mcp-time-proxy")
    assert svc is not None
    return f"http://{svc['spec']['clusterIP']}:{svc['spec']['ports'][0]['port']}/mcp"


async def _tools(url: str, call: str | None) -> tuple[list[str], str]:
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    async with asyncio.timeout(60), Client(streamable_http_client(url)) as client:
        names = sorted(t.name for t in (await client.list_tools()).tools)
        text = ""
        if call is not None:
            result = await client.call_tool(call, {"timezone": "UTC"})
            assert not result.is_error, result
            text = "".join(c.text for c in result.content if c.type == "text")
        return names, text


def tools(url: str, call: str | None = None) -> tuple[list[str], str]:
    return asyncio.run(_tools(url, call))


def wait_tools(url: str, want: list[str], timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            last = tools(url)[0]
            if last == want:
                return
        except Exception as exc:  # pods rolling: refused, reset, 5xx until the new one serves
            last = exc
        time.sleep(2)
    raise AssertionError(f"tools never became {want}: last {last!r}")


def versions(k8s: KubeCluster, namespace: str) -> dict[str, str]:
    out = {}
    for kind, name in [*OWNED, ("mcpserver", "time")]:
        obj = get(k8s, namespace, kind, name)
        assert obj is not None, f"{kind} {name} missing"
        out[f"{kind}/{name}"] = obj["metadata"]["resourceVersion"]
    return out


def lifecycle(k8s: KubeCluster, namespace: str, restart: Any) -> None:
    """The MCPServer's life, against whichever operator is running."""
    k8s.apply(server(), namespace)
    wait_phase(k8s, namespace, "Ready")
    obj = get(k8s, namespace, "mcpserver", "time")
    assert obj is not None
    assert obj["metadata"]["finalizers"] == ["mcpserver.toolhive.stacklok.dev/finalizer"]
    assert obj["status"]["url"] == f"http://mcp-time-proxy.{namespace}.svc.cluster.local:8080/mcp"
    assert obj["status"]["readyReplicas"] == 1
    url = service_url(k8s, namespace)
    names, text = tools(url, "get_current_time")
    assert names == ["convert_time", "get_current_time"]
    assert '"timezone": "UTC"' in text

    # An operator restart rewrites nothing (no rollout: stacklok/toolhive#4877).
    before = versions(k8s, namespace)
    restart()
    time.sleep(15)  # the new operator lists everything and reconciles it
    assert versions(k8s, namespace) == before

    # An MCPToolConfig referenced by a spec edit: the RunConfig changes, the proxy rolls out,
    # the tool list follows; then a change of the MCPToolConfig alone rolls it out again.
    checksum_key = "toolhive.stacklok.dev/runconfig-checksum"
    deploy = get(k8s, namespace, "deployment", "time")
    assert deploy is not None
    checksum = deploy["spec"]["template"]["metadata"]["annotations"][checksum_key]
    toolconfig = {
        "apiVersion": "toolhive.stacklok.dev/v1beta1",
        "kind": "MCPToolConfig",
        "metadata": {"name": "only-now"},
        "spec": {"toolsFilter": ["get_current_time"]},
    }
    k8s.apply(toolconfig, namespace)
    k8s.apply(server(toolConfigRef={"name": "only-now"}), namespace)
    wait_tools(url, ["get_current_time"])
    deploy = get(k8s, namespace, "deployment", "time")
    assert deploy is not None
    assert deploy["spec"]["template"]["metadata"]["annotations"][checksum_key] != checksum
    toolconfig["spec"]["toolsOverride"] = {"get_current_time": {"name": "now"}}
    toolconfig["spec"]["toolsFilter"] = ["now"]
    k8s.apply(toolconfig, namespace)
    wait_tools(url, ["now"])
    wait_phase(k8s, namespace, "Ready")
    obj = get(k8s, namespace, "mcpserver", "time")
    tc = get(k8s, namespace, "mcptoolconfig", "only-now")
    assert obj is not None and tc is not None
    assert obj["status"]["toolConfigHash"] == tc["status"]["configHash"]

    # The StatefulSet deleted by hand: deployed again, calls work again (#6343).
    sts_uid = (get(k8s, namespace, "statefulset", "time") or {})["metadata"]["uid"]
    k8s.kubectl("delete", "statefulset", "time", "-n", namespace, "--wait=false")
    k8s.wait_for(
        "StatefulSet deployed again",
        lambda: (
            (get(k8s, namespace, "statefulset", "time") or {}).get("metadata", {}).get("uid")
            not in (None, sts_uid)
        ),
        timeout=240,
        interval=1,
    )
    wait_phase(k8s, namespace, "Ready")
    wait_tools(url, ["now"])

    # Deleting the MCPServer: the finalizer goes, every owned object goes (garbage collector).
    k8s.kubectl("delete", "mcpserver", "time", "-n", namespace, "--wait=false")
    k8s.wait_for(
        "owned objects gone",
        lambda: (
            all(get(k8s, namespace, kind, name) is None for kind, name in OWNED)
            and get(k8s, namespace, "mcpserver", "time") is None
        ),
        timeout=180,
        interval=1,
    )
    k8s.kubectl("delete", "mcptoolconfig", "only-now", "-n", namespace, "--wait=true", timeout=60)


def test_operator_out_of_cluster(
    k8s: KubeCluster, namespace: str, operator: OperatorProcess
) -> None:
    def restart() -> None:
        operator.stop()
        operator.start()

    lifecycle(k8s, namespace, restart)


def test_replicas_honoured_and_never_reverted(
    k8s: KubeCluster, namespace: str, operator: OperatorProcess
) -> None:
    """An HTTP-transport MCPServer without ``replicas``: ``kubectl scale`` stays (#3329)."""
    k8s.apply(server(transport="streamable-http"), namespace)
    k8s.wait_for("Deployment", lambda: get(k8s, namespace, "deployment", "time") is not None, 60, 1)
    k8s.kubectl("scale", "deployment", "time", "-n", namespace, "--replicas=2")
    k8s.kubectl("annotate", "mcpserver", "time", "-n", namespace, "poke=1", "--overwrite")
    time.sleep(8)
    deploy = get(k8s, namespace, "deployment", "time")
    assert deploy is not None and deploy["spec"]["replicas"] == 2
    k8s.apply(server(transport="streamable-http", replicas=3), namespace)
    k8s.wait_for(
        "replicas from the spec",
        lambda: (
            (get(k8s, namespace, "deployment", "time") or {}).get("spec", {}).get("replicas") == 3
        ),
        60,
        1,
    )
    k8s.kubectl("delete", "mcpserver", "time", "-n", namespace, "--wait=true", timeout=120)


def test_remote_proxy_in_front_of_an_mcpserver(
    k8s: KubeCluster, namespace: str, operator: OperatorProcess
) -> None:
    """MCPRemoteProxy: a proxy-only Deployment + Service; here in front of the MCPServer's Service."""
    k8s.apply(server(), namespace)
    wait_phase(k8s, namespace, "Ready")
    remote = {
        "apiVersion": "toolhive.stacklok.dev/v1beta1",
        "kind": "MCPRemoteProxy",
        "metadata": {"name": "remote"},
        "spec": {"remoteUrl": service_url(k8s, namespace), "allowPrivateEndpoint": True},
    }
    k8s.apply(remote, namespace)

    def remote_phase() -> str:
        obj = get(k8s, namespace, "mcpremoteproxy", "remote") or {}
        return str((obj.get("status") or {}).get("phase", ""))

    k8s.wait_for("MCPRemoteProxy Ready", lambda: remote_phase() == "Ready", 180, 1)
    obj = get(k8s, namespace, "mcpremoteproxy", "remote")
    assert obj is not None
    assert (
        obj["status"]["url"] == f"http://mcp-remote-remote-proxy.{namespace}.svc.cluster.local:8080"
    )
    svc = get(k8s, namespace, "service", "mcp-remote-remote-proxy")
    assert svc is not None
    url = f"http://{svc['spec']['clusterIP']}:8080/mcp"
    wait_tools(url, ["convert_time", "get_current_time"], timeout=120)
    assert '"timezone": "UTC"' in tools(url, "get_current_time")[1]
    k8s.kubectl("delete", "mcpremoteproxy", "remote", "-n", namespace, "--wait=true", timeout=120)
    k8s.wait_for(
        "remote proxy's objects gone",
        lambda: all(
            get(k8s, namespace, kind, name) is None
            for kind, name in [
                ("deployment", "remote"),
                ("service", "mcp-remote-remote-proxy"),
                ("configmap", "remote-runconfig"),
                ("role", "remote-remote-proxy-runner"),
            ]
        ),
        timeout=120,
        interval=1,
    )
    k8s.kubectl("delete", "mcpserver", "time", "-n", namespace, "--wait=true", timeout=120)


def _operator_manifests(k8s: KubeCluster, namespace: str) -> list[dict[str, Any]]:
    rendered = k8s.kubectl("kustomize", str(REPO / "deploy" / "operator")).stdout
    docs = [d for d in yaml.safe_load_all(rendered) if d]
    for doc in docs:
        if doc["kind"] == "Deployment":
            container = doc["spec"]["template"]["spec"]["containers"][0]
            # Only the test's namespace: other tests run their own operators elsewhere.
            container.setdefault("env", []).append({"name": "WATCH_NAMESPACE", "value": namespace})
    return docs


def test_operator_in_cluster(k8s: KubeCluster, namespace: str) -> None:
    images = subprocess.run(
        ["docker", "image", "inspect", "localhost/toolhive/operator:dev"],
        capture_output=True,
        check=False,
    )
    if images.returncode != 0:
        pytest.fail("no localhost/toolhive/operator:dev image: run scripts/build-k8s-images.sh")
    docs = _operator_manifests(k8s, namespace)
    k8s.apply({"apiVersion": "v1", "kind": "List", "items": docs})
    system = "toolhive-system"

    def rollout_restart() -> None:
        k8s.kubectl("rollout", "restart", "deployment/toolhive-operator", "-n", system)
        k8s.kubectl(
            "rollout",
            "status",
            "deployment/toolhive-operator",
            "-n",
            system,
            "--timeout=120s",
            timeout=130,
        )

    try:
        k8s.kubectl(
            "rollout",
            "status",
            "deployment/toolhive-operator",
            "-n",
            system,
            "--timeout=120s",
            timeout=130,
        )
        lifecycle(k8s, namespace, rollout_restart)
    finally:
        logs = k8s.kubectl(
            "logs", "deployment/toolhive-operator", "-n", system, "--tail=80", check=False
        )
        sys.stderr.write(logs.stdout)
        with contextlib.suppress(KubectlError):
            k8s.kubectl(
                "delete", "deployment", "toolhive-operator", "-n", system, "--wait=true", timeout=90
            )


def test_operator_runconfig_runs_with_thv_run_from_config(
    k8s: KubeCluster, thv_env: dict[str, str], tmp_path: Path
) -> None:
    """The RunConfig the operator writes is one core's ``thv run --from-config`` runs: here with
    the kubernetes runtime from this host (the local proxy on a free port instead of 8080)."""
    from toolhive.testing.mcp_servers import free_port
    from toolhive_runtime_kubernetes.crd.config_objects import MCPToolConfig
    from toolhive_runtime_kubernetes.crd.mcpserver import MCPServer
    from toolhive_runtime_kubernetes.operator.objects import runconfig_json
    from toolhive_runtime_kubernetes.operator.runconfig import mcpserver_runconfig

    ns = create_namespace(k8s, prefix="thv-runconfig")
    obj = server(env=[{"name": "TZ", "value": "UTC"}])
    obj["metadata"]["namespace"] = ns
    tc = MCPToolConfig.model_validate(
        {
            "apiVersion": "toolhive.stacklok.dev/v1beta1",
            "kind": "MCPToolConfig",
            "metadata": {"name": "t", "namespace": ns},
            "spec": {
                "toolsFilter": ["now"],
                "toolsOverride": {"get_current_time": {"name": "now"}},
            },
        }
    )
    config = mcpserver_runconfig(MCPServer.model_validate(obj), toolconfig=tc)
    # What the proxy runner's pod gets, but for a proxy on this host: a free local port.
    port = free_port()
    config.update(host="127.0.0.1", port=port)
    path = tmp_path / "runconfig.json"
    path.write_text(runconfig_json(config))
    thv = Thv(
        {
            **thv_env,
            **{k: v for k, v in k8s.env.items() if k in ("KUBECONFIG", "PATH")},
            "TOOLHIVE_RUNTIME": "kubernetes",
            "TOOLHIVE_KUBERNETES_NAMESPACE": ns,
        }
    )
    try:
        thv("run", "--from-config", str(path), timeout=240)
        wait_tools(f"http://127.0.0.1:{port}/mcp", ["now"], timeout=120)
        _names, text = tools(f"http://127.0.0.1:{port}/mcp", "now")
        assert '"timezone": "UTC"' in text
        assert "time" in thv("list").stdout
    finally:
        thv("rm", "time", check=False, timeout=120)
        delete_namespace(k8s, ns)
