"""Token-exchange backends in the virtual server: a backend waiting for a caller's identity that
cannot be reached (down, refusing connections) must not hold up callers' requests: after a failed
attempt, requests do not try it again for ``CALLER_RETRY`` seconds."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Sequence

from toolhive.vmcp.backends import CALLER_RETRY, Backend, BackendSpec, CircuitBreaker
from toolhive.vmcp.config import parse_config
from toolhive.vmcp.outgoing import INCOMING_AUTHORIZATION
from toolhive.vmcp.virtual import VirtualServer


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # nothing listens once the socket is closed


async def exchanged() -> Sequence[tuple[bytes, bytes]]:
    return ((b"authorization", b"Bearer exchanged"),)


def test_an_unreachable_backend_awaiting_identity_is_not_retried_on_every_request() -> None:
    aggregation = parse_config(
        {
            "name": "gw",
            "groupRef": "g",
            "incomingAuth": {"type": "anonymous"},
            "outgoingAuth": {"source": "inline"},
            "aggregation": {
                "conflictResolution": "prefix",
                "conflictResolutionConfig": {"prefixFormat": "{workload}_"},
            },
        }
    ).aggregation

    async def main() -> None:
        virtual = VirtualServer(name="gw", aggregation=aggregation)
        spec = BackendSpec(
            name="far",
            url=f"http://127.0.0.1:{closed_port()}/mcp",
            request_headers=exchanged,
        )
        backend = Backend(
            spec,
            on_message=virtual.on_backend_message,
            breaker=CircuitBreaker(enabled=False, threshold=1, timeout=1),
            connect_timeout=2,
        )
        virtual.add_backend(backend)
        backend.awaiting_identity = True  # it answered 401 at start-up; then it went away
        INCOMING_AUTHORIZATION.set(b"Bearer alice")
        call = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "far_x"}}
        await virtual.send(json.dumps(call).encode())
        answer = json.loads(await asyncio.wait_for(virtual.readline(), 5))
        assert answer["error"]["message"] == "Unknown tool: far_x"
        assert backend.awaiting_identity and backend.retry_at > time.monotonic()
        # Within CALLER_RETRY, requests are served at once, without another attempt.
        assert virtual.callers.awaiting_identity() == []
        started = time.monotonic()
        await virtual.send(json.dumps({**call, "id": 2}).encode())
        answer = json.loads(await asyncio.wait_for(virtual.readline(), 5))
        assert answer["id"] == 2 and time.monotonic() - started < 0.5
        assert backend.retry_at - time.monotonic() <= CALLER_RETRY
        # Later, the next caller's request tries again.
        backend.retry_at = 0.0
        assert virtual.callers.awaiting_identity() == [backend]
        await virtual.aclose()

    asyncio.run(main())
