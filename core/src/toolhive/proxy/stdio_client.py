"""``thv proxy stdio``: this process's stdin/stdout (newline-delimited JSON-RPC) ↔ an MCP HTTP URL.

For clients that only speak stdio. Each stdin line is one JSON-RPC message; every message from the
server (responses, notifications, server-to-client requests) is written to stdout as one line.

Streamable HTTP: every message is POSTed; the answer may be JSON or an SSE stream (both relayed).
The ``Mcp-Session-Id`` from ``initialize`` and the negotiated ``MCP-Protocol-Version`` go on every
later request; once the client has sent ``notifications/initialized`` a GET stream is opened for
server-initiated messages (skipped if the server answers 405). Requests run concurrently (a slow tool
call does not hold up the next message); notifications and responses are sent in order, inline.

Legacy SSE (``/sse``): a GET stream delivers the ``endpoint`` event and every server message; messages
are POSTed to that endpoint.

Batches (JSON arrays) are rejected with a JSON-RPC error, as ToolHive does. On stdin EOF the bridge
waits for the answers still due, ends the session (``DELETE``) and exits 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
import threading
from collections.abc import AsyncIterator
from typing import Any, BinaryIO, Final
from urllib.parse import urljoin

import httpx

from toolhive.mcp.jsonrpc import INTERNAL_ERROR, INVALID_REQUEST, PARSE_ERROR, error_bytes

log = logging.getLogger("toolhive.proxy.stdio")

_UNREACHABLE: Final = -32000
_JSON_HEADERS: Final = {
    "content-type": "application/json",
    "accept": "application/json, text/event-stream",
}
#: How long to wait on EOF for answers still due before giving up.
DRAIN_TIMEOUT: Final = 120.0


class Output:
    """stdout, one JSON-RPC message per line; writes from concurrent tasks never interleave."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream

    def write(self, data: bytes) -> None:
        data = data.strip()
        if not data:
            return
        if b"\n" in data or b"\r" in data:  # pretty-printed JSON: make it one line
            try:
                data = json.dumps(json.loads(data), separators=(",", ":")).encode()
            except ValueError:
                log.warning("dropped a server message that is not JSON: %.200r", data)
                return
        self._stream.write(data + b"\n")
        self._stream.flush()


async def sse_events(response: httpx.Response) -> AsyncIterator[tuple[str, str]]:
    """``(event, data)`` for each event of an SSE response (event defaults to ``message``)."""
    event, data = "", list[str]()
    async for line in response.aiter_lines():
        if not line:
            if data:
                yield event or "message", "\n".join(data)
            event, data = "", []
        elif line.startswith(":"):
            continue
        else:
            field, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if field == "event":
                event = value
            elif field == "data":
                data.append(value)
    if data:
        yield event or "message", "\n".join(data)


