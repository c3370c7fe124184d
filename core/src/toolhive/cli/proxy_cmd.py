"""``thv proxy``: a standalone proxy in front of an MCP URL, and ``thv proxy stdio`` for stdio clients.

As in ToolHive, ``thv proxy SERVER_NAME --target-uri URL`` and ``thv proxy stdio WORKLOAD`` share one
command: a first argument that is not a subcommand name runs the default ``run`` subcommand.
"""

from __future__ import annotations

import logging
import os
from typing import Any
from urllib.parse import urlsplit

import click

from toolhive.cli.go_flags import GoBoolCommand
from toolhive.cli.protection_flags import (
    BOOL_FLAGS,
    given_parameters,
    protection_options,
    protection_request_fields,
)
from toolhive.cli.remote_auth_flags import BOOL_FLAGS as REMOTE_AUTH_BOOL_FLAGS
from toolhive.cli.remote_auth_flags import remote_auth_options
from toolhive.errors import InvalidInputError, WorkloadStateError


class _DefaultToRun(click.Group):
    """``thv proxy NAME ...`` is ``thv proxy run NAME ...``."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("-h", "--help"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


@click.group(cls=_DefaultToRun)
def proxy() -> None:
    """Proxy an MCP server.

    \b
    thv proxy SERVER_NAME --target-uri URL   standalone proxy (no workload) in front of a URL
    thv proxy stdio WORKLOAD                 bridge stdin/stdout to a running workload
    """


def _setup_logging() -> None:
    debug = bool(os.environ.get("TOOLHIVE_DEBUG"))
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


class _ProxyRun(GoBoolCommand):
    go_bool_flags = BOOL_FLAGS | REMOTE_AUTH_BOOL_FLAGS


@proxy.command("run", cls=_ProxyRun)
@click.argument("server_name")
@click.option(
    "--target-uri", required=True, help="URL of the MCP server, e.g. https://mcp.example.com/mcp."
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port", type=click.IntRange(0, 65535), default=0, help="Port to listen on (default: random)."
)
@click.option(
    "--allowed-origins",
    multiple=True,
    help="Browser Origin allowed to call the proxy (repeat or comma-separate).",
)
@click.option("--endpoint-prefix", default="", help="Path prefix for SSE endpoint URLs.")
@click.option(
    "--trust-proxy-headers", is_flag=True, help="Trust X-Forwarded-Prefix/-Host/-Proto headers."
)
@click.option("--stateless", is_flag=True, help="The server keeps no sessions: POST only.")
@protection_options
@remote_auth_options
@click.pass_context
def run_proxy(ctx: click.Context, /, server_name: str, target_uri: str, **opts: Any) -> None:
    """Serve a transparent proxy for SERVER_NAME in front of --target-uri, in the foreground.

    The target URL's query string is sent upstream on every request but is not part of the
    client URL. The protection flags (--oidc-*, --authz-config, --audit-config, --otel-*,
    --tools) put the same middleware chain in front as `thv run`. Stop with Ctrl-C.
    """
    from toolhive.models.runconfig import validate_workload_name
    from toolhive.proxy.app import build_proxy_app
    from toolhive.proxy.edge import EdgeConfig
    from toolhive.proxy.server import bind_socket, run
    from toolhive.transports.base import TransportOptions
    from toolhive.transports.reverse_proxy import ReverseProxy

    name = validate_workload_name(server_name)
    target = urlsplit(target_uri)
    if target.scheme not in ("http", "https") or not target.hostname:
        msg = f"--target-uri {target_uri!r} is not an http(s) URL"
        raise InvalidInputError(msg)
    _setup_logging()
    credentials = _upstream_credentials(ctx, name, target_uri, opts)
    host = str(opts["host"])
    edge = EdgeConfig.for_bind(host, opts["allowed_origins"])
    transport_name = "sse" if target.path.rstrip("/").endswith("/sse") else "streamable-http"
    transport = ReverseProxy(
        TransportOptions(
            workload=name,
            transport=transport_name,
            target_url=target_uri,
            remote=True,
            endpoint_prefix=str(opts["endpoint_prefix"]),
            trust_proxy_headers=bool(opts["trust_proxy_headers"]),
            stateless=bool(opts["stateless"]),
            upstream_auth=credentials,
        )
    )
    sock = bind_socket(host, int(opts["port"]), what="port")
    port = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    if host in ("0.0.0.0", "::", ""):
        shown = "127.0.0.1"
    url = f"http://{shown}:{port}{target.path or '/'}"
    routes: dict[str, Any] = {}
    middleware = _chain(ctx, name, transport_name, target_uri, url, opts, routes)
    app = build_proxy_app(
        transport, transport_name=transport_name, edge=edge, middleware=middleware, routes=routes
    )
    click.echo(
        f"{name}: proxying {target.scheme}://{target.netloc}{target.path} at "
        f"{url} (Ctrl-C to stop)",
        err=True,
    )
    if credentials is None:
        run(app, sock)
        return
    _run_with_credentials(app, sock, credentials)


def _upstream_credentials(
    ctx: click.Context, name: str, target_uri: str, opts: dict[str, Any]
) -> Any:
    """The remote server's credentials (``--remote-auth*``): a sign-in now when it asks for
    one, as ``thv run <URL>`` does; ``None`` when it needs none. The tokens are kept in the
    secrets provider under this proxy's name, so the next ``thv proxy`` reuses the login."""
    from toolhive.cli.output import state
    from toolhive.cli.remote_auth_flags import remote_auth_request
    from toolhive.models.runconfig import RunConfig
    from toolhive.workloads.remote_login import sign_in, stash_remote_secrets
    from toolhive.workloads.upstream_auth import upstream_auth_for

    given = given_parameters(ctx)
    auth = remote_auth_request(opts, given)
    if auth is not None and opts.get("token_exchange_url"):
        msg = "--remote-auth* and --token-exchange-* cannot be combined"
        raise InvalidInputError(msg)
    if auth is None and opts.get("token_exchange_url"):
        return None  # each caller's exchanged token authenticates upstream
    hooks = state(ctx).hooks
    config = RunConfig(
        name=name,
        transport="streamable-http",
        port=0,
        target_port=0,
        remote_url=target_uri,
        remote_auth_config=auth,
    )
    config = stash_remote_secrets(hooks, config)
    config, _env = sign_in(
        hooks, config, announce=lambda line: click.echo(line, err=True), open_browser=True
    )
    log = logging.getLogger("toolhive.proxy")

    def on_status(status: Any, context: str) -> None:
        log.warning("%s: upstream credentials %s: %s", name, status, context)

    return upstream_auth_for(hooks, config, None, on_status)


