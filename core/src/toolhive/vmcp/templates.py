"""Go ``text/template`` for composite tools, evaluated safely (no ``eval``, bounded work and size).

ToolHive expands composite-tool templates (step arguments, conditions, elicitation messages,
``forEach`` collections, output values) with Go's ``text/template``, the data being
``{"params", "steps", "vars", "workflow"}`` (plus ``forEach`` inside a loop) and the functions
``json``, ``fromJson`` and ``quote`` added to Go's built-ins. This module parses and runs the same
language over plain Python data:

* actions ``{{pipeline}}`` with trim markers ``{{- … -}}`` and comments ``{{/* … */}}``;
  ``if``/``else if``/``else``, ``range`` (lists, maps in key order, integers; ``break``,
  ``continue``; ``$i, $e :=``), ``with``/``else with``; variables ``$x :=``/``$x =`` and ``$``;
* fields ``.a.b``, ``$x.a``, ``(pipeline).a``; literals (Go strings, raw strings, runes,
  numbers, ``true``/``false``/``nil``); pipes ``x | f``;
* the functions ``and or not eq ne lt le gt ge index slice len print printf println html js
  urlquery`` and ToolHive's ``json fromJson quote``.

Go's behaviour is kept where it shows: a template always yields a STRING (ToolHive coerces
arguments to the backend tool's input schema afterwards, see :func:`coerce_to_schema`); a missing
map key prints ``<no value>`` (Go's default ``missingkey``), and so does JSON ``null``; values
print as Go's ``fmt`` does (``map[a:1 b:x]``, ``[1 2]``, floats like ``%v``: ``1.5``,
``1e+06``); ``json`` encodes as Go's ``encoding/json`` (sorted keys, ``<>&`` escaped). Where Go
fails on a number's Go type — ``eq``/``lt`` between an int and a float64, ``printf "%d"`` of a
JSON number, ``index`` with a float — numbers compare and index by value here: every JSON number
is a float64 in Go, so those templates could never work there; and integers print as integers
(Go would print a JSON ``1000000`` as ``1e+06``). Not supported: ``define``/``template``/
``block`` (no named templates exist here) and ``call`` (no function values exist in the data).

Templates come from configuration; data (a client's parameters, a backend's answers) is never
parsed as a template. Output is bounded (10 MiB, as ToolHive), as are evaluation steps, nesting
and ``printf`` widths. Errors say which template and where: ``template: NAME:LINE:COL: …``.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Final, NoReturn
from urllib.parse import quote_plus

#: ToolHive's bound on one template's output (``maxTemplateOutputSize``).
MAX_OUTPUT: Final = 10 * 1024 * 1024
#: Evaluation steps one execution may take (nodes, loop turns): bounds CPU as MAX_OUTPUT bounds memory.
MAX_STEPS: Final = 2_000_000
#: ToolHive's bound on the nesting of the values it expands (``maxTemplateDepth``).
MAX_VALUE_DEPTH: Final = 100
#: Nesting of parentheses and control structures a template may have.
MAX_PARSE_DEPTH: Final = 100
#: Go's ``fmt`` refuses widths and precisions above this (``%!(BADWIDTH)``).
_MAX_WIDTH: Final = 1_000_000


class TemplateError(ValueError):
    """A template that does not parse or fails while running, located in its source."""

    def __init__(self, name: str, source: str, pos: int, message: str) -> None:
        line = source.count("\n", 0, pos) + 1
        col = pos - (source.rfind("\n", 0, pos) + 1) + 1
        self.name = name
        self.line = line
        self.col = col
        self.message = message
        super().__init__(f"template: {name}:{line}:{col}: {message}")


class _NoValue:
    """Go's invalid ``reflect.Value``: what a missing map key (or JSON null) evaluates to."""

    _instance: _NoValue | None = None

    def __new__(cls) -> _NoValue:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "<no value>"


NO_VALUE: Final = _NoValue()


# --------------------------------------------------------------------------- Go value formatting


def go_type_name(value: Any) -> str:
    """The Go type a JSON-decoded value has in ToolHive (for error messages)."""
    if value is None or value is NO_VALUE:
        return "<nil>"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "map[string]interface {}"
    if isinstance(value, list | tuple):
        return "[]interface {}"
    return type(value).__name__


def _shortest_digits(f: float) -> tuple[str, int]:
    """The shortest round-tripping decimal digits of ``abs(f)`` (finite, non-zero) and where
    the decimal point goes, as Go's ``strconv`` computes them (``repr`` is also shortest)."""
    mantissa, _, exp = repr(abs(f)).partition("e")
    whole, _, frac = mantissa.partition(".")
    digits = whole + frac
    point = len(whole) + (int(exp) if exp else 0)
    stripped = digits.lstrip("0")
    point -= len(digits) - len(stripped)
    return stripped.rstrip("0") or "0", point


def _format_e(digits: str, point: int) -> str:
    mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
    exp = point - 1
    return f"{mantissa}e{'-' if exp < 0 else '+'}{abs(exp):02d}"


def _format_f(digits: str, point: int) -> str:
    if point <= 0:
        return "0." + "0" * (-point) + digits
    if point >= len(digits):
        return digits + "0" * (point - len(digits))
    return digits[:point] + "." + digits[point:]


def go_float(f: float) -> str:
    """``fmt.Sprint(float64)``: ``%g`` with the shortest digits, exponent from 1e+06 up."""
    if math.isnan(f):
        return "NaN"
    if math.isinf(f):
        return "+Inf" if f > 0 else "-Inf"
    if f == 0:
        return "-0" if math.copysign(1.0, f) < 0 else "0"
    digits, point = _shortest_digits(f)
    exp = point - 1
    text = _format_e(digits, point) if exp < -4 or exp >= 6 else _format_f(digits, point)
    return "-" + text if f < 0 else text


def go_sprint(value: Any) -> str:
    """``fmt.Sprint`` of one value (``%v``)."""
    if isinstance(value, str):
        return value
    if value is None or value is NO_VALUE:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return go_float(value)
    if isinstance(value, Mapping):
        items = sorted(value.items(), key=lambda kv: str(kv[0]))
        return "map[" + " ".join(f"{go_sprint(k)}:{go_sprint(v)}" for k, v in items) + "]"
    if isinstance(value, list | tuple):
        return "[" + " ".join(go_sprint(v) for v in value) + "]"
    return str(value)


