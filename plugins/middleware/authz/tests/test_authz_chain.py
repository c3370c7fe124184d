"""Real Cedar policies through a real workload chain in front of a real MCP server (stdio bridge,
proxy app on a real port, the official client or raw HTTP)."""

from __future__ import annotations

import asyncio
import getpass
import importlib.util
import json
from typing import Any

import httpx
import pytest
from authz_harness import (
    ALL_TOOLS,
    authz_config,
    claims_header,
    proxied,
    raw_session,
    sdk_client,
)

pytestmark = pytest.mark.timeout(120)

ALICE = {"sub": "alice", "name": "Alice", "groups": ["eng"], "level": 3}
BOB = {"sub": "bob", "name": "Bob", "groups": ["sales"], "level": 1}
DENIED = {"code": 403, "message": "Unauthorized"}
ECHO_ONLY = authz_config(
    'permit(principal, action == Action::"call_tool", resource == Tool::"echo");'
)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


async def tool_names(client: Any) -> set[str]:
    return {t.name for t in (await client.list_tools()).tools}


def test_one_tool_is_allowed_the_list_shows_only_it_and_other_calls_get_403():
    async def go() -> None:
        async with proxied(ECHO_ONLY) as base:
            async with sdk_client(base, ALICE) as client:
                assert await tool_names(client) == {"echo"}
                result = await client.call_tool("echo", {"text": "allowed ✓"})
                assert result.content[0].text == "allowed ✓"
            async with raw_session(base, ALICE) as session:
                status, answer = await session.rpc(
                    "tools/call", {"name": "add", "arguments": {"a": 1, "b": 2}}, id=41
                )
                assert status == 403
                assert answer == {"jsonrpc": "2.0", "id": 41, "error": DENIED}

    run(go())


def test_a_denied_tool_and_a_nonexistent_tool_get_the_same_answer():
    async def go() -> None:
        async with proxied(ECHO_ONLY) as base, raw_session(base, ALICE) as session:
            answers = []
            for name in ("add", "no-such-tool"):
                response = await session.post(
                    {"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": {"name": name}}
                )
                answers.append((response.status_code, dict(response.headers), response.content))
            (s1, h1, b1), (s2, h2, b2) = answers
            assert (s1, b1) == (s2, b2) == (403, b1)
            assert json.loads(b1)["error"] == DENIED
            for headers in (h1, h2):
                headers.pop("date", None)
            assert h1 == h2

    run(go())


def test_a_group_from_the_token_grants_what_the_policy_gives_the_group():
    config = authz_config(
        'permit(principal in THVGroup::"eng", action == Action::"call_tool", resource);'
    )

    async def go() -> None:
        async with proxied(config) as base:
            async with sdk_client(base, ALICE) as client:
                assert await tool_names(client) == ALL_TOOLS
                assert (await client.call_tool("add", {"a": 20, "b": 22})).content[0].text == "42"
            async with sdk_client(base, BOB) as client:
                assert await tool_names(client) == set()
            async with raw_session(base, BOB) as session:
                status, answer = await session.rpc("tools/call", {"name": "add"})
                assert (status, answer["error"]) == (403, DENIED)

    run(go())


def test_a_named_group_claim_with_a_dotted_path_and_a_role_claim_are_both_groups():
    config = authz_config(
        'permit(principal in Team::"ops", action == Action::"call_tool", resource == Tool::"echo");',
        'permit(principal in Team::"admin", action == Action::"call_tool", resource);',
        group_claim_name="realm_access.roles",
        role_claim_name="https://example.com/roles",
        group_entity_type="Team",
    )
    ops = {"sub": "carol", "realm_access": {"roles": ["ops"]}, "groups": ["admin"]}
    admin = {"sub": "dave", "https://example.com/roles": ["admin"]}

    async def go() -> None:
        async with proxied(config) as base:
            # The named claim wins over the default "groups" claim (which says admin here).
            async with sdk_client(base, ops) as client:
                assert await tool_names(client) == {"echo"}
            async with sdk_client(base, admin) as client:
                assert await tool_names(client) == ALL_TOOLS

    run(go())