def _run_with_credentials(app: Any, sock: Any, credentials: Any) -> None:
    """:func:`toolhive.proxy.server.run` with the credentials' refresh task around it."""
    import asyncio

    from toolhive.proxy.server import event_loop_factory, serve

    async def main() -> None:
        await credentials.start()
        try:
            await serve(app, sock)
        finally:
            await credentials.aclose()

    with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
        runner.run(main())


def _chain(
    ctx: click.Context,
    name: str,
    transport: str,
    target_uri: str,
    url: str,
    opts: dict[str, Any],
    routes: dict[str, Any],
) -> list[Any]:
    """The middleware the protection flags ask for, checked (fail closed) and bound."""
    from toolhive.cli.output import state
    from toolhive.cli.run_cmd import otel_defaults
    from toolhive.contracts.middleware import MiddlewareContext
    from toolhive.middleware.chain import mounter, wrappers
    from toolhive.models.runconfig import RunConfig
    from toolhive.workloads.protection import require_enforceable
    from toolhive.workloads.protection_inputs import protection_fields

    fields = protection_request_fields(opts, given_parameters(ctx), otel_defaults())
    config = RunConfig(
        **protection_fields(
            oidc=fields["oidc"],
            authz_config=fields["authz_config"],
            audit_config=fields["audit_config"],
            enable_audit=fields["enable_audit"],
            telemetry_config=fields["telemetry_config"],
            workload=name,
            token_exchange=fields["token_exchange"],
        ),
        name=name,
        transport=transport,
        remote_url=target_uri,
        tools_filter=fields["tools"],
        tools_override=fields["tools_override"],
    )
    chain = require_enforceable(state(ctx).hooks, config)
    if chain:
        logging.getLogger("toolhive.proxy").info(
            "middleware: %s", " > ".join(item.entry.type for item in chain)
        )
    context = MiddlewareContext(
        workload=name,
        transport=transport,
        proxy_mode=transport,
        url=url,
        remote=True,
        mount=mounter(routes),
        trust_proxy_headers=bool(opts["trust_proxy_headers"]),
    )
    return wrappers(chain, context)


@proxy.command("stdio")
@click.argument("workload")
@click.pass_context
def stdio(ctx: click.Context, workload: str) -> None:
    """Bridge stdin/stdout (newline-delimited JSON-RPC) to a running workload's HTTP URL."""
    import asyncio

    from toolhive.cli.output import state
    from toolhive.models.workload import WorkloadStatus
    from toolhive.proxy.stdio_client import bridge_stdio

    info = state(ctx).workloads().get(workload)
    if info.status not in (WorkloadStatus.RUNNING, WorkloadStatus.UNHEALTHY):
        msg = f"workload {workload!r} is {info.status}; start it with `thv start {workload}`"
        raise WorkloadStateError(msg)
    _setup_logging()
    code = asyncio.run(bridge_stdio(info.url, sse=info.proxy_mode == "sse"))
    ctx.exit(code)
