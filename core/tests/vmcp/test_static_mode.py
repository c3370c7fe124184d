"""Static mode: a config that lists ``backends`` aggregates exactly those, as ToolHive's does.

The Kubernetes operator relies on it: its gateway pod has no local group to watch, so the operator
writes the MCPGroup's members as static backends next to ``groupRef``.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from toolhive.testing.mcp_servers import http_echo_server
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
