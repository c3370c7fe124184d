"""The runtime on the real single-node test cluster (``toolhive.testing.k8s_cluster``): stdio and
HTTP servers from the test image, the attach surviving a deleted pod, stop and remove leaving
nothing behind, and ``thv run --runtime kubernetes`` end to end with the official MCP client.

The test image ``localhost/toolhive-test/mcp-servers:latest`` is in the node's dockerd
(``scripts/build-test-images.sh``): ``imagePullPolicy: IfNotPresent`` uses it, no registry.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from toolhive.contracts import NotFoundError
from toolhive.contracts.runtime import DeployRequest, PermissionProfile
from toolhive.testing.k8s_cluster import KubeCluster, cluster_fixture, namespace_fixture
from toolhive.testing.mcp_servers import ECHO_SERVER_NAME, echo_session, jsonrpc, stdio_initialize
from toolhive.testing.runtime_contract import unique_name
from toolhive.testing.workloads import ThvConsole, workload_url
from toolhive_runtime_kubernetes import KubernetesConfig
from toolhive_runtime_kubernetes.detection import detect
from toolhive_runtime_kubernetes.runtime import KubernetesRuntime

pytestmark = pytest.mark.kubernetes

k8s = cluster_fixture()
k8s_namespace = namespace_fixture()

IMAGE = "localhost/toolhive-test/mcp-servers:latest"
ECHO = ["python3", "/opt/fixtures/echo_server.py"]
NETWORK = PermissionProfile.model_validate(
    {"name": "network", "network": {"outbound": {"insecure_allow_all": True}}}
)


@pytest.fixture
def runtime(k8s: KubeCluster, k8s_namespace: str) -> Iterator[KubernetesRuntime]:
    environ = {"KUBECONFIG": str(k8s.kubeconfig), "HOME": os.environ.get("HOME", "/root")}
    detection = detect(environ)
    assert detection.available, detection
    runtime = KubernetesRuntime.from_detection(
        detection, KubernetesConfig(kubeconfig=str(k8s.kubeconfig), namespace=k8s_namespace)
    )
    yield runtime
    runtime.close()


def request(name: str, transport: str = "stdio", **fields: Any) -> DeployRequest:
    command = [*ECHO, transport]
    env = {"MCP_TRANSPORT": transport}
    if transport != "stdio":
        env |= {"MCP_HOST": "0.0.0.0", "MCP_PORT": "8080"}
        fields.setdefault("target_port", 8080)
    return DeployRequest(
        name=name,
        image=IMAGE,
        command=command,
        env=env,
        labels={"toolhive": "true", "toolhive-name": name, "toolhive-transport": transport},
        transport=transport,
        permission_profile=NETWORK,
        **fields,
    )


def leftovers(k8s: KubeCluster, namespace: str, name: str) -> list[str]:
    """Every object of the workload still in the namespace (pods included)."""
    out = k8s.json(
        "get",
        "statefulsets,services,secrets,pods",
        "-n",
        namespace,
        "-l",
        f"app={name}",
        "-o",
        "json",
    )
    names = [f"{i['kind']}/{i['metadata']['name']}" for i in out["items"]]
    for kind in ("service", "secret"):
        for object_name in (f"mcp-{name}", f"mcp-{name}-headless", f"mcp-{name}-env"):
            got = k8s.kubectl("get", kind, object_name, "-n", namespace, check=False)
            if got.returncode == 0:
                names.append(f"{kind}/{object_name}")
    return names


def replacement_running(k8s: KubeCluster, namespace: str, name: str, old_uid: str) -> str:
    """The uid of the pod that replaced ``old_uid`` once its container runs."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        got = k8s.kubectl("get", "pod", f"{name}-0", "-n", namespace, "-o", "json", check=False)
        if got.returncode == 0:
            pod = json.loads(got.stdout)
            statuses = pod["status"].get("containerStatuses") or []
            running = any("running" in (c.get("state") or {}) for c in statuses)
            if pod["metadata"]["uid"] != old_uid and running:
                return str(pod["metadata"]["uid"])
        time.sleep(0.3)
    raise AssertionError(f"no replacement of pod {old_uid} ran within 120s")


