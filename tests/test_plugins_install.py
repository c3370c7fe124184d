"""A third-party plugin, installed with pip next to toolhive, shows up and works.

The plugin is the one docs/writing-plugins.md builds: every code block of that page whose first
line is ``# file: PATH`` is written to PATH, so the tutorial and this test cannot drift apart. Its
wheel is built with ``uv build`` and installed with ``pip`` into a fresh virtual environment that
holds core (a wheel of this checkout) and nothing else.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from toolhive.plugins import BUILTIN_PLUGINS
from toolhive.testing import ThvHome, ThvVenv, build_wheel

REPO = Path(__file__).resolve().parents[1]
TUTORIAL = REPO / "docs" / "writing-plugins.md"
FILE_BLOCK = re.compile(r"^```\w+\n# file: (\S+)\n(.*?)^```", re.S | re.M)
DIST = "toolhive-middleware-hello"
ENTRY_POINT = "middleware-hello"


def tutorial_files() -> dict[str, str]:
    return dict(FILE_BLOCK.findall(TUTORIAL.read_text()))


def write_tutorial_project(root: Path) -> Path:
    project = root / DIST
    for path, body in tutorial_files().items():
        target = project / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(body)
    (project / "README.md").write_text("# toolhive-middleware-hello\n")  # the page shows no README
    return project


def env_for(home: ThvHome, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in home.env.items() if not k.startswith("TOOLHIVE_")}
    return {**env, "TOOLHIVE_STRICT_PLUGINS": "1", **extra}


def pip_install(venv: ThvVenv, wheel: Path) -> None:
    proc = venv.run(
        "python", "-m", "pip", "install", "--no-index", "--disable-pip-version-check", str(wheel)
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The tutorial's project and its wheel."""
    root = tmp_path_factory.mktemp("tutorial")
    project = write_tutorial_project(root)
    return project, build_wheel(project, root / "dist")


@pytest.fixture(scope="module")
def venv(
    tmp_path_factory: pytest.TempPathFactory, thv_core_wheel: str, built: tuple[Path, Path]
) -> ThvVenv:
    venv = ThvVenv.create(tmp_path_factory.mktemp("hello-venv") / "venv", pip=True)
    venv.install(thv_core_wheel)
    pip_install(venv, built[1])
    return venv


def test_the_tutorial_has_every_file_of_the_project() -> None:
    assert set(tutorial_files()) == {
        "pyproject.toml",
        "src/toolhive_middleware_hello/__init__.py",
        "src/toolhive_middleware_hello/middleware.py",
        "src/toolhive_middleware_hello/cli.py",
        "tests/conftest.py",
        "tests/test_hello.py",
    }


def test_the_wheel_declares_the_entry_point(built: tuple[Path, Path]) -> None:
    import zipfile

    with zipfile.ZipFile(built[1]) as wheel:
        [name] = [n for n in wheel.namelist() if n.endswith(".dist-info/entry_points.txt")]
        text = wheel.read(name).decode()
    assert "[toolhive]\nmiddleware-hello = toolhive_middleware_hello\n" in text


def test_pip_installed_plugin_is_listed_by_thv_plugins(venv: ThvVenv, thv_home: ThvHome) -> None:
    assert venv.distributions()[DIST] == "0.1.0"

    proc = venv.thv("plugins", "--format", "json", env=env_for(thv_home))
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["failures"] == []
    [row] = [p for p in data["plugins"] if p["name"] == ENTRY_POINT]
    assert row == {
        "name": ENTRY_POINT,
        "distribution": DIST,
        "version": "0.1.0",
        "builtin": False,
        "provides": {"middleware": ["hello"], "cli_commands": ["hello"]},
    }
    # Nothing else but core's built-ins: the environment holds no workspace plugin.
    assert {p["name"] for p in data["plugins"]} == {ENTRY_POINT, *BUILTIN_PLUGINS}

    text = venv.thv("plugins", env=env_for(thv_home))
    assert text.returncode == 0, text.stderr
    rows = [line.split() for line in text.stdout.splitlines()]
    assert [ENTRY_POINT, DIST, "0.1.0", "middleware:", "hello;", "cli_commands:", "hello"] in rows
    assert text.stderr == ""


def test_its_command_is_listed_without_being_imported_and_runs(
    venv: ThvVenv, thv_home: ThvHome
) -> None:
    env = env_for(thv_home)
    code = (
        "import sys\n"
        "from toolhive.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "print('MODULES', sorted(m for m in sys.modules if m.startswith('toolhive_middleware')))\n"
    )
    proc = venv.run("python", "-c", code, env=env)
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"^\s+hello\s+Say hello$", proc.stdout, re.M), proc.stdout
    # The entry-point module is imported to list the command; the command's module is not.
    assert "MODULES ['toolhive_middleware_hello']" in proc.stdout

    hello = venv.thv("hello", "Ada", env=env)
    assert (hello.returncode, hello.stdout, hello.stderr) == (0, "Hello, Ada!\n", "")
    assert venv.thv("hello", env=env).stdout == "Hello, world!\n"
    assert "Say hello to NAME." in venv.thv("hello", "--help", env=env).stdout


def test_the_tutorial_tests_pass_against_the_installed_plugin(
    venv: ThvVenv, built: tuple[Path, Path], thv_home: ThvHome
) -> None:
    venv.install("pytest")
    proc = venv.run(
        "python",
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        str(built[0] / "tests"),
        env=env_for(thv_home),
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert re.search(r"^6 passed", proc.stdout, re.M), proc.stdout


def test_a_disabled_plugin_is_neither_listed_nor_runnable(venv: ThvVenv, thv_home: ThvHome) -> None:
    for name in (ENTRY_POINT, DIST):
        env = env_for(thv_home, TOOLHIVE_DISABLE_PLUGINS=name)
        assert "hello" not in venv.thv("--help", env=env).stdout
        proc = venv.thv("hello", env=env)
        assert proc.returncode == 2
        assert "No such command 'hello'" in proc.stderr


def test_pip_uninstall_removes_it(
    tmp_path: Path, thv_core_wheel: str, built: tuple[Path, Path], thv_home: ThvHome
) -> None:
    venv = ThvVenv.create(tmp_path / "venv", pip=True)
    venv.install(thv_core_wheel)
    pip_install(venv, built[1])
    env = env_for(thv_home)
    assert "hello" in venv.thv("--help", env=env).stdout

    proc = venv.run("python", "-m", "pip", "uninstall", "--yes", DIST)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(venv.thv("plugins", "--format", "json", env=env).stdout)
    assert ENTRY_POINT not in {p["name"] for p in data["plugins"]}
    assert "hello" not in venv.thv("--help", env=env).stdout
