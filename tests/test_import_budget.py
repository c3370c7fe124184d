"""Start-up stays cheap with every workspace plugin installed.

Each check runs ``thv`` in a fresh interpreter of the workspace environment (which has every
workspace plugin installed), through a small wrapper that calls ``toolhive.cli.main`` and then
records ``sys.modules``. State lives in temporary XDG directories.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from toolhive.models.runconfig import RunConfig
from toolhive.models.workload import WorkloadStatus
from toolhive.state import store
from toolhive.testing import ThvHome

REPO = Path(__file__).resolve().parents[1]
#: Engine SDKs and the client libraries of secrets, authz and telemetry plugins: each is imported
#: only by the command that uses it (a package here also stands for all its submodules).
HEAVY = {
    "docker",
    "kubernetes",
    "hvac",
    "onepassword",
    "cryptography",
    "keyring",
    "cedarpy",
    "opentelemetry.sdk",
}
#: Not needed to print help: the proxy's server and client stacks, and the MCP SDK.
HEAVY_FOR_HELP = HEAVY | {"mcp", "uvicorn", "httpx"}


def heavy_in(modules: set[str], heavy: set[str]) -> set[str]:
    """The packages of ``heavy`` that ``modules`` (full dotted names) holds."""
    return {h for h in heavy if h in modules or any(m.startswith(f"{h}.") for m in modules)}


WRAPPER = """
import json, os, sys
from toolhive.cli import main
try:
    main(sys.argv[1:])
    code = 0
except SystemExit as exc:
    code = exc.code or 0
with open(os.environ["IMPORT_BUDGET_OUT"], "w") as fh:
    json.dump({"code": code, "modules": sorted(sys.modules)}, fh)
"""


def workspace_plugin_modules() -> dict[str, str]:
    """Entry-point name → module of every workspace plugin."""
    out: dict[str, str] = {}
    for pyproject in sorted(REPO.glob("plugins/*/*/pyproject.toml")):
        project = tomllib.loads(pyproject.read_text())["project"]
        for name, target in project.get("entry-points", {}).get("toolhive", {}).items():
            out[name] = target.split(":")[0]
    return out


def run_thv(
    home: ThvHome, tmp_path: Path, *args: str, env_extra: dict[str, str] | None = None
) -> tuple[int, set[str], str]:
    out = tmp_path / "modules.json"
    out.unlink(missing_ok=True)
    env = {k: v for k, v in home.env.items() if not k.startswith("TOOLHIVE_")}
    env |= {"IMPORT_BUDGET_OUT": str(out), "TOOLHIVE_STRICT_PLUGINS": "1", **(env_extra or {})}
    proc = subprocess.run(
        [sys.executable, "-c", WRAPPER, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.exists(), proc.stderr
    data = json.loads(out.read_text())
    return data["code"], set(data["modules"]), proc.stdout


def save_fake_workloads(count: int) -> list[str]:
    """RunConfigs + status files for ``count`` workloads 'running' under this test's PID (alive)."""
    names = []
    for i in range(count):
        name = f"fake-{i:02d}"
        config = RunConfig(
            name=name,
            base_name=name,
            container_name=name,
            image="localhost/fake/server:1",
            transport="streamable-http" if i % 2 else "stdio",
            port=20000 + i,
            target_port=30000 + i,
            runtime="docker",
        )
        store.save_runconfig(config)
        store.set_status(name, WorkloadStatus.RUNNING, process_id=os.getpid())
        store.write_pid(name, os.getpid())
        names.append(name)
    return names


def assert_plugins_loaded(modules: set[str]) -> None:
    """The budget must hold with every plugin loaded, not because some were missing."""
    missing = set(workspace_plugin_modules().values()) - modules
    assert not missing, (
        f"not loaded: {sorted(missing)} (is the workspace synced? uv sync --all-packages)"
    )


def test_a_heavy_package_counts_by_itself_or_any_submodule() -> None:
    modules = {"opentelemetry", "opentelemetry.trace", "cryptography.hazmat", "keyringx"}
    assert heavy_in(modules, HEAVY) == {"cryptography"}
    assert heavy_in(modules | {"opentelemetry.sdk.trace"}, HEAVY) == {
        "cryptography",
        "opentelemetry.sdk",
    }


def test_every_workspace_plugin_declares_an_entry_point() -> None:
    assert workspace_plugin_modules(), "no workspace plugin found under plugins/"


def test_every_workspace_plugin_is_installed_here() -> None:
    """What makes 'no plugin imported' below mean something: they are all there to import."""
    installed = {ep.name for ep in metadata.entry_points(group="toolhive")}
    missing = set(workspace_plugin_modules()) - installed
    assert not missing, f"not installed: {sorted(missing)} (uv sync --all-packages)"


def test_help_imports_no_heavy_module(thv_home: ThvHome, tmp_path: Path) -> None:
    code, modules, stdout = run_thv(thv_home, tmp_path, "--help")
    assert code == 0
    assert "Commands:" in stdout
    assert heavy_in(modules, HEAVY_FOR_HELP) == set()
    assert_plugins_loaded(modules)