def _print_value(value: Any) -> str:
    """What an action prints: Go's ``printValue`` (a missing value is ``<no value>``)."""
    if value is NO_VALUE or value is None:
        return "<no value>"
    return go_sprint(value)


def _go_json_string(s: str) -> str:
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif o < 0x20:
            out.append(
                {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f"}.get(
                    ch, f"\\u{o:04x}"
                )
            )
        elif ch in "<>&" or o in (0x2028, 0x2029):
            out.append(f"\\u{o:04x}")
        elif 0xD800 <= o <= 0xDFFF:  # a lone surrogate is invalid UTF-8: Go writes U+FFFD
            out.append("\ufffd")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _go_json_float(f: float) -> str:
    if math.isnan(f) or math.isinf(f):
        raise ValueError(f"json: unsupported value: {go_float(f)}")
    if f == 0:
        return "-0" if math.copysign(1.0, f) < 0 else "0"
    digits, point = _shortest_digits(f)
    a = abs(f)
    if a < 1e-6 or a >= 1e21:
        text = _format_e(digits, point)
        mantissa, _, exp = text.partition("e")
        sign, num = exp[0], exp[1:].lstrip("0") or "0"
        text = f"{mantissa}e{sign}{num}"
    else:
        text = _format_f(digits, point)
    return "-" + text if f < 0 else text


def go_json(value: Any, _depth: int = 0) -> str:
    """``json.Marshal`` as Go writes it: compact, map keys sorted, ``<>&`` escaped."""
    if _depth > 1000:
        raise ValueError("json: value nested too deeply")
    if value is None or value is NO_VALUE:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _go_json_float(value)
    if isinstance(value, str):
        return _go_json_string(value)
    if isinstance(value, Mapping):
        items = sorted(((str(k), v) for k, v in value.items()), key=lambda kv: kv[0].encode())
        return (
            "{" + ",".join(f"{_go_json_string(k)}:{go_json(v, _depth + 1)}" for k, v in items) + "}"
        )
    if isinstance(value, list | tuple):
        return "[" + ",".join(go_json(v, _depth + 1) for v in value) + "]"
    raise ValueError(f"json: unsupported type: {go_type_name(value)}")


def _is_print(ch: str) -> bool:
    """Go's ``unicode.IsPrint``: graphic characters and the ASCII space."""
    return ch == " " or (ch.isprintable() and unicodedata.category(ch)[0] != "Z")


def go_quote(s: str) -> str:
    """``strconv.Quote`` (``fmt.Sprintf("%q", s)``)."""
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif _is_print(ch):
            out.append(ch)
        elif ch in "\a\b\f\n\r\t\v":
            out.append(
                {
                    "\a": "\\a",
                    "\b": "\\b",
                    "\f": "\\f",
                    "\n": "\\n",
                    "\r": "\\r",
                    "\t": "\\t",
                    "\v": "\\v",
                }[ch]
            )
        elif o < 0x20 or o == 0x7F:
            out.append(f"\\x{o:02x}")
        elif 0xD800 <= o <= 0xDFFF:
            out.append("\\ufffd")
        elif o < 0x10000:
            out.append(f"\\u{o:04x}")
        else:
            out.append(f"\\U{o:08x}")
    out.append('"')
    return "".join(out)


def _html_escape(s: str) -> str:
    return (
        s.replace("&", "&amp;")
        .replace("'", "&#39;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&#34;")
        .replace("\0", "\ufffd")
    )


_JS_ESCAPES: Final = {
    "\\": "\\\\",
    "'": "\\'",
    '"': '\\"',
    "<": "\\u003C",
    ">": "\\u003E",
    "&": "\\u0026",
    "=": "\\u003D",
}


def _js_escape(s: str) -> str:
    out = []
    for ch in s:
        if ch in _JS_ESCAPES:
            out.append(_JS_ESCAPES[ch])
        elif ord(ch) < 0x20:
            out.append(f"\\u00{ord(ch):02X}")
        elif ord(ch) >= 0x80 and not _is_print(ch):
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    return "".join(out)


# --------------------------------------------------------------------------- printf


def _bad_verb(verb: str, value: Any) -> str:
    if value is None or value is NO_VALUE:
        return f"%!{verb}(<nil>)"
    return f"%!{verb}({go_type_name(value)}={go_sprint(value)})"


def _pad(text: str, width: int | None, minus: bool, zero: bool = False) -> str:
    if width is None or len(text) >= width:
        return text
    if minus:
        return text + " " * (width - len(text))
    if zero:
        sign = text[0] if text[:1] in ("+", "-", " ") else ""
        body = text[len(sign) :]
        return sign + "0" * (width - len(text)) + body
    return " " * (width - len(text)) + text


def _sign(text: str, negative: bool, plus: bool, space: bool) -> str:
    if negative:
        return "-" + text
    if plus:
        return "+" + text
    if space:
        return " " + text
    return text


def _fmt_int(value: int, verb: str, flags: str, prec: int | None) -> str:
    base = {"d": 10, "b": 2, "o": 8, "O": 8, "x": 16, "X": 16}[verb]
    digits = (
        str(abs(value))
        if base == 10
        else format(abs(value), {2: "b", 8: "o", 16: "x" if verb == "x" else "X"}[base])
    )
    if prec is not None:
        digits = "" if prec == 0 and value == 0 else digits.rjust(prec, "0")
    if "#" in flags:
        digits = {2: "0b", 8: "0", 16: "0x" if verb == "x" else "0X"}.get(base, "") + digits
    if verb == "O":
        digits = "0o" + digits
    return _sign(digits, value < 0, "+" in flags, " " in flags)


