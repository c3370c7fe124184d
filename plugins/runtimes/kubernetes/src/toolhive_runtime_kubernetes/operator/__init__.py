"""``thv-operator``: ToolHive's custom resources reconciled on kopf (see ``framework.py``)."""

from __future__ import annotations

import importlib

from toolhive_runtime_kubernetes.operator.framework import Controller

#: Controllers by module and class; a module not there yet (being written) is skipped.
CONTROLLERS: tuple[tuple[str, str], ...] = (
    ("mcpserver", "MCPServerController"),
    ("remoteproxy", "MCPRemoteProxyController"),
    ("toolconfig", "MCPToolConfigController"),
    ("toolconfig", "MCPExternalAuthConfigController"),
    ("group", "MCPGroupController"),
    ("vmcp", "VirtualMCPServerController"),
    ("registry", "MCPRegistryController"),
)


def controllers() -> list[Controller]:
    """One instance of every controller this installation has."""
    out: list[Controller] = []
    for module_name, class_name in CONTROLLERS:
        try:
            module = importlib.import_module(f"{__name__}.{module_name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{module_name}":
                raise
            continue
        cls = getattr(module, class_name, None)
        if cls is not None:
            out.append(cls())
    return out
