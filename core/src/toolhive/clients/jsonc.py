"""Surgical edits of JSON (and JSON-with-comments) client config files.

Clients keep hand-written settings next to their MCP servers (VS Code's ``mcp.json`` allows
comments and trailing commas), so a member is inserted, replaced or deleted in the *text*: every
other byte — key order, indentation, comments, line endings — stays as the user wrote it. The
parser below records where each object member starts and ends; it accepts JSONC (``//`` and
``/* */`` comments, trailing commas) like ToolHive's hujson.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from toolhive.contracts.clients import ConfigFormatError


class JsoncError(ConfigFormatError):
    """The file is not JSON (with comments): nothing is written."""


@dataclass
class Node:
    start: int
    end: int  # exclusive
    value: Any
    members: list[Member] = field(default_factory=list)  # objects only

    @property
    def is_object(self) -> bool:
        return isinstance(self.value, dict)

    def member(self, key: str) -> Member | None:
        for m in self.members:
            if m.key == key:
                return m
        return None


@dataclass
class Member:
    key: str
    start: int  # the key's opening quote
    node: Node


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def fail(self, what: str) -> JsoncError:
        line = self.text.count("\n", 0, self.pos) + 1
        col = self.pos - (self.text.rfind("\n", 0, self.pos) + 1) + 1
        return JsoncError(f"{what} at line {line}, column {col}")

    def skip(self) -> None:
        """Whitespace and comments."""
        text, n = self.text, len(self.text)
        while self.pos < n:
            ch = text[self.pos]
            if ch in " \t\r\n\ufeff":
                self.pos += 1
            elif text.startswith("//", self.pos):
                end = text.find("\n", self.pos)
                self.pos = n if end < 0 else end + 1
            elif text.startswith("/*", self.pos):
                end = text.find("*/", self.pos + 2)
                if end < 0:
                    raise self.fail("unterminated comment")
                self.pos = end + 2
            else:
                return

    def parse(self) -> Node:
        self.skip()
        node = self.value()
        self.skip()
        if self.pos != len(self.text):
            raise self.fail("unexpected text after the JSON value")
        return node

    def value(self) -> Node:
        if self.pos >= len(self.text):
            raise self.fail("unexpected end of file")
        ch = self.text[self.pos]
        if ch == "{":
            return self.obj()
        if ch == "[":
            return self.array()
        if ch == '"':
            start = self.pos
            value = self.string()
            return Node(start, self.pos, value)
        return self.scalar()

    def string(self) -> str:
        decoder = json.JSONDecoder()
        try:
            value, end = decoder.raw_decode(self.text, self.pos)
        except json.JSONDecodeError:
            raise self.fail("invalid string") from None
        self.pos = end
        return str(value)

    def scalar(self) -> Node:
        start = self.pos
        text = self.text
        while self.pos < len(text) and text[self.pos] not in ",]}/ \t\r\n":
            self.pos += 1
        word = text[start : self.pos]
        try:
            value = json.loads(word)
        except json.JSONDecodeError:
            self.pos = start
            raise self.fail(f"unexpected {word[:20]!r}") from None
        return Node(start, self.pos, value)

    def obj(self) -> Node:
        start = self.pos
        self.pos += 1
        members: list[Member] = []
        value: dict[str, Any] = {}
        while True:
            self.skip()
            if self.text.startswith("}", self.pos):
                self.pos += 1
                return Node(start, self.pos, value, members)
            if not self.text.startswith('"', self.pos):
                raise self.fail("expected a quoted key or '}'")
            key_start = self.pos
            key = self.string()
            self.skip()
            if not self.text.startswith(":", self.pos):
                raise self.fail("expected ':'")
            self.pos += 1
            self.skip()
            node = self.value()
            members.append(Member(key, key_start, node))
            value[key] = node.value
            self.skip()
            if self.text.startswith(",", self.pos):
                self.pos += 1
            elif not self.text.startswith("}", self.pos):
                raise self.fail("expected ',' or '}'")

    def array(self) -> Node:
        start = self.pos
        self.pos += 1
        items: list[Any] = []
        while True:
            self.skip()
            if self.text.startswith("]", self.pos):
                self.pos += 1
                return Node(start, self.pos, items)
            items.append(self.value().value)
            self.skip()
            if self.text.startswith(",", self.pos):
                self.pos += 1
            elif not self.text.startswith("]", self.pos):
                raise self.fail("expected ',' or ']'")


def parse(text: str) -> Node:
    """The document's root node (an empty text is an empty object)."""
    if not text.strip():
        return Node(0, 0, {})
    return _Parser(text).parse()


