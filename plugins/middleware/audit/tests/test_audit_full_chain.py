"""Audit around the real ``auth`` (tokens from a real OIDC issuer on 127.0.0.1) and ``authorization``
(Cedar) plugins, as a RunConfig with all three asks: the chain is audit > auth > mcp-parser >
authorization > recovery, a token refused by auth and a call forbidden by Cedar are both
``denied``, the caller's claims fill ``subjects``, and no token appears anywhere in the log."""

from __future__ import annotations

import asyncio
import importlib.util
from pathlib import Path

import pytest
from audit_harness import INIT_PARAMS, WORKLOAD, read_events
from toolhive.testing.chains import raw_session

pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.skipif(
        importlib.util.find_spec("toolhive_middleware_auth") is None
        or importlib.util.find_spec("toolhive_middleware_authz") is None,
        reason="the auth and authz plugins are not installed in this environment",
    ),
]

ONLY_ECHO = {
    "version": "1.0",
    "type": "cedarv1",
    "cedar": {
        "policies": ['permit(principal, action == Action::"call_tool", resource == Tool::"echo");'],
        "entities_json": "[]",
    },
}


def test_denials_by_the_real_auth_and_authz_plugins_are_audited_without_tokens(tmp_path: Path):
    from toolhive.models.runconfig import RunConfig
    from toolhive.plugins import Hooks, build_plugin_manager
    from toolhive.testing.chains import workload_proxy
    from toolhive.testing.oidc import OIDCIssuer

    log = tmp_path / "audit.log"
    allow = {"TOOLHIVE_LOAD_PLUGINS": "middleware-audit,middleware-auth,middleware-authz"}
    hooks = Hooks(build_plugin_manager(autoload=True, environ=allow))
    audit = {"logFile": str(log), "includeRequestData": True, "includeResponseData": True}
    audit["maxDataSize"] = 100000

    with OIDCIssuer() as issuer:
        alice = issuer.token(
            sub="alice", claims={"name": "Alice Doe", "email": "alice@example.com"}
        )
        expired = issuer.token(sub="alice", claims={"exp": 1_000_000_000})
        forged = issuer.unsigned(sub="mallory")
        tokens = [alice, expired, forged]
        config = RunConfig(
            name=WORKLOAD,
            transport="stdio",
            port=0,
            target_port=0,
            audit_config=audit,
            oidc_config=issuer.oidc_config(),
            authz_config=ONLY_ECHO,
        )

        async def go() -> None:
            async with workload_proxy(hooks, config) as proxy:
                assert proxy.chain == ["audit", "auth", "mcp-parser", "authorization", "recovery"]
                await exchange(proxy.url, alice, expired, forged)

        asyncio.run(go())

    events = read_events(log)
    text = log.read_text()
    for token in tokens:
        assert token not in text
        for part in token.split("."):
            assert len(part) < 16 or part not in text

    by_step = [(e["type"], e["target"].get("name"), e["outcome"]) for e in events]
    assert by_step == [
        ("mcp_initialize", "audit-tests", "success"),
        ("mcp_request", "initialized", "success"),
        ("mcp_tool_call", "echo", "success"),
        ("mcp_tool_call", "add", "denied"),  # Cedar: 403
        ("mcp_tools_list", None, "denied"),  # no token: 401
        ("mcp_tools_list", None, "denied"),  # expired: 401
        ("mcp_tools_list", None, "denied"),  # alg none: 401
    ]
    allowed, forbidden, *unauthenticated = events[2:]
    assert allowed["subjects"]["user_id"] == "alice" and allowed["subjects"]["user"] == "Alice Doe"
    assert forbidden["subjects"]["user_id"] == "alice"
    assert forbidden["data"]["response"]["error"] == {"code": 403, "message": "Unauthorized"}
    for event in unauthenticated:
        assert event["subjects"]["user"] == "anonymous" and "user_id" not in event["subjects"]


async def exchange(url: str, alice: str, expired: str, forged: str) -> None:
    as_alice = {"authorization": f"Bearer {alice}"}
    async with raw_session(url, as_alice, init_params=INIT_PARAMS) as mcp:
        echo = {"name": "echo", "arguments": {"text": "hi"}}
        echoed = await mcp.request("tools/call", echo, id=2)
        assert echoed.status_code == 200 and "hi" in echoed.text
        added = await mcp.request(
            "tools/call", {"name": "add", "arguments": {"a": 1, "b": 2}}, id=3
        )
        assert added.status_code == 403
        for authorization in ("", f"Bearer {expired}", f"Bearer {forged}"):
            refused = await mcp.request(
                "tools/list", id=4, headers={"authorization": authorization}
            )
            assert refused.status_code == 401, refused.text
