"""The OpenAPI 3.1 document, generated from the declared endpoints and their pydantic models.

No hand-written YAML: every operation comes from a :class:`~toolhive.api.routing.Endpoint`, every
schema from a model's JSON Schema (pydantic emits JSON Schema 2020-12, which OpenAPI 3.1 uses as
is). ``docs/api/openapi.json`` is this document, committed; a test keeps the two equal.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel

from toolhive import __version__
from toolhive.api.errors import ErrorBody
from toolhive.api.routing import Endpoint

REF = "#/components/schemas/{model}"
_PARAM = re.compile(r"{([^}:]+)(?::[^}]+)?}")
#: One server-sent event as a client parses it (``data`` is the event's text, JSON here).
SSE_EVENT: dict[str, Any] = {
    "type": "object",
    "properties": {
        "event": {"type": "string"},
        "data": {"type": "string"},
        "id": {"type": "string"},
        "retry": {"type": "integer", "minimum": 0},
    },
}


class _Schemas:
    def __init__(self) -> None:
        self.components: dict[str, Any] = {}

    def ref(self, model: type[BaseModel], mode: str = "serialization") -> dict[str, Any]:
        schema = model.model_json_schema(ref_template=REF, mode=mode)  # type: ignore[arg-type]
        for name, definition in schema.pop("$defs", {}).items():
            self.components.setdefault(name, definition)
        name = model.__name__
        self.components.setdefault(name, schema)
        return {"$ref": REF.format(model=name)}


def _path_parameters(path: str) -> list[dict[str, Any]]:
    return [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": {"type": "string", "minLength": 1},
        }
        for name in _PARAM.findall(path)
    ]


def _query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    schema = model.model_json_schema(mode="validation")
    required = set(schema.get("required", []))
    out = []
    for name, prop in schema.get("properties", {}).items():
        entry: dict[str, Any] = {"name": name, "in": "query", "required": name in required}
        entry["schema"] = {k: v for k, v in prop.items() if k != "title"}
        if "description" in prop:
            entry["description"] = prop["description"]
        out.append(entry)
    return out


def _success(endpoint: Endpoint, schemas: _Schemas) -> dict[str, Any]:
    answer: dict[str, Any] = {"description": endpoint.summary}
    if endpoint.content == "json" and endpoint.response is not None:
        answer["content"] = {"application/json": {"schema": schemas.ref(endpoint.response)}}
    elif endpoint.content == "any":
        answer["content"] = {"application/json": {"schema": {"type": "object"}}}
    elif endpoint.content == "text":
        answer["content"] = {"text/plain": {"schema": {"type": "string"}}}
    elif endpoint.content == "sse":
        # OpenAPI 3.1 has an event stream's ``schema`` describe each event (3.2's itemSchema).
        answer["content"] = {"text/event-stream": {"schema": SSE_EVENT}}
    return answer


def operation(endpoint: Endpoint, schemas: _Schemas) -> dict[str, Any]:
    op: dict[str, Any] = {
        "operationId": endpoint.operation_id,
        "summary": endpoint.summary,
        "tags": [endpoint.tag],
    }
    if endpoint.description:
        op["description"] = endpoint.description
    parameters = _path_parameters(endpoint.path)
    if endpoint.query is not None:
        parameters += _query_parameters(endpoint.query)
    if parameters:
        op["parameters"] = parameters
    if endpoint.body is not None:
        op["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": schemas.ref(endpoint.body, "validation")}},
        }
    responses: dict[str, Any] = {str(endpoint.status): _success(endpoint, schemas)}
    error = {"content": {"application/json": {"schema": schemas.ref(ErrorBody)}}}
    for status, description in sorted(endpoint.errors.items()):
        responses[str(status)] = {"description": description, **error}
    op["responses"] = responses
    return op


def openapi_document(endpoints: Iterable[Endpoint]) -> dict[str, Any]:
    schemas = _Schemas()
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in endpoints:
        path = _PARAM.sub(r"{\1}", endpoint.path)
        paths.setdefault(path, {})[endpoint.method.lower()] = operation(endpoint, schemas)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "ToolHive API",
            "version": __version__,
            "description": "Run and manage MCP servers (ToolHive's /api/v1beta, in Python).",
        },
        "paths": paths,
        "components": {"schemas": dict(sorted(schemas.components.items()))},
    }