def loads(text: str) -> Any:
    return parse(text).value


# --- editing ----------------------------------------------------------------------------------


def _line_start(text: str, pos: int) -> int:
    return text.rfind("\n", 0, pos) + 1


def _line_indent(text: str, pos: int) -> str:
    start = _line_start(text, pos)
    end = start
    while end < len(text) and text[end] in " \t":
        end += 1
    return text[start:end]


def _indent_unit(text: str, root: Node) -> str:
    """The file's indentation step, from the first member written on its own line."""
    for m in root.members:
        before = text[_line_start(text, m.start) : m.start]
        if before and not before.strip():
            return before
    return "  "


def _after_value(text: str, pos: int) -> tuple[int, int | None]:
    """Skip whitespace/comments after a value: (position reached, position of a ',' or None)."""
    p = _Parser(text)
    p.pos = pos
    p.skip()
    if text.startswith(",", p.pos):
        return p.pos + 1, p.pos
    return p.pos, None


def _dump(value: Any, base: str, unit: str, nl: str) -> str:
    return json.dumps(value, indent=unit, ensure_ascii=False).replace("\n", nl + base)


def _insert_member(text: str, obj: Node, key: str, value: Any, unit: str, nl: str) -> str:
    multiline = "\n" in text[obj.start : obj.end] or not obj.members
    obj_indent = _line_indent(text, obj.start)
    if obj.members:
        first = obj.members[0]
        before = text[_line_start(text, first.start) : first.start]
        indent = before if not before.strip() else obj_indent + unit
    else:
        indent = obj_indent + unit
    if not multiline:  # a one-line object stays on one line
        member = f"{json.dumps(key)}: {json.dumps(value, ensure_ascii=False)}"
        last = obj.members[-1]
        return f"{text[: last.node.end]}, {member}{text[last.node.end :]}"
    member = f"{json.dumps(key, ensure_ascii=False)}: {_dump(value, indent, unit, nl)}"
    if not obj.members:
        inner = text[obj.start + 1 : obj.end - 1]
        # Only comments inside: keep them after the new member.
        tail = inner if inner.strip() else f"{nl}{obj_indent}"
        return f"{text[: obj.start + 1]}{nl}{indent}{member}{tail}{text[obj.end - 1 :]}"
    last = obj.members[-1]
    reached, comma = _after_value(text, last.node.end)
    if comma is not None:  # a trailing comma: keep the style, the new member gets one too
        return f"{text[: comma + 1]}{nl}{indent}{member},{text[comma + 1 :]}"
    # Put the new member after a comment that ends the last member's line.
    eol = text.find("\n", last.node.end)
    rest = text[last.node.end : eol] if eol >= 0 else ""
    at = eol if eol >= 0 and eol < reached and rest.strip().startswith("//") else last.node.end
    if at == eol and text[eol - 1 : eol] == "\r":
        at = eol - 1
    return f"{text[: last.node.end]},{text[last.node.end : at]}{nl}{indent}{member}{text[at:]}"


