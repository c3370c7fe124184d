"""Core and its plugins install from wheels by name, with pip, offline: the PyPI layout works.

PyPI's ``toolhive`` is an unrelated project, so core is published as ``toolhive-core`` and every
plugin depends on that name. The slow test builds wheels of core and of the catalog plugin, puts
them with wheels of every dependency (pinned by ``uv.lock``) into one folder, then installs *only
the plugin, by name*, with ``pip install --no-index --find-links`` into a fresh virtual environment:
pip must find core through the plugin's dependency, and that environment's ``thv plugins`` must
list the plugin.
"""

from __future__ import annotations

import json
import os
import subprocess
import tomllib
import zipfile
from pathlib import Path

import pytest
from toolhive import DISTRIBUTION
from toolhive.testing import ThvHome, ThvVenv, build_wheel

REPO = Path(__file__).resolve().parents[1]
PLUGIN = REPO / "plugins" / "registries" / "catalog"
PLUGIN_DIST = "toolhive-registry-catalog"


def requirement_name(requirement: str) -> str:
    name = requirement.split(";")[0]
    for stop in "<>=!~[ (":
        name = name.split(stop)[0]
    return name.strip().lower().replace("_", "-")


def plugin_pyprojects() -> list[Path]:
    """Every plugin's, and the copyable template's (``plugins/_template``) once it is there."""
    return sorted(p for p in REPO.glob("plugins/**/pyproject.toml") if ".venv" not in p.parts)


def test_core_is_published_as_toolhive_core() -> None:
    project = tomllib.loads((REPO / "core" / "pyproject.toml").read_text())["project"]
    assert project["name"] == DISTRIBUTION == "toolhive-core"
    assert project["scripts"] == {"thv": "toolhive.cli:main"}


@pytest.mark.parametrize(
    "pyproject", plugin_pyprojects(), ids=lambda p: str(p.parent.relative_to(REPO / "plugins"))
)
def test_every_plugin_depends_on_toolhive_core_never_on_toolhive(pyproject: Path) -> None:
    data = tomllib.loads(pyproject.read_text())
    names = {requirement_name(r) for r in data["project"]["dependencies"]}
    assert DISTRIBUTION in names
    assert "toolhive" not in names
    sources = data.get("tool", {}).get("uv", {}).get("sources", {})
    assert "toolhive" not in sources


def test_the_workspace_root_installs_core_under_its_published_name() -> None:
    root = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert DISTRIBUTION in root["tool"]["uv"]["sources"]
    assert DISTRIBUTION in {requirement_name(r) for r in root["dependency-groups"]["dev"]}
    assert "toolhive" not in root["tool"]["uv"]["sources"]


def wheel_metadata(wheel: Path) -> str:
    with zipfile.ZipFile(wheel) as zf:
        [name] = [n for n in zf.namelist() if n.endswith(".dist-info/METADATA")]
        return zf.read(name).decode()


def clean_pip_env(**extra: str) -> dict[str, str]:
    """No pip configuration of this machine (extra indexes, find-links): only what we pass."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "TOOLHIVE_"))}
    return {**env, "PIP_CONFIG_FILE": os.devnull, "PIP_DISABLE_PIP_VERSION_CHECK": "1", **extra}


def pip(venv: ThvVenv, *args: str, env: dict[str, str] | None = None) -> str:
    proc = venv.run("python", "-m", "pip", *args, env=env, timeout=900)
    assert proc.returncode == 0, f"pip {' '.join(args)}\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def locked_pins(out: Path) -> Path:
    """Every third-party dependency of the workspace at its ``uv.lock`` version, as pip constraints."""
    export = ["uv", "export", "--frozen", "--all-packages", "--no-dev", "--no-hashes"]
    proc = subprocess.run(
        [*export, "--no-emit-workspace", "--no-header", "--format", "requirements-txt"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    out.write_text(proc.stdout)
    return out


@pytest.mark.slow
def test_the_plugin_alone_installs_core_by_name_offline_and_thv_lists_it(
    tmp_path: Path, thv_home: ThvHome
) -> None:
    own = tmp_path / "own"
    core_wheel = build_wheel(REPO / "core", own)
    plugin_wheel = build_wheel(PLUGIN, own)
    assert "Name: toolhive-core\n" in wheel_metadata(core_wheel)
    assert "Requires-Dist: toolhive-core" in wheel_metadata(plugin_wheel)

    venv = ThvVenv.create(tmp_path / "venv", pip=True)
    # Online, with this machine's pip settings: wheels of every dependency, at the locked versions.
    links = tmp_path / "links"
    pip(
        venv,
        "wheel",
        "--quiet",
        "--wheel-dir",
        str(links),
        "--constraint",
        str(locked_pins(tmp_path / "pins.txt")),
        str(core_wheel),
        str(plugin_wheel),
    )
    assert {p.name for p in links.glob("toolhive*.whl")} == {core_wheel.name, plugin_wheel.name}

    # Offline: nothing but that folder; only the plugin is named.
    pip(
        venv,
        "install",
        "--quiet",
        "--no-index",
        "--find-links",
        str(links),
        PLUGIN_DIST,
        env=clean_pip_env(),
    )
    dists = venv.distributions()
    assert {n for n in dists if n.startswith("toolhive")} == {DISTRIBUTION, PLUGIN_DIST}

    env = {k: v for k, v in thv_home.env.items() if not k.startswith("TOOLHIVE_")}
    proc = venv.thv("plugins", "--format", "json", env={**env, "TOOLHIVE_STRICT_PLUGINS": "1"})
    assert proc.returncode == 0, proc.stderr
    listed = json.loads(proc.stdout)
    assert listed["failures"] == []
    distributions = {p["name"]: p["distribution"] for p in listed["plugins"]}
    assert distributions["registry-catalog"] == PLUGIN_DIST
    assert {d for p, d in distributions.items() if p != "registry-catalog"} == {DISTRIBUTION}


def test_the_core_wheel_carries_every_file_of_the_web_ui(tmp_path: Path) -> None:
    """The UI is served from the installed package: no CDN, no build step, nothing left behind."""
    static = REPO / "core" / "src" / "toolhive" / "ui" / "static"
    wanted = {
        "toolhive/ui/static/" + p.relative_to(static).as_posix()
        for p in static.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    assert "toolhive/ui/static/index.html" in wanted
    with zipfile.ZipFile(build_wheel(REPO / "core", tmp_path)) as zf:
        shipped = {n for n in zf.namelist() if n.startswith("toolhive/ui/static/")}
    assert wanted <= shipped, f"missing from the wheel: {sorted(wanted - shipped)}"