def _fmt_float(value: float, verb: str, flags: str, prec: int | None) -> str:
    if math.isnan(value) or math.isinf(value):
        text = "NaN" if math.isnan(value) else "Inf"
        return _sign(
            text, value < 0, "+" in flags or (math.isinf(value) and value > 0), " " in flags
        )
    lower = verb.lower()
    if lower in ("g",) and prec is None:
        text = go_float(abs(value))
    elif lower == "e":
        text = format(abs(value), f".{6 if prec is None else prec}e")
    elif lower == "f":
        text = format(abs(value), f".{6 if prec is None else prec}f")
    else:  # %g with a precision
        text = format(abs(value), f".{prec}g")
    if verb.isupper():
        text = text.upper()
    return _sign(text, math.copysign(1.0, value) < 0, "+" in flags, " " in flags)


def _fmt_one(verb: str, flags: str, width: int | None, prec: int | None, value: Any) -> str:
    minus = "-" in flags
    zero = "0" in flags and not minus
    if value is NO_VALUE:
        value = None
    if verb == "v":
        if "#" in flags and isinstance(value, str):
            return _pad(go_quote(value), width, minus)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return _fmt_one("d" if isinstance(value, int) else "g", flags, width, prec, value)
        return _pad(go_sprint(value), width, minus)
    if isinstance(value, bool):
        if verb == "t":
            return _pad("true" if value else "false", width, minus)
        return _bad_verb(verb, value)
    if isinstance(value, int):
        if verb in "dboOxX":
            return _pad(_fmt_int(value, verb, flags, prec), width, minus, zero and prec is None)
        if verb in "eEfFgG":
            return _pad(_fmt_float(float(value), verb, flags, prec), width, minus, zero)
        if verb == "c":
            return _pad(chr(value) if 0 <= value <= 0x10FFFF else "\ufffd", width, minus)
        if verb == "q":
            return _pad(
                "'" + (chr(value) if 0 <= value <= 0x10FFFF else "\ufffd") + "'", width, minus
            )
        if verb == "U":
            return _pad(f"U+{value:04X}", width, minus)
        return _bad_verb(verb, value)
    if isinstance(value, float):
        if verb in "eEfFgG":
            return _pad(_fmt_float(value, verb, flags, prec), width, minus, zero)
        if verb == "d" and value.is_integer():  # a JSON number: an integer here (Go: float64)
            return _pad(
                _fmt_int(int(value), verb, flags, prec), width, minus, zero and prec is None
            )
        return _bad_verb(verb, value)
    if isinstance(value, str):
        if verb == "s":
            text = value if prec is None else value[:prec]
            return _pad(text, width, minus)
        if verb == "q":
            return _pad(go_quote(value if prec is None else value[:prec]), width, minus)
        if verb in "xX":
            data = value.encode("utf-8", "surrogatepass")
            text = data.hex() if verb == "x" else data.hex().upper()
            return _pad(text, width, minus)
        return _bad_verb(verb, value)
    if isinstance(value, list | tuple) and verb in "sdqxXfegt":
        return "[" + " ".join(_fmt_one(verb, flags, None, prec, v) for v in value) + "]"
    if isinstance(value, Mapping) and verb in "sdqxXfegt":
        items = sorted(value.items(), key=lambda kv: str(kv[0]))
        return (
            "map["
            + " ".join(
                f"{_fmt_one(verb, flags, None, prec, k)}:{_fmt_one(verb, flags, None, prec, v)}"
                for k, v in items
            )
            + "]"
        )
    return _bad_verb(verb, value)


def go_sprintf(fmt: str, args: Sequence[Any]) -> str:
    """``fmt.Sprintf`` for the verbs templates use (v s d q t f e g x X o b c U and flags,
    width, precision, ``*``); Go's ``%!verb(type=value)``, ``%!v(MISSING)`` and ``%!(EXTRA …)``
    for misuse."""
    out: list[str] = []
    i = 0
    n = len(fmt)
    argi = 0
    while i < n:
        j = fmt.find("%", i)
        if j < 0:
            out.append(fmt[i:])
            break
        out.append(fmt[i:j])
        i = j + 1
        if i >= n:
            out.append("%!(NOVERB)")
            break
        flags = ""
        while i < n and fmt[i] in "+-# 0":
            flags += fmt[i]
            i += 1
        width: int | None = None
        prec: int | None = None
        bad = ""
        if i < n and fmt[i] == "*":
            i += 1
            if (
                argi < len(args)
                and isinstance(args[argi], int)
                and not isinstance(args[argi], bool)
            ):
                width = int(args[argi])
                if width < 0:
                    flags += "-"
                    width = -width
            else:
                bad = "%!(BADWIDTH)"
            argi += 1
        else:
            start = i
            while i < n and fmt[i].isdigit():
                i += 1
            if i > start:
                width = int(fmt[start:i])
        if i < n and fmt[i] == ".":
            i += 1
            if i < n and fmt[i] == "*":
                i += 1
                if (
                    argi < len(args)
                    and isinstance(args[argi], int)
                    and not isinstance(args[argi], bool)
                ):
                    prec = max(int(args[argi]), 0)
                else:
                    bad = "%!(BADPREC)"
                argi += 1
            else:
                start = i
                while i < n and fmt[i].isdigit():
                    i += 1
                prec = int(fmt[start:i]) if i > start else 0
        if (width or 0) > _MAX_WIDTH:
            bad, width = "%!(BADWIDTH)", None
        if (prec or 0) > _MAX_WIDTH:
            bad, prec = "%!(BADPREC)", None
        out.append(bad)
        if i >= n:
            out.append("%!(NOVERB)")
            break
        verb = fmt[i]
        i += 1
        if verb == "%":
            out.append("%")
            continue
        if argi >= len(args):
            out.append(f"%!{verb}(MISSING)")
            continue
        out.append(_fmt_one(verb, flags, width, prec, args[argi]))
        argi += 1
    if argi < len(args):
        extra = ", ".join(
            "<nil>" if a is None or a is NO_VALUE else f"{go_type_name(a)}={go_sprint(a)}"
            for a in args[argi:]
        )
        out.append(f"%!(EXTRA {extra})")
    return "".join(out)


def _sprint(args: Sequence[Any]) -> str:
    """``fmt.Sprint``: a space between two operands when neither is a string."""
    out: list[str] = []
    for k, a in enumerate(args):
        if k > 0 and not isinstance(a, str) and not isinstance(args[k - 1], str):
            out.append(" ")
        out.append(go_sprint(a))
    return "".join(out)


