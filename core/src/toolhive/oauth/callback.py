"""The loopback redirect target of a login: ``http://127.0.0.1:<port>/callback`` (RFC 8252 §7.3).

Bound to 127.0.0.1 only (never all interfaces), on a chosen port or, with port 0, one the kernel
picks. ``redirect_host`` is the host named in the redirect URI: ``127.0.0.1`` by default (registry
login); remote MCP logins use ``localhost`` as ToolHive does (``http://localhost:8666/callback``,
the URI it registers) while the listener still binds 127.0.0.1. The first request to ``/callback`` carrying the expected ``state`` settles it: ``code``
(success) or ``error`` (the provider refused). A request with another ``state`` is answered 400 and
ignored — a page of some other site cannot end the login. :meth:`CallbackServer.wait` returns the
code, or raises :class:`AuthorizationError` (refused, or nothing before the timeout).
"""

from __future__ import annotations

import errno
import html
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import parse_qs, urlsplit

from toolhive.errors import PortInUseError
from toolhive.oauth.errors import AuthorizationError

HOST = "127.0.0.1"
PATH = "/callback"

_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title></head>
<body><h1>{title}</h1><p>{text}</p></body></html>"""


def redirect_uri(port: int, host: str = HOST) -> str:
    """``http://<host>:<port>/callback`` — what a client registers (RFC 7591) before it listens."""
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}{PATH}"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: CallbackServer


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        if parts.path != PATH:
            self._answer(404, "Not found", "This is ToolHive's login callback.")
            return
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        owner = self.server.owner
        if query.get("state") != owner.state:
            self._answer(400, "Login failed", "The state parameter does not match this login.")
            return
        if "error" in query:
            owner.settle(error=query["error"], description=query.get("error_description", ""))
            self._answer(400, "Login failed", f"The provider answered: {query['error']}.")
            return
        code = query.get("code", "")
        if not code:
            self._answer(400, "Login failed", "The callback carried no authorization code.")
            return
        owner.settle(code=code)
        self._answer(200, "Login complete", "You can close this window and return to ToolHive.")

    def _answer(self, status: int, title: str, text: str) -> None:
        body = _PAGE.format(title=html.escape(title), text=html.escape(text)).encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Silent: the request line carries the authorization code."""


class CallbackServer:
    """A running callback listener; use as a context manager (the listener stops on exit)."""

    def __init__(
        self, state: str, port: int = 0, host: str = HOST, redirect_host: str | None = None
    ) -> None:
        self.state = state
        self._done = threading.Event()
        self._code = ""
        self._error = ""
        self._description = ""
        try:
            self._server = _Server((host, port), _Handler)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                msg = (
                    f"the login callback port {port} on {host} is in use; close what holds it "
                    "or configure another callback port"
                )
                raise PortInUseError(msg) from None
            raise
        self._server.owner = self
        self.host = host
        self.redirect_host = redirect_host or host
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="oauth-callback", daemon=True
        )
        self._thread.start()

    @property
    def redirect_uri(self) -> str:
        return redirect_uri(self.port, self.redirect_host)

    def settle(self, *, code: str = "", error: str = "", description: str = "") -> None:
        if self._done.is_set():
            return
        self._code, self._error, self._description = code, error, description
        self._done.set()

    def wait(self, timeout: float) -> str:
        """The authorization code, once the browser comes back."""
        if not self._done.wait(timeout):
            msg = f"no login completed within {timeout:g} s; run the login again"
            raise AuthorizationError(msg)
        if self._error:
            detail = f"{self._error}" + (f": {self._description}" if self._description else "")
            raise AuthorizationError(f"the authorization server refused the login ({detail})")
        return self._code

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> CallbackServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
