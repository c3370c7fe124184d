"""toolhive-middleware-example: a ToolHive middleware that adds an ``X-Example`` header to every
response of a workload's proxy, and an ``X-Example-Method`` header naming the MCP method a
JSON-RPC request called.

This module is the plugin's entry point. Every ``thv`` command imports it, so it only declares
what the plugin provides and imports nothing but ``toolhive.contracts`` and pydantic; the
middleware itself is imported when a workload that uses it starts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field
from toolhive.contracts import MiddlewareParameters, MiddlewareSpec, hookimpl

if TYPE_CHECKING:
    from toolhive.contracts import MiddlewareContext
    from toolhive.contracts.middleware import ASGIApp

__all__ = ["ExampleParameters", "factory", "thv_middleware"]


class ExampleParameters(MiddlewareParameters):
    """The ``parameters`` of a ``{"type": "example", "parameters": {...}}`` middleware entry.

    Unknown keys are refused and the values are frozen (``MiddlewareParameters``); every field has
    a default that works, so ``{"type": "example"}`` alone is a valid entry.
    """

    greeting: str = Field(
        "hello",
        min_length=1,
        max_length=200,
        pattern=r"^[ -~]+$",  # printable ASCII: it becomes a header value
        description="The value of the X-Example response header.",
    )


def factory(app: ASGIApp, parameters: ExampleParameters, context: MiddlewareContext) -> ASGIApp:
    """Wrap the workload's app; called once each time a workload using it starts."""
    from toolhive_middleware_example.middleware import ExampleMiddleware

    return ExampleMiddleware(app, parameters)


@hookimpl
def thv_middleware() -> list[MiddlewareSpec[ExampleParameters]]:
    return [
        MiddlewareSpec(
            name="example",
            description="Add an X-Example header (and the MCP method called) to every response",
            config_model=ExampleParameters,
            factory=factory,
        )
    ]
