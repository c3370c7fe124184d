"""One row of the client table: where a client keeps its MCP servers and how an entry looks.

Light on purpose (stdlib only): the built-in client plugin builds its table from these at
plugin-registration time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

FileFormat = Literal["json", "yaml-map", "yaml-list", "toml-tables", "toml-array"]


@dataclass(frozen=True)
class ClientDefinition:
    name: str
    description: str
    #: Config file relative to the home directory, per platform.
    linux: str
    darwin: str
    windows: str
    format: FileFormat
    #: The servers key (literal, even with a dot: amp's ``amp.mcpServers``).
    key: str
    url_field: str = "url"
    #: Gemini CLI uses another URL field for SSE servers.
    sse_url_field: str | None = None
    #: ``type`` value for (stdio, sse, streamable-http) workloads; ``None`` = no type field.
    types: tuple[str, str, str] | None = None
    type_field: str = "type"
    #: Field that names an entry in list formats (YAML list, TOML array of tables).
    id_field: str = "name"
    #: Extra fields of every entry (goose: enabled, timeout, description).
    defaults: tuple[tuple[str, object], ...] = field(default_factory=tuple)
    deprecated: bool = False

    def relative_path(self, platform: str) -> str:
        if platform == "darwin":
            return self.darwin
        if platform in {"win32", "windows", "cygwin"}:
            return self.windows
        return self.linux
