"""Configuration of the ``kubernetes`` runtime (``runtimes.kubernetes`` in ToolHive's settings).

Light (pydantic only): the plugin module imports it to declare ``config_model``.
"""

from __future__ import annotations

from pydantic import Field
from toolhive.contracts import PluginConfig


class KubernetesConfig(PluginConfig):
    """Settings of the ``kubernetes`` runtime."""

    namespace: str | None = Field(
        default=None,
        description=(
            "Namespace to deploy MCP servers in; overrides detection (in a pod: its own "
            "namespace; else TOOLHIVE_KUBERNETES_NAMESPACE, the kubeconfig context's, 'default')."
        ),
    )
    kubeconfig: str | None = Field(
        default=None,
        description="Kubeconfig file out of cluster; default $KUBECONFIG, else ~/.kube/config.",
    )
    context: str | None = Field(
        default=None, description="Kubeconfig context to use; default the current context."
    )
    ready_timeout: float = Field(
        default=120.0,
        gt=0,
        description="Seconds to wait for the MCP server's pod to become ready on deploy.",
    )
    image_pull_policy: str = Field(
        default="IfNotPresent",
        pattern="^(Always|IfNotPresent|Never)$",
        description="imagePullPolicy of the MCP container (IfNotPresent: images the node has are used).",
    )
