"""The Redis session store and the face's restore, in process, against a real ``redis-server``
(Debian's, ``apt-get install redis-server``): what a record holds, one restore for concurrent
requests, the record following the session's life."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from toolhive.testing.mcp_servers import free_port, http_echo_server, served
from toolhive.transports.stdio.session_store import SessionStoreError
from toolhive.vmcp.config import SessionStorageConfig, parse_config
from toolhive.vmcp.redis_sessions import RedisConnection, RedisSessionStore, split_address

PROTOCOL = "2025-11-25"
HEADERS = {"accept": "application/json, text/event-stream", "content-type": "application/json"}


@pytest.fixture
def redis_port() -> Iterator[int]:
    exe = shutil.which("redis-server")
    if exe is None:
        pytest.fail("redis-server is not installed: apt-get install redis-server")
    port = free_port()
    args = [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                assert proc.poll() is None, f"redis-server exited with {proc.returncode}"
                assert time.monotonic() < deadline, "redis-server did not listen in 10s"
                time.sleep(0.05)
        yield port
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("redis:6379", ("redis", 6379)),
        ("10.0.0.7:6380", ("10.0.0.7", 6380)),
        ("[::1]:6379", ("::1", 6379)),
        ("redis://cache.example:7000/", ("cache.example", 7000)),
    ],
)
def test_addresses_are_host_and_port(address: str, expected: tuple[str, int]) -> None:
    assert split_address(address) == expected


@pytest.mark.parametrize("address", ["redis", "redis:", ":6379", "redis:http", "redis:70000"])
def test_an_address_without_a_port_is_refused(address: str) -> None:
    with pytest.raises(SessionStoreError, match="expected host:port"):
        split_address(address)


def test_records_expire_and_are_deleted(redis_port: int) -> None:
    async def main() -> None:
        config = SessionStorageConfig(provider="redis", address=f"127.0.0.1:{redis_port}")
        store = RedisSessionStore(config, ttl=1.0)
        await store.start()
        try:
            await store.save("a" * 32, {"params": {"x": 1}})
            assert await store.load("a" * 32) == {"params": {"x": 1}}
            assert await store.load("b" * 32) is None
            await asyncio.sleep(2.2)  # TTL 1 s (whole seconds in Redis)
            assert await store.load("a" * 32) is None
            await store.save("c" * 32, {})
            await store.delete("c" * 32)
            assert await store.load("c" * 32) is None
        finally:
            await store.aclose()

    asyncio.run(main())


@contextlib.asynccontextmanager
async def gateway(backend_url: str, redis_port: int) -> AsyncIterator[str]:
    from toolhive.plugins import Hooks, build_plugin_manager
    from toolhive.vmcp.gateway import build_app

    cfg = parse_config(
        {
            "name": "replicated",
            "groupRef": "team",
            "backends": [{"name": "echo", "url": backend_url, "transport": "streamable-http"}],
            "incomingAuth": {"type": "anonymous"},
            "outgoingAuth": {"source": "inline", "default": {"type": "unauthenticated"}},
            "aggregation": {
                "conflictResolution": "prefix",
                "conflictResolutionConfig": {"prefixFormat": "{workload}_"},
            },
            "sessionStorage": {"provider": "redis", "address": f"127.0.0.1:{redis_port}"},
        }
    )
    app, _transport = build_app(cfg, Hooks(build_plugin_manager()), host="127.0.0.1", port=0)
    async with served(app) as base:
        yield base + "/mcp"


def test_concurrent_requests_restore_a_session_once(
    redis_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="toolhive.transports")

    async def main() -> tuple[list[int], dict[str, Any]]:
        async with (
            http_echo_server("streamable-http") as backend,
            gateway(backend.url, redis_port) as url_a,
            gateway(backend.url, redis_port) as url_b,
            httpx.AsyncClient(timeout=30) as client,
        ):
            init = {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "initialize",
                "params": {
                    "protocolVersion": PROTOCOL,
                    "capabilities": {"sampling": {}},
                    "clientInfo": {"name": "concurrent", "version": "2"},
                },
            }
            opened = await client.post(url_a, json=init, headers=HEADERS)
            assert opened.status_code == 200, opened.text
            sid = opened.headers["mcp-session-id"]
            headers = {**HEADERS, "mcp-session-id": sid, "mcp-protocol-version": PROTOCOL}
            calls = [
                client.post(
                    url_b,
                    json={"jsonrpc": "2.0", "id": i, "method": "tools/list"},
                    headers=headers,
                )
                for i in range(8)
            ]
            statuses = [r.status_code for r in await asyncio.gather(*calls)]
            redis = RedisConnection("127.0.0.1", redis_port)
            try:
                record = json.loads(await redis.call("GET", "thv:vmcp:session:" + sid))
            finally:
                await redis.aclose()
            return statuses, record

    statuses, record = asyncio.run(main())
    assert statuses == [200] * 8
    restored = [r for r in caplog.records if "restored from the session store" in r.getMessage()]
    assert len(restored) == 1
    assert record["params"]["clientInfo"] == {"name": "concurrent", "version": "2"}
    assert record["params"]["capabilities"] == {"sampling": {}}
    assert record["protocolVersion"] == PROTOCOL
    assert record["openedBy"] == socket.gethostname()
