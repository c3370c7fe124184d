"""The shape of the code, checked: plugins use only the public API, and core has no import cycle.

The plugin rule is an import-linter contract in the root ``pyproject.toml`` (``lint-imports`` runs
it); these tests run it, prove it catches a plugin importing a core internal, and check that no
shipped plugin escapes it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import grimp
import pytest

REPO = Path(__file__).resolve().parents[2]
CONTRACT_ID = "plugins-use-the-public-api"


def importlinter_config() -> Any:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]


def lint_imports(
    cwd: Path, *, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    lint = Path(sys.executable).with_name("lint-imports")
    return subprocess.run(
        [str(lint), "--no-cache"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_plugins_import_nothing_of_core_but_the_public_api() -> None:
    result = lint_imports(REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 kept, 0 broken" in result.stdout


def test_the_contract_catches_a_plugin_importing_a_core_internal(tmp_path: Path) -> None:
    package = tmp_path / "src" / "toolhive_runtime_sneaky"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(
        "from toolhive.contracts import hookimpl\n"  # allowed
        "from toolhive.state import paths\n"  # not public
    )
    config = importlinter_config()
    (contract,) = [c for c in config["contracts"] if c["id"] == CONTRACT_ID]
    lines = ["[importlinter]", "root_packages =", "    toolhive", "    toolhive_runtime_sneaky"]
    lines += [f"[importlinter:contract:{CONTRACT_ID}]"]
    for key, value in {**contract, "source_modules": ["toolhive_runtime_sneaky"]}.items():
        if key == "id":
            continue
        if isinstance(value, list):
            lines += [f"{key} =", *(f"    {v}" for v in value)]
        else:
            lines.append(f"{key} = {value}")
    (tmp_path / ".importlinter").write_text("\n".join(lines) + "\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "src")}

    result = lint_imports(tmp_path, env=env)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "toolhive_runtime_sneaky -> toolhive.state.paths" in result.stdout
    assert "toolhive_runtime_sneaky -> toolhive.contracts" not in result.stdout


def plugin_packages() -> Iterator[str]:
    for src in sorted(REPO.glob("plugins/*/*/src")):
        for package in src.iterdir():
            if (package / "__init__.py").is_file():
                yield package.name


def test_every_shipped_plugin_is_under_the_contract() -> None:
    config = importlinter_config()
    (contract,) = [c for c in config["contracts"] if c["id"] == CONTRACT_ID]
    assert set(plugin_packages()) == set(contract["source_modules"])
    assert set(contract["source_modules"]) | {"toolhive"} == set(config["root_packages"])


def import_cycles(package: str) -> list[list[str]]:
    """Strongly connected groups of modules (Tarjan) in ``package``'s import graph, imports under
    ``TYPE_CHECKING`` left out; a function-level import counts (it is a cycle, only hidden)."""
    graph = grimp.build_graph(package, exclude_type_checking_imports=True, cache_dir=None)
    edges = {m: graph.find_modules_directly_imported_by(m) for m in graph.modules}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in edges.get(module, ()):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == module:
                    break
            if len(group) > 1:
                cycles.append(sorted(group))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for module in sorted(edges):
        if module not in index:
            visit(module)
    return cycles


def test_core_has_no_import_cycle() -> None:
    cycles = import_cycles("toolhive")
    assert not cycles, "\n".join(" <-> ".join(c) for c in cycles)


def test_the_cycle_finder_finds_a_cycle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "loopy"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from loopy import b\n")
    (package / "b.py").write_text("def f():\n    from loopy import a\n")
    (package / "c.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from loopy import a\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    assert import_cycles("loopy") == [["loopy.a", "loopy.b"]]


# --- the public API itself ---------------------------------------------------------------------


def test_every_public_name_resolves_from_where_it_is_listed() -> None:
    import importlib

    import toolhive.contracts as contracts

    assert set(contracts.__all__) == {"__version__", *contracts._EXPORTS}
    for name in contracts.__all__:
        assert getattr(contracts, name) is not None, name
    for module in sorted(p.stem for p in Path(contracts.__file__).parent.glob("[a-z]*.py")):
        submodule = importlib.import_module(f"toolhive.contracts.{module}")
        missing = [n for n in getattr(submodule, "__all__", ()) if not hasattr(submodule, n)]
        assert not missing, f"toolhive.contracts.{module}: {missing}"
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        _ = contracts.Nope


def test_declaring_a_plugin_imports_neither_registry_data_nor_asyncio() -> None:
    code = (
        "import sys\n"
        "import toolhive.contracts\n"
        "assert not [m for m in sys.modules if m.startswith('toolhive.contracts.')]\n"
        "from toolhive.contracts import (\n"
        "    PluginConfig, RegistrySourceSpec, RuntimeSpec, SecretsProviderSpec, hookimpl)\n"
        "heavy = {'asyncio', 'toolhive.contracts.registry_data', 'toolhive.registry.models'}\n"
        "assert not heavy & set(sys.modules), heavy & set(sys.modules)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
