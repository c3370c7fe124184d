"""The ``telemetry`` middleware: one span and one set of measurements per HTTP request.

What it records follows ToolHive's ``pkg/telemetry/middleware.go``:

- **Span** (kind SERVER) ``"{mcp.method.name} {target}"`` (``tools/call echo``), ``"{method}"``
  without a target, ``"{HTTP method} {path}"`` for a non-MCP request. The parent comes from the
  ``traceparent`` header, overridden by ``params._meta.traceparent`` (the MCP spec's carrier).
  Attributes: the HTTP and URL semconv set, the MCP semconv set (``mcp.method.name``,
  ``jsonrpc.request.id``, ``gen_ai.tool.name`` …, ``mcp.session.id``, ``network.transport``),
  with the legacy names too when ``useLegacyAttributes``; ``environment.<NAME>`` per configured
  host variable. Status: Error on 5xx (with ``error.type``), Unset on 4xx, Ok otherwise.
- **Metrics**: ``toolhive_mcp_requests`` and ``toolhive_mcp_request_duration`` (method,
  status_code, status, mcp_method, mcp_resource_id, server, transport); ``mcp.server.operation.duration``
  for MCP requests; ``toolhive_mcp_tool_calls`` (server, tool, status) for ``tools/call``;
  ``toolhive_mcp_active_connections`` (server, transport, connection_type).
- An SSE stream (a path ending in ``/sse``) gets the short ``sse.connection_established`` span, a
  request counted as ``mcp_method="sse_connection"`` and an active connection while it is open.

Cheap by construction. ``scripts/overhead.py`` measures about 5 µs per request for metrics at
p50, and about 100 µs for a request whose span is recorded. Metrics are aggregated here: counts in
dicts, read by the API's asynchronous instruments when a reader collects, and durations in
:mod:`.histograms`. The SDK's synchronous instruments cost 10-25 µs per call with these labels,
and a request would need six calls. Without a tracer there is no span work at all. A sampled-out root span never reaches the
SDK, and attributes are built only for a recording span. Client-controlled label values are
capped at 128 bytes, and each instrument at 2000 label sets (ToolHive's bounds on series memory).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping, Sequence
from random import random
from typing import TYPE_CHECKING, Any

from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from toolhive.contracts.middleware import ParsedMCPRequest, parsed_request, read_mcp_request

from toolhive_middleware_telemetry.histograms import (
    MAX_SERIES,
    OVERFLOW,
    DurationHistogram,
)

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.sdk.metrics.export import MetricReader
    from opentelemetry.sdk.trace import SpanProcessor
    from opentelemetry.trace import Span
    from toolhive.contracts.middleware import ASGIApp, MiddlewareContext
    from toolhive.contracts.transport import Message, Receive, Scope, Send

    from toolhive_middleware_telemetry import TelemetryConfig, TelemetryParameters
    from toolhive_middleware_telemetry.providers import Providers

log = logging.getLogger("toolhive.middleware.telemetry")

#: ToolHive's cap on client-controlled label values (bytes), with its truncation marker.
MAX_LABEL_BYTES = 128
TRUNCATED = "..."
#: Argument names whose values never reach a span (ToolHive's isSensitiveKey patterns).
SENSITIVE = (
    "password",
    "token",
    "secret",
    "key",
    "auth",
    "credential",
    "api_key",
    "access_token",
    "refresh_token",
    "private",
)
_RESOURCE_URI_METHODS = frozenset(
    {
        "resources/read",
        "resources/subscribe",
        "resources/unsubscribe",
        "notifications/resources/updated",
    }
)
_PROPAGATOR = TraceContextTextMapPropagator()
TRACE_KEYS = ("traceparent", "tracestate")


def network_of(transport: str) -> tuple[str, str, str]:
    """(network.transport, network.protocol.name, mcp.backend.protocol.version) of a backend."""
    if transport == "stdio":
        return "pipe", "", ""
    if transport == "sse":
        return "tcp", "http", "1.1"
    return "tcp", "http", ""


def truncate_label(value: str) -> str:
    """At most 128 bytes of UTF-8, cut on a character boundary, ``...`` marking a cut."""
    if len(value) * 4 <= MAX_LABEL_BYTES:  # fast path: cannot be over, whatever the characters
        return value
    raw = value.encode()
    if len(raw) <= MAX_LABEL_BYTES:
        return value
    return raw[: MAX_LABEL_BYTES - len(TRUNCATED)].decode(errors="ignore") + TRUNCATED


def sanitize_arguments(arguments: Mapping[str, Any]) -> str:
    """ToolHive's ``gen_ai.tool.call.arguments``: ``k=v, …``, sensitive keys redacted, values cut
    at 100 characters and the whole at 200."""
    parts = []
    for key, value in arguments.items():
        if any(p in key.lower() for p in SENSITIVE):
            parts.append(f"{key}=[REDACTED]")
            continue
        text = value if isinstance(value, str) else _go_format(value)
        if len(text) > 100:
            text = text[:100] + "..."
        parts.append(f"{key}={text}")
    result = ", ".join(parts)
    return result[:200] + "..." if len(result) > 200 else result


def _go_format(value: Any) -> str:
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return ""


def build(
    app: ASGIApp,
    parameters: TelemetryParameters,
    context: MiddlewareContext,
    *,
    span_processors: Sequence[SpanProcessor] = (),
    metric_readers: Sequence[MetricReader] = (),
) -> TelemetryMiddleware:
    """The factory's work: this workload's providers, ``/metrics`` mounted, ``app`` wrapped.

    ``span_processors`` and ``metric_readers`` add destinations (the tests' in-memory ones).
    """
    from toolhive_middleware_telemetry.providers import build_providers

    # Never an empty label: ToolHive's users see server="" when its caller passes nothing.
    server = parameters.server_name or context.workload or "unknown"
    transport = parameters.transport or context.transport or "unknown"
    providers = build_providers(
        parameters.config,
        server_name=server,
        span_processors=span_processors,
        metric_readers=metric_readers,
    )
    if providers.prometheus_app is not None:
        if context.mount is None:
            providers.shutdown()
            msg = (
                "enablePrometheusMetricsPath is set, but this host cannot serve /metrics "
                "(its MiddlewareContext has no mount)"
            )
            raise ValueError(msg)
        context.mount("/metrics", providers.prometheus_app)
    return TelemetryMiddleware(
        app, parameters.config, providers, server_name=server, transport=transport
    )


class TelemetryMiddleware:
    """ASGI middleware recording ToolHive's spans and metrics for one workload."""

    def __init__(
        self,
        app: ASGIApp,
        config: TelemetryConfig,
        providers: Providers,
        *,
        server_name: str,
        transport: str,
    ) -> None:
        self.app = app
        self.providers = providers
        self.server = server_name
        self.transport = transport
        self.legacy = config.use_legacy_attributes
        self.tracer = providers.tracer
        self.on = providers.tracer is not None or providers.meter is not None
        # Read once: the proxy's environment does not change while it runs.
        self.environment = {
            f"environment.{name}": os.environ.get(name, "")
            for name in config.environment_variables
            if name
        }
        self.net_transport, self.net_protocol, self.backend_version = network_of(transport)
        self.ratio = config.sampling_ratio
        meter = providers.meter
        self.metrics = meter is not None
        # Counts are kept here (a dict increment per request) and read by the API's asynchronous
        # instruments when a reader collects. An SDK counter.add costs 10-20 us per call with
        # ToolHive's seven labels, and a request would make four of them. The durations go to
        # histograms.py for the same reason.
        self._requests: dict[tuple[str, str, str, str, str], int] = {}
        self._tools: dict[tuple[str, str], int] = {}
        self._active = {"http": 0, "sse": 0}
        if meter is not None:
            from opentelemetry.metrics import Observation

            server, transport_label = server_name, transport

            def request_labels(key: tuple[str, str, str, str, str]) -> dict[str, str]:
                """The labels of a request counter key (and of its duration histogram)."""
                return {
                    "method": key[0],
                    "status_code": key[1],
                    "status": key[2],
                    "mcp_method": key[3],
                    "mcp_resource_id": key[4],
                    "server": server,
                    "transport": transport_label,
                }

            def requests(options: object) -> list[Observation]:
                return [
                    Observation(count, request_labels(key))
                    for key, count in list(self._requests.items())
                ]

            def tools(options: object) -> list[Observation]:
                return [
                    Observation(count, {"server": server, "tool": tool, "status": status})
                    for (tool, status), count in list(self._tools.items())
                ]

            def active(options: object) -> list[Observation]:
                return [
                    Observation(
                        count,
                        {"server": server, "transport": transport_label, "connection_type": kind},
                    )
                    for kind, count in list(self._active.items())
                ]

            meter.create_observable_counter(
                "toolhive_mcp_requests", [requests], description="Total number of MCP requests"
            )
            meter.create_observable_counter(
                "toolhive_mcp_tool_calls", [tools], description="Total number of MCP tool calls"
            )
            # ToolHive leaves connection_type off plain requests; "http" here, so that no series
            # has an empty label.
            meter.create_observable_up_down_counter(
                "toolhive_mcp_active_connections",
                [active],
                description="Number of active MCP connections",
            )
            histograms = providers.histograms
            assert histograms is not None

            self.duration = histograms.add(
                DurationHistogram(
                    "toolhive_mcp_request_duration",
                    "Duration of MCP requests in seconds",
                    request_labels,
                    (OVERFLOW,) * 5,
                )
            )
            self.operation_duration = histograms.add(
                DurationHistogram(
                    "mcp.server.operation.duration",
                    "Duration of MCP server operations",
                    dict,
                    (("mcp.method.name", OVERFLOW), ("network.transport", self.net_transport)),
                )
            )

    def _count(self, key: tuple[str, str, str, str, str]) -> None:
        requests = self._requests
        if key in requests:
            requests[key] += 1
        elif len(requests) < MAX_SERIES:
            requests[key] = 1
        else:  # the SDK's cardinality limit: what is new goes to one overflow series
            key = (OVERFLOW,) * 5
            requests[key] = requests.get(key, 0) + 1

    def shutdown(self) -> None:
        self.providers.shutdown()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.on:
            await self.app(scope, receive, send)
            return
        if scope["path"].endswith("/sse") and scope["method"] == "GET":
            await self._sse(scope, receive, send)
            return
        parsed = parsed_request(scope)
        if parsed is None:
            # Placed outside mcp-parser (or alone): decode the body ourselves, once.
            parsed, receive = await read_mcp_request(scope, receive)

        span = None
        if self.tracer is not None:
            span = self._start(self._span_name(scope, parsed), self._parent(scope, parsed))
            if span is not None:
                self._request_attributes(span, scope, parsed)

        status = 0
        size = 0

        async def observed(message: Message) -> None:
            nonlocal status, size
            kind = message["type"]
            if kind == "http.response.body":
                size += len(message.get("body", b""))
            elif kind == "http.response.start":
                status = message["status"]
            await send(message)

        active = self._active
        active["http"] += 1
        started = time.perf_counter()
        try:
            await self.app(scope, receive, observed)
        except BaseException:
            status = status or 500
            raise
        finally:
            elapsed = time.perf_counter() - started
            status = status or 200
            active["http"] -= 1
            if self.metrics:
                self._record(scope, parsed, status, elapsed)
            if span is not None:
                self._finish(span, status, size, elapsed)

    # ------------------------------------------------------------------ spans

    def _start(self, name: str, parent: Context | None) -> Span | None:
        """A recording SERVER span, or ``None`` (no tracer, or sampled out).

        The provider's sampler is ``ParentBased(ALWAYS_ON)``: a request with a parent follows the
        parent's decision in the SDK, and a root is decided here with probability
        ``samplingRate``, as TraceIdRatioBased would. Decided here, a sampled-out root costs one
        ``random()`` and no SDK call at all.
        """
        tracer = self.tracer
        if tracer is None:
            return None
        if parent is None and self.ratio < 1.0 and not random() < self.ratio:
            return None
        span = tracer.start_span(name, context=parent, kind=SpanKind.SERVER)
        if span.is_recording():
            return span
        span.end()
        return None

    @staticmethod
    def _span_name(scope: Scope, parsed: ParsedMCPRequest | None) -> str:
        if parsed is None or not parsed.method:
            return f"{scope['method']} {scope['path']}"
        if parsed.resource_id:
            return f"{parsed.method} {parsed.resource_id}"
        return parsed.method

    @staticmethod
    def _parent(scope: Scope, parsed: ParsedMCPRequest | None) -> Context | None:
        context = None
        traceparent = _header(scope, b"traceparent")
        if traceparent:
            carrier = {"traceparent": traceparent, "tracestate": _header(scope, b"tracestate")}
            context = _PROPAGATOR.extract(carrier)
        if parsed is not None:
            meta = parsed.params.get("_meta")
            if isinstance(meta, dict) and isinstance(meta.get("traceparent"), str):
                carrier = {k: v for k in TRACE_KEYS if isinstance(v := meta.get(k), str)}
                context = _PROPAGATOR.extract(carrier, context=context)
        return context

    def _http_attributes(self, span: Span, scope: Scope) -> None:
        host = _header(scope, b"host")
        query = scope.get("query_string", b"").decode("latin-1")
        path = scope["path"]
        scheme = scope.get("scheme", "http")
        url = f"{scheme}://{host}{path}" + (f"?{query}" if query else "")
        agent = _header(scope, b"user-agent")
        method = scope["method"]
        attributes: dict[str, Any] = {
            "http.request.method": method,
            "url.full": url,
            "url.scheme": scheme,
            "server.address": host,
            "url.path": path,
            "user_agent.original": agent,
        }
        length = _header(scope, b"content-length")
        if length.isdigit() and int(length) > 0:
            attributes["http.request.body.size"] = int(length)
        if query:
            attributes["url.query"] = query
        if self.legacy:
            attributes.update(
                {
                    "http.method": method,
                    "http.url": url,
                    "http.scheme": scheme,
                    "http.host": host,
                    "http.target": path,
                    "http.user_agent": agent,
                }
            )
            if length:
                attributes["http.request_content_length"] = length
            if query:
                attributes["http.query"] = query
        version = scope.get("http_version", "")
        if version:
            attributes["network.protocol.version"] = version
        span.set_attributes(attributes)

    def _request_attributes(
        self, span: Span, scope: Scope, parsed: ParsedMCPRequest | None
    ) -> None:
        self._http_attributes(span, scope)
        if self.environment:
            span.set_attributes(self.environment)
        if parsed is None:
            return
        legacy = self.legacy
        method = parsed.method
        target = parsed.resource_id
        attributes: dict[str, Any] = {
            "mcp.method.name": method,
            "rpc.system.name": "jsonrpc",
            "jsonrpc.protocol.version": "2.0",
            "mcp.server.name": self.server,
            "network.transport": self.net_transport,
        }
        if parsed.id is not None:
            attributes["jsonrpc.request.id"] = str(parsed.id)
        if target and method in _RESOURCE_URI_METHODS:
            attributes["mcp.resource.uri"] = target
        if legacy:
            attributes.update(
                {
                    "mcp.method": method,
                    "rpc.system": "jsonrpc",
                    "rpc.service": "mcp",
                    "mcp.transport": self.transport,
                }
            )
            if parsed.id is not None:
                attributes["mcp.request.id"] = str(parsed.id)
            if target:
                attributes["mcp.resource.id"] = target
        if method == "tools/call":
            attributes["gen_ai.operation.name"] = "execute_tool"
            arguments = sanitize_arguments(parsed.arguments) if parsed.arguments else ""
            if target:
                attributes["gen_ai.tool.name"] = target
            if arguments:
                attributes["gen_ai.tool.call.arguments"] = arguments
            if legacy:
                if target:
                    attributes["mcp.tool.name"] = target
                if arguments:
                    attributes["mcp.tool.arguments"] = arguments
        elif method == "prompts/get" and target:
            attributes["gen_ai.prompt.name"] = target
            if legacy:
                attributes["mcp.prompt.name"] = target
        elif method == "initialize" and target:
            attributes["mcp.client.name"] = target
        if self.net_protocol:
            attributes["network.protocol.name"] = self.net_protocol
        if self.backend_version:
            attributes["mcp.backend.protocol.version"] = self.backend_version
        client = scope.get("client")
        if client:
            attributes["client.address"] = client[0]
            if client[1]:
                attributes["client.port"] = client[1]
        session = _header(scope, b"mcp-session-id")
        if session:
            attributes["mcp.session.id"] = session
        protocol = _header(scope, b"mcp-protocol-version")
        if protocol:
            attributes["mcp.protocol.version"] = protocol
        span.set_attributes(attributes)

    def _finish(self, span: Span, status: int, size: int, elapsed: float) -> None:
        attributes: dict[str, Any] = {
            "http.response.status_code": status,
            "http.response.body.size": size,
        }
        if self.legacy:
            attributes["http.status_code"] = status
            attributes["http.response_content_length"] = size
            attributes["http.duration_ms"] = elapsed * 1000.0
        if status >= 500:
            attributes["error.type"] = str(status)
            span.set_status(Status(StatusCode.ERROR, f"HTTP {status}"))
        elif status < 400:
            span.set_status(Status(StatusCode.OK))
        span.set_attributes(attributes)
        span.end()

    # ------------------------------------------------------------------ metrics

    def _record(
        self, scope: Scope, parsed: ParsedMCPRequest | None, status: int, elapsed: float
    ) -> None:
        method = truncate_label(parsed.method) if parsed is not None and parsed.method else ""
        resource = truncate_label(parsed.resource_id) if parsed is not None else ""
        outcome = "error" if status >= 400 else "success"
        key = (scope["method"], str(status), outcome, method or "unknown", resource)
        self._count(key)
        self.duration.record(key, elapsed)
        if not method:
            # ToolHive warns here; a client's POSTed JSON-RPC *response* (to a server's roots/list
            # or sampling request) has no method either, so a warning per such POST is noise.
            if scope["method"] == "POST":
                log.debug(
                    "the MCP method of a POST to %s could not be determined (not JSON-RPC, or "
                    "telemetry is not inside mcp-parser)",
                    scope["path"],
                )
            return
        # The semconv attributes in a fixed order: the tuple is the series' key.
        semconv: list[tuple[str, str]] = [
            ("mcp.method.name", method),
            ("jsonrpc.protocol.version", "2.0"),
            ("network.transport", self.net_transport),
        ]
        if self.net_protocol:
            semconv.append(("network.protocol.name", self.net_protocol))
        version = scope.get("http_version")
        if version:
            semconv.append(("network.protocol.version", version))
        if status >= 500:
            semconv.append(("error.type", str(status)))
        if method == "tools/call":
            semconv.append(("gen_ai.operation.name", "execute_tool"))
            if resource:
                semconv.append(("gen_ai.tool.name", resource))
                tools = self._tools
                tool_key = (resource, outcome)
                if tool_key in tools or len(tools) < MAX_SERIES:
                    tools[tool_key] = tools.get(tool_key, 0) + 1
                else:
                    tools[OVERFLOW, outcome] = tools.get((OVERFLOW, outcome), 0) + 1
        elif method == "prompts/get" and resource:
            semconv.append(("gen_ai.prompt.name", resource))
        self.operation_duration.record(tuple(semconv), elapsed)

    # ------------------------------------------------------------------ SSE

    async def _sse(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A long-lived stream: record its establishment now, count it while it is open."""
        span = None
        if self.tracer is not None:
            span = self._start("sse.connection_established", self._parent(scope, None))
        if span is not None:
            self._http_attributes(span, scope)
            attributes = {
                "sse.event_type": "connection_established",
                "mcp.server.name": self.server,
                "network.transport": self.net_transport,
            }
            if self.net_protocol:
                attributes["network.protocol.name"] = self.net_protocol
            if self.backend_version:
                attributes["mcp.backend.protocol.version"] = self.backend_version
            if self.legacy:
                attributes["mcp.transport"] = self.transport
            span.set_attributes(attributes)
            span.set_status(Status(StatusCode.OK))
            span.end()
        self._count((scope["method"], "200", "success", "sse_connection", ""))
        self._active["sse"] += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self._active["sse"] -= 1
