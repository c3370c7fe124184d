"""``thv runtime`` reaches the CLI through ``thv_cli_commands``, from a built-in plugin module."""

from __future__ import annotations

import json

import pytest
from toolhive.cli import BUILTIN_COMMANDS
from toolhive.contracts import CommandRef
from toolhive.errors import DuplicatePluginError
from toolhive.plugins import Hooks, build_plugin_manager
from toolhive.testing import ThvCli, make_plugin

MODULE = "toolhive.builtin.commands"


def test_runtime_is_provided_by_the_hook_not_the_cli_table() -> None:
    hooks = Hooks(build_plugin_manager(autoload=False))
    assert "runtime" not in BUILTIN_COMMANDS
    ref = hooks.cli_commands()["runtime"]
    assert ref.target == "toolhive.cli.runtime_cmd:runtime"
    assert hooks.pm.sources[MODULE].builtin


def test_help_still_lists_runtime(thv_cli: ThvCli) -> None:
    result = thv_cli("--help")
    assert result.exit_code == 0
    assert "runtime     Inspect container runtimes" in result.stdout


def test_runtime_check_runs_through_the_hook(thv_cli: ThvCli) -> None:
    result = thv_cli("runtime", "check", "--format", "json")
    assert result.exit_code in (0, 1)  # 1: no runtime usable here
    assert "selected" in json.loads(result.stdout)


def test_without_the_builtin_plugin_there_is_no_runtime_command(thv_cli: ThvCli) -> None:
    hooks = Hooks(build_plugin_manager(autoload=False, blocked=[MODULE]))
    assert "runtime" not in thv_cli("--help", hooks=hooks).stdout
    result = thv_cli("runtime", "check", hooks=hooks)
    assert result.exit_code == 2
    assert "No such command 'runtime'" in result.stderr


def test_thv_plugins_shows_what_the_builtin_module_provides(thv_cli: ThvCli) -> None:
    listed = json.loads(thv_cli("plugins", "--format", "json").stdout)
    [entry] = [p for p in listed["plugins"] if p["name"] == MODULE]
    assert entry["builtin"] is True
    assert entry["provides"] == {"cli_commands": ["runtime"]}


def test_a_plugin_cannot_take_the_runtime_command() -> None:
    acme = make_plugin(
        "acme", thv_cli_commands=lambda: [CommandRef(name="runtime", target="acme.cli:runtime")]
    )
    hooks = Hooks(build_plugin_manager(autoload=False, plugins=[acme]))
    with pytest.raises(DuplicatePluginError, match="'runtime' provided by both"):
        hooks.cli_commands()
