"""Core's own middleware types, declared like any plugin's: ToolHive's ``mcp-parser``,
``recovery``, ``bodylimit``, ``origin`` and ``header-forward``."""

from __future__ import annotations

from typing import Any

from toolhive.contracts import hookimpl
from toolhive.contracts.middleware import MiddlewareSpec


@hookimpl
def thv_middleware() -> list[MiddlewareSpec[Any]]:
    # Light: these modules use only the stdlib and pydantic, and the chain is built at start.
    from toolhive.middleware import basic, parser

    return [
        MiddlewareSpec(
            name="mcp-parser",
            description="Decode each JSON-RPC request once for the middleware inside it",
            config_model=parser.ParserParameters,
            factory=parser.parser_factory,
        ),
        MiddlewareSpec(
            name="recovery",
            description="Answer 500 instead of dropping the connection on an internal error",
            config_model=basic.NoParameters,
            factory=basic.recovery_factory,
        ),
        MiddlewareSpec(
            name="bodylimit",
            description="Refuse request bodies over max_bytes (413)",
            config_model=basic.BodyLimitParameters,
            factory=basic.bodylimit_factory,
        ),
        MiddlewareSpec(
            name="origin",
            description="Refuse browser requests whose Origin is not allowed (403)",
            config_model=basic.OriginParameters,
            factory=basic.origin_factory,
        ),
        MiddlewareSpec(
            name="header-forward",
            description="Set headers on every request forwarded to the server",
            config_model=basic.HeaderForwardParameters,
            factory=basic.header_forward_factory,
        ),
    ]