def test_stdio_server_attach_and_reattach_after_the_pod_is_deleted(
    runtime: KubernetesRuntime, k8s: KubeCluster, k8s_namespace: str
) -> None:
    name = unique_name("thv-k8s")
    started = time.monotonic()
    deployment = runtime.deploy(request(name))
    ready = time.monotonic() - started
    print(f"\nstdio deploy -> ready: {ready:.2f}s")
    assert deployment.id and deployment.target_port is None

    info = runtime.inspect(name)
    assert info is not None and (info.name, info.state, info.id) == (name, "running", deployment.id)
    assert {"toolhive": "true", "toolhive-name": name, "app": name}.items() <= info.labels.items()
    assert name in {i.name for i in runtime.list_workloads()}
    sts = k8s.json("get", "statefulset", name, "-n", k8s_namespace, "-o", "json")
    container = sts["spec"]["template"]["spec"]["containers"][0]
    assert (container["imagePullPolicy"], container["stdin"], container.get("tty", False)) == (
        "IfNotPresent",
        True,
        False,
    )

    async def session() -> None:
        channel = await runtime.attach_stdio(name)
        try:
            assert {"echo", "add"} <= set(await stdio_initialize(channel))
            rounds = 20
            begin = time.monotonic()
            for i in range(rounds):
                await channel.send(
                    jsonrpc("tools/call", 100 + i, {"name": "echo", "arguments": {"text": f"r{i}"}})
                )
                reply = json.loads(await asyncio.wait_for(channel.readline(), 30))
                assert reply["id"] == 100 + i, reply
            print(
                f"attach round trip (echo tool): {(time.monotonic() - begin) / rounds * 1000:.1f} ms"
            )

            first_pod = channel.attached_pods[-1]
            k8s.kubectl("delete", "pod", f"{name}-0", "-n", k8s_namespace, "--wait=false")
            begin = time.monotonic()
            new_pod = await asyncio.to_thread(
                replacement_running, k8s, k8s_namespace, name, first_pod
            )
            print(f"pod deleted -> replacement running: {time.monotonic() - begin:.2f}s")
            assert new_pod != first_pod
            # The same session, no new initialize: the channel re-attaches and re-initializes
            # the new server. A request written to the dying pod dies with it: ask again.
            reply: dict[str, Any] = {}
            for attempt in range(8):
                request_id = 200 + attempt
                await channel.send(
                    jsonrpc(
                        "tools/call", request_id, {"name": "echo", "arguments": {"text": "after"}}
                    )
                )
                with contextlib.suppress(TimeoutError):
                    while reply.get("id") != request_id:
                        reply = json.loads(await asyncio.wait_for(channel.readline(), 20))
                    break
            print(f"pod deleted -> next call answered: {time.monotonic() - begin:.2f}s")
            assert reply["result"]["content"][0]["text"] == "after", reply
            assert channel.attached_pods[-1] == new_pod
        finally:
            await channel.aclose()

    asyncio.run(session())

    runtime.stop(name, timeout=10)
    info = runtime.inspect(name)
    assert info is not None and info.state == "exited"
    assert not k8s.json("get", "pods", "-n", k8s_namespace, "-l", f"app={name}", "-o", "json")[
        "items"
    ]
    runtime.stop(name)  # idempotent
    runtime.remove(name)
    assert runtime.inspect(name) is None
    assert leftovers(k8s, k8s_namespace, name) == []
    runtime.remove(name)


