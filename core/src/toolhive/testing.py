"""A pytest plugin for testing ToolHive plugins.

Enable it in your plugin's top-level ``conftest.py`` (or in a test module)::

    pytest_plugins = ["toolhive.testing"]

Fixtures:

``thv_home``
    Temporary ``XDG_CONFIG_HOME``/``XDG_DATA_HOME``/``XDG_STATE_HOME``/``XDG_CACHE_HOME`` so a test
    never reads or writes the user's ToolHive state. ``thv_home.env`` is an environment for
    subprocesses (``subprocess.run([...], env=thv_home.env)``).
``thv_plugins``, ``thv_autoload``
    What ``thv_pm`` registers: override them in a ``conftest.py`` or a module, or parametrize them
    (``@pytest.mark.parametrize("thv_plugins", [[my_plugin]])``). Defaults: no extra plugins and
    no entry-point loading, so a test sees only core's built-ins plus what it names.
``thv_pm``, ``thv_hooks``
    A fresh :class:`~toolhive.plugins.ToolHivePluginManager` per test, and the typed
    :class:`~toolhive.plugins.Hooks` facade over it.
``thv_cli``
    Runs ``thv`` in-process with click's ``CliRunner`` against those hooks, in ``thv_home``:
    ``result = thv_cli("plugins", "--format", "json")``.
``thv_distribution``
    Makes an *installed-looking* distribution for one test: a ``*.dist-info`` with an
    ``entry_points.txt`` (and optional modules) on a temporary ``sys.path`` entry, so
    :mod:`importlib.metadata` and the entry-point loader see real metadata without installing.
``thv_core_wheel`` (session)
    What to install as core (``toolhive-core``) in a fresh environment: a wheel built once per
    session from the source tree under test, or the requirement ``toolhive-core==<version>``.

Helpers:

- :func:`make_plugin` builds a throwaway plugin module from hook functions;
- :func:`write_plugin_project` writes a minimal plugin project (``pyproject.toml`` + ``src/``),
  :func:`build_wheel` builds it, and :class:`ThvVenv` installs wheels into a fresh virtual
  environment and runs its ``thv``: the "installed alone" test of a distribution. These need
  ``uv`` on ``PATH``.

This module is imported by pytest at start-up, so it imports nothing heavy at the top. It has no
assertions of its own to rewrite, so importing its helpers before pytest registers it is fine
(PYTEST_DONT_REWRITE).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from click.testing import Result

    from toolhive.plugins import Hooks, ToolHivePluginManager

__all__ = [
    "Distributions",
    "ThvCli",
    "ThvHome",
    "ThvVenv",
    "build_wheel",
    "make_plugin",
    "thv_autoload",
    "thv_cli",
    "thv_core_wheel",
    "thv_distribution",
    "thv_home",
    "thv_hooks",
    "thv_plugins",
    "thv_pm",
    "write_plugin_project",
]

XDG_VARS = ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME")
#: uv's cache as it was when pytest started, before any test moved ``XDG_CACHE_HOME``: subprocesses
#: keep using it, so package downloads are shared between tests.
UV_CACHE_DIR = os.environ.get("UV_CACHE_DIR") or str(
    Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "uv"
)


def make_plugin(name: str, **hooks: Callable[..., Any]) -> ModuleType:
    """A plugin module called ``name`` whose hook implementations are ``hooks``.

    Each function is marked with :data:`toolhive.hookimpl`; its keyword is the hook name::

        plugin = make_plugin("acme", thv_cli_commands=lambda: [CommandRef(...)])
        pm = build_plugin_manager(autoload=False, plugins=[plugin])

    A module (not an arbitrary object) gives the plugin a readable name in error messages and
    ``thv plugins``.
    """
    from toolhive import hookimpl

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
        modules={"acme_runtime_x": "from toolhive import hookimpl\\n..."},
    )
    pm = build_plugin_manager(environ={"TOOLHIVE_LOAD_PLUGINS": "runtime-x"})
    """
    distributions = Distributions(tmp_path / "distributions", monkeypatch)
    yield distributions
    distributions.forget_modules()


# --- real distributions in a fresh environment ------------------------------------------------


def _uv() -> str:
    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("uv is not on PATH")
    return uv


