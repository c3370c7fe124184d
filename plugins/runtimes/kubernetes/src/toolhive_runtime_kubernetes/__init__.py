"""toolhive-runtime-kubernetes: run MCP servers on Kubernetes.

This module is the plugin's entry point and stays light: it declares the ``kubernetes`` runtime and
imports the ``kubernetes`` client only in :func:`load`, when the runtime is actually used.
Detection (:mod:`toolhive_runtime_kubernetes.detection`) is standard library only.

The distribution also ships ``thv-proxyrunner`` (:mod:`toolhive_runtime_kubernetes.proxyrunner`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from toolhive.contracts import RuntimeSpec, hookimpl

from toolhive_runtime_kubernetes.config import KubernetesConfig
from toolhive_runtime_kubernetes.detection import detect

if TYPE_CHECKING:
    from toolhive.contracts import RuntimeDetection

    from toolhive_runtime_kubernetes.runtime import KubernetesRuntime

__all__ = ["KubernetesConfig", "detect", "load", "thv_runtimes"]


def load(detection: RuntimeDetection, config: KubernetesConfig) -> KubernetesRuntime:
    """Build the runtime for the detected API (service account or kubeconfig)."""
    from toolhive_runtime_kubernetes.runtime import KubernetesRuntime

    return KubernetesRuntime.from_detection(detection, config)


@hookimpl
def thv_runtimes() -> list[RuntimeSpec[KubernetesConfig]]:
    return [
        RuntimeSpec(
            name="kubernetes",
            description="StatefulSets on a Kubernetes cluster (in a pod, or through a kubeconfig)",
            # Last (after the local engines and the process sandbox): a kubeconfig on a laptop must
            # not send `thv run` to a cluster unless asked (--runtime kubernetes or
            # TOOLHIVE_RUNTIME); in a pod no local engine answers, so this one is picked.
            priority=2000,
            config_model=KubernetesConfig,
            detect=detect,
            load=load,
        )
    ]
