"""The nodes of a parsed template and their source text (for error messages)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class Node:
    pos: int


@dataclass(slots=True)
class Text(Node):
    text: str


@dataclass(slots=True)
class Literal(Node):
    value: Any
    src: str


@dataclass(slots=True)
class Dot(Node):
    pass


@dataclass(slots=True)
class Field(Node):
    names: list[str]


@dataclass(slots=True)
class Var(Node):
    name: str
    names: list[str]


@dataclass(slots=True)
class Ident(Node):
    name: str


@dataclass(slots=True)
class Chain(Node):
    node: Node
    names: list[str]


@dataclass(slots=True)
class Command(Node):
    args: list[Node]


@dataclass(slots=True)
class Pipe(Node):
    decl: list[str]
    assign: bool
    cmds: list[Command]


@dataclass(slots=True)
class Action(Node):
    pipe: Pipe


@dataclass(slots=True)
class Branch(Node):
    kind: str  # if, range, with
    pipe: Pipe
    body: list[Node]
    orelse: list[Node] = field(default_factory=list)


@dataclass(slots=True)
class LoopControl(Node):
    kind: str  # break, continue


def node_src(node: Node) -> str:
    if isinstance(node, Field):
        return "." + ".".join(node.names)
    if isinstance(node, Var):
        return node.name + "".join("." + n for n in node.names)
    if isinstance(node, Chain):
        return "(" + node_src(node.node) + ")." + ".".join(node.names)
    if isinstance(node, Ident):
        return node.name
    if isinstance(node, Literal):
        return node.src
    if isinstance(node, Dot):
        return "."
    if isinstance(node, Command):
        return " ".join(node_src(a) for a in node.args)
    if isinstance(node, Pipe):
        decl = (", ".join(node.decl) + (" = " if node.assign else " := ")) if node.decl else ""
        return decl + " | ".join(node_src(c) for c in node.cmds)
    return "?"
