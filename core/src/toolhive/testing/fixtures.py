"""The fixtures of ``toolhive.testing`` (registered by ``-p toolhive.testing``), and the helpers they
are made of. See :mod:`toolhive.testing` for the list.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import pytest

from toolhive.testing.packaging import UV_CACHE_DIR

if TYPE_CHECKING:
    from click.testing import Result

    from toolhive.plugins import Hooks, ToolHivePluginManager

XDG_VARS = ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME")


def make_plugin(name: str, **hooks: Callable[..., Any]) -> ModuleType:
    """A plugin module called ``name`` whose hook implementations are ``hooks``.

    Each function is marked with :data:`toolhive.contracts.hookimpl`; its keyword is the hook name::

        plugin = make_plugin("acme", thv_cli_commands=lambda: [CommandRef(...)])
        pm = build_plugin_manager(autoload=False, plugins=[plugin])

    A module (not an arbitrary object) gives the plugin a readable name in error messages and
    ``thv plugins``.
    """
    from toolhive.contracts import hookimpl

    module = ModuleType(name)
    for hook_name, function in hooks.items():
        setattr(module, hook_name, hookimpl(function))
    return module


# --- an isolated ToolHive home ----------------------------------------------------------------


@dataclass(frozen=True)
class ThvHome:
    """The temporary XDG base directories of one test (ToolHive adds ``toolhive/`` below each)."""

    root: Path
    config: Path
    data: Path
    state: Path
    cache: Path

    @property
    def env(self) -> dict[str, str]:
        """``os.environ`` with the XDG variables pointing here, for subprocesses.

        ``UV_CACHE_DIR`` keeps uv's own cache, so installs and ``uvx://`` servers are not
        downloaded again in every test.
        """
        return {
            **os.environ,
            "XDG_CONFIG_HOME": str(self.config),
            "XDG_DATA_HOME": str(self.data),
            "XDG_STATE_HOME": str(self.state),
            "XDG_CACHE_HOME": str(self.cache),
            "UV_CACHE_DIR": UV_CACHE_DIR,
        }


@pytest.fixture
def thv_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ThvHome:
    """Point every XDG base directory at a fresh temporary folder for this test (uv keeps its
    cache: ``UV_CACHE_DIR``)."""
    root = tmp_path / "thv-home"
    home = ThvHome(root, root / "config", root / "data", root / "state", root / "cache")
    for var, path in zip(XDG_VARS, (home.config, home.data, home.state, home.cache), strict=True):
        path.mkdir(parents=True, exist_ok=True)
        monkeypatch.setenv(var, str(path))
    monkeypatch.setenv("UV_CACHE_DIR", UV_CACHE_DIR)
    return home


# --- plugin manager and hooks -----------------------------------------------------------------


@pytest.fixture
def thv_plugins() -> list[object]:
    """Extra plugins ``thv_pm`` registers (override or parametrize; default: none)."""
    return []


@pytest.fixture
def thv_autoload() -> bool:
    """Whether ``thv_pm`` loads installed entry-point plugins (override; default: no)."""
    return False


@pytest.fixture
def thv_pm(thv_plugins: list[object], thv_autoload: bool) -> ToolHivePluginManager:
    """A fresh plugin manager: core's built-ins plus ``thv_plugins`` (and entry points if asked)."""
    from toolhive.plugins import build_plugin_manager

    return build_plugin_manager(autoload=thv_autoload, plugins=thv_plugins)


@pytest.fixture
def thv_hooks(thv_pm: ToolHivePluginManager) -> Hooks:
    """The typed facade over ``thv_pm``."""
    from toolhive.plugins import Hooks

    return Hooks(thv_pm)


# --- the CLI in-process -----------------------------------------------------------------------


