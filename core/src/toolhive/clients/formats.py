"""How server entries are stored in each kind of client config file.

Every format edits the user's text and keeps what it can: JSON is edited in place
(:mod:`toolhive.clients.jsonc`: every other byte kept), YAML goes through ruamel.yaml's round-trip
mode (comments, key order and quoting kept; indentation normalised to the file's dominant style),
TOML through tomlkit (comments, order and formatting kept). ``ruamel.yaml`` and ``tomlkit`` are
imported only when such a file is edited.
"""

from __future__ import annotations

import io
import re
from typing import Any, Protocol

from toolhive.clients import jsonc
from toolhive.contracts.clients import ConfigFormatError


class EntryFormat(Protocol):
    """Reads and edits the server entries of one config file's text."""

    def upsert(self, text: str, name: str, entry: dict[str, Any]) -> str: ...

    def remove(self, text: str, name: str) -> str: ...

    def entries(self, text: str) -> dict[str, dict[str, Any]]: ...


class JsonObject:
    """A JSON object of entries keyed by server name (``mcpServers``, ``servers`` …)."""

    def __init__(self, key: str) -> None:
        # Keys are literal: amp's "amp.mcpServers" is one top-level key, not a path.
        self.path = (key,)

    def upsert(self, text: str, name: str, entry: dict[str, Any]) -> str:
        return jsonc.upsert(text, self.path, name, entry)

    def remove(self, text: str, name: str) -> str:
        return jsonc.remove(text, self.path, name)

    def entries(self, text: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in jsonc.get(text, self.path).items() if isinstance(v, dict)}


# --- YAML ------------------------------------------------------------------------------------

_KEY_ONLY = re.compile(r"^(\s*)(?!- )[^\s#][^#]*:\s*(#.*)?$")


def _yaml_indents(text: str) -> tuple[int, int, int]:
    """(mapping, sequence, offset) as ruamel.yaml wants them, guessed from the text."""
    mapping, offset = 0, -1
    parent: int | None = None
    for raw in text.splitlines():
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        indent = len(raw) - len(raw.lstrip(" "))
        if parent is not None and indent >= parent:
            if raw.lstrip().startswith("- "):
                if offset < 0:
                    offset = indent - parent
            elif indent > parent and not mapping:
                mapping = indent - parent
        match = _KEY_ONLY.match(raw)
        parent = indent if match else None
        if raw.lstrip().startswith("- "):
            parent = None
    mapping = mapping or 2
    offset = offset if offset >= 0 else 2  # the style clients' own examples use
    return mapping, offset + 2, offset


class _Yaml:
    def __init__(self, key: str) -> None:
        self.key = key

    def _load(self, text: str) -> tuple[Any, Any]:
        from ruamel.yaml import YAML
        from ruamel.yaml.comments import CommentedMap
        from ruamel.yaml.error import YAMLError

        yaml = YAML()
        yaml.preserve_quotes = True
        mapping, sequence, offset = _yaml_indents(text)
        yaml.indent(mapping=mapping, sequence=sequence, offset=offset)
        try:
            data = yaml.load(text) if text.strip() else None
        except YAMLError as exc:
            msg = f"not valid YAML: {str(exc).splitlines()[0]}"
            raise ConfigFormatError(msg) from None
        if data is None:
            data = CommentedMap()
        if not isinstance(data, dict):
            msg = "the file must hold a YAML mapping"
            raise ConfigFormatError(msg)
        return yaml, data

    @staticmethod
    def _dump(yaml: Any, data: Any) -> str:
        out = io.StringIO()
        yaml.dump(data, out)
        return out.getvalue()

    def _section(self, data: Any, kind: type, *, create: bool) -> Any:
        from ruamel.yaml.comments import CommentedMap, CommentedSeq

        value = data.get(self.key)
        if value is None:
            if not create:
                return None
            value = CommentedMap() if kind is dict else CommentedSeq()
            data[self.key] = value
        if not isinstance(value, kind):
            what = "a mapping" if kind is dict else "a list"
            msg = f"{self.key!r} must be {what}"
            raise ConfigFormatError(msg)
        return value


class YamlMap(_Yaml):
    """A YAML mapping of entries keyed by server name (goose's ``extensions``)."""

    def upsert(self, text: str, name: str, entry: dict[str, Any]) -> str:
        from ruamel.yaml.comments import CommentedMap

        yaml, data = self._load(text)
        self._section(data, dict, create=True)[name] = CommentedMap(entry)
        return self._dump(yaml, data)

    def remove(self, text: str, name: str) -> str:
        yaml, data = self._load(text)
        section = self._section(data, dict, create=False)
        if section is None or name not in section:
            return text
        del section[name]
        return self._dump(yaml, data)

    def entries(self, text: str) -> dict[str, dict[str, Any]]:
        _, data = self._load(text)
        section = self._section(data, dict, create=False) or {}
        return {k: dict(v) for k, v in section.items() if isinstance(v, dict)}


