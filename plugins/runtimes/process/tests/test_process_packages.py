"""uvx:// and npx:// servers: installed with the network, then run offline in a ``none`` sandbox."""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from typing import Any

import pytest
from process_helpers import profile
from toolhive.contracts import ImageNotFoundError
from toolhive.contracts.runtime import DeployRequest, StdioChannel
from toolhive_runtime_process.commands import PackageRef
from toolhive_runtime_process.packages import PackageInstaller
from toolhive_runtime_process.records import RecordStore
from toolhive_runtime_process.runtime import ProcessRuntime

pytestmark = [pytest.mark.process_runtime, pytest.mark.slow]

INITIALIZE = {
    "protocolVersion": "2025-06-18",
    "capabilities": {},
    "clientInfo": {"name": "toolhive-tests", "version": "1"},
}


class Rpc:
    """Just enough JSON-RPC over a StdioChannel to talk to a real MCP server."""

    def __init__(self, channel: StdioChannel) -> None:
        self.channel = channel
        self.next_id = 0

    async def request(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        self.next_id += 1
        message = {"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params}
        await self.channel.send(json.dumps(message).encode() + b"\n")
        while True:
            line = await asyncio.wait_for(self.channel.readline(), 60)
            assert line, "server closed its stdout"
            reply = json.loads(line)
            if reply.get("id") == self.next_id:
                assert "error" not in reply, reply
                return dict(reply["result"])

    async def notify(self, method: str) -> None:
        await self.channel.send(json.dumps({"jsonrpc": "2.0", "method": method}).encode() + b"\n")

    async def close(self) -> None:
        await self.channel.aclose()
        while await asyncio.wait_for(self.channel.readline(), 30):
            pass  # drain to EOF so the read side closes too


def test_uvx_mcp_server_time_offline_round_trip(runtime: ProcessRuntime) -> None:
    progress: list[str] = []
    started = time.monotonic()
    runtime.ensure_image("uvx://mcp-server-time", progress.append)
    install_time = time.monotonic() - started
    assert progress, "the first install reports progress"
    runtime.ensure_image("uvx://mcp-server-time", progress.append)  # already there: instant

    async def session() -> tuple[dict[str, Any], list[str], str]:
        runtime.deploy(
            DeployRequest(
                name="time",
                image="uvx://mcp-server-time",
                command=["--local-timezone", "UTC"],
                permission_profile=profile("none"),
            )
        )
        rpc = Rpc(await runtime.attach_stdio("time"))
        init = await rpc.request("initialize", INITIALIZE)
        await rpc.notify("notifications/initialized")
        tools = [t["name"] for t in (await rpc.request("tools/list", {}))["tools"]]
        result = await rpc.request(
            "tools/call", {"name": "get_current_time", "arguments": {"timezone": "UTC"}}
        )
        await rpc.close()
        return init, tools, result["content"][0]["text"]

    started = time.monotonic()
    init, tools, text = asyncio.run(session())
    print(f"install {install_time:.2f}s, start+initialize+calls {time.monotonic() - started:.2f}s")
    assert init["serverInfo"]["name"] == "mcp-time"
    assert "get_current_time" in tools
    assert json.loads(text)["timezone"] == "UTC"
    assert runtime.wait("time") == 0
    record = RecordStore().read("time")
    assert record is not None and "--unshare-net" in record.argv  # really offline


@pytest.mark.skipif(shutil.which("npm") is None, reason="Node.js/npm not installed")
def test_npx_server_everything_initializes(runtime: ProcessRuntime) -> None:
    image = "npx://@modelcontextprotocol/server-everything"
    runtime.ensure_image(image)

    async def session() -> dict[str, Any]:
        runtime.deploy(
            DeployRequest(
                name="everything",
                image=image,
                command=["stdio"],
                permission_profile=profile("none"),
            )
        )
        rpc = Rpc(await runtime.attach_stdio("everything"))
        init = await rpc.request("initialize", INITIALIZE)
        await rpc.notify("notifications/initialized")
        tools = await rpc.request("tools/list", {})
        assert any(t["name"] == "echo" for t in tools["tools"])
        await rpc.close()
        return init

    init = asyncio.run(session())
    assert init["serverInfo"]["name"] == "mcp-servers/everything"
    assert runtime.wait("everything") in (0, 143)


def test_unknown_package_is_image_not_found(runtime: ProcessRuntime) -> None:
    with pytest.raises(ImageNotFoundError, match="could not install"):
        runtime.ensure_image("uvx://toolhive-no-such-package-3f9a2c")


def test_interrupted_install_is_redone(bwrap: str) -> None:
    installer = PackageInstaller(bwrap=bwrap)
    ref = PackageRef("uvx", "mcp-server-time")
    done = installer.ensure(ref)
    (done.root / ".toolhive-install.json").unlink()  # as if the install had been cut short
    assert installer.installed(ref) is None
    again = installer.ensure(ref)
    assert again.executable == done.executable and again.executable.is_file()
