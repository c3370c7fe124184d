"""The tokens of one template action (between ``{{`` and ``}}``): fields, variables, literals
(Go strings, raw strings, runes, numbers), identifiers and punctuation."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, NoReturn

SPACE: Final = " \t\r\n"
_NUMBER: Final = re.compile(
    r"[+-]?(?:0[xX][0-9a-fA-F_]+(?:\.[0-9a-fA-F_]*)?(?:[pP][+-]?[0-9_]+)?"
    r"|0[bB][01_]+|0[oO][0-7_]+"
    r"|(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9][0-9_]*)(?:[eE][+-]?[0-9_]+)?)"
)
KEYWORDS: Final = frozenset(
    {"if", "else", "end", "range", "with", "define", "template", "block", "break", "continue"}
)


@dataclass(slots=True)
class Token:
    kind: str  # field, var, dot, ident, str, num, char, lparen, rparen, pipe, decl, assign, comma, eof
    text: str
    pos: int
    space_before: bool
    value: Any = None


def _is_ident_char(ch: str) -> bool:
    return ch == "_" or ch.isalnum()


_ESCAPES: Final = {
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "\\": "\\",
}


def _unquote(body: str, quote: str) -> str:
    """A Go interpreted string (or rune) literal's value; raises ValueError when malformed."""
    out: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        i += 1
        if i >= len(body):
            raise ValueError("unterminated escape")
        e = body[i]
        i += 1
        if e in _ESCAPES:
            out.append(_ESCAPES[e])
        elif e == quote:
            out.append(e)
        elif e in "xuU":
            size = {"x": 2, "u": 4, "U": 8}[e]
            hexd = body[i : i + size]
            if len(hexd) != size or any(c not in "0123456789abcdefABCDEF" for c in hexd):
                raise ValueError(f"invalid \\{e} escape")
            code = int(hexd, 16)
            if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
                raise ValueError("escape is an invalid Unicode code point")
            out.append(chr(code))
            i += size
        elif e in "01234567":
            octd = body[i - 1 : i + 2]
            if len(octd) != 3 or any(c not in "01234567" for c in octd) or int(octd, 8) > 255:
                raise ValueError("invalid octal escape")
            out.append(chr(int(octd, 8)))
            i += 2
        else:
            raise ValueError("unknown escape sequence")
    return "".join(out)


def _parse_number(text: str) -> int | float:
    t = text.replace("_", "")
    sign = -1 if t.startswith("-") else 1
    body = t.lstrip("+-")
    low = body.lower()
    if low.startswith("0x"):
        if "p" in low or "." in low:
            return sign * float.fromhex(body)
        return sign * int(low[2:], 16)
    if low.startswith("0b"):
        return sign * int(low[2:], 2)
    if low.startswith("0o"):
        return sign * int(low[2:], 8)
    if any(c in low for c in ".e") or low in ("inf", "nan"):
        return sign * float(body)
    if len(low) > 1 and low.startswith("0"):
        return sign * int(low, 8)  # Go: a leading 0 is octal
    return sign * int(low)


class Lexer:
    """Tokens of one action (between ``{{`` and ``}}``)."""

    def __init__(
        self, source: str, start: int, end: int, fail: Callable[[int, str], NoReturn]
    ) -> None:
        self.s = source
        self.i = start
        self.end = end
        self.fail = fail

    def tokens(self) -> list[Token]:
        out: list[Token] = []
        s, end = self.s, self.end
        space = True
        while True:
            i = self.i
            while i < end and s[i] in " \t\r\n":
                i += 1
                space = True
            self.i = i
            if i >= end:
                out.append(Token("eof", "", i, space))
                return out
            ch = s[i]
            if ch == ".":
                if i + 1 < end and (_is_ident_char(s[i + 1]) and not s[i + 1].isdigit()):
                    j = i + 1
                    while j < end and _is_ident_char(s[j]):
                        j += 1
                    out.append(Token("field", s[i + 1 : j], i, space))
                    self.i = j
                elif i + 1 < end and s[i + 1].isdigit():
                    self._number(out, space)
                else:
                    out.append(Token("dot", ".", i, space))
                    self.i = i + 1
            elif ch == "$":
                j = i + 1
                while j < end and _is_ident_char(s[j]):
                    j += 1
                out.append(Token("var", s[i:j], i, space))
                self.i = j
            elif ch == '"':
                j = i + 1
                while j < end and s[j] != '"':
                    if s[j] == "\\":
                        j += 1
                    elif s[j] == "\n":
                        self.fail(i, "unterminated quoted string")
                    j += 1
                if j >= end:
                    self.fail(i, "unterminated quoted string")
                try:
                    value = _unquote(s[i + 1 : j], '"')
                except ValueError as exc:
                    self.fail(i, f"invalid syntax: {exc}")
                out.append(Token("str", s[i : j + 1], i, space, value))
                self.i = j + 1
            elif ch == "`":
                j = s.find("`", i + 1, end)
                if j < 0:
                    self.fail(i, "unterminated raw quoted string")
                out.append(Token("str", s[i : j + 1], i, space, s[i + 1 : j]))
                self.i = j + 1
            elif ch == "'":
                j = i + 1
                while j < end and s[j] != "'":
                    if s[j] == "\\":
                        j += 1
                    j += 1
                if j >= end:
                    self.fail(i, "unterminated character constant")
                try:
                    rune = _unquote(s[i + 1 : j], "'")
                except ValueError as exc:
                    self.fail(i, f"invalid syntax: {exc}")
                if len(rune) != 1:
                    self.fail(i, "malformed character constant")
                out.append(Token("num", s[i : j + 1], i, space, ord(rune)))
                self.i = j + 1
            elif ch.isdigit() or (
                ch in "+-" and i + 1 < end and (s[i + 1].isdigit() or s[i + 1] == ".")
            ):
                self._number(out, space)
            elif ch == "(":
                out.append(Token("lparen", ch, i, space))
                self.i = i + 1
            elif ch == ")":
                out.append(Token("rparen", ch, i, space))
                self.i = i + 1
            elif ch == "|":
                out.append(Token("pipe", ch, i, space))
                self.i = i + 1
            elif ch == ",":
                out.append(Token("comma", ch, i, space))
                self.i = i + 1
            elif ch == ":" and i + 1 < end and s[i + 1] == "=":
                out.append(Token("decl", ":=", i, space))
                self.i = i + 2
            elif ch == "=":
                out.append(Token("assign", "=", i, space))
                self.i = i + 1
            elif _is_ident_char(ch):
                j = i
                while j < end and _is_ident_char(s[j]):
                    j += 1
                out.append(Token("ident", s[i:j], i, space))
                self.i = j
            else:
                self.fail(i, f"unexpected {ch!r} in command")
            space = False

    def _number(self, out: list[Token], space: bool) -> None:
        s, i = self.s, self.i
        m = _NUMBER.match(s, i, self.end)
        j = m.end() if m else i
        if m is None or (j < self.end and (_is_ident_char(s[j]) or s[j] == ".")):
            k = j
            while k < self.end and (_is_ident_char(s[k]) or s[k] in ".+-"):
                k += 1
            self.fail(i, f"bad number syntax: {s[i:k]!r}")
        text = s[i:j]
        try:
            value = _parse_number(text)
        except ValueError:
            self.fail(i, f"bad number syntax: {text!r}")
        out.append(Token("num", text, i, space, value))
        self.i = j
