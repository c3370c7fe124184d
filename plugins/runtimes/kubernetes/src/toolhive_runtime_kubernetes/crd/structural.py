"""Pydantic JSON Schema → a Kubernetes structural OpenAPI v3 schema, and the check for one.

The API server accepts a CRD schema only if it is structural: every node has a ``type`` (or says
``x-kubernetes-preserve-unknown-fields``), no ``$ref``, and no type-bearing ``anyOf``. Pydantic
writes ``$defs``/``$ref``, ``anyOf: [X, null]`` for optional fields and ``const`` for one-value
literals; :func:`to_structural` rewrites those, :func:`structural_errors` checks the result.
"""

from __future__ import annotations

from typing import Any

from .common import REQUIRED_MARK

PRESERVE = "x-kubernetes-preserve-unknown-fields"

# Keys of apiextensions.k8s.io/v1 JSONSchemaProps that the generator may write.
_ALLOWED = frozenset(
    {
        "type",
        "format",
        "description",
        "default",
        "maximum",
        "minimum",
        "maxLength",
        "minLength",
        "pattern",
        "maxItems",
        "minItems",
        "maxProperties",
        "minProperties",
        "multipleOf",
        "enum",
        "required",
        "items",
        "properties",
        "additionalProperties",
        PRESERVE,
        "x-kubernetes-int-or-string",
        "x-kubernetes-embedded-resource",
        "x-kubernetes-list-type",
        "x-kubernetes-list-map-keys",
        "x-kubernetes-map-type",
    }
)
# Formats the API server knows; pydantic's others (uri …) are dropped rather than rejected.
_FORMATS = frozenset({"date-time", "date", "int32", "int64", "byte", "duration", "uri", "email"})
_TYPES = frozenset({"object", "array", "string", "integer", "number", "boolean"})
_PY_TYPES: dict[str, type | tuple[type, ...]] = {
    "string": str,
    "integer": int,
    "boolean": bool,
    "number": (int, float),
}


class SchemaError(ValueError):
    """A model cannot be expressed as a structural schema."""


def to_structural(schema: dict[str, Any]) -> dict[str, Any]:
    """The structural form of a pydantic JSON Schema (``Model.model_json_schema()``)."""
    defs: dict[str, Any] = schema.get("$defs", {})
    return _convert(schema, defs, "")


def _resolve(node: dict[str, Any], defs: dict[str, Any], path: str) -> dict[str, Any]:
    """Inline $ref, allOf of one and anyOf with null: one plain node, outer keys winning."""
    node = dict(node)
    if "$ref" in node:
        name = node.pop("$ref").rsplit("/", 1)[-1]
        node = {**_resolve(defs[name], defs, path), **node}
    if "allOf" in node:
        parts = node.pop("allOf")
        if len(parts) != 1:
            raise SchemaError(f"{path or '/'}: allOf with {len(parts)} parts is not structural")
        node = {**_resolve(parts[0], defs, path), **node}
    if "anyOf" in node:
        branches = [b for b in node.pop("anyOf") if b != {"type": "null"}]
        if len(branches) != 1:
            raise SchemaError(f"{path or '/'}: a union of {len(branches)} types is not structural")
        inner = _resolve(branches[0], defs, path)
        node = {**inner, **node}
        if node.get("default", ...) is None:
            del node["default"]  # Optional[X] = None: simply not required
    return node


def _convert(node: dict[str, Any], defs: dict[str, Any], path: str) -> dict[str, Any]:
    node = _resolve(node, defs, path)
    out: dict[str, Any] = {}
    if "const" in node:
        out["enum"] = [node["const"]]
    for key, value in node.items():
        if key in ("title", "$defs", "const", "readOnly", "writeOnly", "examples"):
            continue
        if key == "format" and value not in _FORMATS:
            continue
        if key == "default" and value is None:
            continue
        if key == "properties":
            out[key] = {k: _convert(v, defs, f"{path}/{k}") for k, v in value.items()}
            marked = [k for k, v in out[key].items() if v.pop(REQUIRED_MARK, False)]
            if marked:
                out["required"] = sorted({*node.get("required", []), *marked})
        elif key == "items":
            out[key] = _convert(value, defs, f"{path}[]")
        elif key == "additionalProperties":
            if value is True:
                out[PRESERVE] = True
            elif isinstance(value, dict):
                out[key] = _convert(value, defs, f"{path}{{}}")
            # False (extra="forbid"): the API server prunes unknown fields anyway.
        elif key == "required":
            out.setdefault(key, value)
        elif key in _ALLOWED or key == REQUIRED_MARK:
            out[key] = value
        else:
            raise SchemaError(f"{path or '/'}: keyword {key!r} has no place in a CRD schema")
    if out.get(PRESERVE) and "type" not in out:
        out["type"] = "object"
    if "properties" in out and "additionalProperties" in out:
        raise SchemaError(f"{path or '/'}: properties and additionalProperties together")
    return out


def structural_errors(schema: Any, path: str = "") -> list[str]:
    """Why a schema is not structural (an empty list when it is)."""
    where = path or "/"
    if not isinstance(schema, dict):
        return [f"{where}: not an object"]
    errors = [f"{where}: keyword {k!r} not allowed" for k in schema if k not in _ALLOWED]
    kind = schema.get("type")
    if kind is None and not (schema.get(PRESERVE) or schema.get("x-kubernetes-int-or-string")):
        errors.append(f"{where}: no type")
    elif kind is not None and kind not in _TYPES:
        errors.append(f"{where}: unknown type {kind!r}")
    if "properties" in schema and "additionalProperties" in schema:
        errors.append(f"{where}: properties and additionalProperties together")
    if "additionalProperties" in schema and not isinstance(schema["additionalProperties"], dict):
        errors.append(f"{where}: additionalProperties must be a schema")
    if kind == "array" and "items" not in schema:
        errors.append(f"{where}: array without items")
    if "items" in schema and kind != "array":
        errors.append(f"{where}: items on a non-array")
    for name in schema.get("required", []):
        if name not in schema.get("properties", {}):
            errors.append(f"{where}: required {name!r} is not a property")
    if "enum" in schema and kind in _TYPES:
        py = _PY_TYPES.get(kind)
        if py and not all(isinstance(v, py) for v in schema["enum"]):
            errors.append(f"{where}: enum values are not all {kind}")
    for name, sub in schema.get("properties", {}).items():
        errors += structural_errors(sub, f"{path}/{name}")
    if isinstance(schema.get("items"), dict):
        errors += structural_errors(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        errors += structural_errors(schema["additionalProperties"], f"{path}{{}}")
    return errors
