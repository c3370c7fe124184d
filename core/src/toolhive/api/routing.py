"""Declared endpoints: one declaration gives the Starlette route and its OpenAPI operation.

A handler is declared with what it takes and gives, as pydantic models::

    router = Router(tag="workloads")

    @router.get("/api/v1beta/workloads", response=WorkloadList, query=ListQuery,
                summary="List workloads", errors={404: "No such group"})
    async def list_workloads(call: Call[ListQuery, None]) -> WorkloadList:
        return await call.run(call.state.workloads.list, group=call.query.group)

The body and query are validated before the handler runs (a 400 names the field); a handler returns
a model (serialized with the declared ``status``), or a Starlette ``Response`` for anything else
(text, 202, 204). Blocking work — the workload use cases, files, engines — goes through
:meth:`Call.run`, which runs it in a worker thread. The OpenAPI document is built from the same
declarations (:mod:`toolhive.api.openapi`), so it cannot drift from what is served.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from toolhive.api.errors import ApiError, body_of, error_for

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response

    from toolhive.api.state import ApiState

Q = TypeVar("Q", bound=BaseModel | None)
B = TypeVar("B", bound=BaseModel | None)
T = TypeVar("T")

#: How an endpoint answers besides JSON: ``"text"`` (logs), ``"sse"`` (the event stream),
#: ``"empty"`` (202/204), ``"any"`` (a RunConfig export: JSON not described by a model).
Content = str


@dataclass
class Call(Generic[Q, B]):
    """One request, validated: path parameters, query and body models, the server's state."""

    request: Request
    state: ApiState
    params: dict[str, str]
    query: Q
    body: B

    async def run(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """``fn(*args, **kwargs)`` in a worker thread (the use cases block: files, engines)."""
        import anyio.to_thread

        return await anyio.to_thread.run_sync(functools.partial(fn, *args, **kwargs))


Handler = Callable[[Call[Any, Any]], Awaitable[Any]]


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    handler: Handler
    summary: str
    tag: str
    status: int = 200
    response: type[BaseModel] | None = None
    content: Content = "json"
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    #: Other answers: status → description (each has an :class:`ErrorBody`).
    errors: Mapping[int, str] = field(default_factory=dict)
    description: str = ""

    @property
    def operation_id(self) -> str:
        return self.handler.__name__


class Router:
    """Endpoints of one area (one OpenAPI tag)."""

    def __init__(self, tag: str) -> None:
        self.tag = tag
        self.endpoints: list[Endpoint] = []

    def route(
        self,
        method: str,
        path: str,
        *,
        summary: str,
        status: int = 200,
        response: type[BaseModel] | None = None,
        content: Content = "json",
        body: type[BaseModel] | None = None,
        query: type[BaseModel] | None = None,
        errors: Mapping[int, str] | None = None,
    ) -> Callable[[Handler], Handler]:
        def declare(handler: Handler) -> Handler:
            self.endpoints.append(
                Endpoint(
                    method=method,
                    path=path,
                    handler=handler,
                    summary=summary,
                    tag=self.tag,
                    status=status,
                    response=response,
                    content=content,
                    body=body,
                    query=query,
                    errors=dict(errors or {}),
                    description=inspect.cleandoc(handler.__doc__ or ""),
                )
            )
            return handler

        return declare

    def get(self, path: str, **kwargs: Any) -> Callable[[Handler], Handler]:
        return self.route("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Callable[[Handler], Handler]:
        return self.route("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> Callable[[Handler], Handler]:
        return self.route("PUT", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Callable[[Handler], Handler]:
        return self.route("DELETE", path, **kwargs)


def json_response(status: int, payload: Any) -> Response:
    from starlette.responses import Response

    if isinstance(payload, BaseModel):
        text = payload.model_dump_json()
    else:
        import json

        text = json.dumps(payload)
    return Response(text, status_code=status, media_type="application/json")


def error_response(exc: BaseException) -> Response:
    error = error_for(exc)
    return json_response(error.status, body_of(error))


async def _body(request: Request, model: type[BaseModel]) -> BaseModel:
    raw = await request.body()
    if not raw.strip():
        raw = b"{}"
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        if any(e["type"] == "json_invalid" for e in exc.errors(include_url=False)):
            msg = "the request body is not valid JSON"
            raise ApiError(400, msg) from None
        raise


def starlette_endpoint(
    endpoint: Endpoint, state: ApiState
) -> Callable[[Request], Awaitable[Response]]:
    """The Starlette view for ``endpoint``: validate, call, serialize, map errors."""
    from starlette.responses import Response

    async def view(request: Request) -> Response:
        try:
            query = (
                endpoint.query.model_validate(dict(request.query_params))
                if endpoint.query is not None
                else None
            )
            body = await _body(request, endpoint.body) if endpoint.body is not None else None
            call: Call[Any, Any] = Call(
                request=request,
                state=state,
                params={k: str(v) for k, v in request.path_params.items()},
                query=query,
                body=body,
            )
            result = await endpoint.handler(call)
        except Exception as exc:  # every failure becomes an answer; see error_for
            return error_response(exc)
        if isinstance(result, Response):
            return result
        return json_response(endpoint.status, result)

    view.__name__ = endpoint.operation_id
    return view
