"""``@modelcontextprotocol/server-everything`` (npm, stdio) behind the bridge: the reference server
that exercises sampling, progress, logging and subscriptions, with two sessions at once."""

from __future__ import annotations

import shutil
from typing import Any

import anyio
import pytest
from harness import bridged, sampler_for, text_of, wait_get_streams
from mcp import Client

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.slow,
    pytest.mark.timeout(180),
    pytest.mark.skipif(shutil.which("npx") is None, reason="needs Node (npx)"),
    pytest.mark.filterwarnings("ignore::mcp.shared.exceptions.MCPDeprecationWarning"),
]

EVERYTHING = ("npx", "-y", "@modelcontextprotocol/server-everything", "stdio")


async def test_server_everything_with_two_sessions() -> None:
    async with bridged(EVERYTHING, request_timeout=60) as b:
        with anyio.fail_after(120):
            logs: dict[str, list[Any]] = {"a": [], "b": []}

            def on_log(tag: str) -> Any:
                async def record(params: Any) -> None:
                    logs[tag].append(params.level)

                return record

            async with (
                Client(
                    b.url, sampling_callback=sampler_for("A"), logging_callback=on_log("a")
                ) as a,
                Client(b.url, logging_callback=on_log("b")) as other,
            ):
                tools = {t.name for t in (await a.list_tools()).tools}
                # The bridge declared sampling for the server, so the sampling tool exists.
                assert {
                    "echo",
                    "trigger-sampling-request",
                    "trigger-long-running-operation",
                } <= tools
                await wait_get_streams(b, 2)
                progress: dict[str, list[float]] = {"a": [], "b": []}

                def on_progress(tag: str) -> Any:
                    async def record(
                        value: float, total: float | None, message: str | None
                    ) -> None:
                        progress[tag].append(value)

                    return record

                results: dict[str, str] = {}

                async def run_a() -> None:
                    sampled = await a.call_tool("trigger-sampling-request", {"prompt": "hi"})
                    results["sample"] = text_of(sampled)
                    await a.call_tool(
                        "trigger-long-running-operation",
                        {"duration": 0.6, "steps": 3},
                        progress_callback=on_progress("a"),
                    )

                async def run_b() -> None:
                    await other.call_tool(
                        "trigger-long-running-operation",
                        {"duration": 0.4, "steps": 2},
                        progress_callback=on_progress("b"),
                    )
                    results["echo"] = text_of(await other.call_tool("echo", {"message": "b"}))

                async with anyio.create_task_group() as tg:
                    tg.start_soon(run_a)
                    tg.start_soon(run_b)
                assert "A:Resource trigger-sampling-request context: hi" in results["sample"]
                assert results["echo"] == "Echo: b"
                assert progress == {"a": [1.0, 2.0, 3.0], "b": [1.0, 2.0]}

                # Log levels per session: the server is told "debug", ``a`` sees only errors.
                await a.set_logging_level("error")
                await other.set_logging_level("debug")
                await a.subscribe_resource("demo://resource/static/document/architecture.md")
                with anyio.fail_after(10):  # the subscribe handler logs at info level
                    while "info" not in logs["b"]:
                        await anyio.sleep(0.05)
                assert all(
                    level in ("error", "critical", "alert", "emergency") for level in logs["a"]
                )
                await a.unsubscribe_resource("demo://resource/static/document/architecture.md")
                assert b.bridge.relay.intercepted.subscribed == {}
