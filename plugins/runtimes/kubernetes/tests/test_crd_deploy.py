"""deploy/operator: the kustomization renders and the operator's ClusterRole covers every kind."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from toolhive.testing.k8s_cluster import cluster_dir
from toolhive_runtime_kubernetes.crd import ALL_KINDS, GROUP
from toolhive_runtime_kubernetes.crd.generate import file_name

REPO = Path(__file__).resolve().parents[4]
OPERATOR_DIR = REPO / "deploy" / "operator"


def _documents(folder: Path) -> list[dict[str, Any]]:
    docs = []
    for path in sorted(folder.glob("*.yaml")):
        if path.name != "kustomization.yaml":
            docs += [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]
    return docs


def _one(kind: str) -> dict[str, Any]:
    (doc,) = [d for d in _documents(OPERATOR_DIR) if d["kind"] == kind]
    return doc


def test_kustomization_lists_every_manifest() -> None:
    kustomization = yaml.safe_load((OPERATOR_DIR / "kustomization.yaml").read_text())
    on_disk = {p.name for p in OPERATOR_DIR.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kustomization["resources"]) == on_disk
    assert kustomization["bases"] == ["../crds"]
    assert kustomization["namespace"] == "toolhive-system"
    crds = yaml.safe_load((REPO / "deploy" / "crds" / "kustomization.yaml").read_text())
    assert set(crds["resources"]) == {file_name(m) for m in ALL_KINDS}


def _grants(rules: list[dict[str, Any]], group: str, resource: str, verb: str) -> bool:
    return any(
        group in r["apiGroups"] and resource in r["resources"] and verb in r["verbs"] for r in rules
    )


@pytest.mark.parametrize("model", ALL_KINDS, ids=lambda m: m.__name__)
def test_cluster_role_covers_each_kind(model: Any) -> None:
    rules = _one("ClusterRole")["rules"]
    plural = model.crd.plural
    for verb in ("get", "list", "watch", "patch", "update"):
        assert _grants(rules, GROUP, plural, verb), (plural, verb)
    assert _grants(rules, GROUP, f"{plural}/status", "patch")
    assert _grants(rules, GROUP, f"{plural}/finalizers", "update")
    # The operator never creates or deletes ToolHive's resources; users do.
    assert not _grants(rules, GROUP, plural, "delete")
    assert not _grants(rules, GROUP, plural, "create")


def test_cluster_role_lets_the_operator_grant_the_proxy_runner_role() -> None:
    rules = _one("ClusterRole")["rules"]
    # A Role may only grant what its creator holds: the proxy runner's attach and log included.
    assert _grants(rules, "", "pods/attach", "create") and _grants(rules, "", "pods/attach", "get")
    assert _grants(rules, "", "pods/log", "get")
    assert _grants(rules, "apps", "statefulsets/scale", "update")
    assert _grants(rules, "", "pods", "delete") and _grants(rules, "", "pods", "list")
    for resource in ("statefulsets", "deployments"):
        for verb in ("get", "list", "watch", "create", "update", "patch", "delete"):
            assert _grants(rules, "apps", resource, verb), (resource, verb)
    for resource in ("services", "configmaps", "serviceaccounts"):
        assert _grants(rules, "", resource, "create") and _grants(rules, "", resource, "delete")
    for resource in ("roles", "rolebindings"):
        assert _grants(rules, "rbac.authorization.k8s.io", resource, "create")
    # The proxy runner's Role grants Secrets CRUD, so the operator holds it; no wildcards anywhere.
    assert all(_grants(rules, "", "secrets", v) for v in ("get", "create", "update", "delete"))
    assert not any("*" in r["verbs"] or "*" in r["resources"] for r in rules)
    # kopf's scan of CRDs; events it may post.
    assert _grants(rules, "apiextensions.k8s.io", "customresourcedefinitions", "watch")
    assert _grants(rules, "", "events", "create")


def test_binding_and_deployment_use_the_service_account() -> None:
    binding = _one("ClusterRoleBinding")
    assert binding["roleRef"]["name"] == _one("ClusterRole")["metadata"]["name"]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "toolhive-operator", "namespace": "toolhive-system"}
    ]
    pod = _one("Deployment")["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == _one("ServiceAccount")["metadata"]["name"]
    (container,) = pod["containers"]
    assert container["image"] == "localhost/toolhive/operator:dev"
    assert container["command"] == ["thv-operator"]
    # The kubelet probes the liveness endpoint thv-operator is told to serve.
    assert container["args"] == ["--liveness", "http://0.0.0.0:8081/healthz"]
    probe = container["livenessProbe"]["httpGet"]
    (port,) = [p for p in container["ports"] if p["name"] == probe["port"]]
    assert port["containerPort"] == 8081 and probe["path"] == "/healthz"
    assert pod["securityContext"]["runAsNonRoot"] is True


def _kubectl() -> str | None:
    ours = cluster_dir() / "bin" / "kubectl"
    return str(ours) if ours.is_file() else shutil.which("kubectl")


def test_kustomize_renders_operator_and_crds() -> None:
    kubectl = _kubectl()
    if kubectl is None:
        pytest.skip("no kubectl (scripts/install-k8s.sh builds the cluster's)")
    proc = subprocess.run(
        [kubectl, "kustomize", str(OPERATOR_DIR)], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    rendered = [d for d in yaml.safe_load_all(proc.stdout) if d]
    kinds = sorted(d["kind"] for d in rendered)
    assert kinds.count("CustomResourceDefinition") == len(ALL_KINDS)
    for doc in rendered:
        if doc["kind"] in ("ServiceAccount", "Deployment"):
            assert doc["metadata"]["namespace"] == "toolhive-system"
        if doc["kind"] == "CustomResourceDefinition":
            assert "namespace" not in doc["metadata"]
