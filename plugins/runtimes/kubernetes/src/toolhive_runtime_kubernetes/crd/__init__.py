"""ToolHive's custom resources (``toolhive.stacklok.dev/v1beta1``) as pydantic models.

The CRD manifests in ``deploy/crds`` are generated from these models
(``python -m toolhive_runtime_kubernetes.crd.generate``).
"""

from __future__ import annotations

from .common import API_VERSION, GROUP, VERSION, Condition, CustomResource
from .config_objects import MCPExternalAuthConfig, MCPToolConfig
from .mcpserver import MCPServer

__all__ = [
    "API_VERSION",
    "GROUP",
    "VERSION",
    "Condition",
    "CustomResource",
    "MCPExternalAuthConfig",
    "MCPServer",
    "MCPToolConfig",
]
