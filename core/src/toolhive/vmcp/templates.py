"""ToolHive's uses of Go's ``text/template`` in composite tools: :func:`expand` (one string),
:func:`expand_value` (every string in a value), :func:`evaluate_condition` and
:func:`coerce_to_schema` (arguments to the backend tool's input schema). The template engine is
:mod:`toolhive.vmcp.gotemplate` (the language it accepts is described there); its public names are
re-exported here, the entry point the rest of ToolHive imports."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Final

from toolhive.vmcp.gotemplate.errors import TemplateError
from toolhive.vmcp.gotemplate.execute import Template, truth
from toolhive.vmcp.gotemplate.gofmt import (
    NO_VALUE,
    go_float,
    go_json,
    go_quote,
    go_sprint,
    go_sprintf,
    go_type_name,
)
from toolhive.vmcp.gotemplate.limits import MAX_OUTPUT, MAX_PARSE_DEPTH, MAX_STEPS, MAX_VALUE_DEPTH
from toolhive.vmcp.gotemplate.parser import parse, references

__all__ = [
    "MAX_OUTPUT",
    "MAX_PARSE_DEPTH",
    "MAX_STEPS",
    "MAX_VALUE_DEPTH",
    "NO_VALUE",
    "Template",
    "TemplateError",
    "coerce_to_schema",
    "evaluate_condition",
    "expand",
    "expand_value",
    "go_float",
    "go_json",
    "go_quote",
    "go_sprint",
    "go_sprintf",
    "go_type_name",
    "parse",
    "references",
    "truth",
]


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
