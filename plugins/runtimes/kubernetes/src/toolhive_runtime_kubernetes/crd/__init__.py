"""ToolHive's custom resources (``toolhive.stacklok.dev/v1beta1``) as pydantic models.

The CRD manifests in ``deploy/crds`` are generated from these models
(``python -m toolhive_runtime_kubernetes.crd.generate``).
"""

from __future__ import annotations

from .common import API_VERSION, GROUP, VERSION, Condition, CustomResource
from .config_objects import MCPExternalAuthConfig, MCPToolConfig
from .group import MCPGroup
from .mcpserver import MCPServer
from .oidc_config import MCPOIDCConfig
from .registry import MCPRegistry
from .remoteproxy import MCPRemoteProxy
from .telemetry_config import MCPTelemetryConfig
from .vmcp import VirtualMCPServer

# Every kind the operator serves, in the order the CRDs are listed.
ALL_KINDS: tuple[type[CustomResource], ...] = (
    MCPServer,
    MCPRemoteProxy,
    MCPGroup,
    MCPToolConfig,
    MCPExternalAuthConfig,
    MCPOIDCConfig,
    MCPTelemetryConfig,
    MCPRegistry,
    VirtualMCPServer,
)

__all__ = [
    "ALL_KINDS",
    "API_VERSION",
    "GROUP",
    "VERSION",
    "Condition",
    "CustomResource",
    "MCPExternalAuthConfig",
    "MCPGroup",
    "MCPOIDCConfig",
    "MCPRegistry",
    "MCPRemoteProxy",
    "MCPServer",
    "MCPTelemetryConfig",
    "MCPToolConfig",
    "VirtualMCPServer",
]