# --------------------------------------------------------------------------- lexer


_SPACE: Final = " \t\r\n"
_NUMBER: Final = re.compile(
    r"[+-]?(?:0[xX][0-9a-fA-F_]+(?:\.[0-9a-fA-F_]*)?(?:[pP][+-]?[0-9_]+)?"
    r"|0[bB][01_]+|0[oO][0-7_]+"
    r"|(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9][0-9_]*)(?:[eE][+-]?[0-9_]+)?)"
)
_KEYWORDS: Final = frozenset(
    {"if", "else", "end", "range", "with", "define", "template", "block", "break", "continue"}
)


@dataclass(slots=True)
class _Tok:
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


class _Lexer:
    """Tokens of one action (between ``{{`` and ``}}``)."""

    def __init__(
        self, source: str, start: int, end: int, fail: Callable[[int, str], NoReturn]
    ) -> None:
        self.s = source
        self.i = start
        self.end = end
        self.fail = fail

    def tokens(self) -> list[_Tok]:
        out: list[_Tok] = []
        s, end = self.s, self.end
        space = True
        while True:
            i = self.i
            while i < end and s[i] in " \t\r\n":
                i += 1
                space = True
            self.i = i
            if i >= end:
                out.append(_Tok("eof", "", i, space))
                return out
            ch = s[i]
            if ch == ".":
                if i + 1 < end and (_is_ident_char(s[i + 1]) and not s[i + 1].isdigit()):
                    j = i + 1
                    while j < end and _is_ident_char(s[j]):
                        j += 1
                    out.append(_Tok("field", s[i + 1 : j], i, space))
                    self.i = j
                elif i + 1 < end and s[i + 1].isdigit():
                    self._number(out, space)
                else:
                    out.append(_Tok("dot", ".", i, space))
                    self.i = i + 1
            elif ch == "$":
                j = i + 1
                while j < end and _is_ident_char(s[j]):
                    j += 1
                out.append(_Tok("var", s[i:j], i, space))
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
                out.append(_Tok("str", s[i : j + 1], i, space, value))
                self.i = j + 1
            elif ch == "`":
                j = s.find("`", i + 1, end)
                if j < 0:
                    self.fail(i, "unterminated raw quoted string")
                out.append(_Tok("str", s[i : j + 1], i, space, s[i + 1 : j]))
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
                out.append(_Tok("num", s[i : j + 1], i, space, ord(rune)))
                self.i = j + 1
            elif ch.isdigit() or (
                ch in "+-" and i + 1 < end and (s[i + 1].isdigit() or s[i + 1] == ".")
            ):
                self._number(out, space)
            elif ch == "(":
                out.append(_Tok("lparen", ch, i, space))
                self.i = i + 1
            elif ch == ")":
                out.append(_Tok("rparen", ch, i, space))
                self.i = i + 1
            elif ch == "|":
                out.append(_Tok("pipe", ch, i, space))
                self.i = i + 1
            elif ch == ",":
                out.append(_Tok("comma", ch, i, space))
                self.i = i + 1
            elif ch == ":" and i + 1 < end and s[i + 1] == "=":
                out.append(_Tok("decl", ":=", i, space))
                self.i = i + 2
            elif ch == "=":
                out.append(_Tok("assign", "=", i, space))
                self.i = i + 1
            elif _is_ident_char(ch):
                j = i
                while j < end and _is_ident_char(s[j]):
                    j += 1
                out.append(_Tok("ident", s[i:j], i, space))
                self.i = j
            else:
                self.fail(i, f"unexpected {ch!r} in command")
            space = False

    def _number(self, out: list[_Tok], space: bool) -> None:
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
        out.append(_Tok("num", text, i, space, value))
        self.i = j


# --------------------------------------------------------------------------- parse tree


@dataclass(slots=True)
class _Node:
    pos: int


@dataclass(slots=True)
class _Text(_Node):
    text: str


@dataclass(slots=True)
class _Literal(_Node):
    value: Any
    src: str


@dataclass(slots=True)
class _Dot(_Node):
    pass


@dataclass(slots=True)
class _Field(_Node):
    names: list[str]


@dataclass(slots=True)
class _Var(_Node):
    name: str
    names: list[str]


@dataclass(slots=True)
class _Ident(_Node):
    name: str


@dataclass(slots=True)
class _Chain(_Node):
    node: _Node
    names: list[str]


@dataclass(slots=True)
class _Command(_Node):
    args: list[_Node]


@dataclass(slots=True)
class _Pipe(_Node):
    decl: list[str]
    assign: bool
    cmds: list[_Command]


@dataclass(slots=True)
class _Action(_Node):
    pipe: _Pipe


@dataclass(slots=True)
class _Branch(_Node):
    kind: str  # if, range, with
    pipe: _Pipe
    body: list[_Node]
    orelse: list[_Node] = field(default_factory=list)


@dataclass(slots=True)
class _LoopControl(_Node):
    kind: str  # break, continue


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


def _node_src(node: _Node) -> str:
    if isinstance(node, _Field):
        return "." + ".".join(node.names)
    if isinstance(node, _Var):
        return node.name + "".join("." + n for n in node.names)
    if isinstance(node, _Chain):
        return "(" + _node_src(node.node) + ")." + ".".join(node.names)
    if isinstance(node, _Ident):
        return node.name
    if isinstance(node, _Literal):
        return node.src
    if isinstance(node, _Dot):
        return "."
    if isinstance(node, _Command):
        return " ".join(_node_src(a) for a in node.args)
    if isinstance(node, _Pipe):
        decl = (", ".join(node.decl) + (" = " if node.assign else " := ")) if node.decl else ""
        return decl + " | ".join(_node_src(c) for c in node.cmds)
    return "?"