def test_an_argument_policy_allows_only_the_arguments_it_names():
    config = authz_config(
        'permit(principal, action == Action::"call_tool", resource == Tool::"echo") '
        'when { resource.arg_text == "hello" };',
        'permit(principal, action == Action::"call_tool", resource == Tool::"add") '
        "when { context.arg_a < principal.claim_level };",
    )

    async def go() -> None:
        async with proxied(config) as base, raw_session(base, ALICE) as session:
            status, answer = await session.rpc(
                "tools/call", {"name": "echo", "arguments": {"text": "hello"}}
            )
            assert status == 200 and answer["result"]["content"][0]["text"] == "hello"
            status, answer = await session.rpc(
                "tools/call", {"name": "echo", "arguments": {"text": "goodbye"}}
            )
            assert (status, answer["error"]) == (403, DENIED)
            # Integers are Cedar Longs: compared with a claim (Alice's level is 3).
            status, answer = await session.rpc(
                "tools/call", {"name": "add", "arguments": {"a": 2, "b": 5}}
            )
            assert status == 200 and answer["result"]["content"][0]["text"] == "7"
            status, _ = await session.rpc(
                "tools/call", {"name": "add", "arguments": {"a": 4, "b": 5}}
            )
            assert status == 403

    run(go())


def test_forbid_overrides_permit_including_on_annotations_the_server_listed():
    config = authz_config(
        'permit(principal, action == Action::"call_tool", resource);',
        'forbid(principal, action == Action::"call_tool", resource == Tool::"add");',
        "forbid(principal, action, resource) when { resource has destructiveHint && "
        "resource.destructiveHint };",
    )

    async def go() -> None:
        async with proxied(config) as base:
            async with sdk_client(base, ALICE) as client:
                assert await tool_names(client) == {"echo", "lookup"}
            async with raw_session(base, ALICE) as session:
                for name in ("add", "wipe"):
                    status, answer = await session.rpc(
                        "tools/call", {"name": name, "arguments": {"target": "x"}}
                    )
                    assert (status, answer["error"]) == (403, DENIED), name
                status, _ = await session.rpc(
                    "tools/call", {"name": "lookup", "arguments": {"key": "k"}}
                )
                assert status == 200

    run(go())


def test_a_read_only_annotation_policy_lists_and_allows_only_read_only_tools():
    config = authz_config(
        'permit(principal, action == Action::"call_tool", resource) '
        "when { resource has readOnlyHint && resource.readOnlyHint };"
    )

    async def go() -> None:
        async with proxied(config) as base, sdk_client(base, ALICE) as client:
            assert await tool_names(client) == {"lookup"}
            assert (await client.call_tool("lookup", {"key": "k"})).content[0].text == "value of k"

    run(go())


def test_prompts_resources_and_templates_are_filtered_and_denied_like_tools():
    config = authz_config(
        'permit(principal, action == Action::"get_prompt", resource == Prompt::"greeting");',
        'permit(principal, action == Action::"read_resource", resource) '
        'when { resource.uri like "file:///public/*" };',
    )

    async def go() -> None:
        async with proxied(config) as base:
            async with sdk_client(base, ALICE) as client:
                prompts = {p.name for p in (await client.list_prompts()).prompts}
                assert prompts == {"greeting"}
                got = await client.get_prompt("greeting", {"name": "Ann"})
                assert "Hello, Ann!" in got.messages[0].content.text
                resources = {str(r.uri) for r in (await client.list_resources()).resources}
                assert resources == {"file:///public/readme.txt"}
                templates = (await client.list_resource_templates()).resource_templates
                assert [t.uri_template for t in templates] == ["file:///public/notes/{name}"]
                read = await client.read_resource("file:///public/notes/a")
                assert read.contents[0].text == "note a"
            async with raw_session(base, ALICE) as session:
                for method, params in (
                    ("prompts/get", {"name": "secret_plan"}),
                    ("resources/read", {"uri": "file:///private/keys.txt"}),
                    ("resources/subscribe", {"uri": "file:///private/keys.txt"}),
                ):
                    status, answer = await session.rpc(method, params)
                    assert (status, answer["error"]) == (403, DENIED), method

    run(go())


def test_unknown_methods_and_unlisted_notifications_are_denied_protocol_methods_pass():
    async def go() -> None:
        async with proxied(ECHO_ONLY) as base, raw_session(base, ALICE) as session:
            for method in ("tasks/list", "sampling/createMessage", "tools/frobnicate"):
                status, answer = await session.rpc(method, {}, id=9)
                assert (status, answer) == (403, {"jsonrpc": "2.0", "id": 9, "error": DENIED})
            response = await session.post({"jsonrpc": "2.0", "method": "notifications/frob"})
            assert response.status_code == 403
            status, answer = await session.rpc("ping", id=3)
            assert (status, answer) == (200, {"jsonrpc": "2.0", "id": 3, "result": {}})

    run(go())