def _delete_member(text: str, obj: Node, index: int) -> str:
    m = obj.members[index]
    _, comma = _after_value(text, m.node.end)
    if comma is not None:
        start = m.start
        line_start = _line_start(text, m.start)
        if not text[line_start : m.start].strip():
            start = line_start
        end = comma + 1
        eol = text.find("\n", end)
        if eol >= 0 and not text[end:eol].strip():
            end = eol + 1 if start == line_start else end
        elif start == line_start:
            while end < len(text) and text[end] in " \t":
                end += 1
        return text[:start] + text[end:]
    if index > 0:  # the last member: drop the comma that precedes it
        _, prev_comma = _after_value(text, obj.members[index - 1].node.end)
        assert prev_comma is not None
        line_start = _line_start(text, m.start)
        if line_start > prev_comma and not text[line_start : m.start].strip():
            # On its own line: keep a comment that ends the previous line, drop this line.
            cut = line_start - 1
            if text[cut - 1 : cut] == "\r":
                cut -= 1
            return text[:prev_comma] + text[prev_comma + 1 : cut] + text[m.node.end :]
        return text[:prev_comma] + text[m.node.end :]
    # The only member: keep comments that share the object with it.
    inner_start = obj.start + 1
    start = m.start
    if not text[_line_start(text, m.start) : m.start].strip():
        start = max(_line_start(text, m.start), inner_start)
    end = m.node.end
    eol = text.find("\n", end)
    if start != m.start and 0 <= eol < obj.end and not text[end:eol].strip():
        end = eol + 1
    rest = text[inner_start:start] + text[end : obj.end - 1]
    if not rest.strip():
        return text[:inner_start] + text[obj.end - 1 :]
    return text[:start] + text[end:]


def _servers(text: str, path: tuple[str, ...], *, create: bool) -> tuple[str, Node | None, Node]:
    """Find (or with ``create``, add) the object at ``path``; returns (text, servers, root)."""
    root = parse(text)
    if not root.is_object:
        msg = "the file must hold a JSON object"
        raise JsoncError(msg)
    node = root
    for depth, key in enumerate(path):
        member = node.member(key)
        if member is None:
            if not create:
                return text, None, root
            nl = "\r\n" if "\r\n" in text else "\n"
            unit = _indent_unit(text, root)
            return _servers(_insert_member(text, node, key, {}, unit, nl), path, create=create)
        if not member.node.is_object:
            where = ".".join(path[: depth + 1])
            msg = f"{where!r} must be a JSON object, not {type(member.node.value).__name__}"
            raise JsoncError(msg)
        node = member.node
    return text, node, root


def upsert(text: str, path: tuple[str, ...], name: str, entry: dict[str, Any]) -> str:
    """Set ``path[...][name] = entry`` (replacing a previous entry of that name)."""
    if not text.strip():
        text = "{}\n"
    text, servers, root = _servers(text, path, create=True)
    assert servers is not None
    nl = "\r\n" if "\r\n" in text else "\n"
    unit = _indent_unit(text, root)
    existing = servers.member(name)
    if existing is None:
        return _insert_member(text, servers, name, entry, unit, nl)
    base = _line_indent(text, existing.start)
    one_line = "\n" not in text[servers.start : servers.end]
    dumped = json.dumps(entry, ensure_ascii=False) if one_line else _dump(entry, base, unit, nl)
    return text[: existing.node.start] + dumped + text[existing.node.end :]


def remove(text: str, path: tuple[str, ...], name: str) -> str:
    """Delete ``path[...][name]``; the text is returned unchanged if it is not there."""
    if not text.strip():
        return text
    text, servers, _ = _servers(text, path, create=False)
    if servers is None:
        return text
    for index, member in enumerate(servers.members):
        if member.key == name:
            return _delete_member(text, servers, index)
    return text


def get(text: str, path: tuple[str, ...]) -> dict[str, Any]:
    """The object at ``path`` (empty if absent)."""
    _, servers, _ = _servers(text, path, create=False) if text.strip() else (text, None, None)
    return dict(servers.value) if servers is not None else {}
