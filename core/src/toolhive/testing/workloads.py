"""End-to-end scaffolding for ``thv`` tests: core's echo server as a workload, exported the way
``thv export`` writes it, given extra RunConfig fields and run with ``thv run --from-config``.

``thv`` is any callable that runs ``thv`` with the given arguments, fails the test on a non-zero
exit, and returns its stdout (a wrapper around the ``thv_cli`` fixture or a console-script
subprocess)::

    config = exported_echo(thv, "guarded")
    config["authz_config"] = {...}
    url = run_from_config(thv, config, tmp_path)
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from toolhive.testing.fixtures import ThvHome

__all__ = [
    "ECHO_STDIO",
    "exported_echo",
    "run_from_config",
    "saved_runconfigs",
    "workload_url",
    "write_runconfig",
]

#: ``thv run`` arguments for core's echo server on stdio (add ``--runtime process``).
ECHO_STDIO: tuple[str, ...] = (
    sys.executable,
    "--transport",
    "stdio",
    "--",
    str(Path(__file__).with_name("echo_server.py")),
    "stdio",
)

Thv = Callable[..., str]


def exported_echo(thv: Thv, name: str) -> dict[str, Any]:
    """A RunConfig as ``thv export`` writes it for the echo server on the process runtime, renamed
    ``name`` (on a free port); the source workload is removed again."""
    thv("run", "--name", f"{name}-src", "--runtime", "process", *ECHO_STDIO)
    exported: dict[str, Any] = json.loads(thv("export", f"{name}-src", "-"))
    thv("rm", f"{name}-src")
    return {**exported, "name": name, "base_name": name, "container_name": name, "port": 0}


def write_runconfig(config: dict[str, Any], folder: Path) -> Path:
    """``config`` as ``<folder>/<name>.json``, for ``thv run --from-config``."""
    path = folder / f"{config['name']}.json"
    path.write_text(json.dumps(config))
    return path


def workload_url(thv: Thv, name: str) -> str:
    """The workload's MCP URL, from ``thv status``."""
    url: str = json.loads(thv("status", name, "--format", "json"))["url"]
    return url


def run_from_config(thv: Thv, config: dict[str, Any], folder: Path) -> str:
    """Run ``config`` with ``thv run --from-config`` (written under ``folder``); its MCP URL."""
    thv("run", "--from-config", str(write_runconfig(config, folder)))
    return workload_url(thv, config["name"])


def saved_runconfigs(home: ThvHome) -> list[str]:
    """The names of the RunConfigs saved in ``home``'s state."""
    folder = home.state / "toolhive" / "runconfigs"
    return sorted(p.stem for p in folder.iterdir()) if folder.is_dir() else []
