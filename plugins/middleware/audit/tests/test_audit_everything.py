"""Every MCP method type ToolHive audits, against the reference server that implements them all
(``@modelcontextprotocol/server-everything`` over stdio behind the bridge): prompts, resources,
completion, logging, roots and notifications each produce their event type and target."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from audit_harness import Client, audited_proxy, fake_auth, node_everything, read_events
from toolhive.testing.chains import answer_of

pytestmark = pytest.mark.timeout(180)


def test_every_mcp_method_type_produces_its_event(tmp_path: Path):
    everything = node_everything()
    if everything is None:
        pytest.skip("server-everything is not installed (scripts/install-node.sh)")
    log = tmp_path / "audit.log"
    calls: list[tuple[str, dict | None, bool]] = [
        ("ping", None, False),
        ("tools/list", None, False),
        ("tools/call", {"name": "echo", "arguments": {"message": "hi"}}, False),
        ("resources/list", None, False),
        ("resources/read", {"uri": "demo://resource/dynamic/text/1"}, False),
        ("prompts/list", None, False),
        ("prompts/get", {"name": "simple-prompt"}, False),
        (
            "completion/complete",
            {
                "ref": {"type": "ref/prompt", "name": "completable-prompt"},
                "argument": {"name": "department", "value": "E"},
            },
            False,
        ),
        ("logging/setLevel", {"level": "debug"}, False),
        ("notifications/roots/list_changed", None, True),
        ("notifications/message", {"level": "info", "data": "from the client"}, True),
    ]

    async def main() -> None:
        async with (
            audited_proxy({"logFile": str(log)}, inner=[fake_auth], server=everything) as url,
            httpx.AsyncClient(timeout=60) as http,
        ):
            client = Client(http, url)
            await client.initialize()
            for method, params, notify in calls:
                send = client.notify if notify else client.request
                response = await send(method, params)
                if notify:
                    assert response.status_code == 202, (method, response.text)
                else:
                    assert "result" in answer_of(response), (method, response.text)

    asyncio.run(main())
    seen = {
        e["target"]["method"]: (
            e["type"],
            e["target"].get("name"),
            e["target"]["type"],
            e["outcome"],
        )
        for e in read_events(log)
    }
    assert seen == {
        "initialize": ("mcp_initialize", "audit-tests", "endpoint", "success"),
        "notifications/initialized": ("mcp_request", "initialized", "endpoint", "success"),
        "ping": ("mcp_ping", "ping", "endpoint", "success"),
        "tools/list": ("mcp_tools_list", None, "endpoint", "success"),
        "tools/call": ("mcp_tool_call", "echo", "tool", "success"),
        "resources/list": ("mcp_resources_list", None, "endpoint", "success"),
        "resources/read": (
            "mcp_resource_read",
            "demo://resource/dynamic/text/1",
            "resource",
            "success",
        ),
        "prompts/list": ("mcp_prompts_list", None, "endpoint", "success"),
        "prompts/get": ("mcp_prompt_get", "simple-prompt", "prompt", "success"),
        "completion/complete": ("mcp_completion", "completable-prompt", "endpoint", "success"),
        "logging/setLevel": ("mcp_logging", "debug", "endpoint", "success"),
        "notifications/roots/list_changed": (
            "mcp_roots_list_changed",
            "roots",
            "endpoint",
            "success",
        ),
        "notifications/message": ("mcp_notification", None, "endpoint", "success"),
    }
