"""A Vault-API-compatible HTTP server on 127.0.0.1, for tests.

No Vault server can be installed on this machine: only PyPI, npm and the Debian archive are
reachable, Vault is not packaged by Debian, and its binaries come from HashiCorp's own site. So this
is a real HTTP server implementing the slice of Vault's API that ``hvac`` calls for the provider:

- KV v2: ``GET/POST /v1/<mount>/data/<path>``, ``GET/DELETE /v1/<mount>/metadata/<path>`` and
  ``LIST /v1/<mount>/metadata/<folder>`` (also ``GET ...?list=true``), with versions;
- ``GET /v1/auth/token/lookup-self`` and ``POST /v1/auth/<mount>/login`` (AppRole);
- tokens with a TTL (an expired or unknown token gets Vault's ``403 permission denied``), ACL
  policies of glob paths → capabilities (a denied path also gets 403), and namespaces
  (``X-Vault-Namespace``: a token and the data belong to one namespace).

Response shapes and status codes follow Vault's documentation for these endpoints.
"""

from __future__ import annotations

import fnmatch
import json
import secrets
import ssl
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

#: Method → the ACL capabilities any one of which allows it.
CAPABILITIES = {
    "GET": {"read"},
    "POST": {"create", "update"},
    "PUT": {"create", "update"},
    "DELETE": {"delete"},
    "LIST": {"list"},
}


@dataclass
class Token:
    policies: dict[str, set[str]]
    namespace: str = ""
    expires_at: float | None = None

    def expired(self) -> bool:
        return self.expires_at is not None and time.time() >= self.expires_at


@dataclass
class AppRole:
    role_id: str
    secret_id: str
    policies: dict[str, set[str]]
    token_ttl: float | None
    namespace: str = ""
    mount: str = "approle"


