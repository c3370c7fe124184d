"""``thv serve``: the REST API (``/api/v1beta``) on a port or a unix socket, in the foreground."""

from __future__ import annotations

import ipaddress
import logging
import os
from typing import Any

import click

from toolhive.errors import InvalidInputError


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True)
@click.option(
    "--socket", "socket_path", default="", help="Unix socket to listen on (overrides host/port)."
)
@click.option(
    "--openapi", is_flag=True, help="Serve /api/openapi.json and readable docs at /api/doc."
)
@click.option("--oidc-issuer", default="", help="Only tokens from this OIDC issuer get in.")
@click.option("--oidc-audience", default="", help="Audience tokens must carry.")
@click.option("--oidc-jwks-url", default="", help="JWKS URL (default: from discovery).")
@click.option("--oidc-introspection-url", default="", help="RFC 7662 endpoint for opaque tokens.")
@click.option("--oidc-client-id", default="", help="OAuth client id (for introspection).")
@click.option("--oidc-client-secret", default="", help="OAuth client secret (for introspection).")
@click.option("--oidc-scopes", multiple=True, help="Scopes advertised in the RFC 9728 metadata.")
@click.option(
    "--oidc-insecure-allow-http", is_flag=True, help="Allow an http:// issuer (development only)."
)
@click.option(
    "--jwks-allow-private-ip", is_flag=True, help="Allow JWKS/OIDC endpoints on private addresses."
)
@click.option(
    "--ui/--no-ui",
    "ui",
    default=True,
    show_default=True,
    help="Serve the web UI at / (its assets are public; its data comes from the API).",
)
@click.option(
    "--insecure-no-auth",
    is_flag=True,
    help="Serve a non-loopback address without authentication (anyone who reaches it can run "
    "containers).",
)
@click.pass_context
def serve(ctx: click.Context, /, **opts: Any) -> None:
    """Serve ToolHive's REST API and web UI until interrupted."""
    run_server(ctx, opts)


def run_server(ctx: click.Context, opts: dict[str, Any], on_ready: Any = None) -> None:
    """Serve until interrupted; ``on_ready(base_url)`` is called once the socket listens."""
    from toolhive.api.app import build_app
    from toolhive.api.server import new_nonce, serve, unix_listener
    from toolhive.api.state import api_state
    from toolhive.cli.output import state
    from toolhive.cli.protection_flags import oidc_options
    from toolhive.proxy.server import bind_socket

    oidc = oidc_options(opts).validator_config()
    host = str(opts["host"])
    socket_path = str(opts["socket_path"])
    if not socket_path and not _loopback(host) and oidc is None and not opts["insecure_no_auth"]:
        msg = (
            f"refusing to serve {host} without authentication: anyone who reaches it could run "
            "containers. Use --oidc-issuer (and --oidc-audience), bind 127.0.0.1 or --socket, "
            "or pass --insecure-no-auth"
        )
        raise InvalidInputError(msg)
    # A server has no terminal to prompt on: providers must fail rather than wait for input.
    os.environ["TOOLHIVE_DETACHED"] = "1"
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    hooks = state(ctx).hooks
    nonce = new_nonce()
    api = api_state(hooks, nonce=nonce)
    if socket_path:
        sock = unix_listener(socket_path)
        url = f"unix://{sock.getsockname()}"
        base = "http://localhost"
    else:
        sock = bind_socket(host, int(opts["port"]), what="port")
        port = sock.getsockname()[1]
        shown = f"[{host}]" if ":" in host else host
        url = base = f"http://{shown}:{port}"
    protect = _auth(hooks, oidc, base) if oidc is not None else None
    app = build_app(api, openapi=bool(opts["openapi"]), protect=protect, ui=opts.get("ui", True))
    click.echo(f"ToolHive API at {url} (Ctrl-C to stop)", err=True)
    if on_ready is not None:
        on_ready(base)
    serve(app, sock, url, nonce)


def _auth(hooks: Any, oidc: dict[str, Any], base: str) -> Any:
    """The ``auth`` middleware plugin around the API (fail closed when it is not installed)."""
    from toolhive.contracts.middleware import MiddlewareContext
    from toolhive.middleware.plan import Entry, resolve

    (item,) = resolve([Entry("auth", {"oidc_config": oidc}, "--oidc-issuer")], hooks.middleware())
    context = MiddlewareContext(
        workload="thv-serve", transport="streamable-http", proxy_mode="streamable-http", url=base
    )

    def protect(app: Any) -> Any:
        return item.spec.factory(app, item.config, context)

    return protect
