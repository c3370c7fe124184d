"""scripts/check_catalog_sources.py without the network: its verdicts on canned registry documents
(the shapes PyPI's JSON API and the npm registry answer with) and the commands it would run."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "check_catalog_sources.py"


@pytest.fixture(scope="module")
def check() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_catalog_sources", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def pypi_doc(latest: str, releases: dict[str, list[dict]]) -> dict:
    return {"info": {"version": latest}, "releases": releases}


def npm_doc(latest: str, versions: dict[str, dict]) -> dict:
    return {"dist-tags": {"latest": latest}, "versions": versions}


def problems(results: list[tuple[bool, str]]) -> list[str]:
    return [text for problem, text in results if problem]


def test_pypi_verdicts(check):
    good = pypi_doc("1.2.0", {"1.2.0": [{"yanked": False}], "1.1.0": [{"yanked": False}]})
    assert problems(check.check_pypi(good, "1.2.0")) == []
    newer = check.check_pypi(good, "1.1.0")
    assert problems(newer) == [] and "newer release 1.2.0" in newer[0][1]
    assert problems(check.check_pypi(good, "9.9")) == ["version 9.9 does not exist on PyPI"]
    assert problems(check.check_pypi(None, "1.0")) == ["no such project on PyPI"]
    yanked = pypi_doc("2.0", {"2.0": [{"yanked": True, "yanked_reason": "superseded"}]})
    assert problems(check.check_pypi(yanked, "2.0")) == ["version 2.0 is yanked (superseded)"]


def test_npm_verdicts(check):
    doc = npm_doc("3.0.0", {"3.0.0": {}, "2.0.0": {"deprecated": "use 3"}})
    assert problems(check.check_npm(doc, "3.0.0")) == []
    old = check.check_npm(doc, "2.0.0")
    assert problems(old) == ["version 2.0.0 is deprecated: use 3"]
    assert any("newer release 3.0.0" in text for _, text in old)
    assert problems(check.check_npm(doc, "4.0.0")) == ["version 4.0.0 does not exist on npm"]
    assert problems(check.check_npm(None, "1.0.0")) == ["no such package on npm"]


def test_tool_comparison(check):
    assert problems(check.compare_tools(["a", "b"], ["b", "a"])) == []
    missing = check.compare_tools(["a"], ["a", "b"])
    assert problems(missing) == ["server offers tools the catalog lacks: b"]
    extra = check.compare_tools(["a", "c"], ["a"])
    assert problems(extra) == [] and "did not offer now: c" in extra[0][1]


def test_launch_commands_and_placeholders(check):
    servers = {check.short(s): s for s in check.load_catalog()}
    time = servers["time"]["packages"][0]
    assert check.launch_command(time, None) == [
        "uvx", "--from", "mcp-server-time==2026.10.19", "mcp-server-time",
    ]  # fmt: skip
    assert check.launch_command(time, "/py3.13")[:3] == ["uvx", "--python", "/py3.13"]
    fs = servers["filesystem"]["packages"][0]
    assert check.launch_command(fs, None) == [
        "npx", "-y", "@modelcontextprotocol/server-filesystem@2026.8.31", "/projects",
    ]  # fmt: skip
    assert check.launch_command(fs, None, ["/tmp"])[-1] == "/tmp"
    github_like = {"packages": [], "name": "x/tavily"}
    env = check.placeholder_env(github_like, servers["tavily"]["packages"][0])
    assert env == {"TAVILY_API_KEY": "placeholder"}
    assert "JIRA_URL" in check.placeholder_env(
        servers["atlassian"], servers["atlassian"]["packages"][0]
    )


def test_main_offline_against_a_broken_catalog(check, tmp_path, monkeypatch, capsys):
    """main() with the registry answers replaced: a missing version is a mismatch, exit 1."""
    catalog = tmp_path / "registry.json"
    catalog.write_text(
        '{"data": {"servers": [{"name": "io.github.x/demo", "packages": ['
        '{"registryType": "pypi", "identifier": "demo", "version": "0.9", "transport": {"type": "stdio"}},'
        '{"registryType": "oci", "identifier": "ghcr.io/x/demo:1", "transport": {"type": "stdio"}}]}]}}'
    )
    monkeypatch.setattr(check, "registry_doc", lambda kind, ident: pypi_doc("1.0", {"1.0": [{}]}))
    assert check.main(["--catalog", str(catalog)]) == 1
    out = capsys.readouterr().out
    assert "MISMATCH demo" in out and "version 0.9 does not exist on PyPI" in out
    assert "image not checked" in out and "1 mismatches" in out
    monkeypatch.setattr(check, "registry_doc", lambda kind, ident: pypi_doc("0.9", {"0.9": [{}]}))
    assert check.main(["--catalog", str(catalog)]) == 0