def stdin_lines(stream: BinaryIO) -> asyncio.Queue[bytes | None]:
    """Lines from ``stream`` read on a daemon thread (works for pipes, files and terminals alike,
    and never holds up interpreter exit); ``None`` marks EOF."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[bytes | None] = asyncio.Queue()

    def reader() -> None:
        try:
            for line in iter(stream.readline, b""):
                loop.call_soon_threadsafe(queue.put_nowait, line)
        except (OSError, ValueError) as exc:
            log.debug("stdin closed: %s", exc)
        finally:
            with contextlib.suppress(RuntimeError):  # the loop may be closed already
                loop.call_soon_threadsafe(queue.put_nowait, None)

    threading.Thread(target=reader, name="thv-proxy-stdin", daemon=True).start()
    return queue


def _kind(msg: dict[str, Any]) -> str:
    if "method" in msg:
        return "request" if "id" in msg else "notification"
    return "response"


class StdioBridgeClient:
    """Relays between stdin/stdout and one MCP URL (``sse=True`` for the legacy SSE transport)."""

    def __init__(
        self,
        url: str,
        *,
        sse: bool = False,
        output: Output | None = None,
        connect_timeout: float = 10.0,
    ) -> None:
        self.url = url.split("#", 1)[0]
        self.sse = sse
        self.out = output or Output(sys.stdout.buffer)
        self.session_id: str | None = None
        self.protocol_version: str | None = None
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(connect=connect_timeout, read=None, write=30.0, pool=None),
            follow_redirects=True,
            trust_env=False,
        )
        self._pending: set[asyncio.Task[None]] = set()
        self._get_stream: asyncio.Task[None] | None = None
        self._endpoint: str | None = None
        self._endpoint_ready = asyncio.Event()
        self._lines: asyncio.Queue[bytes | None] | None = None
        #: Legacy SSE: ids of requests whose answer has not come down the stream yet.
        self._outstanding: set[Any] = set()
        self._answered = asyncio.Event()
        self.failed: str | None = None

    # ------------------------------------------------------------------ main loop

    async def run(self, lines: asyncio.Queue[bytes | None]) -> int:
        self._lines = lines
        try:
            if self.sse:
                self._get_stream = asyncio.create_task(self._legacy_stream())
                if not await self._wait_endpoint():
                    return 1
            while (line := await lines.get()) is not None:
                await self._dispatch(line)
                if self.failed:
                    return 1
            if self._pending:
                await asyncio.wait(self._pending, timeout=DRAIN_TIMEOUT)
            if self._outstanding and not self.failed:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(DRAIN_TIMEOUT):
                        while self._outstanding and not self.failed:
                            self._answered.clear()
                            await self._answered.wait()
            return 1 if self.failed else 0
        finally:
            await self.aclose()

    async def aclose(self) -> None:
        for task in [*self._pending, *([self._get_stream] if self._get_stream else [])]:
            task.cancel()
        if self.session_id and not self.sse:
            with contextlib.suppress(httpx.HTTPError):
                await self._client.delete(self.url, headers=self._session_headers(), timeout=5.0)
        await self._client.aclose()

    async def _dispatch(self, line: bytes) -> None:
        line = line.strip()
        if not line:
            return
        try:
            msg = json.loads(line)
        except ValueError as exc:
            self.out.write(error_bytes(None, PARSE_ERROR, f"Parse error: {exc}"))
            return
        if isinstance(msg, list):
            self.out.write(
                error_bytes(
                    None, INVALID_REQUEST, "Invalid Request: batch requests are not supported"
                )
            )
            return
        if not isinstance(msg, dict):
            self.out.write(error_bytes(None, INVALID_REQUEST, "Invalid Request: not an object"))
            return
        kind = _kind(msg)
        if self.sse:
            await self._post_legacy(msg, line, kind)
        elif kind == "request" and msg.get("method") != "initialize":
            task = asyncio.create_task(self._post(msg, line, kind))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)
        else:
            # initialize must finish (session id) before anything else; notifications and
            # responses are quick (202) and keep their order.
            await self._post(msg, line, kind)
            if msg.get("method") == "notifications/initialized" and self._get_stream is None:
                self._get_stream = asyncio.create_task(self._listen())

    # ------------------------------------------------------------------ streamable HTTP

    def _session_headers(self) -> dict[str, str]:
        headers: dict[str, str] = {}
        if self.session_id:
            headers["mcp-session-id"] = self.session_id
        if self.protocol_version:
            headers["mcp-protocol-version"] = self.protocol_version
        return headers

    async def _post(self, msg: dict[str, Any], body: bytes, kind: str) -> None:
        request_id = msg.get("id") if kind == "request" else None
        is_initialize = msg.get("method") == "initialize"
        headers = {**_JSON_HEADERS, **self._session_headers()}
        try:
            async with self._client.stream("POST", self.url, content=body, headers=headers) as r:
                sid = r.headers.get("mcp-session-id")
                if sid and (is_initialize or not self.session_id):
                    self.session_id = sid
                if r.status_code == 202:
                    return
                if r.headers.get("content-type", "").startswith("text/event-stream"):
                    async for event, data in sse_events(r):
                        if event == "message":
                            self._relay(data.encode(), request_id, is_initialize)
                    return
                payload = await r.aread()
                if not self._relay(payload, request_id, is_initialize) and r.status_code >= 400:
                    self._error(request_id, INTERNAL_ERROR, f"HTTP {r.status_code} from {self.url}")
        except httpx.HTTPError as exc:
            log.error("cannot reach %s: %s", self.url, exc)
            self._error(
                request_id, _UNREACHABLE, f"cannot reach the MCP server at {self.url}: {exc}"
            )

    def _relay(self, payload: bytes, request_id: Any, is_initialize: bool) -> bool:
        """Write a server message; an id-less error answering our request gets the request's id.
        False if ``payload`` is not a JSON-RPC message."""
        try:
            msg = json.loads(payload) if payload.strip() else None
        except ValueError:
            msg = None
        if not isinstance(msg, dict):
            return False
        if request_id is not None and "error" in msg and msg.get("id") is None:
            msg["id"] = request_id
            payload = json.dumps(msg, separators=(",", ":")).encode()
        if is_initialize and isinstance(msg.get("result"), dict):
            version = msg["result"].get("protocolVersion")
            if isinstance(version, str):
                self.protocol_version = version
        self.out.write(payload)
        return True

    def _error(self, request_id: Any, code: int, message: str) -> None:
        if request_id is not None:  # notifications and responses get no answer
            self.out.write(error_bytes(request_id, code, message))

    async def _listen(self) -> None:
        """The GET stream for server-initiated messages; reconnects until the server refuses."""
        while True:
            try:
                headers = {"accept": "text/event-stream", **self._session_headers()}
                async with self._client.stream("GET", self.url, headers=headers) as r:
                    if r.status_code != 200:
                        log.debug("no GET stream (HTTP %d)", r.status_code)
                        return
                    async for event, data in sse_events(r):
                        if event == "message":
                            self.out.write(data.encode())
            except httpx.HTTPError as exc:
                log.debug("GET stream ended: %s", exc)
            await asyncio.sleep(1.0)

    # ------------------------------------------------------------------ legacy SSE

    async def _wait_endpoint(self, timeout: float = 30.0) -> bool:
        waiter = asyncio.ensure_future(self._endpoint_ready.wait())
        assert self._get_stream is not None
        await asyncio.wait(
            (waiter, self._get_stream), timeout=timeout, return_when="FIRST_COMPLETED"
        )
        waiter.cancel()
        if self._endpoint is None:
            log.error("%s", self.failed or f"no endpoint event from {self.url} within {timeout:g}s")
            return False
        return True

    async def _legacy_stream(self) -> None:
        try:
            async with self._client.stream(
                "GET", self.url, headers={"accept": "text/event-stream"}
            ) as r:
                if r.status_code != 200:
                    self.failed = f"{self.url} answered HTTP {r.status_code}"
                    return
                async for event, data in sse_events(r):
                    if event == "endpoint":
                        self._endpoint = urljoin(self.url, data.strip())
                        self._endpoint_ready.set()
                    elif event == "message":
                        self._legacy_message(data.encode())
            self.failed = f"the server closed the SSE stream at {self.url}"
        except httpx.HTTPError as exc:
            self.failed = f"cannot reach the MCP server at {self.url}: {exc}"
        log.error("%s", self.failed)
        self._answered.set()
        if self._lines is not None:
            self._lines.put_nowait(None)  # nothing more can be answered: stop reading

    def _legacy_message(self, data: bytes) -> None:
        if self._outstanding:
            with contextlib.suppress(ValueError):
                msg = json.loads(data)
                if isinstance(msg, dict) and "method" not in msg:
                    self._outstanding.discard(msg.get("id"))
                    self._answered.set()
        self.out.write(data)

    async def _post_legacy(self, msg: dict[str, Any], body: bytes, kind: str) -> None:
        request_id = msg.get("id") if kind == "request" else None
        assert self._endpoint is not None
        if request_id is not None:
            self._outstanding.add(request_id)
        try:
            r = await self._client.post(self._endpoint, content=body, headers=_JSON_HEADERS)
        except httpx.HTTPError as exc:
            self._outstanding.discard(request_id)
            self._error(request_id, _UNREACHABLE, f"cannot reach the MCP server: {exc}")
            return
        if r.status_code >= 400:
            self._outstanding.discard(request_id)
            if not self._relay(r.content, request_id, False):
                self._error(
                    request_id, INTERNAL_ERROR, f"HTTP {r.status_code} from {self._endpoint}"
                )


async def bridge_stdio(url: str, *, sse: bool = False) -> int:
    """Run the bridge on this process's stdin/stdout until stdin ends; the exit code."""
    client = StdioBridgeClient(url, sse=sse)
    return await client.run(stdin_lines(sys.stdin.buffer))
