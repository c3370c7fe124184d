"""The ``thv serve`` ASGI app: security headers > ``/health`` | auth > the ``/api`` routes.

``/health`` answers before authentication (as ToolHive's does); everything else goes through the
``auth`` middleware plugin when OIDC is configured — the same validator that protects workloads,
with its RFC 9728 metadata at ``/.well-known/oauth-protected-resource``. With ``openapi`` the
document is served at ``/api/openapi.json`` and readable at ``/api/doc``.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from toolhive.api.openapi import openapi_document
from toolhive.api.routes import all_endpoints
from toolhive.api.routing import Endpoint, starlette_endpoint

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response

    from toolhive.api.state import ApiState
    from toolhive.web.asgi import ASGIApp, Message, Receive, Scope, Send

#: Sent with every answer (ToolHive's ``headersMiddleware``).
SECURITY_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"cross-origin-resource-policy", b"same-origin"),
)


class SecurityHeaders:
    def __init__(self, app: ASGIApp, *, on_drain: Callable[[], None] | None = None) -> None:
        self.app = app
        self._on_drain = on_drain

    async def drain(self) -> None:
        """End long-lived streams (the event stream) so shutdown need not wait for their
        clients; :class:`~toolhive.proxy.server.ProxyServer` calls it on the way out."""
        if self._on_drain is not None:
            self._on_drain()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in SECURITY_HEADERS if k not in present]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, with_headers)


class _Split:
    """``/health`` and the UI's shell and assets (no data in them) to ``open_app``, everything
    else to ``guarded`` (the auth-wrapped app)."""

    def __init__(self, open_app: ASGIApp, guarded: ASGIApp) -> None:
        self.open_app = open_app
        self.guarded = guarded

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and (scope["path"] == "/health" or _is_ui_path(scope["path"])):
            await self.open_app(scope, receive, send)
        else:
            await self.guarded(scope, receive, send)


def _is_ui_path(path: str) -> bool:
    from toolhive.ui.routes import is_ui_path

    return is_ui_path(path)


def _doc_page(document: Mapping[str, Any]) -> str:
    """A self-contained page listing the operations (no CDN: this machine may be offline)."""
    rows = []
    for path, operations in document["paths"].items():
        for method, op in operations.items():
            codes = ", ".join(op["responses"])
            rows.append(
                f"<tr><td><code>{method.upper()}</code></td><td><code>{html.escape(path)}</code>"
                f"</td><td>{html.escape(op['summary'])}</td><td>{codes}</td></tr>"
            )
    return (
        "<!doctype html><meta charset=utf-8><title>ToolHive API</title>"
        "<h1>ToolHive API</h1><p>The machine-readable document: "
        "<a href=/api/openapi.json>/api/openapi.json</a></p>"
        "<table border=1 cellpadding=4><tr><th>method</th><th>path</th><th>what</th>"
        "<th>answers</th></tr>" + "".join(rows) + "</table>"
    )


def _dispatch(views: dict[str, Any]) -> Any:
    if len(views) == 1:
        return next(iter(views.values()))

    async def by_method(request: Request) -> Response:
        view = views.get(request.method) or views["GET"]  # HEAD is answered as GET
        return await view(request)  # type: ignore[no-any-return]

    return by_method


async def _http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own 404/405 (no such path, wrong method) in the API's error shape."""
    from starlette.exceptions import HTTPException

    from toolhive.api.errors import ApiError
    from toolhive.api.routing import error_response

    status = exc.status_code if isinstance(exc, HTTPException) else 500
    what = "no such endpoint" if status == 404 else f"{request.method} is not allowed here"
    response = error_response(ApiError(status, f"{what}: {request.url.path}"))
    if isinstance(exc, HTTPException) and exc.headers:
        response.headers.update(exc.headers)  # 405's Allow
    return response


def build_app(
    state: ApiState,
    *,
    openapi: bool = False,
    protect: Any = None,
    endpoints: list[Endpoint] | None = None,
    ui: bool = True,
) -> ASGIApp:
    """The app; ``protect(app) -> app`` wraps everything but ``/health`` and the UI's assets
    (the auth middleware). ``ui`` serves the web UI at ``/``."""
    from starlette.applications import Starlette
    from starlette.responses import HTMLResponse, Response
    from starlette.routing import BaseRoute, Route

    declared = endpoints if endpoints is not None else all_endpoints()
    # One route per path, whatever its methods: a wrong method then gets one 405 whose Allow
    # lists every method of the path (Starlette answers from the first route that matches).
    by_path: dict[str, dict[str, Any]] = {}
    for endpoint in declared:
        by_path.setdefault(endpoint.path, {})[endpoint.method] = starlette_endpoint(endpoint, state)
    routes: list[BaseRoute] = [
        Route(path, _dispatch(views), methods=list(views)) for path, views in by_path.items()
    ]
    if openapi:
        document = openapi_document(declared)
        body = json.dumps(document, indent=2)

        async def openapi_json(_request: Request) -> Response:
            return Response(body, media_type="application/json")

        async def doc(_request: Request) -> Response:
            return HTMLResponse(_doc_page(document))

        routes += [Route("/api/openapi.json", openapi_json), Route("/api/doc", doc)]
    if ui:
        from toolhive.ui.routes import ui_routes

        routes += ui_routes()
    app: ASGIApp = Starlette(routes=routes, exception_handlers={404: _http_error, 405: _http_error})
    guarded = protect(app) if protect is not None else app
    from toolhive.api.routes.events import close_streams

    return SecurityHeaders(_Split(app, guarded), on_drain=lambda: close_streams(app))
