"""Small synchronous wrappers over the official `mcp` client, for tests."""

from __future__ import annotations

from typing import Any

import anyio
from mcp import Client


async def _call(url: str, tool: str, arguments: dict[str, Any]) -> Any:
    with anyio.fail_after(60):
        async with Client(url) as client:
            return await client.call_tool(tool, arguments)


async def _tools(url: str) -> list[str]:
    with anyio.fail_after(60):
        async with Client(url) as client:
            return [t.name for t in (await client.list_tools()).tools]


def call_tool(url: str, tool: str, arguments: dict[str, Any]) -> str:
    result = anyio.run(_call, url, tool, arguments)
    assert not result.is_error, result
    return "".join(c.text for c in result.content if c.type == "text")


def list_tools(url: str) -> list[str]:
    return anyio.run(_tools, url)


async def _concurrent(url: str, calls: list[tuple[str, dict[str, Any]]]) -> list[str]:
    """One client session per call, all open at once, calls interleaved."""
    results: list[str] = [""] * len(calls)
    with anyio.fail_after(120):
        await _run_all(url, calls, results)
    return results


async def _run_all(url: str, calls: list[tuple[str, dict[str, Any]]], results: list[str]) -> None:
    async with anyio.create_task_group() as tg:

        async def one(i: int, tool: str, args: dict[str, Any]) -> None:
            async with Client(url) as client:
                for _ in range(3):  # several calls per session, interleaving with the others
                    res = await client.call_tool(tool, args)
                    assert not res.is_error, res
                    results[i] = "".join(c.text for c in res.content if c.type == "text")
                    await anyio.sleep(0)

        for i, (tool, args) in enumerate(calls):
            tg.start_soon(one, i, tool, args)


def concurrent_calls(url: str, calls: list[tuple[str, dict[str, Any]]]) -> list[str]:
    return anyio.run(_concurrent, url, calls)
