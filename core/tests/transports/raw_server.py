"""A small stdio MCP server written directly against the wire (stdlib only), for transport tests.

It is a real server process speaking newline-delimited JSON-RPC on stdin/stdout, like any stdio MCP
server; it exists because the SDK fixture (``tests/fixtures/echo_server.py``) has no tools that are
slow, report progress, call back into the client, or crash on demand.

Tools: ``echo(text)``, ``sleep(seconds)``, ``progress(steps)`` (needs a progress token),
``sample(prompt)`` (asks the client ``sampling/createMessage``), ``roots()`` (asks ``roots/list``),
``notify()`` (sends ``notifications/tools/list_changed``), ``touch(uri)`` (sends
``notifications/resources/updated``), ``log(level, text)`` (sends ``notifications/message``),
``exit()`` (dies without answering). ``sample`` puts the call's progress token in the sampling
request's ``_meta`` (so a bridge can tell which call it belongs to) unless ``link`` is false.
``resources/subscribe``, ``resources/unsubscribe`` and ``logging/setLevel`` are accepted and recorded.
The extra request ``debug/stats`` returns what the server has seen (initialize count and client
capabilities, notifications, cancelled request ids, subscribe/unsubscribe URIs, levels). Malformed
input gets a JSON-RPC error, never a crash.

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
    for name in ("echo", "sleep", "progress", "sample", "roots", "notify", "touch", "log", "exit")
]


class Server:
    def __init__(self, answer_ping: bool) -> None:
        self.answer_ping = answer_ping
        self.stats: dict[str, Any] = {
            "initialize": 0,
            "capabilities": None,
            "notifications": [],
            "cancelled": [],
            "subscribe": [],
            "unsubscribe": [],
            "levels": [],
        }
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
            request: dict[str, Any] = {
                "messages": [
                    {"role": "user", "content": {"type": "text", "text": args.get("prompt")}}
                ],
                "maxTokens": 10,
            }
            if token is not None and args.get("link", True):
                request["_meta"] = {"progressToken": token}
            result = await self.ask("sampling/createMessage", request)
            if "error" in result:
                text = f"error: {result['error']['message']}"
            else:
                text = result["result"]["content"]["text"]
        elif name == "roots":
            result = await self.ask("roots/list", {})
            text = json.dumps(result)
        elif name == "touch":
            self.write(
                {
                    "jsonrpc": "2.0",
                    "method": "notifications/resources/updated",
                    "params": {"uri": args.get("uri")},
                }
            )
            text = "touched"
        elif name == "log":
            self.write(
                {
                    "jsonrpc": "2.0",
                    "method": "notifications/message",
                    "params": {
                        "level": args.get("level"),
                        "logger": "raw",
                        "data": args.get("text"),
                    },
                }
            )
            text = "logged"
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
        if not isinstance(params, dict):
            params = {}
        try:
            if method == "initialize":
                self.stats["initialize"] += 1
                self.stats["capabilities"] = params.get("capabilities")
                result: Any = {
                    "protocolVersion": params.get("protocolVersion", "2025-06-18"),
                    "capabilities": {
                        "tools": {"listChanged": True},
                        "logging": {},
                        "resources": {"subscribe": True},
                    },
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
            elif method in ("resources/subscribe", "resources/unsubscribe"):
                self.stats[method.split("/")[1]].append(params.get("uri"))
                result = {}
            elif method == "logging/setLevel":
                self.stats["levels"].append(params.get("level"))
                result = {}
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
        except Exception as exc:  # malformed arguments: an error answer, like any server
            self.write(
                {"jsonrpc": "2.0", "id": rid, "error": {"code": -32603, "message": repr(exc)}}
            )
            return
        self.write({"jsonrpc": "2.0", "id": rid, "result": result})

    def handle(self, msg: dict[str, Any]) -> None:
        if "method" in msg and "id" in msg:
            task = asyncio.get_running_loop().create_task(self.handle_request(msg))
            self.tasks[msg["id"]] = task
            task.add_done_callback(lambda _t, rid=msg["id"]: self.tasks.pop(rid, None))
        elif "method" in msg:
            self.stats["notifications"].append(msg["method"])
            params = msg.get("params")
            if msg["method"] == "notifications/cancelled" and isinstance(params, dict):
                rid = params.get("requestId")
                self.stats["cancelled"].append(rid)
                task = self.tasks.get(rid) if isinstance(rid, str | int) else None
                if task is not None:
                    task.cancel()
        else:
            rid = msg.get("id")
            future = self.waiting.pop(rid, None) if isinstance(rid, str | int) else None
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
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        if isinstance(msg, dict):
            server.handle(msg)


if __name__ == "__main__":
    asyncio.run(main())
