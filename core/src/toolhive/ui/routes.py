"""Routes of the web UI: the shell at ``/`` and ``/ui/<view>``, assets at ``/ui/static/``.

The shell and the assets hold no data, so they are served before authentication (a browser cannot
attach a bearer token to a page load); every piece of data comes from ``/api/v1beta``, which stays
behind the ``auth`` plugin when ``thv serve`` has OIDC configured.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import BaseRoute

STATIC = Path(__file__).with_name("static")

#: Only our own files, no inline script or style: an injected string in a server name or a log
#: line cannot run. Tool results' images arrive as ``data:`` URIs.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)

#: Path prefixes the UI answers without authentication (see the module docstring).
PUBLIC_PREFIXES = ("/ui/",)


def is_ui_path(path: str) -> bool:
    return path == "/" or path == "/ui" or path.startswith(PUBLIC_PREFIXES)


def ui_routes() -> list[BaseRoute]:
    from starlette.responses import HTMLResponse
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles

    shell = (STATIC / "index.html").read_text(encoding="utf-8")
    headers = {
        "Content-Security-Policy": CONTENT_SECURITY_POLICY,
        "Cache-Control": "no-cache",
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",
    }

    async def page(_request: Request) -> Response:
        return HTMLResponse(shell, headers=headers)

    return [
        Route("/", page, methods=["GET"]),
        Route("/ui", page, methods=["GET"]),
        Mount("/ui/static", StaticFiles(directory=STATIC), name="ui-static"),
        Route("/ui/{view:path}", page, methods=["GET"]),
    ]
