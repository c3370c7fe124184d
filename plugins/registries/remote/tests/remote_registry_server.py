"""A real HTTP registry on 127.0.0.1 (stdlib ``http.server`` in a thread) for the remote sources.

Routes: ``/registry.json`` (upstream document), ``/legacy.json``, ``/broken.json``;
``/v0.1/servers`` (cursor pages of ``limit``, ``search`` on names) and
``/v0.1/servers/{name}/versions/latest``; under ``/error`` every API call answers 500, under
``/slow`` every call sleeps ``slow_seconds`` first. ``fail_status`` / ``delay`` make every route
fail or stall (outages of the same URL, for the stale-cache fallback).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

NS = "io.github.stacklok"


def server_json(name: str, description: str, image: str, **ext: Any) -> dict[str, Any]:
    return {
        "name": name,
        "description": description,
        "version": "1.0.0",
        "packages": [{"registryType": "oci", "identifier": image, "transport": {"type": "stdio"}}],
        "_meta": {
            "io.modelcontextprotocol.registry/publisher-provided": {
                NS: {image: {"tier": "Community", **ext}}
            }
        },
    }


SERVERS = [
    server_json(
        f"com.example/server-{i:02d}", f"Example server number {i}", f"ghcr.io/example/s{i}:1.0"
    )
    for i in range(7)
] + [
    server_json("com.example/weather", "Forecasts", "ghcr.io/example/weather:2.0", tags=["weather"])
]

LEGACY = {"version": "1.0.0", "servers": {"old": {"image": "x/y:1", "description": "old"}}}


@dataclass
class Registry:
    url: str
    requests: list[str] = field(default_factory=list)
    slow_seconds: float = 3.0
    #: When set, every request answers this HTTP status (an outage that still speaks HTTP).
    fail_status: int = 0
    #: Seconds every request sleeps first (a registry too slow to use).
    delay: float = 0.0

    def api_calls(self, prefix: str = "/v0.1/servers") -> list[str]:
        return [r for r in self.requests if r.startswith(prefix)]


def _handler(state: Registry) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _send(self, status: int, body: Any) -> None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            state.requests.append(self.path)
            if state.delay:
                time.sleep(state.delay)
            if state.fail_status:
                self._send(state.fail_status, {"code": "outage", "message": "try later"})
                return
            parts = urlsplit(self.path)
            path, query = parts.path, parse_qs(parts.query)
            if path.startswith("/slow/"):
                time.sleep(state.slow_seconds)
                path = path.removeprefix("/slow")
            if path.startswith("/error/"):
                self._send(500, {"code": "internal", "message": "database is down"})
                return
            if path == "/registry.json":
                self._send(
                    200,
                    {
                        "version": "1.0.0",
                        "meta": {"last_updated": "2025-01-01T00:00:00Z"},
                        "data": {"servers": SERVERS},
                    },
                )
            elif path == "/legacy.json":
                self._send(200, LEGACY)
            elif path == "/broken.json":
                self._send(200, b"{not json")
            elif path == "/v0.1/servers":
                items = SERVERS
                if "search" in query:
                    needle = query["search"][0].lower()
                    items = [s for s in items if needle in s["name"].lower()]
                limit = int(query.get("limit", ["30"])[0])
                start = int(query.get("cursor", ["0"])[0])
                page = items[start : start + limit]
                meta: dict[str, Any] = {"count": len(page)}
                if start + limit < len(items):
                    meta["nextCursor"] = str(start + limit)
                self._send(
                    200, {"servers": [{"server": s, "_meta": {}} for s in page], "metadata": meta}
                )
            elif path.startswith("/v0.1/servers/") and path.endswith("/versions/latest"):
                name = unquote(path.removeprefix("/v0.1/servers/").removesuffix("/versions/latest"))
                found = [s for s in SERVERS if s["name"] == name]
                if found:
                    self._send(200, {"server": found[0], "_meta": {}})
                else:
                    self._send(404, {"code": "not_found", "message": "Server not found"})
            else:
                self._send(404, {"code": "not_found", "message": "no such path"})

    return Handler


@contextmanager
def running_registry() -> Iterator[Registry]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state := Registry("")))
    httpd.daemon_threads = True
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