class _Parser:
    def __init__(self, name: str, source: str) -> None:
        self.name = name
        self.source = source
        self.depth = 0
        self.ranges = 0

    def fail(self, pos: int, message: str) -> NoReturn:
        raise TemplateError(self.name, self.source, pos, message)

    def parse(self) -> list[_Node]:
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
            left_trim = j >= 0 and s[j + 2 : j + 3] == "-" and s[j + 3 : j + 4] in _SPACE
            if trim_next:
                text = text.lstrip(_SPACE)
            if left_trim:
                text = text.rstrip(_SPACE)
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
                elif s[after : after + 1] in _SPACE and s.startswith("-}}", after + 1):
                    i, trim_next = after + 4, True
                else:
                    self.fail(j, "comment ends before closing delimiter")
                continue
            toks, close, trim_next = self._action_tokens(start, j)
            yield ("action", j, toks)
            i = close + 2

    def _action_tokens(self, start: int, open_pos: int) -> tuple[list[_Tok], int, bool]:
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
        right_trim = end - 2 >= start and s[end - 1] == "-" and s[end - 2] in _SPACE
        if right_trim:
            end -= 1  # the trim marker is no token
        toks = _Lexer(s, start, end, self.fail).tokens()
        return toks[:-1], i, right_trim

    # -- structure

    def _list(self, top: bool = False) -> tuple[list[_Node], tuple[str, int, list[_Tok]] | None]:
        """Nodes up to an ``end``/``else`` (returned as the stop) or the end of input."""
        body: list[_Node] = []
        while self.k < len(self.items):
            kind, pos, payload = self.items[self.k]
            self.k += 1
            if kind == "text":
                body.append(_Text(pos, payload))
                continue
            toks: list[_Tok] = payload
            if not toks:
                self.fail(pos, "missing value for command")
            first = toks[0]
            if first.kind == "ident" and first.text in _KEYWORDS:
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
                    body.append(_LoopControl(pos, word))
                else:
                    self.fail(pos, f"{{{{{word}}}}} is not supported in composite-tool templates")
                continue
            body.append(_Action(pos, self._pipeline(toks, pos, "command")))
        return body, None

    def _branch(self, kind: str, pos: int, toks: list[_Tok]) -> _Branch:
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
        node = _Branch(pos, kind, pipe, body)
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

    def _pipeline(self, toks: list[_Tok], pos: int, context: str) -> _Pipe:
        self.toks = toks
        self.t = 0
        pipe = self._pipe(pos, context, allow_decl=True)
        if self.t < len(self.toks):
            tok = self.toks[self.t]
            self.fail(tok.pos, f"unexpected {tok.text!r} in {context}")
        return pipe

    def _peek(self) -> _Tok | None:
        return self.toks[self.t] if self.t < len(self.toks) else None

    def _pipe(self, pos: int, context: str, allow_decl: bool, closing: str = "") -> _Pipe:
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
        cmds: list[_Command] = []
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
        return _Pipe(pos, decl, assign, cmds)

    def _command(self, pos: int, closing: str) -> _Command:
        args: list[_Node] = []
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
        return _Command(args[0].pos, args)

    def _operand(self) -> _Node:
        tok = self.toks[self.t]
        self.t += 1
        node: _Node
        if tok.kind == "field":
            names = [tok.text]
            while (
                (nxt := self._peek()) is not None and nxt.kind == "field" and not nxt.space_before
            ):
                names.append(nxt.text)
                self.t += 1
            return _Field(tok.pos, names)
        if tok.kind == "var":
            names = []
            while (
                (nxt := self._peek()) is not None and nxt.kind == "field" and not nxt.space_before
            ):
                names.append(nxt.text)
                self.t += 1
            return _Var(tok.pos, tok.text, names)
        if tok.kind == "dot":
            node = _Dot(tok.pos)
        elif tok.kind == "str" or tok.kind == "num":
            node = _Literal(tok.pos, tok.value, tok.text)
        elif tok.kind == "ident":
            if tok.text in ("true", "false"):
                node = _Literal(tok.pos, tok.text == "true", tok.text)
            elif tok.text == "nil":
                node = _Literal(tok.pos, None, "nil")
            elif tok.text in _KEYWORDS:
                self.fail(tok.pos, f"unexpected {tok.text!r} in operand")
            elif tok.text not in _BUILTINS:
                self.fail(tok.pos, f'function "{tok.text}" not defined')
            else:
                node = _Ident(tok.pos, tok.text)
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
            if isinstance(node, _Literal):
                self.fail(node.pos, f"unexpected . after term {node.src!r}")
            return _Chain(node.pos, node, names)
        return node


@dataclass(frozen=True, slots=True)
class Template:
    """A parsed template; :meth:`execute` runs it over data."""

    name: str
    source: str
    root: tuple[_Node, ...]

    def execute(self, data: Any, *, max_output: int = MAX_OUTPUT) -> str:
        """The template's text for ``data`` (the value of ``.`` and ``$``)."""
        return _Exec(self, data, max_output).run()


def _walk_refs(nodes: Sequence[_Node], out: set[str]) -> None:
    for node in nodes:
        if isinstance(node, _Field):
            out.add("." + ".".join(node.names))
        elif isinstance(node, _Chain):
            _walk_refs([node.node], out)
            out.add("." + ".".join(node.names))
        elif isinstance(node, _Action):
            _walk_refs([node.pipe], out)
        elif isinstance(node, _Pipe):
            _walk_refs(node.cmds, out)
        elif isinstance(node, _Command):
            _walk_refs(node.args, out)
        elif isinstance(node, _Branch):
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


# --------------------------------------------------------------------------- execution


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


class _ExecError(Exception):
    def __init__(self, node: _Node, message: str) -> None:
        super().__init__(message)
        self.node = node
        self.message = message


def _indirect(value: Any) -> Any:
    """Go's ``indirectInterface``: a JSON null is a missing value."""
    return NO_VALUE if value is None else value


def _kind(value: Any) -> str:
    if value is NO_VALUE or value is None:
        return "invalid"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "other"


def truth(value: Any) -> bool:
    """Go's ``template.IsTrue``."""
    if value is NO_VALUE or value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    if isinstance(value, str | list | tuple | Mapping):
        return len(value) > 0
    return True


