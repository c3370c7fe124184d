"""A client integration driven by a :class:`ClientDefinition`: edits one config file."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from toolhive.clients.definition import ClientDefinition
from toolhive.clients.formats import (
    EntryFormat,
    JsonObject,
    TomlArray,
    TomlTables,
    YamlList,
    YamlMap,
)
from toolhive.contracts.clients import ConfigFormatError, ServerEntry
from toolhive.state import paths
from toolhive.state.atomic import locked, write_atomic

BACKUP_SUFFIX = ".toolhive.bak"


def _format(definition: ClientDefinition) -> EntryFormat:
    kind = definition.format
    if kind == "json":
        return JsonObject(definition.key)
    if kind == "yaml-map":
        return YamlMap(definition.key)
    if kind == "yaml-list":
        return YamlList(definition.key, definition.id_field)
    if kind == "toml-tables":
        return TomlTables(definition.key)
    return TomlArray(definition.key, definition.id_field)


class ConfigFileClient:
    """Keeps a client's config file in sync; ``home``/``platform`` default to the user's."""

    def __init__(
        self, definition: ClientDefinition, home: Path | None = None, platform: str | None = None
    ) -> None:
        self.definition = definition
        self.name = definition.name
        self.description = definition.description
        self._home = home
        self._platform = platform or sys.platform
        self._format = _format(definition)

    def config_path(self) -> Path:
        home = self._home or Path.home()
        return home / self.definition.relative_path(self._platform)

    def installed(self) -> bool:
        """ToolHive's rule: the client's config file, or the folder it lives in, exists."""
        path = self.config_path()
        home = self._home or Path.home()
        return path.exists() or (path.parent != home and path.parent.is_dir())

    def render(self, server: ServerEntry) -> dict[str, Any]:
        d = self.definition
        field = d.sse_url_field if d.sse_url_field and server.transport == "sse" else d.url_field
        entry: dict[str, Any] = {}
        if d.format in {"yaml-map", "yaml-list", "toml-array"}:
            entry[d.id_field] = server.name
        if d.types is not None:
            index = {"stdio": 0, "sse": 1, "streamable-http": 2}[server.transport]
            entry[d.type_field] = d.types[index]
        entry[field] = server.url
        for key, value in d.defaults:
            entry.setdefault(key, value)
        return entry

    # --- file access ---------------------------------------------------------------------------

    def _lock(self) -> Any:
        # Locks live in ToolHive's state folder, not next to the user's file.
        return locked(paths.state_dir() / "locks" / "clients" / self.name)

    def _read(self) -> str:
        try:
            return self.config_path().read_text(encoding="utf-8")
        except FileNotFoundError:
            return ""

    def _write(self, old: str, new: str) -> None:
        path = self.config_path()
        mode = 0o600
        if path.exists():
            mode = path.stat().st_mode & 0o777
            # The previous version, so a bad edit can be undone by hand.
            backup = path.with_name(path.name + BACKUP_SUFFIX)
            write_atomic(backup, old, mode=mode)
        if path.is_symlink():  # dotfile managers: edit the target, keep the link
            path = Path(os.path.realpath(path))
        write_atomic(path, new, mode=mode)

    def _edit(self, change: Any) -> bool:
        with self._lock():
            old = self._read()
            try:
                new = change(old)
            except ConfigFormatError as exc:
                msg = (
                    f"cannot update {self.name}'s config {self.config_path()}: {exc}; fix the file"
                )
                raise ConfigFormatError(msg) from None
            if new == old:
                return False
            self._write(old, new)
            return True

    def upsert(self, server: ServerEntry) -> None:
        entry = self.render(server)
        self._edit(lambda text: self._format.upsert(text, server.name, entry))

    def remove(self, server_name: str) -> bool:
        if not self.config_path().exists():
            return False
        return self._edit(lambda text: self._format.remove(text, server_name))

    def entries(self) -> dict[str, dict[str, Any]]:
        try:
            return self._format.entries(self._read())
        except ConfigFormatError as exc:
            msg = f"cannot read {self.name}'s config {self.config_path()}: {exc}"
            raise ConfigFormatError(msg) from None

    def check(self) -> None:
        """Raise if the file exists but cannot be edited (before registering the client)."""
        self.entries()
