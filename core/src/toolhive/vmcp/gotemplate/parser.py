"""A template's source parsed into a tree (:func:`parse`, cached) and the field paths it reads
(:func:`references`)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from functools import lru_cache
from typing import Any, Final, NoReturn

from toolhive.vmcp.gotemplate.errors import TemplateError
from toolhive.vmcp.gotemplate.execute import Template
from toolhive.vmcp.gotemplate.lexer import KEYWORDS, SPACE, Lexer, Token
from toolhive.vmcp.gotemplate.limits import MAX_PARSE_DEPTH
from toolhive.vmcp.gotemplate.tree import (
    Action,
    Branch,
    Chain,
    Command,
    Dot,
    Field,
    Ident,
    Literal,
    LoopControl,
    Node,
    Pipe,
    Text,
    Var,
)

_BUILTINS: Final = frozenset(
    {
        "and",
        "or",
        "not",
        "eq",
        "ne",
        "lt",
        "le",
        "gt",
        "ge",
        "index",
        "slice",
        "len",
        "print",
        "printf",
        "println",
        "html",
        "js",
        "urlquery",
        "call",
        "json",
        "fromJson",
        "quote",
    }
)


class _Parser:
    def __init__(self, name: str, source: str) -> None:
        self.name = name
        self.source = source
        self.depth = 0
        self.ranges = 0

    def fail(self, pos: int, message: str) -> NoReturn:
        raise TemplateError(self.name, self.source, pos, message)

    def parse(self) -> list[Node]:
        self.items = list(self._scan())
        self.k = 0
        body, stop = self._list(top=True)
        if stop is not None:
            self.fail(stop[1], f"unexpected {{{{{stop[0]}}}}}")
        return body

    def _scan(self) -> Iterator[tuple[str, int, Any]]:
        """Top level: ("text", pos, str) and ("action", pos, tokens), trim markers applied."""
        s = self.source
        i = 0
        trim_next = False
        while True:
            j = s.find("{{", i)
            text = s[i:] if j < 0 else s[i:j]
            left_trim = j >= 0 and s[j + 2 : j + 3] == "-" and s[j + 3 : j + 4] in SPACE
            if trim_next:
                text = text.lstrip(SPACE)
            if left_trim:
                text = text.rstrip(SPACE)
            if text:
                yield ("text", i, text)
            if j < 0:
                return
            start = j + 4 if left_trim else j + 2
            if s.startswith("/*", start):
                stop = s.find("*/", start + 2)
                if stop < 0:
                    self.fail(j, "unclosed comment")
                after = stop + 2
                if s.startswith("}}", after):
                    i, trim_next = after + 2, False
                elif s[after : after + 1] in SPACE and s.startswith("-}}", after + 1):
                    i, trim_next = after + 4, True
                else:
                    self.fail(j, "comment ends before closing delimiter")
                continue
            toks, close, trim_next = self._action_tokens(start, j)
            yield ("action", j, toks)
            i = close + 2

    def _action_tokens(self, start: int, open_pos: int) -> tuple[list[Token], int, bool]:
        """An action's tokens from ``start`` to its ``}}`` (string literals may hold braces),
        the position of that ``}}`` and whether it trims the text after it."""
        s = self.source
        n = len(s)
        i = start
        while i < n:
            ch = s[i]
            if ch in "\"'":
                j = i + 1
                while j < n and s[j] != ch and s[j] != "\n":
                    j += 2 if s[j] == "\\" else 1
                if j >= n or s[j] != ch:
                    what = "quoted string" if ch == '"' else "character constant"
                    self.fail(i, f"unterminated {what}")
                i = j + 1
            elif ch == "`":
                j = s.find("`", i + 1)
                i = n if j < 0 else j + 1
            elif s.startswith("}}", i):
                break
            else:
                i += 1
        if i >= n:
            self.fail(open_pos, "unclosed action")
        end = i
        right_trim = end - 2 >= start and s[end - 1] == "-" and s[end - 2] in SPACE
        if right_trim:
            end -= 1  # the trim marker is no token
        toks = Lexer(s, start, end, self.fail).tokens()
        return toks[:-1], i, right_trim

    # -- structure

    def _list(self, top: bool = False) -> tuple[list[Node], tuple[str, int, list[Token]] | None]:
        """Nodes up to an ``end``/``else`` (returned as the stop) or the end of input."""
        body: list[Node] = []
        while self.k < len(self.items):
            kind, pos, payload = self.items[self.k]
            self.k += 1
            if kind == "text":
                body.append(Text(pos, payload))
                continue
            toks: list[Token] = payload
            if not toks:
                self.fail(pos, "missing value for command")
            first = toks[0]
            if first.kind == "ident" and first.text in KEYWORDS:
                word = first.text
                if word in ("end", "else"):
                    return body, (word, pos, toks)
                if word in ("if", "range", "with"):
                    body.append(self._branch(word, pos, toks[1:]))
                elif word in ("break", "continue"):
                    if not self.ranges:
                        self.fail(pos, f"{{{{{word}}}}} outside {{{{range}}}}")
                    if len(toks) > 1:
                        self.fail(toks[1].pos, f"unexpected {toks[1].text!r} in {word}")
                    body.append(LoopControl(pos, word))
                else:
                    self.fail(pos, f"{{{{{word}}}}} is not supported in composite-tool templates")
                continue
            body.append(Action(pos, self._pipeline(toks, pos, "command")))
        return body, None

    def _branch(self, kind: str, pos: int, toks: list[Token]) -> Branch:
        self.depth += 1
        if self.depth > MAX_PARSE_DEPTH:
            self.fail(pos, "template nested too deeply")
        pipe = self._pipeline(toks, pos, kind)
        self.ranges += kind == "range"
        body, stop = self._list()
        self.ranges -= kind == "range"
        if stop is None:
            self.fail(pos, f"unexpected EOF: {{{{{kind}}}}} without {{{{end}}}}")
        assert stop is not None
        node = Branch(pos, kind, pipe, body)
        word, stop_pos, stop_toks = stop
        if word == "else":
            rest = stop_toks[1:]
            if rest and rest[0].kind == "ident" and rest[0].text in ("if", "with"):
                if rest[0].text != kind and not (kind == "if" and rest[0].text == "if"):
                    self.fail(stop_pos, f"{{{{else {rest[0].text}}}}} inside {{{{{kind}}}}}")
                # "else if"/"else with" is an else branch holding one nested branch that
                # consumes the shared {{end}}.
                node.orelse = [self._branch(rest[0].text, stop_pos, rest[1:])]
            else:
                if rest:
                    self.fail(rest[0].pos, f"unexpected {rest[0].text!r} in else")
                node.orelse, stop2 = self._list()
                if stop2 is None or stop2[0] != "end":
                    self.fail(stop_pos, f"expected {{{{end}}}} for {{{{{kind}}}}}")
                assert stop2 is not None
                if len(stop2[2]) > 1:
                    self.fail(stop2[2][1].pos, "unexpected token in end")
        elif len(stop_toks) > 1:
            self.fail(stop_toks[1].pos, "unexpected token in end")
        self.depth -= 1
        return node

    def _pipeline(self, toks: list[Token], pos: int, context: str) -> Pipe:
        self.toks = toks
        self.t = 0
        pipe = self._pipe(pos, context, allow_decl=True)
        if self.t < len(self.toks):
            tok = self.toks[self.t]
            self.fail(tok.pos, f"unexpected {tok.text!r} in {context}")
        return pipe

    def _peek(self) -> Token | None:
        return self.toks[self.t] if self.t < len(self.toks) else None

    def _pipe(self, pos: int, context: str, allow_decl: bool, closing: str = "") -> Pipe:
        decl: list[str] = []
        assign = False
        if allow_decl:
            # $x := …, $x = …, $i, $e := … (range)
            save = self.t
            names: list[str] = []
            while True:
                tok = self._peek()
                if tok is None or tok.kind != "var":
                    break
                names.append(tok.text)
                self.t += 1
                nxt = self._peek()
                if (
                    nxt is not None
                    and nxt.kind == "comma"
                    and context == "range"
                    and len(names) == 1
                ):
                    self.t += 1
                    continue
                if nxt is not None and nxt.kind in ("decl", "assign"):
                    assign = nxt.kind == "assign"
                    self.t += 1
                    decl = names
                break
            if not decl:
                self.t = save
            elif len(decl) > 1 and context != "range":
                self.fail(pos, "too many declarations in command")
            if any(d == "$" for d in decl):
                self.fail(pos, "cannot assign to $")
        cmds: list[Command] = []
        while True:
            cmd = self._command(pos, closing)
            cmds.append(cmd)
            tok = self._peek()
            if tok is not None and tok.kind == "pipe":
                self.t += 1
                continue
            break
        if not cmds or not cmds[0].args:
            self.fail(pos, f"missing value for {context}")
        return Pipe(pos, decl, assign, cmds)

    def _command(self, pos: int, closing: str) -> Command:
        args: list[Node] = []
        while True:
            tok = self._peek()
            if tok is None or tok.kind in ("pipe", "rparen"):
                break
            if args and not tok.space_before:
                self.fail(tok.pos, f"missing space before {tok.text!r}")
            args.append(self._operand())
        if not args:
            where = self._peek()
            self.fail(where.pos if where else pos, "missing value for command")
        return Command(args[0].pos, args)

    def _operand(self) -> Node:
        tok = self.toks[self.t]
        self.t += 1
        node: Node
        if tok.kind == "field":
            names = [tok.text]
            while (
                (nxt := self._peek()) is not None and nxt.kind == "field" and not nxt.space_before
            ):
                names.append(nxt.text)
                self.t += 1
            return Field(tok.pos, names)
        if tok.kind == "var":
            names = []
            while (
                (nxt := self._peek()) is not None and nxt.kind == "field" and not nxt.space_before
            ):
                names.append(nxt.text)
                self.t += 1
            return Var(tok.pos, tok.text, names)
        if tok.kind == "dot":
            node = Dot(tok.pos)
        elif tok.kind == "str" or tok.kind == "num":
            node = Literal(tok.pos, tok.value, tok.text)
        elif tok.kind == "ident":
            if tok.text in ("true", "false"):
                node = Literal(tok.pos, tok.text == "true", tok.text)
            elif tok.text == "nil":
                node = Literal(tok.pos, None, "nil")
            elif tok.text in KEYWORDS:
                self.fail(tok.pos, f"unexpected {tok.text!r} in operand")
            elif tok.text not in _BUILTINS:
                self.fail(tok.pos, f'function "{tok.text}" not defined')
            else:
                node = Ident(tok.pos, tok.text)
        elif tok.kind == "lparen":
            self.depth += 1
            if self.depth > MAX_PARSE_DEPTH:
                self.fail(tok.pos, "template nested too deeply")
            node = self._pipe(tok.pos, "parenthesized pipeline", allow_decl=False, closing=")")
            close = self._peek()
            if close is None or close.kind != "rparen":
                self.fail(tok.pos, "unclosed left paren")
            self.t += 1
            self.depth -= 1
        else:
            self.fail(tok.pos, f"unexpected {tok.text or 'end of action'!r} in operand")
        names = []
        while (nxt := self._peek()) is not None and nxt.kind == "field" and not nxt.space_before:
            names.append(nxt.text)
            self.t += 1
        if names:
            if isinstance(node, Literal):
                self.fail(node.pos, f"unexpected . after term {node.src!r}")
            return Chain(node.pos, node, names)
        return node


def _walk_refs(nodes: Sequence[Node], out: set[str]) -> None:
    for node in nodes:
        if isinstance(node, Field):
            out.add("." + ".".join(node.names))
        elif isinstance(node, Chain):
            _walk_refs([node.node], out)
            out.add("." + ".".join(node.names))
        elif isinstance(node, Action):
            _walk_refs([node.pipe], out)
        elif isinstance(node, Pipe):
            _walk_refs(node.cmds, out)
        elif isinstance(node, Command):
            _walk_refs(node.args, out)
        elif isinstance(node, Branch):
            _walk_refs([node.pipe, *node.body, *node.orelse], out)


def references(source: str) -> list[str]:
    """The field paths a template reads (``.steps.fetch.output.text``), sorted — ToolHive's
    ``ExtractReferences`` (variables' fields and chained fields after ``(…)`` as Go reports
    them); a :class:`TemplateError` if it does not parse."""
    found: set[str] = set()
    _walk_refs(parse(source).root, found)
    return sorted(found)


@lru_cache(maxsize=2048)
def _parse_cached(name: str, source: str) -> Template:
    return Template(name, source, tuple(_Parser(name, source).parse()))


def parse(source: str, name: str = "template") -> Template:
    """Parse ``source``; a :class:`TemplateError` if it is not a valid template."""
    return _parse_cached(name, source)
