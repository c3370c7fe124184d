"""A small stdio MCP server written directly against the wire (stdlib only), for transport tests.

It is a real server process speaking newline-delimited JSON-RPC on stdin/stdout, like any stdio MCP
server; it exists because the SDK fixture (``tests/fixtures/echo_server.py``) has no tools that are
slow, report progress, call back into the client, or crash on demand.

Tools: ``echo(text)``, ``sleep(seconds)``, ``progress(steps)`` (needs a progress token),
``sample(prompt)`` (asks the client ``sampling/createMessage``), ``roots()`` (asks ``roots/list``),
``notify()`` (sends ``notifications/tools/list_changed``), ``exit()`` (dies without answering).
The extra request ``debug/stats`` returns what the server has seen (initialize count, notifications,
cancelled request ids).

``python raw_server.py [--no-ping]``: with ``--no-ping`` the server ignores ``ping``.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Any

TOOLS = [
    {"name": name, "description": name, "inputSchema": {"type": "object"}}
    for name in ("echo", "sleep", "progress", "sample", "roots", "notify", "exit")
]


class Server:
    def __init__(self, answer_ping: bool) -> None:
        self.answer_ping = answer_ping
        self.stats: dict[str, Any] = {"initialize": 0, "notifications": [], "cancelled": []}
        self.waiting: dict[str, asyncio.Future[Any]] = {}
        self.next_id = 0
        self.tasks: dict[Any, asyncio.Task[None]] = {}

    def write(self, msg: dict[str, Any]) -> None:
        sys.stdout.buffer.write(json.dumps(msg).encode() + b"\n")
        sys.stdout.buffer.flush()

    async def ask(self, method: str, params: dict[str, Any]) -> Any:
        self.next_id += 1
        rid = f"srv-{self.next_id}"
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.waiting[rid] = future
        self.write({"jsonrpc": "2.0", "id": rid, "method": method, "params": params})
        return await future

    async def call_tool(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params.get("name")
        args = params.get("arguments") or {}
        token = (params.get("_meta") or {}).get("progressToken")
        text: str
        if name == "echo":
            text = str(args.get("text", ""))
        elif name == "sleep":
            await asyncio.sleep(float(args.get("seconds", 1)))
            text = "slept"
        elif name == "progress":
            steps = int(args.get("steps", 3))
            for i in range(steps):
                if token is not None:
                    self.write(
                        {
                            "jsonrpc": "2.0",
                            "method": "notifications/progress",
                            "params": {"progressToken": token, "progress": i + 1, "total": steps},
                        }
                    )
                await asyncio.sleep(0.01)
            text = f"token={json.dumps(token)}"
        elif name == "sample":
            result = await self.ask(
                "sampling/createMessage",
                {
                    "messages": [
                        {"role": "user", "content": {"type": "text", "text": args.get("prompt")}}
                    ],
                    "maxTokens": 10,
                },
            )
            if "error" in result:
                text = f"error: {result['error']['message']}"
            else:
                text = result["result"]["content"]["text"]
        elif name == "roots":
            result = await self.ask("roots/list", {})
            text = json.dumps(result)
        elif name == "notify":
            self.write({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"})
            text = "notified"
        elif name == "exit":
            os._exit(3)
        else:
            return {"content": [{"type": "text", "text": f"unknown tool {name}"}], "isError": True}
        return {"content": [{"type": "text", "text": text}], "isError": False}

    async def handle_request(self, msg: dict[str, Any]) -> None:
        method, rid, params = msg["method"], msg["id"], msg.get("params") or {}
        try:
            if method == "initialize":
                self.stats["initialize"] += 1
                result: Any = {
                    "protocolVersion": params.get("protocolVersion", "2025-06-18"),
                    "capabilities": {"tools": {"listChanged": True}, "logging": {}},
                    "serverInfo": {"name": "raw-test-server", "version": "1.0.0"},
                }
            elif method == "ping":
                if not self.answer_ping:
                    return
                result = {}
            elif method == "tools/list":
                result = {"tools": TOOLS}
            elif method == "tools/call":
                result = await self.call_tool(params)
            elif method == "debug/stats":
                result = self.stats
            else:
                self.write(
                    {
                        "jsonrpc": "2.0",
                        "id": rid,
                        "error": {"code": -32601, "message": f"Method not found: {method}"},
                    }
                )
                return
        except asyncio.CancelledError:
            return
        self.write({"jsonrpc": "2.0", "id": rid, "result": result})

    def handle(self, msg: dict[str, Any]) -> None:
        if "method" in msg and "id" in msg:
            task = asyncio.get_running_loop().create_task(self.handle_request(msg))
            self.tasks[msg["id"]] = task
            task.add_done_callback(lambda _t, rid=msg["id"]: self.tasks.pop(rid, None))
        elif "method" in msg:
            self.stats["notifications"].append(msg["method"])
            if msg["method"] == "notifications/cancelled":
                rid = msg["params"]["requestId"]
                self.stats["cancelled"].append(rid)
                task = self.tasks.get(rid)
                if task is not None:
                    task.cancel()
        else:
            future = self.waiting.pop(msg.get("id"), None)
            if future is not None and not future.done():
                future.set_result(msg)


async def main() -> None:
    server = Server(answer_ping="--no-ping" not in sys.argv)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=64 * 1024 * 1024)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while True:
        line = await reader.readline()
        if not line:
            return
        server.handle(json.loads(line))


if __name__ == "__main__":
    asyncio.run(main())
