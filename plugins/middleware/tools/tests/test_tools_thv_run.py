"""End to end through ``thv``: a RunConfig exported with ``tools_filter`` / ``tools_override`` (what
ToolHive's ``--tools`` / ``--tools-override`` write) runs on the process runtime with the filters
in the detached supervisor's chain; a config the filters refuse fails at ``thv run`` with the
reason, before any state is saved."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from toolhive.testing import ThvCli, ThvHome
from toolhive.testing.workloads import (
    Thv,
    exported_echo,
    run_from_config,
    saved_runconfigs,
    thv_in_process,
    write_runconfig,
)
from tools_harness import sdk_session

pytestmark = pytest.mark.timeout(240)


@pytest.fixture
def thv_autoload() -> bool:
    return True  # the CLI and its supervisor find this plugin (and the process runtime) installed


@pytest.fixture
def thv(thv_cli: ThvCli) -> Iterator[Thv]:
    with thv_in_process(thv_cli) as run:
        yield run


def test_an_exported_config_with_a_filter_and_overrides_runs_filtered(thv: Thv, tmp_path: Path):
    config = exported_echo(thv, "filtered")
    config["tools_filter"] = ["say"]
    config["tools_override"] = {"echo": {"name": "say", "description": "Say it back"}}
    base = run_from_config(thv, config, tmp_path).removesuffix("/mcp")

    async def session() -> tuple[dict[str, str | None], Any, Any]:
        async with sdk_session(base) as s:
            return (
                await s.tools(),
                await s.call("say", {"text": "e2e ✓"}),
                await s.call("add", {"a": 1, "b": 2}),
            )

    tools, say, add = asyncio.run(session())
    assert tools == {"say": "Say it back"}
    assert say.text == "e2e ✓"
    assert add.error_message == "tool not found"
    proxy_log = thv("logs", "filtered", "--proxy")
    assert "tool-filter > tool-call-filter > mcp-parser" in proxy_log


@pytest.mark.parametrize(
    ("tools_filter", "tools_override", "reason"),
    [
        ([], {"echo": {"name": "", "description": ""}},
         "tool override for 'echo' must set a name or a description"),
        ([], {"echo": {"name": "same"}, "add": {"name": "same"}},
         "tools 'echo' and 'add' are both renamed to 'same'"),
        (["echo"], {"echo": {"name": "say"}},
         "the filter lists 'echo', which is renamed to 'say'"),
        ([""], {}, "a tool name in the filter cannot be empty"),
        # ToolHive's e2e "filtering out an overridden tool" (there: --tools non-existent-tool).
        (["non-existent-tool"], {"echo": {"name": "overridden_but_filtered_out"}},
         "tool 'echo' has an override, but the filter hides it"),
    ],
)  # fmt: skip
def test_a_config_the_filters_refuse_fails_at_run_and_leaves_no_state(
    thv_cli: ThvCli,
    thv: Thv,
    thv_home: ThvHome,
    tmp_path: Path,
    tools_filter: list[str],
    tools_override: dict[str, Any],
    reason: str,
):
    config = exported_echo(thv, "refused")
    config["tools_filter"] = tools_filter
    config["tools_override"] = tools_override
    result = thv_cli("run", "--from-config", str(write_runconfig(config, tmp_path)))
    assert result.exit_code != 0
    message = str(result.exception)
    assert reason in message and "middleware) has invalid parameters" in message, message
    assert "Traceback" not in result.output
    assert saved_runconfigs(thv_home) == []