def test_http_server_is_reached_through_its_service(
    runtime: KubernetesRuntime, k8s: KubeCluster, k8s_namespace: str
) -> None:
    name = unique_name("thv-k8s")
    started = time.monotonic()
    deployment = runtime.deploy(request(name, "streamable-http"))
    print(f"\nhttp deploy -> ready: {time.monotonic() - started:.2f}s")
    service = k8s.json("get", "service", f"mcp-{name}", "-n", k8s_namespace, "-o", "json")
    assert deployment.target_host == service["spec"]["clusterIP"]
    assert deployment.target_port == 8080
    url = f"http://{deployment.target_host}:{deployment.target_port}/mcp"

    async def call() -> str:
        deadline = time.monotonic() + 60
        while True:
            try:
                return (await echo_session(url)).server_name
            except Exception:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.5)

    assert asyncio.run(call()) == ECHO_SERVER_NAME
    # The server's stderr (uvicorn's startup lines) is the pod's log.
    assert b"Uvicorn running" in b"".join(runtime.logs(name)), list(runtime.logs(name))
    missing = unique_name("thv-missing")
    with pytest.raises(NotFoundError):
        asyncio.run(runtime.attach_stdio(missing))
    with pytest.raises(NotFoundError):
        runtime.wait(missing)
    with pytest.raises(NotFoundError):
        list(runtime.logs(missing))
    assert runtime.inspect(missing) is None
    runtime.stop(missing)
    headless = k8s.json("get", "service", f"mcp-{name}-headless", "-n", k8s_namespace, "-o", "json")
    assert headless["spec"]["clusterIP"] == "None"
    runtime.remove(name)
    assert leftovers(k8s, k8s_namespace, name) == []


def test_stop_that_leaves_the_workload_to_its_owner_ends_the_wait(
    runtime: KubernetesRuntime, k8s: KubeCluster, k8s_namespace: str, monkeypatch: Any
) -> None:
    """The proxy runner's stop leaves the StatefulSet running; a supervisor's exit monitor blocked
    in ``wait`` must still end, or its thread holds the process until the kubelet's SIGKILL."""
    import threading

    name = unique_name("thv-k8s")
    runtime.deploy(request(name))
    monkeypatch.setenv("TOOLHIVE_KUBERNETES_KEEP_WORKLOAD", "1")
    codes: list[int] = []
    waiter = threading.Thread(target=lambda: codes.append(runtime.wait(name)), daemon=True)
    waiter.start()
    time.sleep(1)
    assert waiter.is_alive(), "wait returned while the server was running"
    runtime.stop(name)
    waiter.join(timeout=10)
    assert not waiter.is_alive(), "wait still blocked after stop left the workload running"
    assert codes == [0]
    replicas = k8s.json("get", "statefulset", name, "-n", k8s_namespace)["spec"]["replicas"]
    assert replicas == 1, "stop scaled away a StatefulSet it was to leave to its owner"
    monkeypatch.delenv("TOOLHIVE_KUBERNETES_KEEP_WORKLOAD")
    runtime.remove(name)


def test_a_missing_image_fails_the_deploy_clearly(
    runtime: KubernetesRuntime, k8s_namespace: str
) -> None:
    from toolhive.contracts import ImageNotFoundError

    name = unique_name("thv-k8s")
    missing = request(name).model_copy(update={"image": "localhost/toolhive-test/absent:1"})
    try:
        with pytest.raises(ImageNotFoundError, match="not available to the cluster"):
            runtime.deploy(missing)
    finally:
        runtime.remove(name)


# -- thv run --runtime kubernetes: the proxy here, the server in the cluster -------------------


@pytest.fixture
def thv(thv_home: Any, k8s: KubeCluster, k8s_namespace: str) -> Iterator[ThvConsole]:
    env = {
        **thv_home.env,
        "KUBECONFIG": str(k8s.kubeconfig),
        "TOOLHIVE_KUBERNETES_NAMESPACE": k8s_namespace,
    }
    console = ThvConsole(env, timeout=240)
    try:
        yield console
    finally:
        console.run("rm", "--all")