@dataclass
class FakeVault:
    tls: ssl.SSLContext | None = None
    mounts: set[tuple[str, str]] = field(default_factory=lambda: {("", "secret")})
    tokens: dict[str, Token] = field(default_factory=dict)
    approles: list[AppRole] = field(default_factory=list)
    #: (namespace, mount, path) → versions (``None`` = deleted).
    kv: dict[tuple[str, str, str], list[dict[str, Any] | None]] = field(default_factory=dict)
    #: (method, path, namespace) of every request, to assert on.
    requests: list[tuple[str, str, str]] = field(default_factory=list)
    logins: int = 0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    # --- set-up ---------------------------------------------------------------------------

    def add_token(
        self,
        policies: dict[str, set[str]] | None = None,
        *,
        ttl: float | None = None,
        namespace: str = "",
    ) -> str:
        token = "hvs." + secrets.token_urlsafe(18)
        self.tokens[token] = Token(
            policies
            if policies is not None
            else {"*": {"create", "read", "update", "delete", "list"}},
            namespace,
            time.time() + ttl if ttl else None,
        )
        return token

    def add_approle(
        self,
        policies: dict[str, set[str]] | None = None,
        *,
        token_ttl: float | None = None,
        namespace: str = "",
    ) -> tuple[str, str]:
        role = AppRole(
            secrets.token_hex(8),
            secrets.token_hex(16),
            policies or {"*": {"create", "read", "update", "delete", "list"}},
            token_ttl,
            namespace,
        )
        self.approles.append(role)
        return role.role_id, role.secret_id

    def expire(self, token: str) -> None:
        self.tokens[token].expires_at = time.time() - 1

    def start(self) -> str:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        server.daemon_threads = True
        if self.tls is not None:
            server.socket = self.tls.wrap_socket(server.socket, server_side=True)
        self._server = server
        threading.Thread(target=server.serve_forever, daemon=True).start()
        scheme = "https" if self.tls else "http"
        return f"{scheme}://127.0.0.1:{server.server_address[1]}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    # --- the API --------------------------------------------------------------------------

    def handle(
        self, method: str, path: str, headers: dict[str, str], body: dict[str, Any]
    ) -> tuple[int, dict[str, Any] | None]:
        namespace = headers.get("x-vault-namespace", "").strip("/")
        with self._lock:
            self.requests.append((method, path, namespace))
            if path.startswith("/v1/auth/") and path.endswith("/login"):
                return self._login(path.split("/")[3], namespace, body)
            token = self.tokens.get(headers.get("x-vault-token", ""))
            if token is None or token.expired() or token.namespace != namespace:
                return 403, {"errors": ["permission denied"]}
            if path == "/v1/auth/token/lookup-self":
                ttl = 0 if token.expires_at is None else int(token.expires_at - time.time())
                return 200, {
                    "data": {"policies": ["default"], "ttl": ttl, "namespace_path": namespace}
                }
            api = path.removeprefix("/v1/")
            if not self._allowed(token, method, api):
                return 403, {"errors": ["1 error occurred:\n\t* permission denied\n\n"]}
            mount, _, rest = api.partition("/")
            if (namespace, mount) not in self.mounts:
                return 404, {"errors": [f"no handler for route {api!r}"]}
            kind, _, sub = rest.partition("/")
            if kind == "data":
                return self._data(method, (namespace, mount, sub.strip("/")), body)
            if kind == "metadata":
                return self._metadata(method, namespace, mount, sub.strip("/"))
            return 404, {"errors": []}

    def _allowed(self, token: Token, method: str, api: str) -> bool:
        wanted = CAPABILITIES.get(method, set())
        return any(
            fnmatch.fnmatchcase(api, pattern) and caps & wanted
            for pattern, caps in token.policies.items()
        )

    def _login(
        self, mount: str, namespace: str, body: dict[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        for role in self.approles:
            if (
                role.mount == mount
                and role.namespace == namespace
                and role.role_id == body.get("role_id")
                and role.secret_id == body.get("secret_id")
            ):
                self.logins += 1
                token = self.add_token(role.policies, ttl=role.token_ttl, namespace=namespace)
                return 200, {
                    "auth": {
                        "client_token": token,
                        "accessor": secrets.token_hex(8),
                        "policies": ["default"],
                        "lease_duration": int(role.token_ttl or 0),
                        "renewable": True,
                    }
                }
        return 400, {"errors": ["invalid role or secret ID"]}

    def _data(
        self, method: str, key: tuple[str, str, str], body: dict[str, Any]
    ) -> tuple[int, dict[str, Any] | None]:
        versions = self.kv.get(key)
        if method == "GET":
            if not versions or versions[-1] is None:
                return 404, {"errors": []}
            return 200, {
                "data": {
                    "data": versions[-1],
                    "metadata": {
                        "created_time": _now(),
                        "deletion_time": "",
                        "destroyed": False,
                        "version": len(versions),
                    },
                }
            }
        if method in {"POST", "PUT"}:
            data = body.get("data")
            if not isinstance(data, dict):
                return 400, {"errors": ["no data provided"]}
            self.kv.setdefault(key, []).append(dict(data))
            return 200, {"data": {"created_time": _now(), "version": len(self.kv[key])}}
        return 405, {"errors": []}

    def _metadata(
        self, method: str, namespace: str, mount: str, path: str
    ) -> tuple[int, dict[str, Any] | None]:
        if method == "LIST":
            prefix = f"{path}/" if path else ""
            keys: set[str] = set()
            for ns, mnt, p in self.kv:
                if ns == namespace and mnt == mount and p.startswith(prefix):
                    head, slash, _ = p[len(prefix) :].partition("/")
                    keys.add(head + slash)
            if not keys:
                return 404, {"errors": []}
            return 200, {"data": {"keys": sorted(keys)}}
        key = (namespace, mount, path)
        if key not in self.kv:
            return 404, {"errors": []}
        if method == "GET":
            versions = self.kv[key]
            return 200, {
                "data": {
                    "current_version": len(versions),
                    "versions": {str(i + 1): {"destroyed": False} for i in range(len(versions))},
                }
            }
        if method == "DELETE":
            del self.kv[key]
            return 204, None
        return 405, {"errors": []}


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def _handler(vault: FakeVault) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _serve(self) -> None:
            url = urlsplit(self.path)
            method = self.command
            if method == "GET" and parse_qs(url.query).get("list") == ["true"]:
                method = "LIST"
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw) if raw else {}
            except ValueError:
                body = {}
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, payload = vault.handle(method, url.path, headers, body)
            data = b"" if payload is None else json.dumps(payload).encode()
            self.send_response(status)
            if data:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = do_LIST = _serve

    return Handler
