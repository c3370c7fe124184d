"""The plugin template, copied and renamed as docs/writing-plugins.md tells a user, is a working
plugin: it installs next to core in a fresh environment, ``thv plugins`` lists it, and its tests
(ToolHive's middleware contract suite among them) pass there.

The walkthrough shows the renamed files: every code block of the page whose first line is
``# file: PATH`` must be that file of the renamed template, byte for byte, so the page, the
template and the suite cannot drift apart.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from toolhive.plugins import BUILTIN_PLUGINS
from toolhive.testing import ThvHome, ThvVenv, build_wheel

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

REPO = Path(__file__).resolve().parents[1]
TEMPLATE = REPO / "plugins" / "_template"
WALKTHROUGH = REPO / "docs" / "writing-plugins.md"
FILE_BLOCK = re.compile(r"^```\w+\n# file: (\S+)\n(.*?)^```", re.S | re.M)
DIST = "toolhive-middleware-hello"
ENTRY_POINT = "middleware-hello"


def copy_and_rename(root: Path, *args: str) -> Path:
    """``cp -r plugins/_template <dist>`` then ``python rename.py hello`` in the copy."""
    project = root / DIST
    shutil.copytree(TEMPLATE, project, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    proc = subprocess.run(
        [sys.executable, "rename.py", *args],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return project


def files(project: Path) -> dict[str, str]:
    return {
        p.relative_to(project).as_posix(): p.read_text(encoding="utf-8")
        for p in sorted(project.rglob("*"))
        if p.is_file()
    }


def env_for(home: ThvHome, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in home.env.items() if not k.startswith("TOOLHIVE_")}
    return {**env, "TOOLHIVE_STRICT_PLUGINS": "1", **extra}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_and_rename(tmp_path_factory.mktemp("template"), "hello")


@pytest.fixture(scope="module")
def wheel(project: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_wheel(project, tmp_path_factory.mktemp("dist"))


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory, thv_core_wheel: str, wheel: Path) -> ThvVenv:
    venv = ThvVenv.create(tmp_path_factory.mktemp("hello-venv") / "venv")
    venv.install(thv_core_wheel, wheel, "pytest")
    return venv


def test_renaming_leaves_no_trace_of_the_template(project: Path) -> None:
    renamed = files(project)
    assert set(renamed) == {
        "README.md",
        "pyproject.toml",
        "src/toolhive_middleware_hello/__init__.py",
        "src/toolhive_middleware_hello/middleware.py",
        "src/toolhive_middleware_hello/py.typed",
        "tests/test_hello.py",
        "tests/test_hello_contract.py",
    }
    leftovers = {path for path, text in renamed.items() if re.search("example", text, re.I)}
    assert leftovers == set(), "the template's name survived renaming"
    assert "template:start" not in renamed["README.md"]
    assert 'middleware-hello = "toolhive_middleware_hello"' in renamed["pyproject.toml"]
    assert "class HelloParameters(" in renamed["src/toolhive_middleware_hello/__init__.py"]


def test_the_kind_names_the_distribution(tmp_path: Path) -> None:
    renamed = files(copy_and_rename(tmp_path, "acme-vault", "secrets"))
    assert 'name = "toolhive-secrets-acme-vault"' in renamed["pyproject.toml"]
    assert 'secrets-acme-vault = "toolhive_secrets_acme_vault"' in renamed["pyproject.toml"]
    assert "class AcmeVaultParameters(" in renamed["src/toolhive_secrets_acme_vault/__init__.py"]


def test_renaming_refuses_a_bad_name_and_changes_nothing(tmp_path: Path) -> None:
    project = tmp_path / "copy"
    shutil.copytree(TEMPLATE, project, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    before = files(project)
    for args in (["Hello"], ["hello_world"], ["hello", "gadget"], []):
        proc = subprocess.run(
            [sys.executable, "rename.py", *args], cwd=project, capture_output=True, text=True
        )
        assert proc.returncode == 2, args
    assert files(project) == before


def test_the_walkthrough_shows_the_renamed_template_exactly(project: Path) -> None:
    shown = dict(FILE_BLOCK.findall(WALKTHROUGH.read_text(encoding="utf-8")))
    assert {
        "pyproject.toml",
        "src/toolhive_middleware_hello/__init__.py",
        "src/toolhive_middleware_hello/middleware.py",
        "tests/test_hello_contract.py",
    } <= set(shown)
    renamed = files(project)
    for path, text in shown.items():
        assert text == renamed.get(path), (
            f"docs/writing-plugins.md's {path} differs from the template"
        )


def test_the_wheel_declares_the_entry_point(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        [name] = [n for n in zf.namelist() if n.endswith(".dist-info/entry_points.txt")]
        text = zf.read(name).decode()
    assert f"[toolhive]\n{ENTRY_POINT} = toolhive_middleware_hello\n" in text


def test_installed_next_to_core_thv_plugins_lists_it(venv: ThvVenv, thv_home: ThvHome) -> None:
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
        "provides": {"middleware": ["hello"]},
    }
    # Nothing else but core's built-ins: the environment holds no workspace plugin.
    assert {p["name"] for p in data["plugins"]} == {ENTRY_POINT, *BUILTIN_PLUGINS}


def test_its_tests_and_the_contract_suite_pass_where_it_is_installed(
    venv: ThvVenv, project: Path, thv_home: ThvHome
) -> None:
    proc = venv.run(
        "python",
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        str(project / "tests"),
        env=env_for(thv_home),
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    passed = re.search(r"^(\d+) passed", proc.stdout, re.M)
    assert passed, proc.stdout
    # Its own two tests and the whole middleware contract suite, nothing skipped.
    assert int(passed.group(1)) >= 12 and "skipped" not in proc.stdout, proc.stdout


def test_a_disabled_plugin_is_not_loaded(venv: ThvVenv, thv_home: ThvHome) -> None:
    for name in (ENTRY_POINT, DIST):
        env = env_for(thv_home, TOOLHIVE_DISABLE_PLUGINS=name)
        data = json.loads(venv.thv("plugins", "--format", "json", env=env).stdout)
        assert ENTRY_POINT not in {p["name"] for p in data["plugins"]}
