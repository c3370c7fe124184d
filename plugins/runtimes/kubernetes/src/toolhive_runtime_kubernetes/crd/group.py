"""MCPGroup: a named set of workloads (``spec.groupRef``) a VirtualMCPServer aggregates."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from .common import (
    Condition,
    CRDModel,
    CRDNames,
    CustomResource,
    Int32,
    Int64,
    PrinterColumn,
    age_column,
)

MCPGroupPhase = Literal["Ready", "Pending", "Failed"]


class MCPGroupSpec(CRDModel):
    """A group has only a description; membership is each workload's ``groupRef``."""

    description: str | None = None


class MCPGroupStatus(CRDModel):
    """The members the operator found."""

    observed_generation: Int64 | None = None
    phase: MCPGroupPhase = "Pending"
    servers: list[str] | None = None
    server_count: Int32 | None = None
    remote_proxies: list[str] | None = None
    remote_proxy_count: Int32 | None = None
    entries: list[str] | None = None
    entry_count: Int32 | None = None
    conditions: list[Condition] | None = None


class MCPGroup(CustomResource):
    """A group of MCPServers, MCPRemoteProxies and entries."""

    crd: ClassVar[CRDNames] = CRDNames(
        plural="mcpgroups",
        singular="mcpgroup",
        short_names=("mcpg", "mcpgroup"),
        printer_columns=(
            PrinterColumn("Servers", ".status.serverCount", "integer"),
            PrinterColumn("Proxies", ".status.remoteProxyCount", "integer"),
            PrinterColumn("Phase", ".status.phase"),
            PrinterColumn("Checked", ".status.conditions[?(@.type=='MCPServersChecked')].status"),
            age_column(),
        ),
    )

    kind: Literal["MCPGroup"] = "MCPGroup"
    spec: MCPGroupSpec = Field(default_factory=MCPGroupSpec)
    status: MCPGroupStatus | None = None
