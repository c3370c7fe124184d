"""A user's access token from the test provider, the way a real MCP client gets one.

:func:`user_access_token` runs the public client's authorization code + PKCE (S256) login against
:func:`~toolhive.testing.oauth_server.oauth_server` with an RFC 8707 ``resource``, the user's part
driven in headless Chromium (:func:`~toolhive.testing.oauth_server.complete_login`), and redeems
the code at the token endpoint: an RS256 JWT with ``aud`` = ``resource``, ``sub`` = the login::

    with oauth_server(resources=("https://front.example/mcp",)) as idp:
        token = user_access_token(idp, "https://front.example/mcp")
"""

from __future__ import annotations

import base64
import hashlib
import queue
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

if TYPE_CHECKING:
    from toolhive.testing.oauth_server import OAuthServer

__all__ = ["user_access_token"]


def user_access_token(
    idp: OAuthServer, resource: str, *, login: str = "alice", scope: str = "openid mcp:tools"
) -> str:
    """Log ``login`` in for ``resource`` with ``idp``'s public client; the access token."""
    from toolhive.testing.oauth_server import OAuthServerError, complete_login

    answers: queue.Queue[dict[str, list[str]]] = queue.Queue()

    class Callback(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            answers.put(parse_qs(urlsplit(self.path).query))
            body = b"Login complete"
            self.send_response(200)
            self.send_header("content-type", "text/plain")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass  # the query holds the code: keep it out of test output

    server = ThreadingHTTPServer(("127.0.0.1", 0), Callback)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        redirect_uri = f"http://127.0.0.1:{server.server_address[1]}/callback"
        verifier = secrets.token_urlsafe(48)
        digest = hashlib.sha256(verifier.encode()).digest()
        challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
        state = secrets.token_urlsafe(16)
        metadata = idp.metadata()
        query = urlencode(
            {
                "response_type": "code",
                "client_id": idp.client_id,
                "redirect_uri": redirect_uri,
                "scope": scope,
                "state": state,
                "code_challenge": challenge,
                "code_challenge_method": "S256",
                "resource": resource,
            }
        )
        complete_login(f"{metadata['authorization_endpoint']}?{query}", login=login)
        answer = answers.get(timeout=10)
    finally:
        server.shutdown()
        server.server_close()
    if answer.get("state") != [state] or "code" not in answer:
        msg = f"the login did not return a code: {sorted(answer)}"
        raise OAuthServerError(msg)
    response = httpx.post(
        metadata["token_endpoint"],
        data={
            "grant_type": "authorization_code",
            "code": answer["code"][0],
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
            "client_id": idp.client_id,
            "resource": resource,
        },
        timeout=10,
    )
    response.raise_for_status()
    token: str = response.json()["access_token"]
    return token
