"""The transport contract: turn a running server into an ASGI app the proxy serves.

``TransportSpec.load()`` returns a :class:`TransportFactory`; the supervisor calls it with the
workload's :class:`TransportOptions` and serves the :class:`Transport` it returns. The ASGI types
are the standard ones (a ``Scope`` mapping, ``Receive``/``Send`` coroutines).
"""

from toolhive.transports.base import Drainable, Transport, TransportFactory, TransportOptions
from toolhive.web.asgi import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "ASGIApp",
    "Drainable",
    "Message",
    "Receive",
    "Scope",
    "Send",
    "Transport",
    "TransportFactory",
    "TransportOptions",
]
