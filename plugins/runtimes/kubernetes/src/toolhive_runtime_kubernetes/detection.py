"""Finding a Kubernetes API: in a pod (service account) or through a kubeconfig file.

Standard library only: detection runs for ``thv runtime check`` and runtime auto-detection, which
must not import the ``kubernetes`` client.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from toolhive.contracts import RuntimeDetection

#: Where the kubelet mounts a pod's service-account credentials and namespace.
SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
NAMESPACE_ENV = "TOOLHIVE_KUBERNETES_NAMESPACE"


def in_cluster(environ: Mapping[str, str]) -> bool:
    """Inside a pod: the kubelet sets ``KUBERNETES_SERVICE_HOST`` and mounts the token."""
    return (
        bool(environ.get("KUBERNETES_SERVICE_HOST")) and (SERVICE_ACCOUNT_DIR / "token").is_file()
    )


def kubeconfig_paths(environ: Mapping[str, str]) -> list[Path]:
    """``$KUBECONFIG`` (a path list, as kubectl reads it), else ``~/.kube/config``."""
    value = environ.get("KUBECONFIG", "")
    if value:
        return [Path(p).expanduser() for p in value.split(os.pathsep) if p]
    home = environ.get("HOME") or str(Path.home())
    return [Path(home) / ".kube" / "config"]


def detect(environ: Mapping[str, str]) -> RuntimeDetection:
    """In a pod, its service account; else the first kubeconfig file that exists."""
    if in_cluster(environ):
        host = environ["KUBERNETES_SERVICE_HOST"]
        port = environ.get("KUBERNETES_SERVICE_PORT", "443")
        return RuntimeDetection(
            name="kubernetes",
            available=True,
            endpoint=f"https://{host}:{port}",
            detail=f"in cluster (service account), API at https://{host}:{port}",
        )
    paths = kubeconfig_paths(environ)
    for path in paths:
        if path.is_file():
            return RuntimeDetection(
                name="kubernetes",
                available=True,
                endpoint=str(path),
                detail=f"kubeconfig {path}",
            )
    tried = ", ".join(str(p) for p in paths)
    return RuntimeDetection(
        name="kubernetes",
        available=False,
        detail=f"not in a pod and no kubeconfig ({tried}); set KUBECONFIG",
    )