async def _time_session(url: str, namespace: str, k8s: KubeCluster, name: str) -> float:
    """One client session: a call, the pod deleted, a call again; the second call's delay."""
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    async with contextlib.AsyncExitStack() as stack:
        http = await stack.enter_async_context(httpx2.AsyncClient(timeout=httpx2.Timeout(60)))
        client = await stack.enter_async_context(
            Client(streamable_http_client(url, http_client=http))
        )
        tools = {t.name for t in (await client.list_tools()).tools}
        assert "get_current_time" in tools, tools
        result = await client.call_tool("get_current_time", {"timezone": "UTC"})
        assert not result.is_error and '"timezone": "UTC"' in result.content[0].text, result
        old = k8s.json("get", "pod", f"{name}-0", "-n", namespace, "-o", "json")["metadata"]["uid"]
        k8s.kubectl("delete", "pod", f"{name}-0", "-n", namespace, "--wait=false")
        begin = time.monotonic()
        # Only once the replacement runs: the old pod would answer during its grace period.
        await asyncio.to_thread(replacement_running, k8s, namespace, name, old)
        print(f"\nthv proxy: pod deleted -> replacement running in {time.monotonic() - begin:.2f}s")
        begin = time.monotonic()
        while True:
            try:
                result = await asyncio.wait_for(
                    client.call_tool("get_current_time", {"timezone": "Europe/Paris"}), 30
                )
                break
            except TimeoutError:
                # The request written to the dying pod died with it: ask again.
                assert time.monotonic() - begin < 150
        assert not result.is_error and "Europe/Paris" in result.content[0].text, result
        return time.monotonic() - begin


def test_thv_run_stdio_server_on_kubernetes_survives_pod_deletion(
    thv: ThvConsole, k8s: KubeCluster, k8s_namespace: str, tmp_path: Path
) -> None:
    name = unique_name("thv-k8s")
    thv(
        "run",
        "--runtime",
        "kubernetes",
        "--name",
        name,
        "--transport",
        "stdio",
        IMAGE,
        "--",
        "mcp-server-time",
    )
    url = workload_url(thv, name)
    delay = asyncio.run(_time_session(url, k8s_namespace, k8s, name))
    print(f"thv proxy: replacement running -> call answered in {delay:.2f}s")
    listed = json.loads(thv("list", "--format", "json"))
    assert any(w["name"] == name and w["status"] == "running" for w in listed), listed

    thv("stop", name)
    sts = k8s.json("get", "statefulset", name, "-n", k8s_namespace, "-o", "json")
    assert sts["spec"]["replicas"] == 0
    thv("rm", name)
    assert leftovers(k8s, k8s_namespace, name) == []


def test_thv_run_http_server_on_kubernetes(
    thv: ThvConsole, k8s: KubeCluster, k8s_namespace: str
) -> None:
    name = unique_name("thv-k8s")
    thv(
        "run",
        "--runtime",
        "kubernetes",
        "--name",
        name,
        "--transport",
        "streamable-http",
        "--target-port",
        "8080",
        IMAGE,
        "--",
        *ECHO,
        "streamable-http",
    )
    session = asyncio.run(echo_session(workload_url(thv, name)))
    assert (session.server_name, session.echoed, session.added) == (ECHO_SERVER_NAME, "ok ✓", "42")
    thv("rm", name)
    assert leftovers(k8s, k8s_namespace, name) == []


# -- thv-proxyrunner: the same supervisor, from a RunConfig file ------------------------------


def _wait_healthy(url: str, proc: Any, timeout: float = 120) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while True:
        assert proc.poll() is None, f"thv-proxyrunner exited {proc.returncode}"
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2) as answer:
            if answer.status == 200:
                return
        assert time.monotonic() < deadline, f"{url} did not answer within {timeout:.0f}s"
        time.sleep(0.3)


async def _current_time(url: str) -> str:
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    async with contextlib.AsyncExitStack() as stack:
        http = await stack.enter_async_context(httpx2.AsyncClient(timeout=httpx2.Timeout(60)))
        client = await stack.enter_async_context(
            Client(streamable_http_client(url, http_client=http))
        )
        result = await client.call_tool("get_current_time", {"timezone": "UTC"})
        assert not result.is_error, result
        return str(result.content[0].text)


