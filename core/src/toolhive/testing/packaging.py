"""Real distributions in a fresh environment: write a plugin project, build its wheel, install it
next to core in a new virtual environment and run that environment's ``thv``.

These need ``uv`` on ``PATH`` (a test that uses them is skipped without it).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

#: uv's cache as it was when pytest started, before any test moved ``XDG_CACHE_HOME``: subprocesses
#: keep using it, so package downloads are shared between tests.
UV_CACHE_DIR = os.environ.get("UV_CACHE_DIR") or str(
    Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "uv"
)


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


def source_tree() -> Path | None:
    """The folder holding core's ``pyproject.toml`` if it is installed from source."""
    import toolhive

    root = Path(toolhive.__file__).resolve().parents[2]
    pyproject = root / "pyproject.toml"
    if pyproject.is_file() and f'name = "{toolhive.DISTRIBUTION}"' in pyproject.read_text():
        return root
    return None
