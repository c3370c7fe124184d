"""The ``sse`` / ``streamable-http`` transport: a transparent HTTP reverse proxy.

Method, path, query, headers (minus hop-by-hop ones) and body go to the origin of
``options.target_url`` unchanged; the response streams back as it arrives, so SSE flows event by
event. Upstream unreachable → 502, no response headers within the request timeout → 504, both with a
JSON-RPC-shaped body. For a remote server (``options.remote``) the ``Host`` header is the remote's and
the remote URL's query string is appended to every request (clients never see it: their URL has
only the path). ``options.headers`` (RunConfig.header_forward) are set on every upstream request,
replacing a client's header of the same name.

SSE ``endpoint`` events (``event: endpoint`` / ``data: /messages?session_id=…``) are rewritten when
the proxy sits behind a path-routing ingress: the prefix is ``options.endpoint_prefix`` if set, else a
trusted ``X-Forwarded-Prefix`` (``options.trust_proxy_headers``), which also lets
``X-Forwarded-Host``/``-Proto`` make the URL absolute — ToolHive's precedence. Only responses that need
it are parsed line by line; every other byte is relayed as it arrives.

``options.upstream_auth`` (a remote server's OAuth login or bearer token): every upstream request —
the client's, SSE GETs, pings — carries its ``Authorization``; the client's own ``Authorization``
is for this proxy and is never forwarded. An upstream 401 is reported to it
(:meth:`~toolhive.transports.base.UpstreamAuth.unauthorized`, which may refresh the token); the
request is sent once more when it says so and the body was read whole, else the 401 goes back
without the upstream's ``WWW-Authenticate`` (a challenge for the proxy's credentials, not the
client's). No usable credentials: the client gets the error's status and message (503 with
``Retry-After`` while refreshing fails transiently, 401 when a new sign-in is needed). Without
``upstream_auth`` none of this costs anything per request.

``options.stateless``: the server keeps no sessions, so only ``POST`` (and ``OPTIONS``) are forwarded;
``GET``/``HEAD``/``DELETE`` get 405 with ``Allow: POST, OPTIONS`` as in ToolHive.

``ping()`` is a lightweight liveness check, not an MCP session: it POSTs a JSON-RPC ``ping`` to the
target URL and counts any HTTP answer below 500 as alive. A stateful streamable-HTTP server answers
400 (no session), an SSE endpoint 405 (GET only), a stateless one the ping result, an OAuth-protected
remote 401 — all prove the server is up without leaving a session behind on every health check.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from typing import Any, Final
from urllib.parse import urlsplit, urlunsplit

import httpx

from toolhive.errors import InvalidInputError
from toolhive.mcp.jsonrpc import REQUEST_TIMEOUT, error_bytes
from toolhive.transports.base import TransportOptions, UpstreamAuth, UpstreamAuthError
from toolhive.web.asgi import ClientDisconnected, Receive, Scope, Send, header, send_body
from toolhive.web.durations import env_seconds
from toolhive.web.hosts import is_loopback_host

log = logging.getLogger("toolhive.transports.http")

#: RFC 9110 §7.6.1 connection-specific headers, plus ``host`` handled separately.
HOP_BY_HOP: Final = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
    }
)
_PING_BODY: Final = b'{"jsonrpc":"2.0","id":"toolhive-health","method":"ping"}'
_BAD_GATEWAY: Final = -32000  # JSON-RPC server-error range; HTTP status carries the meaning
#: ToolHive's proxy request timeout (default 60 s): no response headers by then → 504.
REQUEST_TIMEOUT_ENV: Final = "TOOLHIVE_PROXY_REQUEST_TIMEOUT"
_STATELESS_REJECTED: Final = frozenset({"GET", "HEAD", "DELETE"})


class EndpointRewrite:
    """How to rewrite an SSE ``endpoint`` URL: a path prefix, and optionally scheme and host."""

    __slots__ = ("host", "prefix", "scheme")

    def __init__(self, prefix: str = "", scheme: str = "", host: str = "") -> None:
        prefix = prefix.strip()
        if prefix:
            prefix = "/" + prefix.strip("/") if prefix.strip("/") else ""
        self.prefix = prefix
        self.scheme = scheme.strip()
        self.host = host.strip()

    def __bool__(self) -> bool:
        return bool(self.prefix or self.host)

    def apply(self, url: str) -> str:
        """``/messages?s=1`` → ``/prefix/messages?s=1`` (absolute URLs keep their origin unless a
        forwarded host replaces it; a scheme only applies together with a host, as in ToolHive)."""
        try:
            parts = urlsplit(url)
        except ValueError:
            return url
        path = self.prefix + parts.path if self.prefix else parts.path
        scheme, netloc = parts.scheme, parts.netloc
        if self.host:
            netloc = self.host
            scheme = self.scheme or scheme or "http"
        return urlunsplit((scheme, netloc, path, parts.query, parts.fragment))


def endpoint_rewrite(
    scope_headers: list[tuple[bytes, bytes]], endpoint_prefix: str, trust_proxy_headers: bool
) -> EndpointRewrite:
    """ToolHive's precedence: ``--endpoint-prefix`` beats a trusted ``X-Forwarded-Prefix``;
    forwarded host/proto are honoured only with ``--trust-proxy-headers``."""
    prefix = endpoint_prefix
    scheme = host = ""
    if trust_proxy_headers:
        if not prefix:
            prefix = (header(scope_headers, b"x-forwarded-prefix") or b"").decode("latin-1")
        scheme = (header(scope_headers, b"x-forwarded-proto") or b"").decode("latin-1")
        host = (header(scope_headers, b"x-forwarded-host") or b"").decode("latin-1")
    return EndpointRewrite(prefix, scheme.split(",")[0], host.split(",")[0])


class SSEEndpointRewriter:
    """Rewrites ``data:`` lines of ``endpoint`` events in an SSE byte stream split at any point."""

    __slots__ = ("_event", "_partial", "_rewrite")

    def __init__(self, rewrite: EndpointRewrite) -> None:
        self._rewrite = rewrite
        self._partial = b""
        self._event = b""

    def feed(self, chunk: bytes) -> bytes:
        data = self._partial + chunk
        cut = data.rfind(b"\n") + 1
        self._partial = data[cut:]
        if not cut:
            return b""
        lines = data[:cut].split(b"\n")[:-1]
        return b"".join(self._line(line) + b"\n" for line in lines)

    def flush(self) -> bytes:
        rest, self._partial = self._partial, b""
        return self._line(rest) if rest else b""

    def _line(self, line: bytes) -> bytes:
        bare = line.rstrip(b"\r")
        if not bare:
            self._event = b""  # a blank line ends the event
        elif bare.startswith(b"event:"):
            self._event = bare[6:].strip()
        elif self._event == b"endpoint" and bare.startswith(b"data:"):
            url = bare[5:].strip().decode("utf-8", "replace")
            rewritten = self._rewrite.apply(url)
            if rewritten != url:
                log.debug("rewrote the SSE endpoint %r to %r", url, rewritten)
                return b"data: " + rewritten.encode() + line[len(bare) :]
        return line


class ReverseProxy:
    """Forward every HTTP request to one upstream MCP server."""

    def __init__(
        self,
        options: TransportOptions,
        *,
        request_timeout: float | None = None,
        connect_timeout: float = 10.0,
    ) -> None:
        if not options.target_url:
            raise InvalidInputError(
                f"workload {options.workload!r}: an HTTP transport needs the server's URL"
            )
        target = httpx.URL(options.target_url)
        if target.scheme not in ("http", "https") or not target.host:
            raise InvalidInputError(f"not an http(s) URL: {options.target_url!r}")
        self._target = target
        self._origin = f"{target.scheme}://{target.netloc.decode('ascii')}"
        self._remote = options.remote
        self._remote_query: bytes = target.query if options.remote else b""
        self._endpoint_prefix = options.endpoint_prefix
        self._trust_proxy_headers = options.trust_proxy_headers
        self._stateless = options.stateless
        #: Configured upstream headers (RunConfig.header_forward): they replace the client's.
        self._inject = [(k.lower().encode("ascii"), v.encode()) for k, v in options.headers.items()]
        self._auth: UpstreamAuth | None = options.upstream_auth
        self._timeout = request_timeout or env_seconds(REQUEST_TIMEOUT_ENV, 60.0)
        self._connect_timeout = connect_timeout
        self._client: httpx.AsyncClient | None = None
        self._streams: set[asyncio.Task[Any]] = set()
        self._closed = False

    def _make_client(self) -> httpx.AsyncClient:
        client = httpx.AsyncClient(
            timeout=httpx.Timeout(
                connect=self._connect_timeout, read=None, write=self._timeout, pool=None
            ),
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=64),
            follow_redirects=False,
            # Proxy environment variables only make sense for remote servers.
            trust_env=self._remote and not is_loopback_host(self._target.host),
        )
        client.headers.clear()  # forward the client's headers, not httpx's defaults
        return client

    async def start(self) -> None:
        if self._client is None and not self._closed:
            self._client = self._make_client()

    async def drain(self) -> None:
        """End streaming responses (SSE) so the HTTP server can shut down."""
        for task in list(self._streams):
            task.cancel()

    async def aclose(self) -> None:
        self._closed = True
        await self.drain()
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def ping(self, timeout: float = 5.0) -> None:
        """Raise unless the upstream answers HTTP (any status below 500) within ``timeout``."""
        client = self._client
        if client is None:
            raise ConnectionError("the proxy is not running")
        headers = [
            *self._inject,
            (b"content-type", b"application/json"),
            (b"accept", b"application/json, text/event-stream"),
        ]
        if self._auth is not None:
            # Without usable credentials the ping still proves the server answers (401).
            with contextlib.suppress(UpstreamAuthError):
                credential = await self._auth.authorization()
                headers = [h for h in headers if h[0] != b"authorization"]
                headers.append((b"authorization", credential.encode()))
        try:
            response = await client.post(
                self._target,
                content=_PING_BODY,
                headers=headers,
                timeout=httpx.Timeout(timeout),
            )
        except httpx.TimeoutException as exc:
            raise TimeoutError(f"the MCP server did not answer within {timeout:g}s") from exc
        except httpx.HTTPError as exc:
            raise ConnectionError(f"cannot reach the MCP server at {self._origin}: {exc}") from exc
        if response.status_code >= 500:
            raise ConnectionError(f"the MCP server answered HTTP {response.status_code}")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1003})
            return
        if self._stateless and scope["method"] in _STATELESS_REJECTED:
            await send_body(
                send,
                405,
                error_bytes(
                    None,
                    _BAD_GATEWAY,
                    f"Method Not Allowed: {scope['method']} is not supported by a stateless server",
                ),
                extra=[(b"allow", b"POST, OPTIONS")],
            )
            return
        client = self._client
        if client is None:
            if self._closed:
                await send_body(
                    send, 503, error_bytes(None, _BAD_GATEWAY, "the proxy is shutting down")
                )
                return
            client = self._client = self._make_client()
        try:
            await self._forward(client, scope, receive, send)
        except ClientDisconnected:
            return

    async def _forward(
        self, client: httpx.AsyncClient, scope: Scope, receive: Receive, send: Send
    ) -> None:
        path: bytes = scope.get("raw_path") or scope["path"].encode()
        query: bytes = scope["query_string"]
        if self._remote_query:
            query = query + b"&" + self._remote_query if query else self._remote_query
        url = self._origin + path.decode("latin-1")
        if query:
            url += "?" + query.decode("latin-1")

        headers = _request_headers(scope["headers"], drop_host=self._remote)
        if self._inject:
            names = {k for k, _v in self._inject}
            headers = [h for h in headers if h[0] not in names] + self._inject

        message = await receive()
        if message["type"] != "http.request":
            raise ClientDisconnected
        body: bytes = message.get("body", b"")
        content: Any = body
        if message.get("more_body", False):
            content = _body_stream(body, receive)

        auth = self._auth
        credential = ""
        if auth is not None:
            headers = [h for h in headers if h[0] != b"authorization"]
            try:
                credential = await auth.authorization()
            except UpstreamAuthError as exc:
                await _auth_error(send, body, exc)
                return
            headers.append((b"authorization", credential.encode()))

        method: str = scope["method"]
        response = await self._send(client, method, url, headers, content, body, send)
        if response is None:
            return
        if auth is not None and response.status_code == 401:
            retry = await auth.unauthorized(credential)
            if retry and isinstance(content, bytes):
                await response.aclose()
                try:
                    credential = await auth.authorization()
                except UpstreamAuthError as exc:
                    await _auth_error(send, body, exc)
                    return
                headers[-1] = (b"authorization", credential.encode())
                log.debug("retrying with a refreshed token after the upstream's 401")
                response = await self._send(client, method, url, headers, content, body, send)
                if response is None:
                    return
                if response.status_code == 401:  # refused again: the credentials' verdict
                    await auth.unauthorized(credential)

        try:
            response_headers: list[tuple[bytes, bytes]] = [
                (key.lower(), value)
                for key, value in response.headers.raw
                if key.lower() not in HOP_BY_HOP
            ]
            if auth is not None and response.status_code == 401:
                response_headers = [h for h in response_headers if h[0] != b"www-authenticate"]
            content_type = response.headers.get("content-type", "")
            streaming = content_type.startswith("text/event-stream") or (
                "content-length" not in response.headers
            )
            if not streaming:
                chunks = [chunk async for chunk in response.aiter_raw()]
                await send(
                    {
                        "type": "http.response.start",
                        "status": response.status_code,
                        "headers": response_headers,
                    }
                )
                await send({"type": "http.response.body", "body": b"".join(chunks)})
                return
            rewriter: SSEEndpointRewriter | None = None
            if content_type.startswith("text/event-stream") and (
                self._endpoint_prefix or self._trust_proxy_headers
            ):
                rewrite = endpoint_rewrite(
                    scope["headers"], self._endpoint_prefix, self._trust_proxy_headers
                )
                if rewrite:
                    rewriter = SSEEndpointRewriter(rewrite)
                    response_headers = [h for h in response_headers if h[0] != b"content-length"]
            await send(
                {
                    "type": "http.response.start",
                    "status": response.status_code,
                    "headers": response_headers,
                }
            )
            await self._stream(response, receive, send, rewriter)
        except httpx.HTTPError as exc:
            log.debug("upstream response failed: %s", exc)
            with contextlib.suppress(Exception):
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            await response.aclose()

    async def _send(
        self,
        client: httpx.AsyncClient,
        method: str,
        url: str,
        headers: list[tuple[bytes, bytes]],
        content: Any,
        body: bytes,
        send: Send,
    ) -> httpx.Response | None:
        """The upstream's response (streaming), or ``None`` once a 502/504 has been answered."""
        request = client.build_request(method, url, headers=headers, content=content)
        try:
            async with asyncio.timeout(self._timeout):
                return await client.send(request, stream=True)
        except (TimeoutError, httpx.TimeoutException):
            await _gateway_error(
                send, 504, body, f"Gateway Timeout: the MCP server at {self._origin} did not answer"
            )
        except httpx.HTTPError as exc:
            await _gateway_error(
                send,
                502,
                body,
                f"Bad Gateway: cannot reach the MCP server at {self._origin}: {exc}",
            )
        return None

    async def _stream(
        self,
        response: httpx.Response,
        receive: Receive,
        send: Send,
        rewriter: SSEEndpointRewriter | None = None,
    ) -> None:
        """Relay chunks as they arrive until the upstream ends or the client goes away."""

        async def pump() -> None:
            if rewriter is None:
                async for chunk in response.aiter_raw():
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                return
            async for chunk in response.aiter_raw():
                out = rewriter.feed(chunk)
                if out:
                    await send({"type": "http.response.body", "body": out, "more_body": True})
            tail = rewriter.flush()
            if tail:
                await send({"type": "http.response.body", "body": tail, "more_body": True})

        pumping = asyncio.ensure_future(pump())
        watching = asyncio.ensure_future(_wait_disconnect(receive))
        self._streams.add(pumping)
        try:
            await asyncio.wait((pumping, watching), return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._streams.discard(pumping)
            for task in (pumping, watching):
                task.cancel()
            results = await asyncio.gather(pumping, watching, return_exceptions=True)
        if watching.done() and not watching.cancelled() and watching.exception() is None:
            return  # the client has gone: nothing more to send
        error = results[0]
        if isinstance(error, Exception) and not isinstance(error, httpx.HTTPError):
            raise error
        await send({"type": "http.response.body", "body": b"", "more_body": False})


def _request_headers(
    raw: list[tuple[bytes, bytes]], *, drop_host: bool
) -> list[tuple[bytes, bytes]]:
    drop = HOP_BY_HOP
    connection = [value for key, value in raw if key == b"connection"]
    if connection:  # headers named in Connection are hop-by-hop too
        drop = drop | {t.strip().lower() for v in connection for t in v.split(b",")}
    headers: list[tuple[bytes, bytes]] = []
    has_encoding = False
    for key, value in raw:
        if key in drop or (drop_host and key == b"host"):
            continue
        if key == b"accept-encoding":
            has_encoding = True
        headers.append((key, value))
    if not has_encoding:
        # httpx would otherwise ask for gzip, and the raw compressed body would reach a client
        # that never asked for it.
        headers.append((b"accept-encoding", b"identity"))
    return headers


async def _body_stream(first: bytes, receive: Receive) -> AsyncIterator[bytes]:
    yield first
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise ClientDisconnected
        yield message.get("body", b"")
        if not message.get("more_body", False):
            return


async def _wait_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


def _request_id(body: bytes) -> Any:
    if body:
        with contextlib.suppress(ValueError):
            msg = json.loads(body)
            if isinstance(msg, dict) and isinstance(msg.get("id"), str | int):
                return msg["id"]
    return None


async def _auth_error(send: Send, body: bytes, exc: UpstreamAuthError) -> None:
    """No usable upstream credentials: the error's status, its message, and ``Retry-After``."""
    log.debug("no upstream credentials: %s", exc)  # the status says it once
    extra = [(b"retry-after", b"%d" % exc.retry_after)] if exc.retry_after else None
    await send_body(
        send, exc.http_status, error_bytes(_request_id(body), _BAD_GATEWAY, str(exc)), extra=extra
    )


async def _gateway_error(send: Send, status: int, body: bytes, message: str) -> None:
    request_id = _request_id(body)
    log.warning("%s", message)
    await send_body(
        send,
        status,
        error_bytes(request_id, _BAD_GATEWAY if status == 502 else REQUEST_TIMEOUT, message),
    )