def _run(args: list[str], *, env: Mapping[str, str] | None = None, timeout: float = 600) -> str:
    proc = subprocess.run(
        args,
        env={**os.environ, "UV_CACHE_DIR": UV_CACHE_DIR} if env is None else dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        msg = f"{' '.join(args)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
        raise AssertionError(msg)
    return proc.stdout


def write_plugin_project(
    root: Path,
    name: str,
    *,
    version: str = "0.1.0",
    entry_points: Mapping[str, str],
    modules: Mapping[str, str],
    dependencies: tuple[str, ...] = ("toolhive-core",),
) -> Path:
    """Write project ``name`` (``src/`` layout, hatchling) under ``root``; return its folder.

    ``modules`` maps dotted names to source; every top-level name becomes a package.
    """
    project = root / name
    tops = sorted({m.split(".")[0] for m in modules})
    for module, source in modules.items():
        parts = module.split(".")
        is_package = len(parts) == 1 or any(o.startswith(module + ".") for o in modules)
        path = project.joinpath("src", *parts)
        path = path / "__init__.py" if is_package else path.with_suffix(".py")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source)
    for top in tops:
        (project / "src" / top / "__init__.py").touch()
    deps = ", ".join(f'"{d}"' for d in dependencies)
    eps = "\n".join(f'{k} = "{v}"' for k, v in entry_points.items())
    packages = ", ".join(f'"src/{t}"' for t in tops)
    (project / "pyproject.toml").write_text(
        f'[project]\nname = "{name}"\nversion = "{version}"\nrequires-python = ">=3.11"\n'
        f"dependencies = [{deps}]\n\n[project.entry-points.toolhive]\n{eps}\n\n"
        '[build-system]\nrequires = ["hatchling>=1.25"]\nbuild-backend = "hatchling.build"\n\n'
        f"[tool.hatch.build.targets.wheel]\npackages = [{packages}]\n"
    )
    return project


def build_wheel(project: Path, out_dir: Path) -> Path:
    """Build ``project``'s wheel with ``uv build`` into ``out_dir`` and return its path.

    Always a fresh build: installing a local folder directly may reuse a cached build of older
    sources.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    before = set(out_dir.glob("*.whl"))
    _run(
        [
            _uv(),
            "build",
            "--wheel",
            "--no-sources",
            "--quiet",
            "--out-dir",
            str(out_dir),
            str(project),
        ]
    )
    (wheel,) = set(out_dir.glob("*.whl")) - before
    return wheel


@dataclass(frozen=True)
class ThvVenv:
    """A fresh virtual environment to install distributions into and run ``thv`` from."""

    path: Path

    @classmethod
    def create(cls, path: Path, *, pip: bool = False) -> ThvVenv:
        """``uv venv`` at ``path`` with this interpreter (``pip=True`` also installs pip)."""
        seed = ["--seed"] if pip else []
        _run([_uv(), "venv", "--quiet", "--python", sys.executable, *seed, str(path)])
        return cls(path)

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python"

    def install(self, *requirements: str | Path) -> None:
        """``uv pip install`` into this environment (workspace sources ignored)."""
        reqs = [str(r) for r in requirements]
        _run(
            [
                _uv(),
                "pip",
                "install",
                "--quiet",
                "--no-sources",
                "--python",
                str(self.python),
                *reqs,
            ]
        )

    def run(
        self, *args: str, env: Mapping[str, str] | None = None, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        """Run ``args[0]`` from this environment's ``bin/`` (no check: look at ``returncode``)."""
        exe = self.path / "bin" / args[0]
        return subprocess.run(
            [str(exe), *args[1:]],
            env=dict(os.environ if env is None else env),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def thv(
        self, *args: str, env: Mapping[str, str] | None = None, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        """Run this environment's ``thv`` (pass ``env=thv_home.env`` to keep state temporary)."""
        return self.run("thv", *args, env=env, timeout=timeout)

    def distributions(self) -> dict[str, str]:
        """Installed distributions: ``{name: version}``."""
        code = (
            "import importlib.metadata as m, json; "
            "print(json.dumps({d.name: d.version for d in m.distributions()}))"
        )
        return dict(json.loads(_run([str(self.python), "-c", code])))


def _source_tree() -> Path | None:
    """The folder holding core's ``pyproject.toml`` if it is installed from source."""
    import toolhive

    root = Path(toolhive.__file__).resolve().parents[2]
    pyproject = root / "pyproject.toml"
    if pyproject.is_file() and f'name = "{toolhive.DISTRIBUTION}"' in pyproject.read_text():
        return root
    return None


@pytest.fixture(scope="session")
def thv_core_wheel(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Core for a fresh environment: a wheel of the source tree under test (built once per
    session), else ``toolhive-core==<installed version>`` from the package index."""
    from toolhive import DISTRIBUTION, __version__

    root = _source_tree()
    if root is None:
        return f"{DISTRIBUTION}=={__version__}"
    return str(build_wheel(root, tmp_path_factory.mktemp("toolhive-wheel")))
