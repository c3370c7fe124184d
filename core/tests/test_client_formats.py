"""The client-config editing engine: every byte the user wrote survives an add and a delete."""

from __future__ import annotations

import json
import os

import pytest
from toolhive.clients import jsonc
from toolhive.clients.config_file import BACKUP_SUFFIX, ConfigFileClient
from toolhive.clients.formats import JsonObject, TomlArray, TomlTables, YamlList, YamlMap
from toolhive.contracts.clients import ClientIntegration, ConfigFormatError, ServerEntry

ENTRY = {"type": "http", "url": "http://127.0.0.1:9/mcp"}

JSON_STYLES = [
    "",
    "{}",
    "{}\n",
    '{"a": 1}',
    '{"a": 1, "mcpServers": {}}',
    '{\n    "a": [1, 2],\n    "mcpServers": {\n        "x": {"command": "gh"} // mine\n    }\n}\n',
    '{\n  // servers\n  "mcpServers": {\n    "x": {"url": "u"},\n  },\n  "z": [1,],\n}',
    '{\r\n\t"mcpServers": {\r\n\t\t"x": {}\r\n\t}\r\n}\r\n',
    '// head\n{\n  "mcpServers": {\n    // nothing yet\n  }\n}\n',
    '{"mcpServers": {"x": {"url": "http://a//b"}}}',
]


@pytest.mark.parametrize("text", JSON_STYLES)
def test_json_add_then_delete_restores_the_text(text):
    fmt = JsonObject("mcpServers")
    one = fmt.upsert(text, "thv-a", ENTRY)
    assert fmt.entries(one)["thv-a"] == ENTRY
    two = fmt.upsert(one, "thv-b", {"url": "u2"})
    again = fmt.upsert(two, "thv-a", {**ENTRY, "type": "sse"})  # replaced in place
    assert list(fmt.entries(again)) == [*fmt.entries(text), "thv-a", "thv-b"]
    assert fmt.entries(again)["thv-a"]["type"] == "sse"
    for name in ("thv-a", "thv-b"):
        again = fmt.remove(again, name)
    if text.strip() and '"mcpServers"' in text:
        assert again == text
    else:  # a servers object had to be created; it stays (empty), nothing else changes
        assert jsonc.loads(again) == {**(jsonc.loads(text) or {}), "mcpServers": {}}


def test_json_keeps_indentation_and_dotted_keys_are_literal():
    text = json.dumps({"amp.mcpServers": {}, "amp": {"mcpServers": {"keep": 1}}}, indent=4)
    out = JsonObject("amp.mcpServers").upsert(text, "thv", ENTRY)
    data = json.loads(out)
    assert data["amp.mcpServers"] == {"thv": ENTRY} and data["amp"] == {"mcpServers": {"keep": 1}}
    assert '\n            "url"' in out  # 3 levels of 4 spaces


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"mcpServers": {', "expected a quoted key or '}' at line 1, column 17"),
        ('{"mcpServers": []}', "'mcpServers' must be a JSON object"),
        ("[1]", "must hold a JSON object"),
        ('{"a": tru}', "unexpected 'tru'"),
    ],
)
def test_json_errors_name_the_problem(text, message):
    with pytest.raises(ConfigFormatError, match=message):
        JsonObject("mcpServers").upsert(text, "thv", ENTRY)


GOOSE = """# Goose
GOOSE_MODEL: gpt-4o  # model
extensions:
  fetch:
    args:
    - mcp-server-fetch
    name: fetch
"""
CONTINUE = """name: a
mcpServers:
  # local
  - name: sqlite
    args:
      - -y
"""


@pytest.mark.parametrize(
    ("fmt", "text"),
    [
        (YamlMap("extensions"), GOOSE),
        (YamlList("mcpServers"), CONTINUE),
        (YamlMap("extensions"), "GOOSE_MODEL: x\n"),
        (YamlList("mcpServers"), ""),
    ],
)
def test_yaml_add_then_delete_keeps_comments_and_style(fmt, text):
    out = fmt.upsert(text, "thv", {"name": "thv", **ENTRY})
    assert fmt.entries(out)["thv"]["url"] == ENTRY["url"]
    back = fmt.remove(out, "thv")
    if fmt.key in text:
        assert back == text
    assert "thv" not in fmt.entries(back)


CODEX = """# codex
model = "o3"  # best

[mcp_servers.github]
command = "gh"

[mcp_servers.github.env]
TOKEN = "x"

[profiles.fast]
model = "mini"
"""
VIBE = """active_model = "x"

[[mcp_servers]]
name = "fs"
transport = "stdio"

[tools.bash]
permission = "ask"  # confirm
"""