def test_proxyrunner_runs_a_runconfig_and_leaves_the_statefulset_to_its_owner(
    thv_home: Any, k8s: KubeCluster, k8s_namespace: str, tmp_path: Path
) -> None:
    import signal
    import subprocess
    import sys

    from toolhive.testing.mcp_servers import free_port

    name = unique_name("thv-k8s")
    port = free_port()
    config = tmp_path / "runconfig.json"
    config.write_text(
        json.dumps(
            {
                "name": name,
                "image": "ignored:0",  # replaced by the IMAGE argument, as in ToolHive
                "transport": "stdio",
                "cmd_args": ["mcp-server-time"],
                "port": port,
                "isolate_network": False,
            }
        )
    )
    env = {
        **thv_home.env,
        "KUBECONFIG": str(k8s.kubeconfig),
        "TOOLHIVE_KUBERNETES_NAMESPACE": k8s_namespace,
    }
    runner = str(Path(sys.executable).with_name("thv-proxyrunner"))

    def start() -> subprocess.Popen[bytes]:
        with (tmp_path / "proxyrunner.log").open("ab") as log:
            return subprocess.Popen(
                [runner, "run", IMAGE, "--from-config", str(config)],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )

    def stop(proc: subprocess.Popen[bytes]) -> None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def pod_uid() -> str:
        pod = k8s.json("get", "pod", f"{name}-0", "-n", k8s_namespace, "-o", "json")
        return str(pod["metadata"]["uid"])

    proc = start()
    try:
        _wait_healthy(f"http://127.0.0.1:{port}/health", proc)
        assert '"timezone": "UTC"' in asyncio.run(_current_time(f"http://127.0.0.1:{port}/mcp"))
        first = pod_uid()
    finally:
        stop(proc)
    # The proxy's exit leaves the StatefulSet (and its server) to whoever owns it.
    sts = k8s.json("get", "statefulset", name, "-n", k8s_namespace, "-o", "json")
    assert sts["spec"]["replicas"] == 1
    assert sts["spec"]["template"]["spec"]["containers"][0]["image"] == IMAGE

    # A new proxy (a rollout) finds the server as it is: same pod, and it answers.
    proc = start()
    try:
        _wait_healthy(f"http://127.0.0.1:{port}/health", proc)
        assert '"timezone": "UTC"' in asyncio.run(_current_time(f"http://127.0.0.1:{port}/mcp"))
        assert pod_uid() == first
    finally:
        stop(proc)
    log = (tmp_path / "proxyrunner.log").read_text()
    assert "left running" in log, log[-2000:]


# -- in the cluster: the proxy runner's image, its service account, a killed MCP pod -----------

PROXYRUNNER_IMAGE = "localhost/toolhive/proxyrunner:dev"
#: What the proxy runner's runtime calls (docs/kubernetes.md, thv-proxyrunner).
PROXY_RULES = [
    {
        "apiGroups": ["apps"],
        "resources": ["statefulsets"],
        "verbs": ["get", "list", "create", "patch", "delete"],
    },
    {"apiGroups": ["apps"], "resources": ["statefulsets/scale"], "verbs": ["patch"]},
    {
        "apiGroups": [""],
        "resources": ["services", "secrets"],
        "verbs": ["get", "list", "create", "patch", "delete"],
    },
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]},
    {"apiGroups": [""], "resources": ["pods/attach"], "verbs": ["create", "get"]},
    {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
]


