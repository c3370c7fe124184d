"""The client-integration contract: what ``ClientSpec.load()`` returns, and the entry it writes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

from toolhive.errors import InvalidInputError

#: How a client reaches the proxy: the workload's transport, with ``stdio`` split by proxy mode.
ClientTransport = Literal["stdio", "sse", "streamable-http"]


class ConfigFormatError(InvalidInputError):
    """A client's config file cannot be parsed or has an unexpected shape; it is left as is."""


@dataclass(frozen=True)
class ServerEntry:
    """One workload as a client sees it."""

    name: str
    url: str
    #: ``stdio`` (a stdio server proxied as streamable HTTP), ``sse`` or ``streamable-http``.
    transport: ClientTransport


@runtime_checkable
class ClientIntegration(Protocol):
    """An AI client whose MCP configuration ToolHive keeps in sync.

    ``upsert``/``remove`` must keep everything else in the file and write atomically; ``remove``
    returns whether an entry was there. ``entries`` reads the file back (name → stored entry).
    """

    name: str
    description: str

    def config_path(self) -> Path: ...

    def installed(self) -> bool: ...

    def render(self, server: ServerEntry) -> dict[str, Any]: ...

    def upsert(self, server: ServerEntry) -> None: ...

    def remove(self, server_name: str) -> bool: ...

    def entries(self) -> dict[str, dict[str, Any]]: ...
