"""``thv-operator``: ToolHive's custom resources reconciled on kopf (see ``framework.py``)."""

from __future__ import annotations

import importlib

from toolhive_runtime_kubernetes.operator.framework import Controller

#: Controllers by module and class.
CONTROLLERS: tuple[tuple[str, str], ...] = (
    ("mcpserver", "MCPServerController"),
    ("remoteproxy", "MCPRemoteProxyController"),
    ("toolconfig", "MCPToolConfigController"),
    ("toolconfig", "MCPExternalAuthConfigController"),
    ("toolconfig", "MCPOIDCConfigController"),
    ("toolconfig", "MCPTelemetryConfigController"),
    ("group", "MCPGroupController"),
    ("vmcp", "VirtualMCPServerController"),
    ("registry", "MCPRegistryController"),
)


def controllers() -> list[Controller]:
    """One instance of every controller (imported here so ``thv-operator --help`` stays light)."""
    out: list[Controller] = []
    for module_name, class_name in CONTROLLERS:
        module = importlib.import_module(f"{__name__}.{module_name}")
        out.append(getattr(module, class_name)())
    return out