@dataclass
class ThvCli:
    """Runs ``thv`` in-process. See :func:`thv_cli`."""

    hooks: Hooks

    def __call__(
        self,
        *args: str,
        hooks: Hooks | None = None,
        input: str | None = None,
        env: Mapping[str, str | None] | None = None,
        catch_exceptions: bool = True,
    ) -> Result:
        """Run ``thv *args``; return click's ``Result`` (``exit_code``, ``stdout``, ``stderr``).

        A :class:`~toolhive.errors.ToolHiveError` raised by the command is ``result.exception``
        and ``result.exit_code`` is its ``exit_code``, as ``thv`` would exit (it prints
        ``Error: <message>`` on stderr).
        """
        from click.testing import CliRunner

        from toolhive.cli import cli
        from toolhive.cli.context import CliState
        from toolhive.errors import ToolHiveError

        runner = CliRunner()
        result = runner.invoke(
            cli,
            list(args),
            input=input,
            env=env,
            catch_exceptions=catch_exceptions,
            obj=CliState(_hooks=hooks or self.hooks),
        )
        if isinstance(result.exception, ToolHiveError):
            result.exit_code = result.exception.exit_code
        return result


@pytest.fixture
def thv_cli(thv_home: ThvHome, thv_hooks: Hooks) -> ThvCli:
    """A function that runs ``thv`` in-process against ``thv_hooks`` with ``thv_home`` as state."""
    return ThvCli(thv_hooks)


# --- installed-looking distributions ----------------------------------------------------------


@dataclass
class Distributions:
    """Writes distributions onto temporary ``sys.path`` entries. See :func:`thv_distribution`."""

    root: Path
    monkeypatch: pytest.MonkeyPatch
    modules: set[str] = field(default_factory=set)

    def __call__(
        self,
        name: str,
        *,
        version: str = "1.0",
        entry_points: Mapping[str, str] | None = None,
        modules: Mapping[str, str] | None = None,
        group: str = "toolhive",
    ) -> Path:
        """Make distribution ``name`` visible to :mod:`importlib.metadata`; return its folder.

        ``entry_points`` maps entry-point names to ``module`` or ``module:attr`` in ``group``.
        ``modules`` maps dotted module names to their source (``"acme.sub"`` makes a package).
        Each call uses its own ``sys.path`` entry, so metadata caches never hide it.
        """
        site = self.root / f"site-{len(list(self.root.glob('site-*')))}"
        site.mkdir(parents=True)
        dist_info = site / f"{name.replace('-', '_')}-{version}.dist-info"
        dist_info.mkdir()
        (dist_info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
        )
        lines = [f"[{group}]", *(f"{k} = {v}" for k, v in (entry_points or {}).items())]
        (dist_info / "entry_points.txt").write_text("\n".join(lines) + "\n")
        sources = dict(modules or {})
        packages = {".".join(m.split(".")[:i]) for m in sources for i in range(1, m.count(".") + 1)}
        for package in packages:
            sources.setdefault(package, "")
        for module, source in sources.items():
            parts = module.split(".")
            path = site.joinpath(*parts)
            path = path / "__init__.py" if module in packages else path.with_suffix(".py")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(source)
            self.modules.add(parts[0])
        self.monkeypatch.syspath_prepend(str(site))  # also invalidates import/metadata caches
        return site

    def forget_modules(self) -> None:
        """Drop the modules written here from ``sys.modules`` (done after each test)."""
        for name in list(sys.modules):
            if name.split(".")[0] in self.modules:
                del sys.modules[name]


@pytest.fixture
def thv_distribution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Distributions]:
    """A factory for distributions visible to entry-point discovery during this test::

    thv_distribution(
        "acme-runtime-x",
        entry_points={"runtime-x": "acme_runtime_x"},
        modules={"acme_runtime_x": "from toolhive.contracts import hookimpl\\n..."},
    )
    pm = build_plugin_manager(environ={"TOOLHIVE_LOAD_PLUGINS": "runtime-x"})
    """
    distributions = Distributions(tmp_path / "distributions", monkeypatch)
    yield distributions
    distributions.forget_modules()


# --- core for a fresh environment -------------------------------------------------------------


@pytest.fixture(scope="session")
def thv_core_wheel(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Core for a fresh environment: a wheel of the source tree under test (built once per
    session), else ``toolhive-core==<installed version>`` from the package index."""
    from toolhive import DISTRIBUTION, __version__
    from toolhive.testing.packaging import build_wheel, source_tree

    root = source_tree()
    if root is None:
        return f"{DISTRIBUTION}=={__version__}"
    return str(build_wheel(root, tmp_path_factory.mktemp("toolhive-wheel")))