@pytest.mark.parametrize("workloads", [0, 20], ids=["empty", "20-workloads"])
def test_list_imports_no_plugin_and_no_engine_sdk(
    thv_home: ThvHome, tmp_path: Path, workloads: int
) -> None:
    """``thv list`` reads state files only: with every plugin installed, it imports none."""
    names = save_fake_workloads(workloads)
    code, modules, stdout = run_thv(thv_home, tmp_path, "list")
    assert code == 0
    assert all(name in stdout for name in names)
    assert heavy_in(modules, HEAVY) == set()
    assert set(workspace_plugin_modules().values()) & modules == set()
    assert heavy_in(modules, {"pluggy", "toolhive.plugins"}) == set()


@pytest.mark.parametrize(
    "args", [("list", "--format", "json"), ("plugins", "--format", "json"), ("version",)]
)
def test_other_listing_commands_import_no_engine_sdk(
    thv_home: ThvHome, tmp_path: Path, args: tuple[str, ...]
) -> None:
    save_fake_workloads(3)
    code, modules, _stdout = run_thv(thv_home, tmp_path, *args)
    assert code == 0
    assert heavy_in(modules, HEAVY | {"uvicorn", "mcp"}) == set()


def test_runtime_detection_imports_no_engine_sdk(thv_home: ThvHome, tmp_path: Path) -> None:
    """``RuntimeSpec.detect`` must be standard library only: ``thv runtime check`` runs them all."""
    code, modules, _stdout = run_thv(thv_home, tmp_path, "runtime", "check", "--format", "json")
    assert code in (0, 1)  # 1: no runtime usable here, which is fine for this check
    assert heavy_in(modules, HEAVY) == set()


# --- the cached command table (toolhive/cli/command_cache.py) ---------------------------------

ACME_MODULE = """
import click
from toolhive.contracts import CommandRef, hookimpl

@hookimpl
def thv_cli_commands():
    return [CommandRef(name="acme-hello", target="acme_cmds:hello", help={help!r})]

@click.command()
def hello():
    click.echo("hello from acme")
"""


def install_acme(site: Path, help_: str = "Say hello") -> Path:
    """A plugin distribution providing ``thv acme-hello``, written into the folder ``site``."""
    package = site / "acme_cmds"
    package.mkdir(exist_ok=True)
    module = package / "__init__.py"
    module.write_text(ACME_MODULE.format(help=help_))
    dist_info = site / "acme_cmds-1.0.dist-info"
    dist_info.mkdir(exist_ok=True)
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-cmds\nVersion: 1.0\n")
    (dist_info / "entry_points.txt").write_text("[toolhive]\ncli-acme = acme_cmds\n")
    return module


def bump_mtime(path: Path) -> None:
    """A later modification time even on file systems with coarse timestamps."""
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 2_000_000_000))


def test_help_again_uses_the_cached_table_and_imports_no_plugin(
    thv_home: ThvHome, tmp_path: Path
) -> None:
    code, first_modules, first = run_thv(thv_home, tmp_path, "--help")
    assert code == 0
    assert_plugins_loaded(first_modules)
    code, modules, again = run_thv(thv_home, tmp_path, "--help")
    assert code == 0
    assert again == first
    assert "runtime " in again  # the built-in plugin's command, from the table
    plugin_modules = set(workspace_plugin_modules().values()) | {"toolhive.builtin.commands"}
    assert plugin_modules & modules == set()
    assert heavy_in(modules, {"pydantic", "pluggy", "importlib.metadata"}) == set()


def test_a_plugin_installed_later_is_listed_and_its_command_runs_from_the_table(
    thv_home: ThvHome, tmp_path: Path
) -> None:
    site = tmp_path / "site"
    site.mkdir()
    env = {"PYTHONPATH": str(site)}
    assert "acme-hello" not in run_thv(thv_home, tmp_path, "--help", env_extra=env)[2]

    module = install_acme(site)  # a new *.dist-info folder: the folder's mtime changes
    code, modules, out = run_thv(thv_home, tmp_path, "--help", env_extra=env)
    assert code == 0
    assert "acme-hello  Say hello" in out
    assert "acme_cmds" in modules  # recomputed

    code, modules, out = run_thv(thv_home, tmp_path, "--help", env_extra=env)
    assert "acme-hello  Say hello" in out
    assert "acme_cmds" not in modules  # from the table
    code, modules, out = run_thv(thv_home, tmp_path, "acme-hello", env_extra=env)
    assert (code, out) == (0, "hello from acme\n")

    module.write_text(ACME_MODULE.format(help="Say hi"))  # the plugin is edited in place
    bump_mtime(module)
    assert "acme-hello  Say hi" in run_thv(thv_home, tmp_path, "--help", env_extra=env)[2]

    disabled = {**env, "TOOLHIVE_DISABLE_PLUGINS": "cli-acme"}
    assert "acme-hello" not in run_thv(thv_home, tmp_path, "--help", env_extra=disabled)[2]


def test_a_broken_plugin_is_never_cached(thv_home: ThvHome, tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    module = install_acme(site)
    env = {"PYTHONPATH": str(site)}
    assert run_thv(thv_home, tmp_path, "--help", env_extra=env)[0] == 0
    module.write_text("raise ImportError('acme is broken')\n")
    bump_mtime(module)
    for _ in range(2):  # strict mode: an error every time, not a stale table
        assert run_thv(thv_home, tmp_path, "--help", env_extra=env)[0] == 1
