"""The built-in transports: a stdio bridge and an HTTP reverse proxy."""

from __future__ import annotations

from toolhive.contracts import TransportFactory, TransportSpec, hookimpl


def _stdio() -> TransportFactory:
    from toolhive.transports.stdio import StdioBridge

    return StdioBridge


def _http() -> TransportFactory:
    from toolhive.transports.reverse_proxy import ReverseProxy

    return ReverseProxy


@hookimpl
def thv_transports() -> list[TransportSpec]:
    return [
        TransportSpec(
            name="stdio",
            description="Bridge a server's stdin/stdout to streamable HTTP (or legacy SSE)",
            needs_stdio=True,
            load=_stdio,
        ),
        TransportSpec(
            name="sse", description="Reverse-proxy a server that speaks HTTP+SSE", load=_http
        ),
        TransportSpec(
            name="streamable-http",
            description="Reverse-proxy a server that speaks streamable HTTP",
            load=_http,
        ),
    ]