def _as_index(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


class _Exec:
    def __init__(self, tmpl: Template, data: Any, max_output: int) -> None:
        self.tmpl = tmpl
        self.data = data
        self.max_output = max_output
        self.out: list[str] = []
        self.size = 0
        self.steps = 0
        self.vars: list[tuple[str, Any]] = [("$", data)]
        self.funcs: dict[str, Callable[[_Node, list[Any]], Any]] = {
            "not": lambda n, a: not truth(self._one(n, "not", a)),
            "eq": self._eq,
            "ne": lambda n, a: not self._eq(n, self._exactly(n, "ne", a, 2)),
            "lt": lambda n, a: self._less(n, "lt", a) < 0,
            "le": lambda n, a: self._less(n, "le", a) <= 0,
            "gt": lambda n, a: self._less(n, "gt", a) > 0,
            "ge": lambda n, a: self._less(n, "ge", a) >= 0,
            "index": self._index,
            "slice": self._slice,
            "len": self._len,
            "print": lambda n, a: _sprint(self._anys(a)),
            "println": lambda n, a: " ".join(go_sprint(x) for x in self._anys(a)) + "\n",
            "printf": self._printf,
            "html": lambda n, a: _html_escape(self._escaper_arg(a)),
            "js": lambda n, a: _js_escape(self._escaper_arg(a)),
            "urlquery": lambda n, a: quote_plus(self._escaper_arg(a), safe=""),
            "call": self._call,
            "json": self._json,
            "fromJson": self._from_json,
            "quote": lambda n, a: go_quote(self._string_arg(n, "quote", self._one(n, "quote", a))),
        }

    def fail(self, node: _Node, message: str) -> _ExecError:
        return _ExecError(node, message)

    def run(self) -> str:
        try:
            self._walk_list(self.tmpl.root, self.data)
        except _ExecError as exc:
            raise TemplateError(
                self.tmpl.name,
                self.tmpl.source,
                exc.node.pos,
                f"executing {self.tmpl.name!r} at <{_node_src(exc.node)}>: {exc.message}",
            ) from None
        except RecursionError:  # data nested deeper than Python can print (a backend's answer)
            raise TemplateError(
                self.tmpl.name, self.tmpl.source, 0, "value nested too deeply to evaluate"
            ) from None
        except (_Break, _Continue):  # the parser refuses them outside range; defensive
            raise TemplateError(
                self.tmpl.name, self.tmpl.source, 0, "{{break}} or {{continue}} outside {{range}}"
            ) from None
        return "".join(self.out)

    def _tick(self, node: _Node) -> None:
        self.steps += 1
        if self.steps > MAX_STEPS:
            raise self.fail(node, f"template evaluation exceeds {MAX_STEPS} steps")

    def _write(self, node: _Node, text: str) -> None:
        self.size += len(text)
        if self.size > self.max_output:
            raise self.fail(node, f"template output too large (max {self.max_output} bytes)")
        self.out.append(text)

    # -- statements

    def _walk_list(self, nodes: Sequence[_Node], dot: Any) -> None:
        for node in nodes:
            self._tick(node)
            if isinstance(node, _Text):
                self._write(node, node.text)
            elif isinstance(node, _Action):
                mark = len(self.vars)
                value = self._pipe(node.pipe, dot)
                if not node.pipe.decl:
                    self._write(node, _print_value(value))
                else:
                    del self.vars[mark:]  # a declaration stays visible to the rest of the scope
                    self._declare(node.pipe, value)
            elif isinstance(node, _Branch):
                self._branch(node, dot)
            elif isinstance(node, _LoopControl):
                raise _Break() if node.kind == "break" else _Continue()

    def _declare(self, pipe: _Pipe, value: Any) -> None:
        if pipe.assign:
            for k in range(len(self.vars) - 1, -1, -1):
                if self.vars[k][0] == pipe.decl[0]:
                    self.vars[k] = (pipe.decl[0], value)
                    return
            raise self.fail(pipe, f"undefined variable: {pipe.decl[0]}")
        self.vars.append((pipe.decl[0], value))

    def _branch(self, node: _Branch, dot: Any) -> None:
        mark = len(self.vars)
        try:
            if node.kind == "range":
                self._range(node, dot)
                return
            value = self._eval_pipe_raw(node.pipe, dot)
            if node.pipe.decl:
                self._declare(node.pipe, value)
            if truth(value):
                self._walk_list(node.body, value if node.kind == "with" else dot)
            else:
                self._walk_list(node.orelse, dot)
        finally:
            del self.vars[mark:]

    def _range(self, node: _Branch, dot: Any) -> None:
        value = _indirect(self._eval_pipe_raw(node.pipe, dot))
        pairs: Iterator[tuple[Any, Any]]
        if value is NO_VALUE:
            pairs = iter(())
        elif isinstance(value, Mapping):
            pairs = ((k, value[k]) for k in sorted(value, key=str))
        elif isinstance(value, list | tuple):
            pairs = iter(enumerate(value))
        elif isinstance(value, int) and not isinstance(value, bool):
            pairs = ((i, i) for i in range(max(value, 0)))
        else:
            raise self.fail(node.pipe, f"range can't iterate over {go_sprint(value)}")
        decl = node.pipe.decl
        ran = False
        for key, elem in pairs:
            ran = True
            self._tick(node)
            mark = len(self.vars)
            if len(decl) == 1:
                self.vars.append((decl[0], elem))
            elif len(decl) == 2:
                self.vars.append((decl[0], key))
                self.vars.append((decl[1], elem))
            try:
                self._walk_list(node.body, elem)
            except _Break:
                del self.vars[mark:]
                break
            except _Continue:
                pass
            del self.vars[mark:]
        if not ran:
            self._walk_list(node.orelse, dot)

    # -- expressions

    def _pipe(self, pipe: _Pipe, dot: Any) -> Any:
        value = self._eval_pipe_raw(pipe, dot)
        return value

    def _eval_pipe_raw(self, pipe: _Pipe, dot: Any) -> Any:
        value: Any = _MISSING_FINAL
        for cmd in pipe.cmds:
            value = self._command(cmd, dot, value)
        return _indirect(value)

    def _command(self, cmd: _Command, dot: Any, final: Any) -> Any:
        self._tick(cmd)
        first = cmd.args[0]
        if isinstance(first, _Ident):
            return self._call_func(first, cmd.args[1:], dot, final)
        if len(cmd.args) > 1 or final is not _MISSING_FINAL:
            raise self.fail(first, f"can't give argument to non-function {_node_src(first)}")
        if isinstance(first, _Literal) and first.value is None:
            raise self.fail(first, "nil is not a command")
        return self._arg(first, dot)

    def _arg(self, node: _Node, dot: Any) -> Any:
        if isinstance(node, _Field):
            return self._fields(node, dot, node.names)
        if isinstance(node, _Var):
            return self._fields(node, self._var(node), node.names)
        if isinstance(node, _Chain):
            return self._fields(node, self._arg(node.node, dot), node.names)
        if isinstance(node, _Dot):
            return dot
        if isinstance(node, _Literal):
            return node.value
        if isinstance(node, _Pipe):
            mark = len(self.vars)
            try:
                return self._eval_pipe_raw(node, dot)
            finally:
                del self.vars[mark:]
        if isinstance(node, _Ident):
            return self._call_func(node, [], dot, _MISSING_FINAL)
        raise self.fail(node, "can't evaluate operand")

    def _var(self, node: _Var) -> Any:
        for name, value in reversed(self.vars):
            if name == node.name:
                return value
        raise self.fail(node, f"undefined variable: {node.name}")

    def _fields(self, node: _Node, value: Any, names: Sequence[str]) -> Any:
        for name in names:
            if value is NO_VALUE or value is None:
                value = NO_VALUE  # Go: a missing key's fields are missing too (not an error)
            elif isinstance(value, Mapping):
                value = value.get(name, NO_VALUE)
            else:
                raise self.fail(node, f"can't evaluate field {name} in type {go_type_name(value)}")
        return value

    def _call_func(self, ident: _Ident, args: Sequence[_Node], dot: Any, final: Any) -> Any:
        name = ident.name
        if name in ("and", "or"):
            # Go evaluates and/or lazily, left to right, and returns the deciding operand.
            operands = list(args)
            if not operands and final is _MISSING_FINAL:
                raise self.fail(ident, f"wrong number of args for {name}: want at least 1 got 0")
            result: Any = NO_VALUE
            for k in range(len(operands) + (final is not _MISSING_FINAL)):
                result = self._arg(operands[k], dot) if k < len(operands) else final
                decided = not truth(result) if name == "and" else truth(result)
                if decided:
                    return result
            return result
        values = [self._arg(a, dot) for a in args]
        if final is not _MISSING_FINAL:
            values.append(final)
        try:
            return self.funcs[name](ident, values)
        except _ExecError:
            raise
        except (ValueError, TypeError, OverflowError, RecursionError) as exc:
            raise self.fail(ident, f"error calling {name}: {exc}") from None

    # -- functions

    def _one(self, node: _Node, name: str, args: list[Any]) -> Any:
        return self._exactly(node, name, args, 1)[0]

    def _exactly(self, node: _Node, name: str, args: list[Any], n: int) -> list[Any]:
        if len(args) != n:
            raise self.fail(node, f"wrong number of args for {name}: want {n} got {len(args)}")
        return args

    @staticmethod
    def _anys(args: Sequence[Any]) -> list[Any]:
        """Arguments to a Go ``...any`` parameter: a missing value becomes nil."""
        return [None if a is NO_VALUE else a for a in args]

    def _string_arg(self, node: _Node, name: str, value: Any) -> str:
        if isinstance(value, str):
            return value
        if value is NO_VALUE or value is None:
            raise self.fail(node, "invalid value; expected string")
        raise self.fail(node, f"wrong type for value; expected string; got {go_type_name(value)}")

    def _escaper_arg(self, args: list[Any]) -> str:
        if len(args) == 1 and isinstance(args[0], str):
            return args[0]
        return _sprint(self._anys(args))

    def _eq(self, node: _Node, args: list[Any]) -> bool:
        if len(args) < 2:
            raise self.fail(node, "missing argument for comparison")
        a = _indirect(args[0])
        ka = _kind(a)
        for b in args[1:]:
            b = _indirect(b)
            kb = _kind(b)
            if ka != kb:
                if ka != "invalid" and kb != "invalid":
                    raise self.fail(node, "error calling eq: incompatible types for comparison")
                continue
            if ka == "other":
                raise self.fail(node, "error calling eq: non-comparable types")
            if ka == "invalid" or a == b:
                return True
        return False

    def _less(self, node: _Node, name: str, args: list[Any]) -> int:
        a, b = (_indirect(x) for x in self._exactly(node, name, args, 2))
        ka, kb = _kind(a), _kind(b)
        if ka not in ("number", "string") or kb not in ("number", "string"):
            raise self.fail(node, f"error calling {name}: invalid type for comparison")
        if ka != kb:
            raise self.fail(node, f"error calling {name}: incompatible types for comparison")
        if ka == "string":
            a, b = a.encode("utf-8", "surrogatepass"), b.encode("utf-8", "surrogatepass")
        return -1 if a < b else (1 if a > b else 0)

    def _index(self, node: _Node, args: list[Any]) -> Any:
        if not args:
            raise self.fail(node, "wrong number of args for index: want at least 1 got 0")
        item = _indirect(args[0])
        if item is NO_VALUE:
            raise self.fail(node, "error calling index: index of untyped nil")
        for key in args[1:]:
            if item is NO_VALUE:
                raise self.fail(node, "error calling index: index of nil pointer")
            if isinstance(item, Mapping):
                if not isinstance(key, str):
                    raise self.fail(
                        node,
                        f"error calling index: value has type {go_type_name(key)}; should be string",
                    )
                item = _indirect(item.get(key, NO_VALUE))
            elif isinstance(item, list | tuple | str):
                i = _as_index(key)
                if i is None:
                    raise self.fail(
                        node,
                        f"error calling index: cannot index slice/array with type {go_type_name(key)}",
                    )
                seq: Sequence[Any] = (
                    item.encode("utf-8", "surrogatepass") if isinstance(item, str) else item
                )
                if not 0 <= i < len(seq):
                    raise self.fail(node, f"error calling index: index out of range: {i}")
                item = _indirect(seq[i])
            else:
                raise self.fail(
                    node, f"error calling index: can't index item of type {go_type_name(item)}"
                )
        return item

    def _slice(self, node: _Node, args: list[Any]) -> Any:
        if not args:
            raise self.fail(node, "wrong number of args for slice: want at least 1 got 0")
        item = _indirect(args[0])
        if len(args) > 4:
            raise self.fail(node, "error calling slice: too many slice indexes")
        if not isinstance(item, list | tuple | str):
            raise self.fail(
                node, f"error calling slice: can't slice item of type {go_type_name(item)}"
            )
        if isinstance(item, str) and len(args) == 4:
            raise self.fail(node, "error calling slice: cannot 3-index slice a string")
        seq: Any = item.encode("utf-8", "surrogatepass") if isinstance(item, str) else list(item)
        idx: list[int] = []
        for a in args[1:]:
            i = _as_index(a)
            if i is None:
                raise self.fail(
                    node,
                    f"error calling slice: cannot index slice/array with type {go_type_name(a)}",
                )
            idx.append(i)
        lo = idx[0] if idx else 0
        hi = idx[1] if len(idx) > 1 else len(seq)
        cap = idx[2] if len(idx) > 2 else len(seq)
        if not 0 <= lo <= hi <= cap <= len(seq):
            raise self.fail(
                node, f"error calling slice: index out of range: {hi if hi > len(seq) else lo}"
            )
        part = seq[lo:hi]
        return part.decode("utf-8", "replace") if isinstance(item, str) else part

    def _len(self, node: _Node, args: list[Any]) -> int:
        item = _indirect(self._one(node, "len", args))
        if isinstance(item, str):
            return len(item.encode("utf-8", "surrogatepass"))  # Go: bytes
        if isinstance(item, list | tuple | Mapping):
            return len(item)
        if item is NO_VALUE:
            raise self.fail(node, "error calling len: len of nil pointer")
        raise self.fail(node, f"error calling len: len of type {go_type_name(item)}")

    def _printf(self, node: _Node, args: list[Any]) -> str:
        if not args:
            raise self.fail(node, "wrong number of args for printf: want at least 1 got 0")
        fmt = self._string_arg(node, "printf", args[0])
        return go_sprintf(fmt, self._anys(args[1:]))

    def _call(self, node: _Node, args: list[Any]) -> Any:
        raise self.fail(node, "error calling call: call of non-function (no functions in data)")

    def _json(self, node: _Node, args: list[Any]) -> str:
        value = self._one(node, "json", args)
        try:
            text = go_json(value)
        except ValueError as exc:
            raise self.fail(node, f"error calling json: failed to encode JSON: {exc}") from None
        return text

    def _from_json(self, node: _Node, args: list[Any]) -> Any:
        text = self._string_arg(node, "fromJson", self._one(node, "fromJson", args))
        try:
            return json.loads(text)
        except (ValueError, RecursionError) as exc:
            raise self.fail(
                node, f"error calling fromJson: failed to unmarshal JSON: {exc}"
            ) from None


class _Final:
    """No value piped in (distinct from a missing value)."""


_MISSING_FINAL: Final = _Final()


# --------------------------------------------------------------------------- ToolHive's uses


def expand(source: str, data: Any, name: str = "template") -> str:
    """One template string's text (ToolHive's ``ExpandString``)."""
    return parse(source, name).execute(data)


def expand_value(value: Any, data: Any, name: str = "template", _depth: int = 0) -> Any:
    """Every string in ``value`` (dicts and lists walked) expanded; other values unchanged
    (ToolHive's ``Expand``). Strings stay strings."""
    if _depth > MAX_VALUE_DEPTH:
        raise TemplateError(
            name, "", 0, f"template expansion depth limit exceeded: {MAX_VALUE_DEPTH}"
        )
    if isinstance(value, str):
        return expand(value, data, name)
    if isinstance(value, Mapping):
        return {k: expand_value(v, data, f"{name}.{k}", _depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [expand_value(v, data, f"{name}[{i}]", _depth + 1) for i, v in enumerate(value)]
    return value


def evaluate_condition(source: str, data: Any, name: str = "condition") -> bool:
    """A condition template, which must yield ``true`` or ``false`` (any case Go accepts)."""
    if source == "":
        return True
    text = expand(source, data, name)
    if text in ("true", "True", "TRUE"):
        return True
    if text in ("false", "False", "FALSE"):
        return False
    raise TemplateError(
        name, source, 0, f"condition must evaluate to 'true' or 'false', got: {text!r}"
    )


_GO_TRUE: Final = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_GO_FALSE: Final = frozenset({"0", "f", "F", "FALSE", "false", "False"})


def _coerce_primitive(kind: str, value: str) -> Any:
    text = value
    if kind == "integer":
        body = text[1:] if text[:1] in ("+", "-") else text
        if body.isascii() and body.isdigit():
            whole = int(text)
            if -(2**63) <= whole < 2**63:
                return whole
        return value
    if kind == "number":
        try:
            if text.strip() != text or "_" in text:
                return value
            number = float(text)
        except ValueError:
            return value
        return number if math.isfinite(number) else value
    if kind == "boolean":
        if text in _GO_TRUE:
            return True
        if text in _GO_FALSE:
            return False
    return value


def coerce_to_schema(value: Any, schema: Any) -> Any:
    """ToolHive's argument coercion after expansion (``schema.TryCoerce``): strings become the
    integer/number/boolean a JSON schema asks for; objects and arrays are walked; anything that
    does not convert is left as it was."""
    if not isinstance(schema, Mapping) or not schema:
        return value
    kind = schema.get("type")
    if kind == "object":
        props = schema.get("properties")
        if not isinstance(value, Mapping) or not isinstance(props, Mapping):
            return value
        return {k: coerce_to_schema(v, props.get(k)) for k, v in value.items()}
    if kind == "array":
        if not isinstance(value, list):
            return value
        return [coerce_to_schema(v, schema.get("items")) for v in value]
    if kind in ("integer", "number", "boolean") and isinstance(value, str):
        return _coerce_primitive(kind, value)
    return value