class YamlList(_Yaml):
    """A YAML list of entries identified by a field (continue's ``mcpServers`` by ``name``)."""

    def __init__(self, key: str, id_field: str = "name") -> None:
        super().__init__(key)
        self.id_field = id_field

    def upsert(self, text: str, name: str, entry: dict[str, Any]) -> str:
        from ruamel.yaml.comments import CommentedMap

        yaml, data = self._load(text)
        section = self._section(data, list, create=True)
        new = CommentedMap(entry)
        for i, item in enumerate(section):
            if isinstance(item, dict) and item.get(self.id_field) == name:
                section[i] = new
                break
        else:
            section.append(new)
        return self._dump(yaml, data)

    def remove(self, text: str, name: str) -> str:
        yaml, data = self._load(text)
        section = self._section(data, list, create=False)
        if section is None:
            return text
        hits = [
            i
            for i, item in enumerate(section)
            if isinstance(item, dict) and item.get(self.id_field) == name
        ]
        if not hits:
            return text
        for i in reversed(hits):
            del section[i]
        return self._dump(yaml, data)

    def entries(self, text: str) -> dict[str, dict[str, Any]]:
        _, data = self._load(text)
        section = self._section(data, list, create=False) or []
        return {
            str(item[self.id_field]): dict(item)
            for item in section
            if isinstance(item, dict) and self.id_field in item
        }


# --- TOML ------------------------------------------------------------------------------------


class _Toml:
    def __init__(self, key: str) -> None:
        self.key = key

    @staticmethod
    def _load(text: str) -> Any:
        import tomlkit
        from tomlkit.exceptions import TOMLKitError

        try:
            return tomlkit.parse(text)
        except TOMLKitError as exc:
            msg = f"not valid TOML: {exc}"
            raise ConfigFormatError(msg) from None

    @staticmethod
    def _table(entry: dict[str, Any]) -> Any:
        import tomlkit

        table = tomlkit.table()
        for k, v in entry.items():
            table[k] = v
        table.add(tomlkit.nl())
        return table

    @staticmethod
    def _plain(value: Any) -> dict[str, Any]:
        return dict(value.unwrap()) if hasattr(value, "unwrap") else dict(value)


class TomlTables(_Toml):
    """TOML tables keyed by server name (codex's ``[mcp_servers.<name>]``)."""

    def _section(self, doc: Any, *, create: bool) -> Any:
        import tomlkit

        value = doc.get(self.key)
        if value is None:
            if not create:
                return None
            value = tomlkit.table(is_super_table=True)
            doc[self.key] = value
        if not isinstance(value, dict):
            msg = f"{self.key!r} must be a table"
            raise ConfigFormatError(msg)
        return value

    def upsert(self, text: str, name: str, entry: dict[str, Any]) -> str:
        import tomlkit

        doc = self._load(text)
        section = self._section(doc, create=True)
        if name in section:
            del section[name]
        section[name] = self._table(entry)
        return tomlkit.dumps(doc)

    def remove(self, text: str, name: str) -> str:
        import tomlkit

        doc = self._load(text)
        section = self._section(doc, create=False)
        if section is None or name not in section:
            return text
        del section[name]
        return tomlkit.dumps(doc)

    def entries(self, text: str) -> dict[str, dict[str, Any]]:
        section = self._section(self._load(text), create=False) or {}
        return {k: self._plain(v) for k, v in section.items() if isinstance(v, dict)}


class TomlArray(_Toml):
    """A TOML array of tables identified by a field (mistral-vibe's ``[[mcp_servers]]``)."""

    def __init__(self, key: str, id_field: str = "name") -> None:
        super().__init__(key)
        self.id_field = id_field

    def _section(self, doc: Any, *, create: bool) -> Any:
        import tomlkit
        from tomlkit.items import AoT

        value = doc.get(self.key)
        if value is None or (isinstance(value, list) and not value and not isinstance(value, AoT)):
            if not create:
                return None
            if value is not None:
                del doc[self.key]
            value = tomlkit.aot()
            doc[self.key] = value
        if not isinstance(value, AoT):
            msg = f"{self.key!r} must be an array of tables ([[{self.key}]])"
            raise ConfigFormatError(msg)
        return value

    def _index(self, section: Any, name: str) -> list[int]:
        return [i for i, t in enumerate(section) if t.get(self.id_field) == name]

    def upsert(self, text: str, name: str, entry: dict[str, Any]) -> str:
        import tomlkit

        doc = self._load(text)
        section = self._section(doc, create=True)
        hits = self._index(section, name)
        if hits:
            section[hits[0]] = self._table(entry)
        else:
            section.append(self._table(entry))
        return tomlkit.dumps(doc)

    def remove(self, text: str, name: str) -> str:
        import tomlkit

        doc = self._load(text)
        section = self._section(doc, create=False)
        hits = self._index(section, name) if section is not None else []
        if not hits:
            return text
        for i in reversed(hits):
            del section[i]
        return tomlkit.dumps(doc)

    def entries(self, text: str) -> dict[str, dict[str, Any]]:
        section = self._section(self._load(text), create=False) or []
        return {str(t[self.id_field]): self._plain(t) for t in section if self.id_field in t}
