"""The gateway: backends + the virtual server + the bridge's relay and face + the middleware chain.

``thv vmcp serve`` builds a :class:`Gateway` from a vMCP config and serves it like a workload's
proxy (``/health``, Origin/Host checks, the same middleware plugins, uvicorn on a bound socket).
The gateway keeps its backend set live: the group's running workloads (watched through the state
files, so ``thv run --group``/``thv stop``/``thv rm`` from any shell are seen at once) plus the
config's static ``backends``; health checks, an unhealthy threshold and a circuit breaker decide
which of them serve (see docs/vmcp.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from toolhive.errors import InvalidInputError
from toolhive.transports.stdio.event_log import priming_delay_from_env
from toolhive.transports.stdio.relay import Relay
from toolhive.transports.stdio.streamable_http import StreamableHttpFace
from toolhive.vmcp import outgoing
from toolhive.vmcp.backend_client import BackendError, BackendUnauthorizedError
from toolhive.vmcp.backends import Backend, BackendSpec, CircuitBreaker
from toolhive.vmcp.virtual import VirtualServer
from toolhive.web.asgi import CONNECTION_EXTENSION, ConnectionEvents, Receive, Scope, Send

if TYPE_CHECKING:
    from toolhive.models.runconfig import RunConfig
    from toolhive.plugins import Hooks
    from toolhive.proxy.app import Middleware, ProxyApp
    from toolhive.vmcp.config import VmcpConfig
    from toolhive.vmcp.redis_sessions import RedisSessionStore

log = logging.getLogger("toolhive.vmcp")

DEFAULT_PORT = 4483
#: A client session idle this long ends (ToolHive's vMCP default, ``--session-ttl 0``).
DEFAULT_SESSION_TTL = 1800.0
#: How long start-up waits for the first connection to every backend.
FIRST_CONNECT_TIMEOUT = 15.0
#: Requests the gateway forwards to a backend (worth watching for a client that hangs up).
_FORWARDED_CALL = re.compile(rb'"method"\s*:\s*"(?:tools/call|prompts/get|resources/read)"')


@dataclass(frozen=True, slots=True)
class Target:
    """Where a backend is: what discovery reports."""

    url: str
    transport: Literal["streamable-http", "sse"]


def target_for(url: str, transport: str | None = None) -> Target:
    """A backend URL (a workload's client URL may carry ``#name``) and the transport to speak."""
    url = url.partition("#")[0]
    if transport in ("sse", "streamable-http"):
        return Target(url, transport)  # type: ignore[arg-type]
    path = url.split("?", 1)[0].rstrip("/")
    return Target(url, "sse" if path.endswith("/sse") else "streamable-http")


class Gateway:
    """Backends, health and discovery around one :class:`VirtualServer`."""

    def __init__(
        self, config: VmcpConfig, hooks: Hooks | None = None, *, workload: str | None = None
    ) -> None:
        self.config = config
        self.hooks = hooks
        #: The gateway's own workload name when it runs as one (never its own backend).
        self.workload = workload
        name = config.name or config.group_ref or "vmcp"
        self.name = name
        failure = config.operational.failure_handling
        self.best_effort = failure.partial_failure_mode == "best_effort"
        self.health_interval = failure.health_check_interval_seconds
        self.unhealthy_threshold = failure.unhealthy_threshold
        self._breaker = failure.circuit_breaker
        self._timeouts = config.operational.timeouts
        self.group = config.group_ref or None
        self._static = {b.name: target_for(b.url, b.transport) for b in config.backends}
        self._outgoing = config.outgoing_auth
        self._auth_cache: dict[str, tuple[Any, Any]] = {}
        composites = self._composites()
        optimizer = None
        if config.optimizer is not None:
            from toolhive.vmcp.optimizer import ToolIndex

            optimizer = ToolIndex(max_results=config.optimizer.max_results)
        self.virtual = VirtualServer(
            name=name,
            aggregation=config.aggregation,
            composites=composites,
            optimizer=optimizer,
            best_effort=self.best_effort,
        )
        self._tasks: list[asyncio.Task[None]] = []
        self._connects: dict[str, asyncio.Task[None]] = {}
        #: Backends that failed to connect: the pending quick retry (``None`` once the health
        #: loop's interval is as soon) and how many failures came before it.
        self._retries: dict[str, tuple[asyncio.TimerHandle | None, int]] = {}
        #: Discovery's view: backend name → where it is.
        self.targets: dict[str, Target] = dict(self._static)
        self._check_outgoing()

    # ------------------------------------------------------------------ config pieces

    def _composites(self) -> list[Any]:
        if not self.config.composite_tools:
            return []
        from toolhive.vmcp.composite import CompositeTool

        return [CompositeTool(c) for c in self.config.composite_tools]

    def _check_outgoing(self) -> None:
        """Refuse an outgoing strategy nothing here can apply — before anything serves."""
        backends = self._outgoing.backends if self._outgoing is not None else {}
        for name in [*self._static, *backends]:
            self._auth_for(name)
        if self._outgoing is not None and self._outgoing.default is not None:
            outgoing.check_supported(self._outgoing.default, "(default)")

    def _auth_for(self, name: str) -> tuple[Any, Any]:
        cached = self._auth_cache.get(name)
        if cached is not None:
            return cached
        strategy = self.config.outgoing_auth_for(name)
        outgoing.check_supported(strategy, name)
        static = outgoing.static_headers(strategy, name)
        dynamic = None
        if strategy is not None and strategy.type == "token_exchange":
            if self.hooks is None:
                msg = f"backend {name}: token_exchange needs the plugin host"
                raise InvalidInputError(msg)
            dynamic = outgoing.request_headers(strategy, name, self.hooks)
        self._auth_cache[name] = (static, dynamic)
        return static, dynamic

    def _backend(self, name: str, target: Target) -> Backend:
        static, dynamic = self._auth_for(name)
        spec = BackendSpec(
            name=name,
            url=target.url,
            transport=target.transport,
            timeout=self._timeouts.seconds_for(name),
            headers=static,
            request_headers=dynamic,
        )
        breaker = CircuitBreaker(
            enabled=self._breaker.enabled,
            threshold=self._breaker.failure_threshold,
            timeout=self._breaker.timeout_seconds,
        )
        return Backend(spec, on_message=self.virtual.on_backend_message, breaker=breaker)

    @property
    def max_timeout(self) -> float:
        """The longest a request may legitimately take (the relay's own timeout is above it)."""
        timeouts = self._timeouts
        longest = max(
            [timeouts.default_seconds, *(timeouts.seconds_for(n) for n in timeouts.per_workload)]
        )
        return max([longest, *(c.timeout_seconds for c in self.config.composite_tools)])

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Discover, connect to every backend (in parallel, bounded), then keep watching.

        Static backends mean static mode, as in ToolHive: the group is not watched (in a
        Kubernetes pod there is no local group; the operator writes the members' URLs)."""
        if self.group and not self._static:
            from toolhive.workloads.watch import StatusWatcher

            watcher = StatusWatcher(interval=1.0)
            ready = asyncio.get_running_loop().create_future()
            self._tasks.append(asyncio.create_task(self._watch_group(watcher, ready)))
            await ready
        else:
            await self.apply_targets(dict(self._static), wait=True)
        self._tasks.append(asyncio.create_task(self._health_loop()))

    async def aclose(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for task in self._connects.values():
            task.cancel()
        for name in list(self._retries):
            self._forget_retry(name)
        await asyncio.gather(
            *(b.aclose() for b in self.virtual.backends.values()), return_exceptions=True
        )
        await self.virtual.aclose()

    async def apply_targets(self, targets: Mapping[str, Target], *, wait: bool = False) -> None:
        """Make the backend set ``targets``: new ones connect, gone ones close, moved ones
        reconnect. With ``wait``, return once every new backend connected or failed."""
        self.targets = dict(targets)
        virtual = self.virtual
        changed = False
        for name in [n for n in virtual.backends if n not in targets]:
            backend = virtual.remove_backend(name)
            self._forget_retry(name)
            if backend is not None:
                log.info("backend %s left the group", name)
                await backend.aclose()
            changed = True
        started: list[asyncio.Task[None]] = []
        for name, target in targets.items():
            current = virtual.backends.get(name)
            if current is not None and (current.spec.url, current.spec.transport) == (
                target.url,
                target.transport,
            ):
                continue
            if current is not None:
                virtual.remove_backend(name)
                await current.aclose()
            backend = self._backend(name, target)
            virtual.add_backend(backend)
            started.append(self._connect_soon(backend))
            changed = True
        if wait and started:
            await asyncio.wait(started, timeout=FIRST_CONNECT_TIMEOUT)
        if changed:
            virtual.refresh()

    def _connect_soon(self, backend: Backend) -> asyncio.Task[None]:
        task = self._connects.get(backend.name)
        if task is not None and not task.done():
            return task
        task = asyncio.get_running_loop().create_task(self._connect(backend))
        self._connects[backend.name] = task
        return task

    async def _connect(self, backend: Backend) -> None:
        try:
            await backend.connect()
        except BackendUnauthorizedError as exc:
            if backend.awaiting_identity:
                log.info("backend %s: connects with the first caller's token", backend.name)
                backend.healthy = False
                return
            backend.mark_unhealthy(f"cannot connect: {exc}")
            log.warning("backend %s: cannot connect: %s", backend.name, exc)
            self._retry_soon(backend)
            return
        except (BackendError, TimeoutError, OSError) as exc:
            backend.mark_unhealthy(f"cannot connect: {exc}")
            log.warning("backend %s: cannot connect: %s", backend.name, exc)
            self._retry_soon(backend)
            return
        except Exception as exc:  # a broken backend must never take the gateway down
            backend.mark_unhealthy(f"cannot connect: {exc}")
            log.exception("backend %s: connecting failed", backend.name)
            self._retry_soon(backend)
            return
        self._forget_retry(backend.name)
        if self.virtual.backends.get(backend.name) is backend:
            log.info(
                "backend %s: %d tools",
                backend.name,
                len(backend.capabilities.tools) if backend.capabilities else 0,
            )
            self.virtual.refresh()

    def _retry_soon(self, backend: Backend) -> None:
        """Try a backend that could not connect again after 1, 2, 4, … seconds (at most the
        health-check interval, which retries it anyway): one that starts a moment after the
        gateway — the usual order in a Kubernetes namespace — is not missing for a whole interval."""
        if self.virtual.backends.get(backend.name) is not backend:
            return  # it left the group meanwhile
        previous = self._forget_retry(backend.name)
        attempt = 0 if previous is None else previous + 1
        delay = 2.0 ** min(attempt, 16)
        if delay >= self.health_interval:
            # From here on the health loop's own retries are as soon.
            self._retries[backend.name] = (None, attempt)
            return

        def again() -> None:
            if self.virtual.backends.get(backend.name) is backend and not backend.healthy:
                self._connect_soon(backend)

        handle = asyncio.get_running_loop().call_later(delay, again)
        self._retries[backend.name] = (handle, attempt)

    def _forget_retry(self, name: str) -> int | None:
        """Cancel ``name``'s pending quick retry; how many failures came before it, if any."""
        retry = self._retries.pop(name, None)
        if retry is None:
            return None
        handle, attempt = retry
        if handle is not None:
            handle.cancel()
        return attempt

    async def _health_loop(self) -> None:
        while True:
            await asyncio.sleep(self.health_interval)
            await asyncio.gather(
                *(self._check(b) for b in list(self.virtual.backends.values())),
                return_exceptions=True,
            )

    async def _check(self, backend: Backend) -> None:
        if backend.awaiting_identity:
            return  # only a caller's token opens it (token exchange)
        if not backend.healthy or backend.conn is None:
            await self._connect_soon(backend)
            return
        try:
            await backend.ping(min(10.0, max(1.0, self.health_interval)))
        except BackendUnauthorizedError:
            # The lent identity expired; the backend answers, and callers bring their own.
            backend.failed_checks = 0
            return
        except (BackendError, TimeoutError, OSError) as exc:
            backend.failed_checks += 1
            log.info(
                "backend %s: health check %d failed: %s", backend.name, backend.failed_checks, exc
            )
            if backend.failed_checks >= self.unhealthy_threshold:
                log.warning("backend %s is unhealthy: %s", backend.name, exc)
                backend.mark_unhealthy(f"unhealthy: {exc}")
                self.virtual.refresh()
            return
        backend.failed_checks = 0

    async def _watch_group(self, watcher: Any, ready: asyncio.Future[None]) -> None:
        """Follow the group's running workloads."""
        running: dict[str, Target] = {}
        try:
            async with watcher.subscribe() as subscription:
                for change in subscription.snapshot:
                    self._track(running, change.workload)
                await self.apply_targets(dict(running), wait=True)
                if not ready.done():
                    ready.set_result(None)
                while True:
                    change = await subscription.next()
                    if change is None:
                        continue
                    if self._track(running, change.workload):
                        await self.apply_targets(dict(running))
        except Exception as exc:
            if not ready.done():
                ready.set_exception(exc)
            raise

    def _track(self, running: dict[str, Target], view: Any) -> bool:
        """Update ``running`` from one workload's view; ``True`` if it changed."""
        name = str(view.name)
        member = (
            view.group == self.group
            and view.status == "running"
            and bool(view.url)
            and name != self.workload
            # Another gateway of this very group would aggregate us back: a loop.
            and getattr(view, "image", "") != f"vmcp://{self.group}"
        )
        before = running.get(name)
        if member:
            target = target_for(str(view.url))
            running[name] = target
            return before != target
        if before is not None:
            del running[name]
            return True
        return False


class GatewayTransport:
    """The gateway as a proxy transport: the bridge's face and relay over the virtual server."""

    def __init__(self, gateway: Gateway, *, session_ttl: float = DEFAULT_SESSION_TTL) -> None:
        self.gateway = gateway
        self.relay = Relay(
            gateway.virtual,
            workload=gateway.name,
            request_timeout=gateway.max_timeout + 5.0,
            keepalive_interval=float(os.environ.get("TOOLHIVE_PROXY_SSE_KEEPALIVE", "") or 25.0),
            session_ttl=session_ttl,
        )
        #: ``sessionStorage: redis``: sessions outlive this process (other replicas continue them).
        self.store: RedisSessionStore | None = None
        if gateway.config.session_storage is not None:
            from toolhive.vmcp.redis_sessions import session_store

            self.store = session_store(gateway.config.session_storage, session_ttl)
        self.face = StreamableHttpFace(
            self.relay,
            strict_protocol=False,
            priming_delay=priming_delay_from_env(),
            store=self.store,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1003})
            return
        # b"": a client request without a token (None is the gateway's own traffic).
        authorization = b""
        for key, value in scope["headers"]:
            if key == b"authorization":
                authorization = value
                break
        token = outgoing.INCOMING_AUTHORIZATION.set(authorization)
        try:
            if scope["method"] == "POST":
                await self._post(scope, receive, send)
            else:
                await self.face(scope, receive, send)
        finally:
            outgoing.INCOMING_AUTHORIZATION.reset(token)

    async def _post(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A POST; a forwarded call whose client hangs up before its JSON answer is abandoned,
        so the relay forgets it and the backend is told to cancel it. (Once the answer is an
        SSE stream the face watches the connection itself, and a resumable stream outlives
        it on purpose.)

        The hang-up is heard from ToolHive's uvicorn protocol when it offers
        ``CONNECTION_EXTENSION`` (no task per call), else by a task waiting in ``receive()``."""
        face = asyncio.current_task()
        assert face is not None
        extensions = scope.get("extensions")
        conn: ConnectionEvents | None = (
            extensions.get(CONNECTION_EXTENSION) if extensions is not None else None
        )
        watching: asyncio.Task[None] | None = None
        armed = started = lost = False

        def hang_up() -> None:
            nonlocal lost
            if not started:
                lost = True
                face.cancel()

        async def watch() -> None:
            message = await receive()
            if message["type"] == "http.disconnect":
                hang_up()

        async def body_then_watch() -> Any:
            nonlocal armed, watching
            message = await receive()
            if (
                not armed
                and message["type"] == "http.request"
                and not message.get("more_body")
                and _FORWARDED_CALL.search(message.get("body", b""))
            ):
                armed = True
                if conn is not None:
                    conn.on_lost = hang_up
                else:
                    watching = asyncio.get_running_loop().create_task(watch())
            return message

        async def sending(message: Any) -> None:
            nonlocal started
            started = True
            await send(message)

        try:
            await self.face(scope, body_then_watch, sending)
        except asyncio.CancelledError:
            if not lost or started:
                raise  # not ours: the server is stopping
        finally:
            if conn is not None and conn.on_lost is hang_up:
                conn.on_lost = None
            if watching is not None and not watching.done():
                watching.cancel()

    async def start(self) -> None:
        if self.store is not None:
            # Fail closed: configured storage that does not answer is an error, not memory mode.
            await self.store.start()
        await self.relay.start()
        self.gateway.virtual.attach(self.relay.table)
        await self.gateway.start()

    async def drain(self) -> None:
        self.relay.drain()

    async def aclose(self) -> None:
        await self.gateway.aclose()
        await self.relay.aclose()
        if self.store is not None:
            await self.store.aclose()

    async def ping(self, timeout: float = 5.0) -> None:
        await self.relay.ping(timeout)


def protection_config(config: VmcpConfig, url: str) -> RunConfig:
    """A RunConfig carrying what ``incomingAuth``, ``audit`` and ``telemetry`` ask for, so the
    gateway's chain is built and checked (fail closed) exactly like a workload's."""
    from toolhive.models.runconfig import RunConfig
    from toolhive.workloads.protection_inputs import OIDCOptions

    name = config.name or "vmcp"
    fields: dict[str, Any] = {}
    incoming = config.incoming_auth
    kind = incoming.type if incoming is not None else "anonymous"
    if kind == "oidc":
        assert incoming is not None
        oidc = incoming.oidc
        if oidc is None or not (oidc.issuer and oidc.audience):
            msg = "incomingAuth.oidc: set at least issuer and audience"
            raise InvalidInputError(msg)
        secret_env = oidc.client_secret_env
        local = _loopback_http(oidc.issuer)
        options = OIDCOptions(
            issuer=oidc.issuer,
            audience=oidc.audience,
            jwks_url=oidc.jwks_url or "",
            introspection_url=oidc.introspection_url or "",
            client_id=oidc.client_id,
            client_secret=os.environ.get(secret_env, "") if secret_env else "",
            scopes=list(oidc.scopes or []),
            resource_url=oidc.resource or url,
            insecure_allow_http=oidc.insecure_allow_http or local,
            # As Go: either flag lets every OIDC request reach private addresses.
            jwks_allow_private_ip=(
                oidc.jwks_allow_private_ip or oidc.protected_resource_allow_private_ip or local
            ),
            ca_bundle=oidc.ca_bundle_path or "",
        )
        fields["oidc_config"] = options.validator_config()
    elif kind != "anonymous":
        msg = f"incomingAuth.type {kind!r} is not supported (use oidc or anonymous)"
        raise InvalidInputError(msg)
    authz = incoming.authz if incoming is not None else None
    if authz is not None and authz.type == "cedar":
        fields["authz_config"] = {
            "version": "1.0",
            "type": "cedarv1",
            "cedar": {
                "policies": list(authz.policies),
                "entities_json": authz.entities_json or "[]",
                **{
                    key: value
                    for key, value in (
                        ("primary_upstream_provider", authz.primary_upstream_provider),
                        ("group_claim_name", authz.group_claim_name),
                        ("role_claim_name", authz.role_claim_name),
                        ("group_entity_type", authz.group_entity_type),
                    )
                    if value
                },
            },
        }
    if config.audit is not None:
        audit = config.audit.model_dump(by_alias=True, exclude_none=True)
        audit.setdefault("component", "vmcp-server")
        fields["audit_config"] = audit
    if config.telemetry is not None:
        telemetry = config.telemetry.model_dump(by_alias=True, exclude_none=True)
        telemetry.setdefault("serviceName", name)
        fields["telemetry_config"] = telemetry
    return RunConfig(name=_workload_name(name), transport="streamable-http", **fields)


def _workload_name(name: str) -> str:
    cleaned = "".join(c if c.isalnum() or c in "-_." else "-" for c in name).strip("-.")
    return cleaned or "vmcp"


def _loopback_http(url: str) -> bool:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost", "::1")


def middleware_for(
    config: VmcpConfig, hooks: Hooks, url: str, routes: dict[str, Any]
) -> list[Middleware]:
    """The gateway's chain (auth, Cedar, audit, telemetry), checked against the installed plugins."""
    from toolhive.contracts.middleware import MiddlewareContext
    from toolhive.middleware.chain import mounter, wrappers
    from toolhive.workloads.protection import require_enforceable

    run_config = protection_config(config, url)
    chain = require_enforceable(hooks, run_config)
    if chain:
        log.info("middleware: %s", " > ".join(item.entry.type for item in chain))
    context = MiddlewareContext(
        workload=run_config.name,
        transport="streamable-http",
        proxy_mode="streamable-http",
        url=url,
        mount=mounter(routes),
    )
    return wrappers(chain, context)


def build_app(
    config: VmcpConfig,
    hooks: Hooks,
    *,
    host: str,
    port: int,
    session_ttl: float = DEFAULT_SESSION_TTL,
) -> tuple[ProxyApp, GatewayTransport]:
    """The gateway's ASGI app (not started) and its transport."""
    from toolhive.proxy.app import build_proxy_app
    from toolhive.proxy.edge import EdgeConfig

    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    url = f"http://{shown}:{port}/mcp"
    gateway = Gateway(config, hooks)
    transport = GatewayTransport(gateway, session_ttl=session_ttl)
    routes: dict[str, Any] = {}
    middleware = middleware_for(config, hooks, url, routes)
    app = build_proxy_app(
        transport,
        transport_name="streamable-http",
        middleware=middleware,
        edge=EdgeConfig.for_bind(host),
        routes=routes,
    )
    return app, transport


def serve_gateway(
    config: VmcpConfig,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    config_path: Path | None = None,
    hooks: Hooks | None = None,
    session_ttl: float = 0.0,
) -> None:
    """Serve the gateway in the foreground until SIGTERM/SIGINT. Client sessions idle for
    ``session_ttl`` seconds end (0: ToolHive's default, 30 minutes)."""
    from toolhive.proxy.server import bind_socket, event_loop_factory, serve

    if hooks is None:
        from toolhive.plugins import Hooks, build_plugin_manager

        hooks = Hooks(build_plugin_manager())
    sock = bind_socket(host, port, what="vMCP port")
    port = int(sock.getsockname()[1])
    ttl = session_ttl or DEFAULT_SESSION_TTL
    app, _transport = build_app(config, hooks, host=host, port=port, session_ttl=ttl)
    where = f" ({config_path})" if config_path is not None else ""
    log.info("vMCP %s%s serving at http://%s:%d/mcp", app.transport_name, where, host, port)
    with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
        runner.run(serve(app, sock))
