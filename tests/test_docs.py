"""The docs are contracts: every hook is documented with its exact signature and tested.

After datasette's ``test_plugin_hooks_are_documented`` and ``test_plugin_hooks_have_tests``: the
signatures come from the plugin manager (``pm.hook.<name>.spec.argnames``), not from a list here.
"""

from __future__ import annotations

import ast
import functools
import re
import typing
from pathlib import Path

import pytest
import toolhive.contracts as contracts
from pydantic import BaseModel
from toolhive.plugins import build_plugin_manager

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
HOOKS_DOC = DOCS / "plugin-hooks.md"
TEST_ROOTS = [REPO / "tests", REPO / "core" / "tests", REPO / "plugins"]


def hook_signatures() -> dict[str, str]:
    pm = build_plugin_manager(autoload=False)
    out = {}
    for name in dir(pm.hook):
        if name.startswith("thv_"):
            spec = getattr(pm.hook, name).spec
            assert spec is not None, name
            out[name] = f"{name}({', '.join(spec.argnames)})"
    return out


HOOKS = hook_signatures()


def sections(text: str) -> dict[str, str]:
    """``## heading`` → the text up to the next ``## `` heading."""
    parts = re.split(r"^## (.+)$", text, flags=re.M)
    return {parts[i].strip(): parts[i + 1] for i in range(1, len(parts), 2)}


def spec_model(hook_name: str) -> type[BaseModel]:
    """The spec class a hook returns, read from its annotation (``list[RuntimeSpec]``)."""
    from toolhive.contracts import hookspecs

    annotation = getattr(hookspecs, hook_name).__annotations__["return"]
    match = re.fullmatch(r"list\[(\w+)(?:\[Any\])?\]", str(annotation))
    assert match, f"{hook_name} should return list[<Spec>], not {annotation}"
    model = getattr(contracts, match.group(1))
    assert isinstance(model, type) and issubclass(model, BaseModel)
    return model


def test_there_are_hooks() -> None:
    assert len(HOOKS) >= 7


@pytest.mark.parametrize("hook", sorted(HOOKS))
def test_plugin_hooks_are_documented(hook: str) -> None:
    headings = sections(HOOKS_DOC.read_text())
    assert HOOKS[hook] in headings, f"docs/plugin-hooks.md needs a '## {HOOKS[hook]}' section"


@pytest.mark.parametrize("hook", sorted(HOOKS))
def test_every_spec_field_is_described(hook: str) -> None:
    section = sections(HOOKS_DOC.read_text())[HOOKS[hook]]
    model = spec_model(hook)
    assert f"`list[{model.__name__}]`" in section
    missing = [f for f in model.model_fields if f"| `{f}` |" not in section]
    assert not missing, f"{HOOKS[hook]}: describe {missing} in its fields table"


def test_no_documented_hook_is_unknown() -> None:
    documented = {h for h in sections(HOOKS_DOC.read_text()) if h.startswith("thv_")}
    assert documented == set(HOOKS.values())


def test_hooks_are_documented_in_spec_order() -> None:
    from toolhive.contracts import hookspecs

    source_order = [n for n in vars(hookspecs) if n.startswith("thv_")]
    documented = [h.split("(")[0] for h in sections(HOOKS_DOC.read_text()) if h.startswith("thv_")]
    assert documented == source_order


@functools.cache
def defined_test_functions() -> frozenset[str]:
    names: set[str] = set()
    for root in TEST_ROOTS:
        for path in root.rglob("test_*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    names.add(node.name)
    return frozenset(names)


@pytest.mark.parametrize("hook", sorted(HOOKS))
def test_plugin_hooks_have_tests(hook: str) -> None:
    assert f"test_hook_{hook}" in defined_test_functions(), (
        f"Plugin hook is missing tests: write test_hook_{hook} (see core/tests/test_hooks.py)"
    )


# --- code blocks and the facts the pages state ------------------------------------------------


def code_blocks(language: str) -> list[tuple[str, int, str]]:
    out = []
    for page in sorted(DOCS.glob("*.md")):
        text = page.read_text()
        for match in re.finditer(rf"^ *```{language}\n(.*?)^ *```", text, re.S | re.M):
            line = text[: match.start()].count("\n") + 1
            out.append((page.name, line, match.group(1)))
    return out


@pytest.mark.parametrize(
    ("page", "line", "source"),
    code_blocks("python"),
    ids=[f"{p}:{n}" for p, n, _ in code_blocks("python")],
)
def test_python_blocks_compile(page: str, line: int, source: str) -> None:
    import textwrap

    compile(textwrap.dedent(source), f"{page}:{line}", "exec")


@pytest.mark.parametrize(
    ("page", "line", "source"),
    code_blocks("toml"),
    ids=[f"{p}:{n}" for p, n, _ in code_blocks("toml")],
)
def test_toml_blocks_parse(page: str, line: int, source: str) -> None:
    import tomllib

    tomllib.loads(source)


def test_every_plugin_environment_variable_is_documented() -> None:
    source = (REPO / "core" / "src" / "toolhive" / "plugins.py").read_text()
    used = set(re.findall(r"\bTOOLHIVE_[A-Z_]+\b", source))
    page = (DOCS / "writing-plugins.md").read_text()
    documented = set(re.findall(r"^\| `(TOOLHIVE_[A-Z_]+)", page, re.M))
    assert used == documented


def test_documented_builtin_commands_exist() -> None:
    from toolhive.cli import BUILTIN_COMMANDS

    page = (DOCS / "architecture.md").read_text()
    for name in BUILTIN_COMMANDS:
        assert f"`thv {name}" in page, f"architecture.md does not mention `thv {name}`"


def test_state_file_paths_in_architecture_match_the_code(monkeypatch: pytest.MonkeyPatch) -> None:
    from toolhive.state import paths

    for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        monkeypatch.setenv(var, f"${var}")
    page = (DOCS / "architecture.md").read_text()
    expected = {
        paths.runconfig_path("<name>"),
        paths.status_path("<name>"),
        paths.pid_path("<name>"),
        paths.proxy_log_path("<name>"),
        paths.server_log_path("<name>"),
        paths.config_file(),
    }
    for path in expected:
        assert f"`{path}`" in page, f"architecture.md should list `{path}`"


def test_every_pages_links_resolve() -> None:
    for page in DOCS.glob("*.md"):
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text()):
            if target.startswith(("http://", "https://")):
                continue
            assert (page.parent / target).exists(), f"{page.name}: broken link {target}"


def test_type_hints_of_hookspecs_resolve() -> None:
    from toolhive.contracts import hookspecs

    for name in HOOKS:
        public = {n: getattr(contracts, n) for n in contracts.__all__}
        hints = typing.get_type_hints(
            getattr(hookspecs, name), localns={**public, "Any": typing.Any}
        )
        assert typing.get_origin(hints["return"]) is list