@pytest.mark.parametrize(
    ("fmt", "text"),
    [
        (TomlTables("mcp_servers"), CODEX),
        (TomlArray("mcp_servers"), VIBE),
        (TomlTables("mcp_servers"), 'model = "o3"\n'),
        (TomlArray("mcp_servers"), ""),
    ],
)
def test_toml_add_then_delete_restores_the_text(fmt, text):
    entry = {"name": "thv", "url": "http://h/mcp"}
    out = fmt.upsert(text, "thv", entry)
    out = fmt.upsert(out, "thv", {**entry, "url": "http://h2/mcp"})
    assert fmt.entries(out)["thv"]["url"] == "http://h2/mcp"
    back = fmt.remove(out, "thv")
    assert "thv" not in fmt.entries(back)
    if "mcp_servers" in text:
        assert back == text


def _client(tmp_path, fmt="json") -> ConfigFileClient:
    from toolhive.builtin.clients import TABLE

    row = next(r for r in TABLE if r.name == {"json": "cursor", "toml": "codex"}[fmt])
    return ConfigFileClient(row, home=tmp_path, platform="linux")


def test_config_file_client_writes_atomically_with_backup(tmp_path, thv_home):
    client = _client(tmp_path)
    assert isinstance(client, ClientIntegration)
    assert not client.installed()
    path = client.config_path()
    assert path == tmp_path / ".cursor" / "mcp.json"
    path.parent.mkdir()
    assert client.installed()  # its folder exists
    path.write_text('{"theme": 1}')
    os.chmod(path, 0o640)
    client.upsert(ServerEntry("w", "http://127.0.0.1:1/mcp", "stdio"))
    assert json.loads(path.read_text())["mcpServers"]["w"] == {
        "type": "http",
        "url": "http://127.0.0.1:1/mcp",
    }
    assert path.stat().st_mode & 0o777 == 0o640  # the user's permissions are kept
    backup = path.with_name(path.name + BACKUP_SUFFIX)
    assert backup.read_text() == '{"theme": 1}'
    assert client.remove("w") and not client.remove("w")
    assert [p.name for p in path.parent.iterdir() if p.name.endswith(".tmp")] == []


def test_broken_file_is_never_overwritten(tmp_path, thv_home):
    client = _client(tmp_path, "toml")
    path = client.config_path()
    path.parent.mkdir()
    path.write_text("model = [unclosed\n")
    with pytest.raises(ConfigFormatError, match=r"codex's config .*config.toml: not valid TOML"):
        client.upsert(ServerEntry("w", "http://x/mcp", "streamable-http"))
    assert path.read_text() == "model = [unclosed\n"


def test_symlinked_config_is_edited_through_the_link(tmp_path, thv_home):
    client = _client(tmp_path)
    real = tmp_path / "dotfiles" / "mcp.json"
    real.parent.mkdir()
    real.write_text("{}\n")
    client.config_path().parent.mkdir()
    client.config_path().symlink_to(real)
    client.upsert(ServerEntry("w", "http://x/sse#w", "sse"))
    assert client.config_path().is_symlink()
    assert json.loads(real.read_text())["mcpServers"]["w"]["type"] == "sse"


def test_every_builtin_client_renders_per_the_table(thv_hooks):
    specs = thv_hooks.client_integrations()
    assert len(specs) == 25
    gemini = specs["gemini-cli"].load()
    assert gemini.render(ServerEntry("s", "u", "sse")) == {"url": "u"}
    assert gemini.render(ServerEntry("s", "u", "stdio")) == {"httpUrl": "u"}
    vibe = specs["mistral-vibe"].load()
    assert vibe.render(ServerEntry("s", "u", "sse")) == {
        "name": "s",
        "transport": "http",
        "url": "u",
    }
    paths = {
        "darwin": "Library/Application Support/Code/User/mcp.json",
        "win32": "AppData/Roaming/Code/User/mcp.json",
        "linux": ".config/Code/User/mcp.json",
    }
    from toolhive.builtin.clients import TABLE

    vscode = next(r for r in TABLE if r.name == "vscode")
    for platform, rel in paths.items():
        assert ConfigFileClient(vscode, platform=platform).config_path().as_posix().endswith(rel)


def test_docs_table_matches_the_builtin_table():
    from pathlib import Path

    from toolhive.builtin.clients import TABLE

    page = (Path(__file__).resolve().parents[2] / "docs" / "clients.md").read_text()
    section = page.split("### The 25 clients", 1)[1]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    documented = {line.split("`")[1] for line in rows}
    assert documented == {row.name for row in TABLE}
    for row in TABLE:
        line = next(r for r in rows if r.startswith(f"| `{row.name}`"))
        assert f"`{row.key}`" in line and f"`{row.url_field}`" in line, row.name
        if row.types:
            assert ", ".join(row.types) in line, row.name
