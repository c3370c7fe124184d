"""End to end through ``thv``: an exported RunConfig carrying ``authz_config`` runs on the process
runtime with the authorization middleware in the detached supervisor's chain (list filtered, a
denied call answered 403); one with a policy Cedar cannot parse is refused at ``thv run
--from-config`` with Cedar's message, before any state is saved."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from authz_harness import authz_config, raw_session, sdk_client
from toolhive.testing import ThvCli, ThvHome
from toolhive.testing.workloads import (
    ECHO_STDIO,
    Thv,
    exported_echo,
    run_from_config,
    saved_runconfigs,
    thv_in_process,
    workload_url,
    write_runconfig,
)

pytestmark = pytest.mark.timeout(240)

ECHO_ONLY = authz_config(
    'permit(principal, action == Action::"call_tool", resource == Tool::"echo");'
)


@pytest.fixture
def thv_autoload() -> bool:
    return True  # the CLI and its supervisor find this plugin (and the process runtime) installed


@pytest.fixture
def thv(thv_cli: ThvCli) -> Iterator[Thv]:
    with thv_in_process(thv_cli) as run:
        yield run


def test_an_exported_config_with_authz_config_runs_with_cedar_deciding(thv: Thv, tmp_path: Path):
    config = exported_echo(thv, "guarded")
    config["authz_config"] = ECHO_ONLY
    base = run_from_config(thv, config, tmp_path).removesuffix("/mcp")

    async def session() -> tuple[set[str], str, tuple[int, dict[str, Any]]]:
        async with sdk_client(base, None) as client:
            tools = {t.name for t in (await client.list_tools()).tools}
            echoed = (await client.call_tool("echo", {"text": "e2e ✓"})).content[0].text
        async with raw_session(base, None) as raw:
            denied = await raw.rpc("tools/call", {"name": "add", "arguments": {"a": 1, "b": 2}})
        return tools, echoed, denied

    tools, echoed, (status, answer) = asyncio.run(session())
    assert tools == {"echo"}
    assert echoed == "e2e ✓"
    assert status == 403 and answer["error"] == {"code": 403, "message": "Unauthorized"}
    assert "mcp-parser > authorization > recovery" in thv("logs", "guarded", "--proxy")


def test_an_invalid_policy_is_refused_at_run_with_cedars_message_and_no_state(
    thv_cli: ThvCli, thv: Thv, thv_home: ThvHome, tmp_path: Path
):
    config = exported_echo(thv, "refused")
    config["authz_config"] = authz_config(
        'permit(principal, action == Action::"call_tool", resource == Tool::"echo");',
        'permit(principal, action == Action::"call_tool" resource);',
    )
    result = thv_cli("run", "--from-config", str(write_runconfig(config, tmp_path)))
    assert result.exit_code != 0
    message = str(result.exception)
    assert "authz_config (authorization middleware) has invalid parameters" in message, message
    assert "failed to parse policy 1" in message and "unexpected token" in message, message
    assert "Traceback" not in result.output
    assert saved_runconfigs(thv_home) == []


def test_the_authz_config_flag_takes_a_yaml_file_and_refuses_a_bad_policy(
    thv_cli: ThvCli, thv: Thv, thv_home: ThvHome, tmp_path: Path
):
    good = tmp_path / "authz.yaml"
    good.write_text(
        'version: "1.0"\n'
        "type: cedarv1\n"
        "cedar:\n"
        "  policies:\n"
        '    - \'permit(principal, action == Action::"call_tool", resource == Tool::"add");\'\n'
    )
    flags = ["--runtime", "process", "--authz-config", str(good), *ECHO_STDIO]
    thv("run", "--name", "flagged", *flags)
    base = workload_url(thv, "flagged").removesuffix("/mcp")

    async def tools() -> set[str]:
        async with sdk_client(base, None) as client:
            return {t.name for t in (await client.list_tools()).tools}

    assert asyncio.run(tools()) == {"add"}

    bad = tmp_path / "bad.yaml"
    bad.write_text(good.read_text().replace(");'", ")'"))
    flags = ["--runtime", "process", "--authz-config", str(bad), *ECHO_STDIO]
    result = thv_cli("run", "--name", "refused", *flags)
    assert result.exit_code != 0
    assert "failed to parse policy 0" in str(result.exception), result.output
    assert "refused" not in saved_runconfigs(thv_home)
