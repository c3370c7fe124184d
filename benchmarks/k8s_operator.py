"""thv-operator at scale: apply N MCPServers at once, time until every one is reconciled.

"Reconciled" = the MCPServer's status written by the operator for the objects it applied: its
ServiceAccounts, Role, RoleBinding, RunConfig ConfigMap, Deployment and Service exist (the status
is written after them in each pass). The servers ask for ``replicas: 0``, so the phase to reach is
``Stopped`` and no pod starts: what is measured is the operator (watch → queue → reconcile → API
writes), not the node's pod start-up (200 pods on the one-node test cluster would measure the
kubelet). Then the operator is restarted and the run checks that it rewrites nothing (every
object's resourceVersion unchanged) and how long the resync of N servers takes.

Reports: seconds to all reconciled, the operator's RSS (idle before, peak, after), the reconciles
its log counts, the restart's resync time and objects rewritten.

    uv run python benchmarks/operator.py [--servers 100] [--workers 4]   (runs this file)

Needs the test cluster (scripts/k8s-cluster.sh start) or $KUBECONFIG. A benchmark: it prints
figures and asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
CLUSTER = Path("/var/cache/toolhive-test/k8s")
OPERATOR = str(Path(sys.executable).with_name("thv-operator"))
OWNED_KINDS = "serviceaccounts,roles,rolebindings,configmaps,deployments,services"


def kubectl(*args: str, stdin: str | None = None, timeout: float = 300) -> str:
    kube = CLUSTER / "bin" / "kubectl"
    exe = str(kube) if kube.is_file() else "kubectl"
    proc = subprocess.run(
        [exe, *args], input=stdin, capture_output=True, text=True, timeout=timeout, check=False
    )
    if proc.returncode != 0:
        raise SystemExit(f"kubectl {' '.join(args)}: {proc.stderr.strip()}")
    return proc.stdout


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Sampler(threading.Thread):
    """The operator's peak RSS, sampled every 0.2 s."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak, self.stop = pid, 0.0, threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                self.peak = max(self.peak, rss_mib(self.pid))
            except OSError:
                return
            time.sleep(0.2)


def server(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "toolhive.stacklok.dev/v1beta1",
        "kind": "MCPServer",
        "metadata": {"name": name},
        "spec": {
            "image": "localhost/toolhive-test/mcp-servers:latest",
            "transport": "streamable-http",
            "mcpPort": 8080,
            "replicas": 0,
        },
    }


def phases(namespace: str) -> dict[str, str]:
    items = json.loads(kubectl("get", "mcpservers", "-n", namespace, "-o", "json"))["items"]
    return {i["metadata"]["name"]: (i.get("status") or {}).get("phase", "") for i in items}


def versions(namespace: str) -> dict[str, str]:
    kinds = f"{OWNED_KINDS},mcpservers"
    items = json.loads(kubectl("get", kinds, "-n", namespace, "-o", "json"))["items"]
    return {f"{i['kind']}/{i['metadata']['name']}": i["metadata"]["resourceVersion"] for i in items}


def settled_versions(namespace: str, limit: float = 120) -> tuple[dict[str, str], int]:
    """The resourceVersions once nothing changes them for 3 s, and how many changed meanwhile:
    the cluster's own controllers write the new Deployments' status after the operator is done
    (on an idle machine within seconds of the last reconcile); those are not the operator's."""
    deadline = time.monotonic() + limit
    first = current = versions(namespace)
    while time.monotonic() < deadline:
        time.sleep(3)
        later = versions(namespace)
        if later == current:
            break
        current = later
    return current, sum(1 for k, v in current.items() if first.get(k) != v)


def start_operator(
    namespace: str, workers: int, log: Path, env: dict[str, str]
) -> subprocess.Popen[bytes]:
    out = log.open("ab")
    proc = subprocess.Popen(
        [OPERATOR, "--namespace", namespace, "--workers", str(workers), "--resync", "0"],
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
    )
    out.close()
    deadline = time.monotonic() + 60
    while "reconciling" not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(1)  # kopf's watches opening
    return proc


def stop_operator(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--servers", type=int, default=100)
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()
    env = dict(os.environ)
    if "KUBECONFIG" not in env and (CLUSTER / "run" / "admin.kubeconfig").is_file():
        env["KUBECONFIG"] = str(CLUSTER / "run" / "admin.kubeconfig")
    os.environ.update(KUBECONFIG=env.get("KUBECONFIG", ""))
    kubectl("apply", "-k", str(REPO / "deploy" / "crds"))
    kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
    namespace = f"thv-bench-{uuid.uuid4().hex[:6]}"
    kubectl("create", "namespace", namespace)
    log = Path(tempfile.mkdtemp()) / "operator.log"
    proc = start_operator(namespace, args.workers, log, env)
    try:
        idle = rss_mib(proc.pid)
        sampler = Sampler(proc.pid)
        sampler.start()
        names = [f"bench-{i:03d}" for i in range(args.servers)]
        manifest = {"apiVersion": "v1", "kind": "List", "items": [server(n) for n in names]}
        t0 = time.monotonic()
        kubectl("apply", "-n", namespace, "-f", "-", stdin=json.dumps(manifest))
        applied = time.monotonic() - t0
        while True:
            seen = phases(namespace)
            done = sum(1 for n in names if seen.get(n) == "Stopped")
            if done == len(names):
                break
            if time.monotonic() - t0 > 600:
                raise SystemExit(f"only {done}/{len(names)} reconciled in 600 s (log: {log})")
            time.sleep(0.5)
        elapsed = time.monotonic() - t0
        objects = len(
            json.loads(kubectl("get", OWNED_KINDS, "-n", namespace, "-o", "json"))["items"]
        )
        time.sleep(2)
        sampler.stop.set()
        after = rss_mib(proc.pid)
        before, settling = settled_versions(namespace)
        # A restart: the new operator lists N servers and reconciles each; nothing must change.
        stop_operator(proc)
        text_before = log.read_text()
        t1 = time.monotonic()
        proc = start_operator(namespace, args.workers, log, env)
        started = time.monotonic() - t1
        time.sleep(max(5.0, args.servers * 0.1))
        rewritten = sorted(k for k, v in versions(namespace).items() if before.get(k) != v)
        restart_rss = rss_mib(proc.pid)
        failures = log.read_text()[len(text_before) :].count("failed (retry")
    finally:
        # The MCPServers go while the operator runs (it removes their finalizers), then the rest.
        kubectl("delete", "mcpservers", "--all", "-n", namespace, "--wait=true", timeout=600)
        stop_operator(proc)
        kubectl("delete", "namespace", namespace, "--wait=false")
    print(f"MCPServers: {args.servers}, workers: {args.workers}")
    print(f"kubectl apply of the list: {applied:.1f} s")
    print(f"all reconciled (status written, {objects} owned objects): {elapsed:.1f} s")
    print(f"  = {args.servers / elapsed:.1f} MCPServers/s")
    print(f"operator RSS: idle {idle:.0f} MiB, peak {sampler.peak:.0f} MiB, after {after:.0f} MiB")
    print(
        f"settled before the restart: {settling} objects still changed by the cluster's controllers"
    )
    print(f"restart: operator up in {started:.1f} s, RSS {restart_rss:.0f} MiB after the resync")
    print(
        f"restart: objects rewritten {len(rewritten)}{' ' + str(rewritten[:5]) if rewritten else ''}"
    )
    print(f"restart: failed reconciles in the log {failures}")


if __name__ == "__main__":
    main()
