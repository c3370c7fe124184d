"""The per-workload supervisor: ``thv start <name> --foreground``.

It deploys the server through its runtime, builds the transport and the proxy app, serves it on the
workload's port, records the status, and on SIGTERM/SIGINT stops everything it started. If the
server dies under it, the workload becomes ``unhealthy`` and the proxy keeps answering (errors, and
``/health`` says so) until ``thv restart``.

A remote server's credentials (:mod:`toolhive.workloads.upstream_auth`) are built here and handed
to the proxy; their statuses (``unauthenticated``, ``auth_retrying``, ``running`` again) go to the
status file and the event bus, and a status they set while starting is kept (ToolHive's runner
does not overwrite ``unauthenticated`` with ``running``).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import signal
from collections.abc import Mapping
from typing import TYPE_CHECKING

from toolhive.contracts.runtime import Runtime, StdioChannel
from toolhive.errors import ToolHiveError, WorkloadStateError
from toolhive.models.runconfig import RunConfig
from toolhive.models.workload import WorkloadStatus
from toolhive.plugins import Hooks
from toolhive.state import store
from toolhive.transports.base import Transport, TransportOptions
from toolhive.web.durations import parse_duration
from toolhive.workloads.deploy import deploy_request, server_url
from toolhive.workloads.events import EventType, WorkloadEvents
from toolhive.workloads.runtimes import select_runtime
from toolhive.workloads.urls import client_url

if TYPE_CHECKING:
    from toolhive.contracts.middleware import ASGIApp
    from toolhive.middleware.plan import Resolved
    from toolhive.proxy.app import Middleware
    from toolhive.proxy.server import ProxyServer
    from toolhive.workloads.upstream_auth import OAuthUpstream, StaticBearer

log = logging.getLogger("toolhive.supervisor")
S = WorkloadStatus
#: Statuses the upstream credentials set that starting must not replace with ``running``.
AUTH_HELD = frozenset({S.UNAUTHENTICATED, S.AUTH_RETRYING})
_AUTH_EVENTS = {
    S.UNAUTHENTICATED: EventType.UNAUTHENTICATED,
    S.AUTH_RETRYING: EventType.AUTH_RETRYING,
    S.RUNNING: EventType.RUNNING,
}


class Supervisor:
    def __init__(
        self,
        hooks: Hooks,
        config: RunConfig,
        *,
        events: WorkloadEvents | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.hooks = hooks
        #: Where running/unhealthy/stopped are published (client sync subscribes).
        self.events = events if events is not None else WorkloadEvents()
        #: The environment to open the secrets store with (``None``: this process's).
        self.environ = environ
        self.config = config
        self.name = config.base_name
        self.runtime: Runtime | None = None
        self.transport: Transport | None = None
        self.deployed = False
        self.stopping = False
        self.stop_requested = asyncio.Event()
        self.server: ProxyServer | None = None
        self.upstream_auth: StaticBearer | OAuthUpstream | None = None

    def request_stop(self) -> None:
        self.stop_requested.set()
        if self.server is not None:
            self.server.request_stop()

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop)
        store.write_pid(self.name, os.getpid())
        store.set_status(self.name, S.STARTING, process_id=os.getpid())
        failed = False
        try:
            await self._serve()
        except ToolHiveError as exc:
            failed = True
            log.error("%s", exc)
            store.set_status(self.name, S.ERROR, str(exc))
        except Exception as exc:  # a bug: keep the traceback in the proxy log
            failed = True
            log.exception("supervisor failed")
            store.set_status(self.name, S.ERROR, f"internal error: {type(exc).__name__}: {exc}")
        finally:
            self.stopping = True
            await self._teardown()
            # Also when run in the foreground (no `thv stop`): clients lose the entry.
            await asyncio.to_thread(self.events.emit, EventType.STOPPED, self.config)
            if not failed:
                store.set_status(self.name, S.STOPPED, process_id=0)
            if store.read_pid(self.name) == os.getpid():
                store.delete_pid(self.name)
        return 1 if failed else 0

    async def _serve(self) -> None:
        from toolhive.proxy.app import build_proxy_app
        from toolhive.proxy.edge import EdgeConfig
        from toolhive.proxy.server import ProxyServer, bind_socket

        config = self.config
        # Fail closed before anything runs: the chain the RunConfig asks for, every entry matched
        # with an installed plugin (the same check `thv run`/`thv start` made before spawning us).
        from toolhive.workloads.protection import require_enforceable

        chain = require_enforceable(self.hooks, config)
        transport_spec = self.hooks.transports()[config.transport]
        sock = bind_socket(config.host, config.port)
        channel: StdioChannel | None = None
        target_url: str | None = None
        headers: dict[str, str] = {}
        if config.is_vmcp:
            pass  # nothing to deploy: the gateway's backends are other workloads
        elif config.is_remote:
            target_url = server_url(config, None)
            if config.header_forward:
                # Secret values live in memory only, like --secret values below.
                from toolhive.models.remote import resolve_forward_headers

                headers = await asyncio.to_thread(
                    resolve_forward_headers, self.hooks, config.header_forward, self.environ
                )
            from toolhive.workloads.upstream_auth import upstream_auth_for

            self.upstream_auth = await asyncio.to_thread(
                upstream_auth_for, self.hooks, config, self.environ, self._auth_status
            )
            if self.upstream_auth is not None:
                await self.upstream_auth.start()
        else:
            spec, detection = select_runtime(self.hooks, config.runtime or None)
            self.runtime = runtime = self.hooks.load("runtimes", spec.name, detection=detection)
            request = deploy_request(
                config, in_container=spec.is_container, needs_stdio=transport_spec.needs_stdio
            )
            if config.secrets:
                # Resolved here, at start time, into the request only: never into a file.
                from toolhive.secrets.resolve import resolve_references

                values = await asyncio.to_thread(
                    resolve_references, self.hooks, config.secrets, self.environ
                )
                request = request.model_copy(update={"env": {**request.env, **values}})
            log.info("deploying %s with the %s runtime", config.image, spec.name)
            deployment = await asyncio.to_thread(runtime.deploy, request)
            self.deployed = True
            if self.stop_requested.is_set():
                return
            if transport_spec.needs_stdio:
                channel = await runtime.attach_stdio(request.name)
            else:
                target_url = server_url(config, deployment)
        transport: Transport
        if config.is_vmcp:
            # A gateway workload: the supervisor serves the vMCP gateway itself, with the
            # chain its own config (incomingAuth, audit, telemetry) asks for.
            from toolhive.vmcp.workload import gateway_transport

            gateway, chain = gateway_transport(self.hooks, config)
            self.transport = transport = gateway
        else:
            options = self._options(config, target_url, channel, headers)
            self.transport = transport = self.hooks.load("transports", config.transport)(options)
        await transport.start()
        if target_url is not None and not config.is_remote:
            await self._await_ready(transport)
        edge = EdgeConfig.for_bind(config.host, config.allowed_origins)
        routes: dict[str, ASGIApp] = {}
        app = build_proxy_app(
            transport,
            transport_name=config.transport,
            middleware=self._middleware(chain, routes),
            manage_lifespan=False,
            edge=edge,
            routes=routes,
        )
        self.server = server = ProxyServer(app, sock, handle_signals=False, lifespan="off")
        if self.stop_requested.is_set():
            return
        if self.runtime is not None and channel is not None:
            await self._still_there()
        serving = asyncio.create_task(server.serve())
        await server.wait_started(serving)
        monitor = asyncio.create_task(self._monitor()) if self.runtime else None
        # Clients first, so they are up to date once `thv run` reports running.
        held = store.read_status(self.name)
        await asyncio.to_thread(
            self.events.emit,
            EventType.RUNNING,
            config,
            status=held.status if held is not None and held.status in AUTH_HELD else S.RUNNING,
        )
        held = store.read_status(self.name)  # re-read: the credentials may have spoken meanwhile
        if held is not None and held.status in AUTH_HELD:
            log.warning("%s is serving at %s, but %s", config.name, client_url(config), held.status)
        else:
            store.set_status(self.name, S.RUNNING, process_id=os.getpid())
            log.info("%s is running at %s", config.name, client_url(config))
        health = self._start_health_loop(transport)
        try:
            await serving
        finally:
            for task in (monitor, health):
                if task:
                    task.cancel()

    def _options(
        self,
        config: RunConfig,
        target_url: str | None,
        channel: StdioChannel | None,
        headers: dict[str, str],
    ) -> TransportOptions:
        return TransportOptions(
            workload=config.name,
            transport=config.transport,
            target_url=target_url,
            stdio=channel,
            proxy_mode=config.effective_proxy_mode,
            session_ttl=parse_duration(config.session_ttl, 7200.0),
            endpoint_prefix=config.endpoint_prefix,
            trust_proxy_headers=config.trust_proxy_headers,
            stateless=config.stateless,
            strict_protocol_validation=config.strict_protocol_validation,
            remote=config.is_remote,
            headers=headers,
            upstream_auth=self.upstream_auth,
        )

    def _middleware(self, chain: list[Resolved], routes: dict[str, ASGIApp]) -> list[Middleware]:
        """The chain's ASGI wrappers, each plugin's factory given what it may know of us."""
        from toolhive.contracts.middleware import MiddlewareContext
        from toolhive.middleware.chain import mounter, wrappers

        if chain:
            log.info("middleware: %s", " > ".join(item.entry.type for item in chain))
        config = self.config
        context = MiddlewareContext(
            workload=config.name,
            transport=config.transport,
            proxy_mode=config.effective_proxy_mode,
            url=client_url(config),
            group=config.group or "default",
            remote=config.is_remote,
            resolve_secret=self._resolve_secret,
            mount=mounter(routes),
            trust_proxy_headers=config.trust_proxy_headers,
        )
        return wrappers(chain, context)

    def _resolve_secret(self, name: str) -> str:
        from toolhive.secrets.selection import open_secrets

        return open_secrets(self.hooks, environ=self.environ).get(name)

    def _auth_status(self, status: WorkloadStatus, context: str) -> None:
        """The upstream credentials' verdict (called on the event loop, so it cannot interleave
        with the start's own status write). ``running`` only ends an ``auth_retrying`` spell."""
        if self.stopping:
            return
        record = store.read_status(self.name)
        current = record.status if record is not None else None
        if status == S.RUNNING and current != S.AUTH_RETRYING:
            return
        store.set_status(self.name, status, context)
        self.events.emit(_AUTH_EVENTS[status], self.config, context=context)

    def _start_health_loop(self, transport: Transport) -> asyncio.Task[None] | None:
        """Ping through the transport; ``unhealthy`` after repeated failures, ``running`` again
        when pings succeed (remote servers only with ``TOOLHIVE_REMOTE_HEALTHCHECKS``)."""
        from toolhive.proxy.health import REMOTE_ENV, HealthLoop, env_flag

        if self.config.is_remote and not env_flag(REMOTE_ENV):
            return None

        def unhealthy(reason: str) -> None:
            record = store.read_status(self.name)
            if not self.stopping and record is not None and record.status == S.RUNNING:
                log.error("marking %s unhealthy: %s", self.name, reason)
                store.set_status(self.name, S.UNHEALTHY, reason)
                self.events.emit(EventType.UNHEALTHY, self.config, context=reason)

        def recovered() -> None:
            record = store.read_status(self.name)
            if (
                not self.stopping
                and record is not None
                and record.status == S.UNHEALTHY
                and record.status_context.startswith("health check failed")
            ):
                log.info("%s answers pings again: running", self.name)
                store.set_status(self.name, S.RUNNING)
                self.events.emit(EventType.RUNNING, self.config)

        loop = HealthLoop(transport.ping, on_unhealthy=unhealthy, on_recovered=recovered)
        return asyncio.create_task(loop.run())

    async def _await_ready(self, transport: Transport) -> None:
        """An HTTP server is running once it answers (a published port accepts connections
        before the server inside listens)."""
        timeout = float(os.environ.get("TOOLHIVE_SERVER_READY_TIMEOUT", "120"))
        deadline = asyncio.get_running_loop().time() + timeout
        name = self.config.container_name or self.name
        for attempt in itertools.count():
            try:
                await transport.ping(timeout=2.0)
                return
            except Exception as exc:
                if self.stop_requested.is_set():
                    return
                if asyncio.get_running_loop().time() > deadline:
                    msg = f"the server did not answer within {timeout:.0f}s: {exc}"
                    raise WorkloadStateError(msg) from None
            if self.runtime is not None and attempt % 5 == 4:
                info = await asyncio.to_thread(self.runtime.inspect, name)
                if info is None or info.state != "running":
                    code = "" if info is None or info.exit_code is None else f" ({info.exit_code})"
                    msg = f"the server exited before it answered{code}; see `thv logs {self.name}`"
                    raise WorkloadStateError(msg)
            await asyncio.sleep(0.2)

    async def _still_there(self) -> None:
        """A stdio server that exited at once (wrong command, missing binary) is a failed start,
        not ``running`` then ``unhealthy``: nothing else waits for it to answer first."""
        assert self.runtime is not None
        name = self.config.container_name or self.name
        info = await asyncio.to_thread(self.runtime.inspect, name)
        if info is None or info.state != "running":
            code = "" if info is None or info.exit_code is None else f" ({info.exit_code})"
            msg = f"the server exited as it started{code}; see `thv logs {self.name}`"
            raise WorkloadStateError(msg)

    async def _monitor(self) -> None:
        """Mark the workload unhealthy if its server exits while we are serving."""
        assert self.runtime is not None
        name = self.config.container_name or self.name
        code = await asyncio.to_thread(self.runtime.wait, name)
        if not self.stopping:
            log.error("the server exited with code %s", code)
            reason = f"server exited with code {code}"
            store.set_status(self.name, S.UNHEALTHY, reason)
            self.events.emit(EventType.UNHEALTHY, self.config, context=reason)

    async def _teardown(self) -> None:
        if self.transport is not None:
            with contextlib.suppress(Exception):
                await self.transport.aclose()
        if self.upstream_auth is not None:
            await self.upstream_auth.aclose()
        if self.runtime is not None and self.deployed:
            store.set_status(self.name, S.STOPPING)
            name = self.config.container_name or self.name
            try:
                await asyncio.to_thread(self.runtime.stop, name, 10)
            except Exception:
                log.exception("stopping %s failed", name)


def run_supervisor(
    hooks: Hooks,
    name: str,
    *,
    events: WorkloadEvents | None = None,
    environ: Mapping[str, str] | None = None,
    debug: bool = False,
) -> int:
    """Supervise workload ``name`` until stopped. Debug logs (to the proxy log when detached)
    with ``debug``, ``TOOLHIVE_DEBUG`` or the RunConfig's ``debug``."""
    config = store.load_runconfig(name)
    debug = debug or config.debug or bool(os.environ.get("TOOLHIVE_DEBUG"))
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    log.debug("supervising %s: transport %s, runtime %s", name, config.transport, config.runtime)
    return asyncio.run(Supervisor(hooks, config, events=events, environ=environ).run())
