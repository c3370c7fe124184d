"""Go values as ToolHive's JSON data holds them, printed as Go's ``fmt``, ``encoding/json`` and
``strconv`` print them: ``NO_VALUE``, ``go_sprint``, ``go_json``, ``go_quote``, the ``html``/``js``
escapers and ``go_sprintf`` (``printf``)."""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any, Final

#: Go's ``fmt`` refuses widths and precisions above this (``%!(BADWIDTH)``).
_MAX_WIDTH: Final = 1_000_000


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


def print_value(value: Any) -> str:
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


def html_escape(s: str) -> str:
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


def js_escape(s: str) -> str:
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


def sprint(args: Sequence[Any]) -> str:
    """``fmt.Sprint``: a space between two operands when neither is a string."""
    out: list[str] = []
    for k, a in enumerate(args):
        if k > 0 and not isinstance(a, str) and not isinstance(args[k - 1], str):
            out.append(" ")
        out.append(go_sprint(a))
    return "".join(out)