@pytest.mark.timeout(600)
def test_proxyrunner_in_a_pod_reattaches_after_the_mcp_pod_is_killed(
    k8s: KubeCluster, k8s_namespace: str
) -> None:
    import subprocess

    inspected = subprocess.run(
        ["docker", "image", "inspect", PROXYRUNNER_IMAGE], capture_output=True, check=False
    )
    if inspected.returncode != 0:
        pytest.fail(f"no {PROXYRUNNER_IMAGE} image: run scripts/build-k8s-images.sh")
    ns = k8s_namespace
    runconfig = {
        "name": "time",
        "image": "ignored:0",
        "transport": "stdio",
        "cmd_args": ["mcp-server-time"],
        "port": 8080,
        "isolate_network": False,
    }
    labels = {"app.kubernetes.io/name": "proxy"}
    k8s.apply(
        {
            "apiVersion": "v1",
            "kind": "List",
            "items": [
                {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "proxy"}},
                {
                    "apiVersion": "rbac.authorization.k8s.io/v1",
                    "kind": "Role",
                    "metadata": {"name": "proxy"},
                    "rules": PROXY_RULES,
                },
                {
                    "apiVersion": "rbac.authorization.k8s.io/v1",
                    "kind": "RoleBinding",
                    "metadata": {"name": "proxy"},
                    "roleRef": {
                        "apiGroup": "rbac.authorization.k8s.io",
                        "kind": "Role",
                        "name": "proxy",
                    },
                    "subjects": [{"kind": "ServiceAccount", "name": "proxy", "namespace": ns}],
                },
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": {"name": "runconfig"},
                    "data": {"runconfig.json": json.dumps(runconfig)},
                },
                {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "metadata": {"name": "proxy", "labels": labels},
                    "spec": {
                        "serviceAccountName": "proxy",
                        "containers": [
                            {
                                "name": "proxy",
                                "image": PROXYRUNNER_IMAGE,
                                "imagePullPolicy": "Never",
                                "args": ["run", IMAGE],
                                "ports": [{"containerPort": 8080, "name": "http"}],
                                # Ready once the server answers; then 30 s of failed probes
                                # before the pod leaves the Service (the operator allows 15),
                                # so the killed MCP pod's few seconds do not turn the call
                                # below into a refused connection, which ends the session.
                                "readinessProbe": {
                                    "httpGet": {"path": "/health", "port": 8080},
                                    "periodSeconds": 1,
                                    "failureThreshold": 30,
                                },
                                "volumeMounts": [
                                    {"name": "runconfig", "mountPath": "/etc/runconfig"}
                                ],
                            }
                        ],
                        "volumes": [{"name": "runconfig", "configMap": {"name": "runconfig"}}],
                    },
                },
                {
                    "apiVersion": "v1",
                    "kind": "Service",
                    "metadata": {"name": "proxy"},
                    "spec": {"selector": labels, "ports": [{"port": 8080, "targetPort": 8080}]},
                },
            ],
        },
        namespace=ns,
    )
    started = time.monotonic()
    ready = k8s.kubectl(
        "wait",
        "--for=condition=Ready",
        "pod/proxy",
        "-n",
        ns,
        "--timeout=180s",
        check=False,
        timeout=200,
    )
    if ready.returncode != 0:
        logs = k8s.kubectl("logs", "proxy", "-n", ns, check=False)
        raise AssertionError(f"the proxy pod is not Ready:\n{logs.stdout}\n{logs.stderr}")
    print(
        f"\nin cluster: proxy pod applied -> Ready (MCP server deployed): {time.monotonic() - started:.1f}s"
    )
    # The runtime found its namespace from the service account and deployed there.
    sts = k8s.json("get", "statefulset", "time", "-n", ns, "-o", "json")
    assert sts["spec"]["template"]["spec"]["containers"][0]["image"] == IMAGE
    ip = k8s.json("get", "service", "proxy", "-n", ns, "-o", "json")["spec"]["clusterIP"]
    delay = asyncio.run(_time_session(f"http://{ip}:8080/mcp", ns, k8s, "time"))
    print(f"in cluster: replacement running -> call answered through the proxy in {delay:.2f}s")
    logs = k8s.kubectl("logs", "proxy", "-n", ns).stdout
    assert "re-initialized the server" in logs, logs[-3000:]