def test_batches_garbage_and_non_json_posts_are_refused_before_the_server():
    async def go() -> None:
        async with proxied(ECHO_ONLY) as base, raw_session(base, ALICE) as session:
            call = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "add"}}
            batch = await session.post([call, {**call, "id": 2}])
            assert batch.status_code == 400
            assert batch.json()["error"] == {
                "code": -32600,
                "message": "JSON-RPC batch requests are not supported",
            }
            garbage = await session.post(b'{"jsonrpc": "2.0", "method": ')
            text = await session.post(json.dumps(call).encode(), **{"content-type": "text/plain"})
            for refused in (garbage, text):
                assert refused.status_code == 400
                assert refused.json()["error"] == {
                    "code": -32600,
                    "message": "Invalid or malformed MCP request",
                }
            # The session still works: nothing above reached the server.
            status, _ = await session.rpc(
                "tools/call", {"name": "echo", "arguments": {"text": "x"}}
            )
            assert status == 200

    run(go())


def test_without_an_identity_the_caller_is_toolhives_local_user():
    user = getpass.getuser()
    config = authz_config(
        f'permit(principal == Client::"{user}", action == Action::"call_tool", '
        'resource == Tool::"echo") when { principal.claim_iss == "toolhive-local" && '
        f'principal.claim_name == "Local User: {user}" }};'
    )

    async def go() -> None:
        async with proxied(config) as base:
            async with sdk_client(base, None) as client:
                assert await tool_names(client) == {"echo"}
            async with sdk_client(base, ALICE) as client:
                assert await tool_names(client) == set()

    run(go())


def test_an_identity_without_a_subject_is_denied_everything():
    config = authz_config("permit(principal, action, resource);")

    async def go() -> None:
        async with proxied(config) as base:
            async with sdk_client(base, {"name": "nobody"}) as client:
                assert await tool_names(client) == set()
            async with raw_session(base, {"name": "nobody"}) as session:
                status, _ = await session.rpc("tools/call", {"name": "echo"})
                assert status == 403

    run(go())


def test_on_the_legacy_sse_transport_answers_on_the_event_stream_are_filtered():
    async def go() -> None:
        async with proxied(ECHO_ONLY, proxy_mode="sse") as base:
            async with sdk_client(base, ALICE, sse=True) as client:
                assert await tool_names(client) == {"echo"}
                assert (await client.call_tool("echo", {"text": "sse ✓"})).content[0].text == (
                    "sse ✓"
                )
            # A denied call is refused on its POST, before the server sees it.
            async with httpx.AsyncClient(timeout=30) as http:
                headers = claims_header(ALICE)
                async with http.stream("GET", f"{base}/sse", headers=headers) as stream:
                    lines = stream.aiter_lines()
                    endpoint = ""
                    async for line in lines:
                        if line.startswith("data:"):
                            endpoint = line[5:].strip()
                            break
                    denied = await http.post(
                        f"{base}{endpoint}",
                        json={
                            "jsonrpc": "2.0",
                            "id": 8,
                            "method": "tools/call",
                            "params": {"name": "add", "arguments": {"a": 1, "b": 1}},
                        },
                        headers=headers,
                    )
                    assert denied.status_code == 403
                    assert denied.json() == {"jsonrpc": "2.0", "id": 8, "error": DENIED}

    run(go())


@pytest.mark.skipif(
    importlib.util.find_spec("toolhive_middleware_auth") is None,
    reason="the auth plugin (toolhive-middleware-auth) is not installed",
)
def test_through_the_real_auth_middleware_the_tokens_claims_decide():
    from toolhive.testing.oidc import OIDCIssuer

    config = authz_config(
        'permit(principal in THVGroup::"eng", action == Action::"call_tool", resource) '
        'when { principal.claim_email like "*@example.com" };'
    )
    with OIDCIssuer() as issuer:
        alice = issuer.token(sub="alice", claims={"groups": ["eng"], "email": "a@example.com"})
        bob = issuer.token(sub="bob", claims={"groups": ["sales"], "email": "b@example.com"})

        async def go() -> None:
            async with proxied(config, oidc_config=issuer.oidc_config()) as base:
                as_alice = {"authorization": f"Bearer {alice}"}
                async with sdk_client(base, None, headers=as_alice) as client:
                    assert await tool_names(client) == ALL_TOOLS
                async with sdk_client(base, None, headers={"authorization": f"Bearer {bob}"}) as c:
                    assert await tool_names(c) == set()
                async with raw_session(base, None, {"authorization": f"Bearer {bob}"}) as raw:
                    status, answer = await raw.rpc("tools/call", {"name": "echo"})
                    assert (status, answer["error"]) == (403, DENIED)
                async with httpx.AsyncClient(timeout=60) as http:
                    anonymous = await http.post(
                        f"{base}/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
                    )
                    assert anonymous.status_code == 401  # the auth middleware, before authz

        run(go())
