"""The virtual MCP server: the gateway's backends seen as ONE stdio server.

The stdio bridge's :class:`~toolhive.transports.stdio.relay.Relay` and its HTTP faces already do
everything a client session needs — sessions, resumable SSE streams, progress tokens, routing of
server → client requests to the session that caused them, per-session log levels and
subscriptions — over one newline-delimited JSON-RPC channel. :class:`VirtualServer` *is* that
channel (``send``/``readline``), so the gateway reuses all of it and only decides where each
message goes:

* ``initialize``, ``ping`` and the lists are answered here, from the aggregate (pre-encoded);
* ``tools/call``, ``prompts/get``, ``resources/read``, ``completion/complete`` and subscriptions
  are routed to their backend (names translated back); the relay's unique integer id is kept, so
  the backend's answer and its progress notifications pass through unchanged;
* a backend's server → client request gets a gateway-wide id and names the request it belongs to
  (``related-request-id``), so the relay hands it to exactly that client session; the answer goes
  back to that backend under the backend's own id;
* ``logging/setLevel`` and ``notifications/roots/list_changed`` fan out to every backend;
* a backend's ``*/list_changed`` re-reads its lists; the gateway tells its clients only when what
  they see changed. Backends joining, leaving, dying and coming back do the same.

Composite tools and the optimizer's ``find_tool``/``call_tool`` run here too.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
from collections.abc import Callable, Coroutine, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Final

from toolhive.mcp import methods
from toolhive.mcp.jsonrpc import (
    CONNECTION_CLOSED,
    INTERNAL_ERROR,
    INVALID_PARAMS,
    METHOD_NOT_FOUND,
    REQUEST_TIMEOUT,
    RequestId,
    encode,
    error_bytes,
    result_response,
)
from toolhive.vmcp.aggregation import (
    Aggregate,
    BackendCapabilities,
    UnresolvedConflictError,
    aggregate,
)
from toolhive.vmcp.backend_client import BackendError
from toolhive.vmcp.backends import Backend, CircuitOpenError, own_id
from toolhive.vmcp.outgoing import INCOMING_AUTHORIZATION
from toolhive.vmcp.views import CallerViews, View

if TYPE_CHECKING:
    from toolhive.transports.stdio.sessions import SessionTable
    from toolhive.vmcp.composite import CompositeTool
    from toolhive.vmcp.config import AggregationConfig
    from toolhive.vmcp.http11 import Started
    from toolhive.vmcp.optimizer import ToolIndex

log = logging.getLogger("toolhive.vmcp")

LATEST_PROTOCOL: Final = "2025-11-25"
GATEWAY_CAPABILITIES: Final[dict[str, Any]] = {
    "tools": {"listChanged": True},
    "resources": {"subscribe": True, "listChanged": True},
    "prompts": {"listChanged": True},
    "logging": {},
    "completions": {},
}
_LIST_KEYS: Final = {
    methods.TOOLS_LIST: "tools",
    methods.RESOURCES_LIST: "resources",
    methods.RESOURCES_TEMPLATES_LIST: "resourceTemplates",
    methods.PROMPTS_LIST: "prompts",
}
_CHANGED: Final = {
    "tools": methods.TOOLS_LIST_CHANGED,
    "resources": methods.RESOURCES_LIST_CHANGED,
    "resourceTemplates": methods.RESOURCES_LIST_CHANGED,
    "prompts": methods.PROMPTS_LIST_CHANGED,
}
_RESULT_HEAD: Final = b'{"jsonrpc":"2.0","id":'
#: How often client requests are checked for a client that went away.
SWEEP_INTERVAL: Final = 1.0


class VirtualServer:
    """A :class:`~toolhive.contracts.runtime.StdioChannel` over the gateway's backends."""

    def __init__(
        self,
        *,
        name: str,
        aggregation: AggregationConfig,
        composites: Iterable[CompositeTool] = (),
        optimizer: ToolIndex | None = None,
        best_effort: bool = True,
    ) -> None:
        self.name = name
        self._aggregation = aggregation
        self._composites = {c.name: c for c in composites}
        self._optimizer = optimizer
        self._best_effort = best_effort
        #: Backends in the group's order (that order decides priority ties).
        self.backends: dict[str, Backend] = {}
        #: What every caller sees (with token-exchange backends: what no caller's own view
        #: replaces). Lists pre-encoded by key (``tools``, ``resources``, …).
        self._shared = View(aggregate([], aggregation), {}, {}, {})
        self._out: asyncio.Queue[bytes] = asyncio.Queue()
        self._sink: Callable[[bytes], None] | None = None
        #: relay id → (backend or None for a composite, the task serving it).
        self._inflight: dict[int, tuple[Backend | None, asyncio.Task[None]]] = {}
        #: gateway id of a server → client request → (backend, its own id) or a local future.
        self._server_requests: dict[int, tuple[Backend, RequestId] | asyncio.Future[Any]] = {}
        self._grids = itertools.count(1)
        self._log_level: str | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self._refreshing: dict[str, asyncio.Task[None]] = {}
        self._table: SessionTable | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._closed = False
        #: Why the lists cannot be served (unresolved ``manual`` conflicts), else ``None``.
        self.aggregation_error: str | None = None
        #: With token-exchange backends, every caller sees their lists as read with its own
        #: token (its own view).
        self.callers = CallerViews(
            self.backends, lambda caps: self._build(caps, index=False), self.refresh
        )
        self.refresh()

    # ------------------------------------------------------------------ wiring

    def attach(self, table: SessionTable) -> None:
        """The relay's session table: a request it no longer waits for (its client went away)
        is cancelled on the backend."""
        self._table = table
        if self._sweeper is None:
            self._sweeper = asyncio.get_running_loop().create_task(self._sweep())

    def add_backend(self, backend: Backend) -> None:
        self.backends[backend.name] = backend
        self.callers.backends_changed()

    def remove_backend(self, name: str) -> Backend | None:
        backend = self.backends.pop(name, None)
        if backend is not None:
            self.callers.backends_changed()
            self.refresh()
        return backend

    def on_backend_message(self, backend: Backend, raw: bytes, msg: dict[str, Any]) -> None:
        """Unsolicited messages from a backend (its standalone stream)."""
        self._backend_message(backend, raw, msg, None)

    # ------------------------------------------------------------------ StdioChannel

    async def send(self, line: bytes) -> None:
        """A message from the relay (a client's request, notification or answer)."""
        try:
            msg = json.loads(line)
        except ValueError:
            return
        if type(msg) is dict:
            self.send_message(msg, line)

    def send_message(self, msg: dict[str, Any], line: bytes) -> None:
        """:meth:`send` of a message the relay has parsed already (``line`` is its text)."""
        method = msg.get("method")
        if method is None:
            self._client_answer(msg)
        elif "id" in msg:
            self._request(msg, method, line)
        else:
            self._notification(msg, method)

    async def readline(self) -> bytes:
        return await self._out.get()

    def push_to(self, sink: Callable[[bytes], None]) -> None:
        """Hand every message to ``sink`` as it is written (lines without the ``\\n``);
        ``readline`` then only reports the end (``b""``)."""
        self._sink = sink

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._sweeper is not None:
            self._sweeper.cancel()
        for _backend, task in list(self._inflight.values()):
            task.cancel()
        for task in list(self._background):
            task.cancel()
        self._out.put_nowait(b"")

    # ------------------------------------------------------------------ aggregate

    def refresh(self) -> None:
        """Recompute what clients see from the healthy backends; tell them what changed."""
        caps = [
            b.capabilities
            for b in self.backends.values()
            if b.healthy and b.capabilities is not None
        ]
        try:
            view = self._build(caps, index=True)
        except UnresolvedConflictError as exc:
            # As ToolHive: the aggregation fails; calls to known names still route.
            log.error("aggregation: %s", exc)
            self.aggregation_error = str(exc)
            return
        self.aggregation_error = None
        for note in view.aggregate.conflicts:
            log.info("aggregation: %s", note)
        # Callers' own views include what just changed: read again on their next request.
        self.callers.clear()
        lists = view.lists
        before = self._shared.lists
        self._shared = view
        if not before:
            return
        sent: set[str] = set()
        for key, body in lists.items():
            notification = _CHANGED[key]
            if before.get(key) != body and notification not in sent:
                sent.add(notification)
                self._write(encode({"jsonrpc": "2.0", "method": notification}))

    @property
    def aggregate(self) -> Aggregate:
        """The shared aggregate (what callers without a view of their own see)."""
        return self._shared.aggregate

    def _view(self) -> View:
        """The current caller's view: its own when token-exchange backends list for it."""
        if self.callers.per_caller:
            token = INCOMING_AUTHORIZATION.get()
            if token:
                view = self.callers.get(token)
                if view is not None:
                    return view
        return self._shared

    def _build(self, caps: list[BackendCapabilities], *, index: bool) -> View:
        """The view of ``caps`` (raises :class:`UnresolvedConflictError`); ``index``: rebuild
        the optimizer's index from it (the shared view only)."""
        agg = aggregate(caps, self._aggregation)
        step_tools = _step_tools(caps, agg)
        composite_tools: dict[str, dict[str, Any]] = {}
        for name, tool in self._composites.items():
            missing = [ref for ref in tool.step_refs() if agg.tool_ref(ref) is None]
            if missing:
                # As ToolHive: a workflow whose tools cannot be routed is not offered.
                if index:
                    log.info("composite tool %s hidden: no route to %s", name, ", ".join(missing))
                continue
            definition = tool.definition(step_tools)
            if definition is not None:
                composite_tools[name] = definition
        tools = [*agg.tools, *composite_tools.values()]
        if self._optimizer is not None:
            from toolhive.vmcp.optimizer import CALL_TOOL, FIND_TOOL

            if index:
                self._optimizer.rebuild(tools)
            advertised_tools: list[dict[str, Any]] = [FIND_TOOL, CALL_TOOL]
        else:
            advertised_tools = tools
        plain = self._optimizer is None and not composite_tools
        lists = {
            # The aggregate's lists are pre-encoded (and cleaned of text JSON cannot carry).
            "tools": agg.tools_json if plain else encode({"tools": advertised_tools}),
            "resources": agg.resources_json,
            "resourceTemplates": agg.resource_templates_json,
            "prompts": agg.prompts_json,
        }
        return View(agg, lists, composite_tools, step_tools)

    def unavailable(self) -> list[str]:
        """``name: why`` of every backend that is not serving (one waiting for a caller's token
        counts as reachable, as ToolHive's health checks count a 401 with an outgoing strategy)."""
        return [
            f"{b.name}: {b.problem}"
            for b in self.backends.values()
            if not b.healthy and not b.awaiting_identity
        ]

    # ------------------------------------------------------------------ client → backends

    def _request(self, msg: dict[str, Any], method: str, line: bytes) -> None:
        if self.callers.per_caller and method != methods.PING:
            token = INCOMING_AUTHORIZATION.get()
            if token and not self.callers.current(token):
                # Token-exchange backends: this caller's view is read (with its own token)
                # before its request is served (see toolhive.vmcp.views).
                self._spawn(self._request_after(token, msg, method, line))
                return
        self._dispatch(msg, method, line)

    async def _request_after(
        self, token: bytes, msg: dict[str, Any], method: str, line: bytes
    ) -> None:
        await self.callers.read(token)  # never raises: the shared view serves on failure
        self._dispatch(msg, method, line)

    def _dispatch(self, msg: dict[str, Any], method: str, line: bytes) -> None:
        rid = msg["id"]
        params = msg.get("params")
        if type(params) is not dict:
            params = {}
        if method == methods.INITIALIZE:
            self._answer(rid, self._initialize_result(params))
        elif method == methods.PING:
            self._answer(rid, {})
        elif method in _LIST_KEYS:
            self._list(rid, _LIST_KEYS[method])
        elif method == methods.TOOLS_CALL:
            self._call_tool(msg, rid, params, line)
        elif method == methods.PROMPTS_GET:
            routes = self._view().aggregate.prompt_routes
            self._by_name(msg, rid, params, line, routes, "prompt")
        elif method in (
            methods.RESOURCES_READ,
            methods.RESOURCES_SUBSCRIBE,
            methods.RESOURCES_UNSUBSCRIBE,
        ):
            self._by_uri(rid, params.get("uri"), line)
        elif method == methods.COMPLETION_COMPLETE:
            self._complete(msg, rid, params, line)
        elif method == methods.LOGGING_SET_LEVEL:
            level = params.get("level")
            self._log_level = level if type(level) is str else None
            self._spawn(self._fan_out_request(rid, line))
        else:
            self._error(rid, METHOD_NOT_FOUND, "Method not found")

    def _initialize_result(self, params: dict[str, Any]) -> dict[str, Any]:
        version = params.get("protocolVersion")
        if version not in methods.HANDSHAKE_PROTOCOL_VERSIONS:
            version = LATEST_PROTOCOL
        from toolhive import __version__

        return {
            "protocolVersion": version,
            "capabilities": GATEWAY_CAPABILITIES,
            "serverInfo": {"name": self.name, "version": __version__},
        }

    def _list(self, rid: RequestId, key: str) -> None:
        if self.aggregation_error is not None:
            self._error(rid, INTERNAL_ERROR, self.aggregation_error)
            return
        if not self._best_effort:
            down = self.unavailable()
            if down:
                message = (
                    "some backends are unavailable (partialFailureMode is fail): " + "; ".join(down)
                )
                self._error(rid, INTERNAL_ERROR, message)
                return
        lists = self._view().lists
        self._write(_RESULT_HEAD + encode(rid) + b',"result":' + lists[key] + b"}")

    def _call_tool(
        self, msg: dict[str, Any], rid: RequestId, params: dict[str, Any], line: bytes
    ) -> None:
        name = params.get("name")
        if type(name) is not str:
            self._error(rid, INVALID_PARAMS, "tools/call needs a tool name")
            return
        view = self._view()
        if self._optimizer is not None:
            from toolhive.vmcp.optimizer import CALL_TOOL, FIND_TOOL, error_result, parse_call_tool

            arguments = params.get("arguments")
            if name == FIND_TOOL["name"]:
                self._find_tool(rid, arguments)
                return
            if name != CALL_TOOL["name"]:
                self._error(rid, INVALID_PARAMS, f"Unknown tool: {name}")
                return
            try:
                name, inner = parse_call_tool(arguments)
            except ValueError as exc:
                self._answer(rid, error_result(str(exc)))  # as ToolHive: a tool error
                return
            if name not in view.aggregate.tool_routes and name not in view.composite_tools:
                self._answer(rid, error_result(f"tool not found: {name}"))
                return
            params = {**params, "name": name, "arguments": inner}
            msg = {**msg, "params": params}
            line = b""  # re-encoded below
        composite = self._composites.get(name)
        if composite is not None and name in view.composite_tools:
            arguments = params.get("arguments")
            self._run_composite(
                composite, rid, arguments if type(arguments) is dict else {}, view.step_tools
            )
            return
        route = view.aggregate.tool_routes.get(name)
        if route is None:
            self._error(rid, INVALID_PARAMS, f"Unknown tool: {name}")
            return
        if route.name != name or not line:
            msg = {**msg, "params": {**params, "name": route.name}}
            line = encode(msg)
        self._forward(route.backend, rid, line)

    def _by_name(
        self,
        msg: dict[str, Any],
        rid: RequestId,
        params: dict[str, Any],
        line: bytes,
        routes: Mapping[str, Any],
        what: str,
    ) -> None:
        name = params.get("name")
        route = routes.get(name) if type(name) is str else None
        if route is None:
            self._error(rid, INVALID_PARAMS, f"Unknown {what}: {name}")
            return
        if route.name != name:
            line = encode({**msg, "params": {**params, "name": route.name}})
        self._forward(route.backend, rid, line)

    def _by_uri(self, rid: RequestId, uri: Any, line: bytes) -> None:
        backend = self._view().aggregate.resource_backend(uri) if type(uri) is str else None
        if backend is None:
            self._error(rid, INVALID_PARAMS, f"Resource not found: {uri}")
            return
        self._forward(backend, rid, line)

    def _complete(
        self, msg: dict[str, Any], rid: RequestId, params: dict[str, Any], line: bytes
    ) -> None:
        ref = params.get("ref")
        ref = ref if type(ref) is dict else {}
        if ref.get("type") == "ref/prompt":
            name = ref.get("name")
            route = self._view().aggregate.prompt_routes.get(name) if type(name) is str else None
            if route is None:
                self._error(rid, INVALID_PARAMS, f"Unknown prompt: {name}")
                return
            if route.name != name:
                ref = {**ref, "name": route.name}
                line = encode({**msg, "params": {**params, "ref": ref}})
            self._forward(route.backend, rid, line)
            return
        self._by_uri(rid, ref.get("uri"), line)

    def _forward(self, backend_name: str, rid: RequestId, line: bytes) -> None:
        backend = self.backends.get(backend_name)
        if backend is None:
            self._error(rid, CONNECTION_CLOSED, f"backend {backend_name} is not in the group")
            return
        try:
            backend.breaker.check(backend.name)
        except CircuitOpenError as exc:
            self._error(rid, CONNECTION_CLOSED, str(exc))
            return
        body = line.rstrip(b"\n")
        # On the wire now rather than when the task first runs: an event-loop iteration sooner.
        started = backend.start(body)
        task = asyncio.get_running_loop().create_task(self._serve(backend, rid, body, started))
        if started is not None:
            # A task cancelled before it ran never took the response: close its connection.
            task.add_done_callback(lambda _task: started.abandon())
        if type(rid) is int:
            self._inflight[rid] = (backend, task)
            task.add_done_callback(self._done_callback(rid))
        else:
            self._keep(task)

    async def _serve(
        self, backend: Backend, rid: RequestId, body: bytes, started: Started | None
    ) -> None:
        def relay(raw: bytes, msg: dict[str, Any]) -> None:
            self._backend_message(backend, raw, msg, rid)

        try:
            answer = await backend.request(body, rid, on_message=relay, started=started)
        except TimeoutError:
            backend.breaker.failure()
            self._cancel_on(backend, rid, "timeout")
            message = f"backend {backend.name} did not answer within {backend.spec.timeout:g}s"
            self._error(rid, REQUEST_TIMEOUT, message)
            return
        except asyncio.CancelledError:
            self._cancel_on(backend, rid, "the client cancelled the request")
            raise
        except BackendError as exc:
            backend.breaker.failure()
            self._error(rid, CONNECTION_CLOSED, f"backend {backend.name}: {exc}")
            return
        backend.breaker.success()
        self._write(answer)

    def _cancel_on(self, backend: Backend, rid: RequestId, reason: str) -> None:
        cancel = {
            "jsonrpc": "2.0",
            "method": methods.CANCELLED,
            "params": {"requestId": rid, "reason": reason},
        }
        self._spawn(backend.notify(encode(cancel)))

    async def _fan_out_request(self, rid: RequestId, line: bytes) -> None:
        """A request every backend gets (``logging/setLevel``); answered once all tried."""
        msg = json.loads(line)
        targets = [b for b in self.backends.values() if b.healthy and b.conn is not None]
        method = msg.get("method", "")
        wanted = "logging" if method == methods.LOGGING_SET_LEVEL else None
        await asyncio.gather(
            *(
                self._quiet_request(b, method, msg.get("params"))
                for b in targets
                if wanted is None or wanted in b.server_capabilities
            )
        )
        self._answer(rid, {})

    async def _quiet_request(self, backend: Backend, method: str, params: Any) -> None:
        try:
            await backend.own_request(method, params if type(params) is dict else None)
        except (BackendError, TimeoutError) as exc:
            log.debug("backend %s: %s failed: %s", backend.name, method, exc)

    def _notification(self, msg: dict[str, Any], method: str) -> None:
        if method == methods.CANCELLED:
            params = msg.get("params")
            rid = params.get("requestId") if type(params) is dict else None
            entry = self._inflight.get(rid) if type(rid) is int else None
            if entry is not None:
                entry[1].cancel()
        elif method == methods.ROOTS_LIST_CHANGED:
            body = encode(msg)
            for backend in self.backends.values():
                if backend.healthy:
                    self._spawn(backend.notify(body))
        # notifications/initialized: the gateway initialized its backends itself.

    def _client_answer(self, msg: dict[str, Any]) -> None:
        """A client's answer to a server → client request (or the relay's refusal of one)."""
        gid = msg.get("id")
        entry = self._server_requests.pop(gid, None) if type(gid) is int else None
        if entry is None:
            return
        if isinstance(entry, asyncio.Future):
            if not entry.done():
                entry.set_result(msg)
            return
        backend, original = entry
        self._spawn(backend.notify(encode({**msg, "id": original})))

    # ------------------------------------------------------------------ backends → clients

    def _backend_message(
        self, backend: Backend, raw: bytes, msg: dict[str, Any], rid: RequestId | None
    ) -> None:
        method = msg.get("method")
        if type(method) is not str:
            return
        if "id" in msg:
            self._server_request(backend, msg, method, rid)
        elif method == methods.CANCELLED:
            params = msg.get("params")
            theirs = params.get("requestId") if type(params) is dict else None
            for gid, entry in list(self._server_requests.items()):
                if entry == (backend, theirs):
                    del self._server_requests[gid]
                    note = {**msg, "params": {**params, "requestId": gid}}  # type: ignore[dict-item]
                    self._write(encode(note))
                    break
        elif methods.is_list_changed(method):
            self._refresh_backend(backend)
        else:
            self._write(raw)

    def _server_request(
        self, backend: Backend, msg: dict[str, Any], method: str, rid: RequestId | None
    ) -> None:
        theirs = msg["id"]
        if method == methods.PING:
            self._spawn(backend.notify(encode(result_response(theirs, {}))))
            return
        gid = next(self._grids)
        self._server_requests[gid] = (backend, theirs)
        out = {**msg, "id": gid}
        if rid is not None:
            params = msg.get("params")
            params = dict(params) if type(params) is dict else {}
            meta = params.get("_meta")
            meta = dict(meta) if type(meta) is dict else {}
            meta[methods.RELATED_REQUEST_META] = rid
            params["_meta"] = meta
            out["params"] = params
        self._write(encode(out))

    async def ask_client(
        self, rid: RequestId, method: str, params: dict[str, Any], timeout: float
    ) -> dict[str, Any]:
        """A server → client request of the gateway's own (a composite tool's elicitation),
        sent to the session whose request ``rid`` is running; its result."""
        gid = next(self._grids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._server_requests[gid] = future
        meta = {methods.RELATED_REQUEST_META: rid}
        self._write(
            encode(
                {
                    "jsonrpc": "2.0",
                    "id": gid,
                    "method": method,
                    "params": {**params, "_meta": meta},
                }
            )
        )
        try:
            async with asyncio.timeout(timeout):
                answer = await future
        finally:
            self._server_requests.pop(gid, None)
        if "error" in answer:
            error = answer["error"] if type(answer["error"]) is dict else {}
            raise BackendError(f"{method}: {error.get('message', 'refused')}")
        result = answer.get("result")
        return result if type(result) is dict else {}

    def _refresh_backend(self, backend: Backend) -> None:
        task = self._refreshing.get(backend.name)
        if task is not None and not task.done():
            return
        self._refreshing[backend.name] = asyncio.get_running_loop().create_task(
            self._reread(backend)
        )

    async def _reread(self, backend: Backend) -> None:
        await asyncio.sleep(0.05)  # a burst of list_changed costs one re-read
        try:
            backend.capabilities = await backend.fetch_lists()
        except (BackendError, TimeoutError) as exc:
            log.warning("backend %s: re-reading its lists failed: %s", backend.name, exc)
            return
        self.refresh()

    # ------------------------------------------------------------------ composite / optimizer

    def _run_composite(
        self,
        composite: CompositeTool,
        rid: RequestId,
        arguments: dict[str, Any],
        step_tools: dict[str, dict[str, Any]],
    ) -> None:
        async def run() -> None:
            async def elicit(
                message: str, schema: dict[str, Any], timeout: float
            ) -> dict[str, Any]:
                return await self.ask_client(
                    rid,
                    methods.ELICITATION_CREATE,
                    {"message": message, "requestedSchema": schema},
                    timeout,
                )

            try:
                result = await composite.run(
                    arguments, self.call_step, elicit, step_tools=step_tools
                )
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.exception("composite tool %s failed", composite.name)
                self._error(rid, INTERNAL_ERROR, f"composite tool {composite.name}: {exc}")
                return
            self._answer(rid, result)

        task = asyncio.get_running_loop().create_task(run())
        if type(rid) is int:
            self._inflight[rid] = (None, task)
            task.add_done_callback(self._done_callback(rid))
        else:
            self._keep(task)

    async def call_step(self, ref: str, arguments: dict[str, Any]) -> dict[str, Any]:
        """A composite step's tool call: ``workload.tool`` by the backend's own names (hidden
        tools included, as ToolHive), or an advertised tool name."""
        route = self._view().aggregate.tool_ref(ref)
        if route is None:
            raise BackendError(f"no tool {ref} in the group")
        backend = self.backends.get(route.backend)
        if backend is None or not backend.healthy:
            raise BackendError(f"backend {route.backend} is not available")
        backend.breaker.check(backend.name)
        rid = own_id()
        body = encode(
            {
                "jsonrpc": "2.0",
                "id": rid,
                "method": methods.TOOLS_CALL,
                "params": {"name": route.name, "arguments": arguments},
            }
        )
        try:
            raw = await backend.request(body, rid)
        except (BackendError, TimeoutError):
            backend.breaker.failure()
            raise
        backend.breaker.success()
        answer = json.loads(raw)
        if "error" in answer:
            error = answer["error"] if type(answer["error"]) is dict else {}
            raise BackendError(f"{ref}: {error.get('message', 'error')}")
        result = answer.get("result")
        return result if type(result) is dict else {}

    def _find_tool(self, rid: RequestId, arguments: Any) -> None:
        assert self._optimizer is not None
        from toolhive.vmcp.optimizer import find_tool_result

        self._answer(rid, find_tool_result(self._optimizer, arguments))

    # ------------------------------------------------------------------ plumbing

    def _write(self, data: bytes) -> None:
        if self._closed:
            return
        if self._sink is not None:
            self._sink(data)
        else:
            self._out.put_nowait(data + b"\n")

    def _answer(self, rid: RequestId, result: Any) -> None:
        self._write(encode(result_response(rid, result)))

    def _error(self, rid: RequestId, code: int, message: str) -> None:
        self._write(error_bytes(rid, code, message))

    def _done_callback(self, rid: int) -> Callable[[asyncio.Task[None]], None]:
        def done(_task: asyncio.Task[None]) -> None:
            self._inflight.pop(rid, None)

        return done

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        self._keep(asyncio.get_running_loop().create_task(coro))

    def _keep(self, task: asyncio.Task[Any]) -> None:
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_INTERVAL)
            table = self._table
            if table is None:
                continue
            pending = table.pending
            for rid, (_backend, task) in list(self._inflight.items()):
                if rid not in pending and rid not in table.internal:
                    task.cancel()


def _step_tools(caps: list[BackendCapabilities], agg: Aggregate) -> dict[str, dict[str, Any]]:
    """What composite steps may name → the backend's own tool definition: ``workload.tool``
    and every conflict-resolved name (ToolHive's ``ResolveToolRef``)."""
    own: dict[tuple[str, str], dict[str, Any]] = {}
    out: dict[str, dict[str, Any]] = {}
    for cap in caps:
        for tool in cap.tools:
            name = tool.get("name")
            if type(name) is str:
                own[(cap.name, name)] = tool
                out[f"{cap.name}.{name}"] = tool
    for resolved, route in agg.resolved_tool_routes.items():
        found = own.get((route.backend, route.name))
        if found is not None:
            out.setdefault(resolved, found)
    return out
