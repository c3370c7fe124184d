"""Static mode: a config that lists ``backends`` aggregates exactly those, as ToolHive's does.

The Kubernetes operator relies on it: its gateway pod has no local group to watch, so the operator
writes the MCPGroup's members as static backends next to ``groupRef``.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

import pytest
from toolhive.testing.mcp_servers import ECHO_SERVER, free_port, http_echo_server
from toolhive.vmcp.config import parse_config
from toolhive.vmcp.gateway import Gateway


class _NoWatching:
    """Stands in for the group watcher; being built at all is the failure."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise AssertionError("static mode must not watch the local group")


def test_static_backends_with_a_group_ref_do_not_watch_the_group(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import toolhive.workloads.watch as watch

    monkeypatch.setattr(watch, "StatusWatcher", _NoWatching)

    async def main() -> set[str]:
        async with http_echo_server("streamable-http") as server:
            url = server.url
            cfg = parse_config(
                {
                    "name": "k8s",
                    "groupRef": "team",
                    "backends": [{"name": "only", "url": url, "transport": "streamable-http"}],
                    "incomingAuth": {"type": "anonymous"},
                    "outgoingAuth": {"source": "inline", "default": {"type": "unauthenticated"}},
                    "aggregation": {
                        "conflictResolution": "prefix",
                        "conflictResolutionConfig": {"prefixFormat": "{workload}_"},
                    },
                }
            )
            gateway = Gateway(cfg)
            await gateway.start()
            try:
                backend = gateway.virtual.backends["only"]
                assert backend.capabilities is not None
                return set(gateway.virtual.backends) | {
                    f"only_{t['name']}" for t in backend.capabilities.tools
                }
            finally:
                await gateway.aclose()

    names = asyncio.run(main())
    assert "only" in names
    assert "only_echo" in names


def test_a_backend_that_starts_after_the_gateway_is_retried_within_seconds() -> None:
    """In a Kubernetes namespace the gateway often starts before its backends answer; it must not
    serve without their tools for a whole health-check interval (30 s by default)."""

    async def main() -> None:
        port = free_port()
        cfg = parse_config(
            {
                "name": "k8s",
                "backends": [
                    {
                        "name": "late",
                        "url": f"http://127.0.0.1:{port}/mcp",
                        "transport": "streamable-http",
                    }
                ],
                "incomingAuth": {"type": "anonymous"},
                "outgoingAuth": {"source": "inline", "default": {"type": "unauthenticated"}},
            }
        )
        gateway = Gateway(cfg)
        assert gateway.health_interval == 30
        await gateway.start()
        try:
            backend = gateway.virtual.backends["late"]
            assert not backend.healthy  # nothing listens yet
            env = {**os.environ, "MCP_PORT": str(port), "MCP_HOST": "127.0.0.1"}
            server = await asyncio.create_subprocess_exec(
                *ECHO_SERVER, "streamable-http", env=env, stdout=asyncio.subprocess.DEVNULL
            )
            try:
                begin = time.monotonic()
                while not backend.healthy:
                    assert time.monotonic() - begin < 20, "not retried before the health check"
                    await asyncio.sleep(0.05)
                assert backend.capabilities is not None and backend.capabilities.tools
            finally:
                server.terminate()
                await server.wait()
        finally:
            await gateway.aclose()

    asyncio.run(main())
