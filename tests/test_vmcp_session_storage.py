"""``sessionStorage: redis``: a client's session outlives the gateway process that opened it.

Two real ``thv vmcp serve`` processes share a real ``redis-server`` (Debian's, on the host;
``apt-get install redis-server``): a session opened on A continues on B after A is SIGKILLed,
exactly as behind a Kubernetes Service with two replicas. Raw HTTP, so the very same
``Mcp-Session-Id`` goes to the other process.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from toolhive.testing.mcp_servers import free_port, http_echo_server

from tests.conftest import Thv

PASSWORD = "s3cret-for-the-test"
PROTOCOL = "2025-06-18"
HEADERS = {"accept": "application/json, text/event-stream", "content-type": "application/json"}


@pytest.fixture
def redis_port() -> Iterator[int]:
    """A private redis-server with a password (so AUTH is exercised)."""
    exe = shutil.which("redis-server")
    if exe is None:
        pytest.fail("redis-server is not installed: apt-get install redis-server")
    port = free_port()
    proc = subprocess.Popen(
        [
            exe,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--requirepass",
            PASSWORD,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            with contextlib.suppress(OSError):
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            if proc.poll() is not None:
                pytest.fail(f"redis-server exited with {proc.returncode}")
            time.sleep(0.05)
        yield port
    finally:
        proc.terminate()
        proc.wait(10)


def write_config(tmp_path: Path, backend_url: str, redis_port: int) -> Path:
    path = tmp_path / "vmcp.yaml"
    config = {
        "name": "replicated",
        "groupRef": "team",
        "backends": [{"name": "echo", "url": backend_url, "transport": "streamable-http"}],
        "incomingAuth": {"type": "anonymous"},
        "outgoingAuth": {"source": "inline", "default": {"type": "unauthenticated"}},
        "aggregation": {
            "conflictResolution": "prefix",
            "conflictResolutionConfig": {"prefixFormat": "{workload}_"},
        },
        "sessionStorage": {
            "provider": "redis",
            "address": f"127.0.0.1:{redis_port}",
            "keyPrefix": "test:vmcp:",
        },
    }
    path.write_text(json.dumps(config))  # JSON is YAML
    return path


@contextlib.asynccontextmanager
async def gateway(thv: Thv, config: Path, env: dict[str, str]) -> AsyncIterator[tuple[str, Any]]:
    """``thv vmcp serve`` on a free port; yields its /mcp URL and the process."""
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        thv.exe,
        "vmcp",
        "serve",
        "--config",
        str(config),
        "--port",
        str(port),
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with httpx.AsyncClient() as client:
            for _ in range(600):
                if proc.returncode is not None:
                    err = await proc.stderr.read() if proc.stderr else b""
                    raise AssertionError(f"gateway exited {proc.returncode}: {err.decode()}")
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(f"http://127.0.0.1:{port}/health")).status_code == 200:
                        break
                await asyncio.sleep(0.1)
            else:
                raise AssertionError("gateway did not answer /health in 60s")
        yield f"http://127.0.0.1:{port}/mcp", proc
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()


def body(method: str, id: int | None, params: dict[str, Any] | None = None) -> dict[str, Any]:
    msg: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
    if id is not None:
        msg["id"] = id
    if params is not None:
        msg["params"] = params
    return msg


async def call(client: httpx.AsyncClient, url: str, sid: str, msg: dict[str, Any]) -> Any:
    headers = {**HEADERS, "mcp-session-id": sid, "mcp-protocol-version": PROTOCOL}
    response = await client.post(url, json=msg, headers=headers)
    return response


def answer(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    text = response.text
    if response.headers["content-type"].startswith("text/event-stream"):
        datas = [line[5:].strip() for line in text.splitlines() if line.startswith("data:")]
        text = [d for d in datas if d][-1]
    return json.loads(text)  # type: ignore[no-any-return]


def test_a_session_continues_on_another_gateway_after_its_own_is_killed(
    thv: Thv, thv_env: dict[str, str], redis_port: int, tmp_path: Path
) -> None:
    env = {**thv_env, "THV_SESSION_REDIS_PASSWORD": PASSWORD}

    async def main() -> None:
        async with (
            http_echo_server("streamable-http") as backend,
            httpx.AsyncClient(timeout=30) as client,
        ):
            config = write_config(tmp_path, backend.url, redis_port)
            async with (
                gateway(thv, config, env) as (url_a, proc_a),
                gateway(thv, config, env) as (url_b, _proc_b),
            ):
                init = body(
                    "initialize",
                    1,
                    {
                        "protocolVersion": PROTOCOL,
                        "capabilities": {"roots": {}},
                        "clientInfo": {"name": "replica-test", "version": "1"},
                    },
                )
                opened = await client.post(url_a, json=init, headers=HEADERS)
                assert answer(opened)["result"]["serverInfo"]
                sid = opened.headers["mcp-session-id"]
                assert (
                    await call(client, url_a, sid, body("notifications/initialized", None))
                ).status_code == 202
                echo = body("tools/call", 2, {"name": "echo_echo", "arguments": {"text": "on A"}})
                assert "on A" in json.dumps(answer(await call(client, url_a, sid, echo)))

                proc_a.send_signal(signal.SIGKILL)  # no goodbye: as a node or pod that vanishes
                await proc_a.wait()

                echo = body("tools/call", 3, {"name": "echo_echo", "arguments": {"text": "on B"}})
                assert "on B" in json.dumps(answer(await call(client, url_b, sid, echo)))
                tools = answer(await call(client, url_b, sid, body("tools/list", 4)))
                assert "echo_add" in {t["name"] for t in tools["result"]["tools"]}
                # An id no gateway handed out is still unknown (not every id is "restored").
                unknown = await call(client, url_b, "0" * 32, body("tools/list", 5))
                assert unknown.status_code == 404

                # DELETE ends it everywhere: B forgets it and so does the store.
                headers = {"mcp-session-id": sid, "mcp-protocol-version": PROTOCOL}
                assert (await client.delete(url_b, headers=headers)).status_code == 200
                async with gateway(thv, config, env) as (url_c, _proc_c):
                    gone = await call(client, url_c, sid, body("tools/list", 6))
                    assert gone.status_code == 404, gone.text

    asyncio.run(main())


@pytest.mark.parametrize(
    ("password", "address", "message"),
    [
        (PASSWORD, "127.0.0.1:{closed}", "is unreachable"),
        ("wrong", "127.0.0.1:{redis}", "WRONGPASS"),
    ],
)
def test_configured_storage_that_does_not_answer_stops_the_gateway(
    thv: Thv,
    thv_env: dict[str, str],
    redis_port: int,
    tmp_path: Path,
    password: str,
    address: str,
    message: str,
) -> None:
    """Fail closed: never quietly fall back to sessions in memory."""
    where = address.format(closed=free_port(), redis=redis_port)
    config = write_config(tmp_path, "http://127.0.0.1:9/mcp", redis_port)
    doc = json.loads(config.read_text())
    doc["sessionStorage"]["address"] = where
    config.write_text(json.dumps(doc))
    proc = subprocess.run(
        [thv.exe, "vmcp", "serve", "--config", str(config), "--port", str(free_port())],
        env={**thv_env, "THV_SESSION_REDIS_PASSWORD": password},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode != 0
    assert "sessionStorage:" in proc.stderr
    assert message in proc.stderr
    assert password not in proc.stderr
